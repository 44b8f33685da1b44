"""Produce lots offered by cooperatives."""

# who may see and do what to this domain's objects: registered whenever the domain is loaded
from produce_match.lots import permissions  # noqa: F401
