"""The rescue ladder's timer as a periodic task of the queue."""

from __future__ import annotations

from produce_match.queue import periodic
from produce_match.rescue import operations


@periodic("rescue.propose_due", minute="41", hour="*")
def propose_due() -> dict[str, int]:
    """Every hour: propose the due step of each at-risk lot, lapse what closed lots left."""
    return operations.propose_due()
