"""Partners' deliveries and timers as tasks of the queue (see operations.py)."""

from __future__ import annotations

from produce_match.partners import operations
from produce_match.queue import periodic, task


@task(operations.DELIVER_TASK)
def deliver() -> int:
    """Send every delivery that is due (enqueued after each commit that made one)."""
    return operations.deliver_due()


@periodic("partners.sweep", on_start=True, minute="*")
def sweep() -> int:
    """Every minute: the retries that came due, and what a lost task left behind."""
    return operations.deliver_due()


@periodic("partners.find_at_risk", minute="*/15")
def find_at_risk() -> int:
    """Every quarter of an hour: lots that became at risk, told once each."""
    return operations.find_at_risk()


@periodic("partners.robot_summaries", minute="0")
def robot_summaries() -> int:
    """Every hour on the hour: the daily at-risk summaries of the robots whose hour it is."""
    return operations.post_summaries()
