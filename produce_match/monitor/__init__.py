"""The officials' area: the dashboard, lots at risk, deals, the problem ledger (台账), exports."""

# who may see and do what to this domain's objects: registered whenever the domain is loaded
from produce_match.monitor import permissions  # noqa: F401
