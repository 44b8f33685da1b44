"""Payment workflows that talk to a provider: each one commits around its network call.

An operation never calls the network and the network is never called inside a transaction:
a workflow writes what it is about to do and commits, calls the provider (with an idempotency
key, so that a repeat is the same call), then applies the answer in a second short transaction.
If the process dies in between, reconciliation (a periodic task, or `flask payments reconcile`)
finds the half-done work (a pending payment, a queued instruction) and finishes it. Refunds and
payouts are sent by a task enqueued when the transaction that queued them commits (tasks.py).
Views, the API and the CLI call these.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app
from flask_babel import gettext as _

from produce_match.accounts.models import User
from produce_match.errors import Conflict, DomainError
from produce_match.extensions import db
from produce_match.orders.models import Order
from produce_match.payments import operations as payments
from produce_match.payments.models import (
    InstructionKind,
    InstructionState,
    Method,
    Payment,
    PaymentInstruction,
    PaymentState,
)
from produce_match.payments.providers import (
    Answer,
    BadNotification,
    ProviderRefused,
    ProviderUnavailable,
    get_provider,
    path_for,
)
from produce_match.policy import load

log = logging.getLogger("produce_match.payments")
T = TypeVar("T")


class Unavailable(DomainError):
    status = 503
    code = "payment_provider_unavailable"


# --- starting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    id: int
    status: str
    pay_url: str | None


def create_payment(actor: User, order: Order, method: str) -> Started:
    """Start (or resume) paying `order` with `method`; where to send the buyer."""
    payment = payments.start_payment(actor, order, method)
    db.session.commit()
    return _ensure_at_provider(payment.id)


def _ensure_at_provider(payment_id: int) -> Started:
    payment = db.session.get(Payment, payment_id)
    facts = {
        "payment_id": payment.id,
        "reference": payment.reference,
        "amount_fen": payment.amount_fen,
        "currency": payment.currency,
        "description": _(
            "Order %(order)s: %(lot)s", order=payment.order_id, lot=payment.order.lot.title
        ),
        "idempotency_key": payment.idempotency_key,
    }
    provider_name, status, pay_url = payment.provider, payment.status.value, payment.pay_url
    db.session.commit()  # nothing is held while the provider is asked
    if pay_url:
        return Started(payment_id, status, pay_url)
    try:
        provider = get_provider(provider_name)
        created = provider.create_payment(**facts)
    except LookupError as exc:  # not configured here (a setting or a key file missing)
        log.error("payment %s: provider %s not configured: %s", payment_id, provider_name, exc)
        raise Unavailable(
            _("The payment service did not answer. Please try again in a minute.")
        ) from None
    except ProviderUnavailable as exc:
        log.warning("payment %s: provider unavailable: %s", payment_id, exc)
        raise Unavailable(
            _("The payment service did not answer. Please try again in a minute.")
        ) from None
    except ProviderRefused as exc:
        log.warning("payment %s: provider refused: %s", payment_id, exc)
        raise Conflict(_("The payment service refused this payment."), code="refused") from None
    payments.attach(payment_id, created.provider_ref, created.pay_url)
    db.session.commit()
    return Started(payment_id, status, created.pay_url)


def checkout_url(payment_id: int, token: str) -> str | None:
    """Where to send the buyer who opened a payment's checkout link: the provider's checkout,
    signed now, or the receipt once the payment is no longer pending; None for a link that is
    not this payment's (reads only: a GET)."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return None
    try:
        provider = get_provider(payment.provider)
    except LookupError:
        return None
    sign_now = getattr(provider, "checkout_url", None)
    expected = getattr(provider, "token_for", lambda reference: None)(payment.reference)
    if sign_now is None or not expected or not hmac.compare_digest(expected, token or ""):
        return None
    if payment.status is not PaymentState.pending:
        return path_for("payments.receipt", payment_id=payment.id)
    try:
        return sign_now(
            payment_id=payment.id,
            reference=payment.reference,
            amount_fen=payment.amount_fen,
            description=_(
                "Order %(order)s: %(lot)s", order=payment.order_id, lot=payment.order.lot.title
            ),
        )
    except ProviderUnavailable as exc:
        log.warning("payment %s: checkout not signed: %s", payment_id, exc)
        raise Unavailable(
            _("The payment service did not answer. Please try again in a minute.")
        ) from None


# --- reconciling -----------------------------------------------------------------------------


def reconcile_payment(payment_id: int, *, quick: bool = False) -> bool:
    """Ask the provider about one pending payment and apply its answer; True if it changed."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status is not PaymentState.pending:
        db.session.commit()
        return False
    if payment.method is Method.transfer:
        db.session.commit()
        return False
    provider_name, provider_ref = payment.provider, payment.provider_ref
    db.session.commit()
    if not provider_ref:  # the create call's answer was lost: the same call again
        if quick:
            return False  # not while a page waits: reconciliation or the buyer's retry does it
        _ensure_at_provider(payment_id)
        provider_ref = db.session.get(Payment, payment_id).provider_ref
        db.session.commit()
        if not provider_ref:
            return False
    remote = get_provider(provider_name, quick=quick).query_payment(provider_ref)
    if remote is None:
        return False
    payment = db.session.get(Payment, payment_id)
    changed = payments.apply_remote(payment, remote)
    db.session.commit()
    return changed


def execute_instruction(instruction_id: int) -> bool:
    """Send one queued refund or payout to its provider and apply the answer."""
    instruction = db.session.get(PaymentInstruction, instruction_id)
    if instruction is None or instruction.status is not InstructionState.queued:
        db.session.commit()
        return False
    payment = instruction.payment
    order = instruction.order
    provider = get_provider(instruction.provider)
    kind, amount, key = instruction.kind, instruction.amount_fen, instruction.idempotency_key
    destination, holder = payments.payout_destination(order, instruction.provider)
    payment_ref = payment.provider_ref
    db.session.commit()  # nothing is held while the provider is asked
    error = None
    try:
        if kind is InstructionKind.refund:
            result = provider.refund(
                provider_ref=payment_ref, amount_fen=amount, reference=key, idempotency_key=key
            )
        else:
            result = provider.payout(
                account=destination,
                account_name=holder,
                amount_fen=amount,
                reference=key,
                idempotency_key=key,
            )
        status, ref = result.status, result.provider_ref
    except ProviderUnavailable as exc:
        status, ref, error = "queued", None, str(exc)
    except ProviderRefused as exc:
        status, ref, error = "failed", None, str(exc)
        log.error("instruction %s refused by %s: %s", instruction_id, provider.name, exc)
    instruction = db.session.get(PaymentInstruction, instruction_id)
    changed = payments.instruction_sent(instruction, status, ref, error)
    db.session.commit()
    return changed


@dataclass
class Reconciled:
    payments_checked: int = 0
    payments_changed: int = 0
    instructions_sent: int = 0
    errors: int = 0


def reconcile(min_age_seconds: int | None = None) -> Reconciled:
    """Ask the provider about pending payments older than `min_age_seconds` and send every
    queued refund and payout (safe to run at any time, from several places at once)."""
    from produce_match.database import utcnow

    if min_age_seconds is None:
        min_age_seconds = current_app.config["PAYMENTS_RECONCILE_AFTER"]
    result = Reconciled()
    ids = payments.pending_payment_ids(utcnow() - timedelta(seconds=min_age_seconds))
    db.session.commit()
    for payment_id in ids:
        result.payments_checked += 1
        try:
            if reconcile_payment(payment_id):
                result.payments_changed += 1
        except Exception:
            db.session.rollback()
            log.exception("could not reconcile payment %s", payment_id)
            result.errors += 1
    result.instructions_sent += run_outbox()
    return result


def run_outbox(ids: list[int] | None = None) -> int:
    """Send queued instructions (`ids`, or all queued); how many reached the ledger."""
    if ids is None:
        ids = payments.queued_instruction_ids()
        db.session.commit()
    done = 0
    for instruction_id in ids:
        try:
            if execute_instruction(instruction_id):
                done += 1
        except Exception:
            db.session.rollback()
            log.exception("could not send instruction %s", instruction_id)
    return done


# --- notifications ---------------------------------------------------------------------------


class Refused(DomainError):
    """A notification not applied; `answer` is what its provider is told (None: our JSON)."""

    status = 400
    code = "bad_notification"

    def __init__(self, message: Any, *, answer: Answer | None = None) -> None:
        super().__init__(message)
        self.answer = answer


def receive_notification(provider_name: str, headers: Any, body: bytes) -> Answer:
    """Verify and apply one notification; commits. The answer its provider expects.

    The provider reads its own wire format (`parse_notification`) and says how to answer
    (`answer_notification`); the ledger sees only the verified event. Unknown providers and
    refused notifications raise Refused; an event that does not match our payment raises
    payments.Mismatch (nothing is applied)."""
    try:
        provider = get_provider(provider_name)
    except LookupError:
        raise Refused("unknown provider") from None
    try:
        note = provider.parse_notification(headers, body)
    except BadNotification as exc:
        log.warning("notification refused (%s): %s", provider_name, exc)
        raise Refused(str(exc), answer=provider.answer_notification(None, str(exc))) from None
    try:
        outcome = payments.apply_notification(note)
    except payments.Mismatch:
        db.session.rollback()
        log.warning("notification from %s does not match: %r", provider_name, body[:500])
        answer = provider.answer_notification(None, "mismatch", 422)
        raise Refused("mismatch", answer=answer) from None
    db.session.commit()
    log.info("notification from %s: %s", provider_name, outcome)
    return replace(provider.answer_notification(outcome), outcome=outcome)


def load_payment(user: User | None, payment_id: int, action: str = "view") -> Payment:
    return load(user, action, Payment, payment_id)
