"""Matching lots with buyers' demands: the compatibility rule and the score (pure functions in
rules.py), recommendations both ways, alerts, the allocation planner and proposals."""
