"""The daily digest of fitting lots as a periodic task of the queue (`flask demands digest`
by hand). Run hourly: each user gets at most one digest a day whenever it runs."""

from __future__ import annotations

from produce_match.matching import alerts
from produce_match.queue import periodic


@periodic("demands.digest", minute="0")
def digest() -> int:
    """Every hour: send the digests due today; how many were sent."""
    return alerts.send_digests()
