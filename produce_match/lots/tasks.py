"""The lots' timer as a periodic task of the queue (`flask lots expire` by hand)."""

from __future__ import annotations

from produce_match.lots import operations as lots
from produce_match.queue import periodic


@periodic("lots.expire", minute="*/10")
def expire() -> int:
    """Every ten minutes: record the expiry of lots past their spoil-by date."""
    return lots.expire_lots()
