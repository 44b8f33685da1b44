"""Who may see and do what to payments and payment instructions (their order's sides)."""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import User
from produce_match.orders.models import Party
from produce_match.orders.permissions import order_party
from produce_match.payments.models import Payment, PaymentInstruction
from produce_match.policy import VIEW, rule


@rule(Payment)
def _payment(user: User | None, action: str, payment: Any) -> bool:
    """A payment is seen by its order's parties and oversight (404 for everyone else)."""
    if isinstance(payment, type):
        return False
    party = order_party(user, payment.order)
    if party is None:
        return False
    if action == VIEW:
        return True
    if action == "record_transfer":
        return party is Party.buyer
    if action == "confirm_transfer":  # the cooperative's account, or an official for it
        return party in (Party.cooperative, Party.official)
    return False


@rule(PaymentInstruction)
def _payment_instruction(user: User | None, action: str, instruction: Any) -> bool:
    if isinstance(instruction, type):
        return False
    party = order_party(user, instruction.order)
    if party is None:
        return False
    if action == VIEW:
        return True
    if action == "confirm_refund":  # a transfer's refund is sent back by the cooperative
        return party is Party.cooperative
    return False
