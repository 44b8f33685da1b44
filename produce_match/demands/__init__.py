"""Buyers' standing demands (求购): what they take, how much, at what price, where, by when."""

# who may see and do what to this domain's objects: registered whenever the domain is loaded
from produce_match.demands import permissions  # noqa: F401
