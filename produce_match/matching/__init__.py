"""Matching lots with buyers' demands: the compatibility rule and the score (pure functions in
rules.py), recommendations both ways, alerts, the allocation planner and proposals."""

# who may see and do what to this domain's objects: registered whenever the domain is loaded
from produce_match.matching import permissions  # noqa: F401
