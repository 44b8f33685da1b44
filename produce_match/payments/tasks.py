"""The payments' work in the task queue: refunds and payouts, reconciliation.

The payment instructions are the outbox: a task sends one queued instruction (with its
idempotency key, so a repeat is the same call at the provider) and records the answer; an
instruction a lost task left queued (or that found the provider down) is sent by the sweep.
"""

from __future__ import annotations

from produce_match.payments import service
from produce_match.queue import periodic, task


@task("payments.send_instruction")
def send_instruction(instruction_id: int) -> bool:
    """Send one refund or payout to its provider (nothing if it is no longer queued)."""
    return service.execute_instruction(instruction_id)


@periodic("payments.sweep", on_start=True, minute="*")
def sweep() -> int:
    """Every minute, and when a worker starts: every instruction still queued."""
    return service.run_outbox()


@periodic("payments.reconcile", minute="*")
def reconcile() -> service.Reconciled:
    """Every minute: ask the provider about payments pending longer than
    PAYMENTS_RECONCILE_AFTER (what `flask payments reconcile` does by hand)."""
    return service.reconcile()
