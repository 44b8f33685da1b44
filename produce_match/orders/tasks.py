"""The orders' timer as a periodic task of the queue (`flask orders expire` by hand)."""

from __future__ import annotations

from produce_match.orders import operations as orders
from produce_match.queue import periodic


@periodic("orders.expire", minute="*")
def expire() -> int:
    """Every minute: record every order timer that has run out; how many orders moved."""
    counts = orders.expire_due()
    return counts.expired + counts.confirmed + counts.completed
