"""The passes' timer as a periodic task of the queue."""

from __future__ import annotations

from produce_match.passes import operations as passes
from produce_match.queue import periodic


@periodic("passes.flag_overdue", minute="*/5")
def flag_overdue() -> int:
    """Every five minutes: tell destination offices of vehicles overdue there."""
    return passes.flag_overdue()
