"""The only code that writes payments, the ledger and the outbox. It flushes, never commits.

Every change is one guarded statement (UPDATE ... WHERE status = :expected, checking the row
count), so that a notification and a provider query arriving at once, or the same notification
three times, change things once. Every writer of an order's money first locks the order's row
(PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE), so sums read under the lock stay
true until the commit. The ledger is only ever appended to, each entry once (unique `key`).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from produce_match.accounts.models import User
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.errors import Conflict, DomainError, ValidationFailed
from produce_match.extensions import db
from produce_match.lifecycle import Moved
from produce_match.orders import operations as orders
from produce_match.orders.models import (
    ORDERS,
    IllegalTransition,
    Order,
    OrderAction,
    OrderStatus,
    PaymentStatus,
)
from produce_match.payments import notices
from produce_match.payments.models import (
    CURRENCY,
    INSTRUCTIONS,
    OPEN_PAYMENTS,
    PAYMENTS,
    EntryKind,
    InstructionAction,
    InstructionKind,
    InstructionState,
    LedgerEntry,
    Method,
    Payment,
    PaymentAction,
    PaymentEvent,
    PaymentInstruction,
    PaymentState,
    PayoutAccount,
    Reason,
)
from produce_match.payments.providers import (
    CLOSED,
    PAYMENT,
    PAYOUT,
    REFUND,
    REGISTRY,
    SUCCEEDED,
    Notification,
    RemotePayment,
    methods,
    paid_direct,
)
from produce_match.policy import can
from produce_match.queue import after_commit
from produce_match.units import cost_fen

_payments = Payment.__table__
_instructions = PaymentInstruction.__table__
_orders = Order.__table__
_ledger = LedgerEntry.__table__


class NotAllowed(DomainError):
    status = 403
    code = "forbidden"


class Mismatch(DomainError):
    """What the provider says does not fit the payment (order, amount or currency)."""

    status = 422
    code = "payment_mismatch"


def _now(now: datetime | None = None) -> datetime:
    return now or utcnow()


def _lock_order(order_id: int) -> None:
    """Take the order's row lock before reading its money (PostgreSQL; see the module note)."""
    if db.session.connection().dialect.name != "sqlite":
        db.session.execute(select(_orders.c.id).where(_orders.c.id == order_id).with_for_update())


def _key() -> str:
    # 32 hex digits: also a valid out_refund_no / out_bill_no (letters and digits, <= 32)
    return secrets.token_hex(16)


# --- sums (read under the order's lock when they decide a write) ----------------------------


def _int(query: Any) -> int:
    """A sum as a plain int (PostgreSQL sums bigints as numeric)."""
    return int(db.session.scalar(query) or 0)


def charged_fen(order_id: int) -> int:
    """What the buyer paid for this order (payments that paid it; late ones go straight back)."""
    return _int(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(Payment, Payment.id == LedgerEntry.payment_id)
        .where(
            LedgerEntry.order_id == order_id,
            LedgerEntry.kind == EntryKind.charge,
            Payment.late.is_(False),
        )
    )


def _committed_out_fen(order_id: int) -> int:
    """Refunds and payouts asked for (done or not, unless refused), late payments aside."""
    return _int(
        select(func.coalesce(func.sum(PaymentInstruction.amount_fen), 0)).where(
            PaymentInstruction.order_id == order_id,
            PaymentInstruction.status != InstructionState.failed,
            PaymentInstruction.reason != Reason.late_payment,
        )
    )


def available_fen(order_id: int) -> int:
    """What is still held for the order: paid, less every refund and payout already asked for."""
    return charged_fen(order_id) - _committed_out_fen(order_id)


def ledger_sums(order_id: int) -> dict[str, int]:
    """The order's ledger by kind, in fen (every entry, late payments included), and where
    the rest is: `held` by the platform (online payments) or `direct`, paid straight to the
    cooperative (bank transfers) and not yet settled. charge - refund - payout = held + direct.
    """
    rows = db.session.execute(
        select(LedgerEntry.kind, LedgerEntry.provider, func.sum(LedgerEntry.amount_fen))
        .where(LedgerEntry.order_id == order_id)
        .group_by(LedgerEntry.kind, LedgerEntry.provider)
    ).all()
    sums = {kind.value: 0 for kind in EntryKind}
    sums["held"] = sums["direct"] = 0
    direct = paid_direct()
    for kind, provider, total in rows:
        kind = EntryKind(kind)
        sums[kind.value] += int(total)
        where = "direct" if provider in direct else "held"
        sums[where] += int(total) if kind is EntryKind.charge else -int(total)
    return sums


def _late_fen(order_id: int) -> tuple[int, int]:
    """Money of late payments (they came when the order could no longer take it): what came
    in, and what of it went back."""
    came = _int(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(Payment, Payment.id == LedgerEntry.payment_id)
        .where(
            LedgerEntry.order_id == order_id,
            LedgerEntry.kind == EntryKind.charge,
            Payment.late.is_(True),
        )
    )
    went_back = _int(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(PaymentInstruction, PaymentInstruction.id == LedgerEntry.instruction_id)
        .where(
            LedgerEntry.order_id == order_id,
            LedgerEntry.kind == EntryKind.refund,
            PaymentInstruction.reason == Reason.late_payment,
        )
    )
    return came, went_back


def _refunded_fen(order_id: int) -> int:
    return _int(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(PaymentInstruction, PaymentInstruction.id == LedgerEntry.instruction_id)
        .where(
            LedgerEntry.order_id == order_id,
            LedgerEntry.kind == EntryKind.refund,
            PaymentInstruction.reason != Reason.late_payment,
        )
    )


def payment_status_of(order_id: int) -> PaymentStatus:
    """Where the order's money is, from its ledger and its open payments (the only rule).

    The money that paid the order decides: paid, partly or wholly refunded. Without it, money
    that came late (the order had expired or was cancelled) reads `paid` until it has gone
    back, then `refunded`; otherwise `pending` while a payment is open, else `unpaid`.
    """
    charged = charged_fen(order_id)
    if charged:
        refunded = _refunded_fen(order_id)
        if refunded == 0:
            return PaymentStatus.paid
        return PaymentStatus.refunded if refunded >= charged else PaymentStatus.partially_refunded
    came, went_back = _late_fen(order_id)
    if came:
        return PaymentStatus.refunded if went_back >= came else PaymentStatus.paid
    still_open = db.session.scalar(
        select(func.count(Payment.id)).where(
            Payment.order_id == order_id,
            Payment.status.in_(sorted(OPEN_PAYMENTS)),
        )
    )
    return PaymentStatus.pending if still_open else PaymentStatus.unpaid


def _sync_payment_status(order: Order, actor: User | None = None) -> None:
    """Set the order's payment_status to `payment_status_of` it, with a guarded statement.

    Called by every step that changes the order's money or its open payments, so that the
    order and its payments never disagree, on time or late.
    """
    new = payment_status_of(order.id)
    old = db.session.scalar(select(_orders.c.payment_status).where(_orders.c.id == order.id))
    if old == new:
        return
    changed = db.session.execute(
        update(_orders)
        .where(_orders.c.id == order.id, _orders.c.payment_status == old)
        .values(payment_status=new)
    ).rowcount
    if changed:
        set_committed_value(order, "payment_status", new)
        record(
            actor,
            order,
            "payment_status_changed",
            from_state=str(old),
            to_state=new.value,
            changes={
                "charged_fen": charged_fen(order.id),
                "refunded_fen": _refunded_fen(order.id),
            },
        )


def _entry(
    order_id: int,
    kind: EntryKind,
    amount_fen: int,
    provider: str,
    provider_ref: str | None,
    key: str,
    *,
    payment_id: int | None = None,
    instruction_id: int | None = None,
) -> bool:
    """Append one ledger entry, once per `key` (False if it was there already)."""
    exists = db.session.scalar(select(_ledger.c.id).where(_ledger.c.key == key))
    if exists is not None:
        return False
    entry = LedgerEntry(
        order_id=order_id,
        kind=kind,
        amount_fen=amount_fen,
        currency=CURRENCY,
        provider=provider,
        provider_ref=provider_ref,
        key=key,
        payment_id=payment_id,
        instruction_id=instruction_id,
    )
    db.session.add(entry)
    db.session.flush()  # the unique key refuses a second entry even if two got this far
    record(None, entry, "recorded", to_state=kind.value, changes={"amount_fen": amount_fen})
    return True


# --- starting a payment ---------------------------------------------------------------------


def start_payment(
    actor: User, order: Order, method: str, *, now: datetime | None = None
) -> Payment:
    """The buyer starts paying an order awaiting payment; the same pending payment is reused.

    The provider is called afterwards, outside the transaction (see service.create_payment).
    """
    now = _now(now)
    if not can(actor, "start_payment", order):
        raise NotAllowed(_("Only the buyer pays for an order."))
    if method not in methods():
        message = _("Choose a way to pay.")
        raise ValidationFailed(message, fields={"method": [message]})
    orders.apply_expiry(order, now)
    if order.status is not OrderStatus.awaiting_payment:
        raise Conflict(_("This order is not waiting for payment."), code="not_awaiting_payment")
    _lock_order(order.id)
    existing = db.session.scalar(
        select(Payment)
        .where(
            Payment.order_id == order.id,
            Payment.method == method,
            Payment.status.in_(sorted(OPEN_PAYMENTS)),
        )
        .order_by(Payment.id.desc())
    )
    if existing is not None:
        return existing
    if method == Method.transfer and payout_account(order.cooperative_org_id) is None:
        raise Conflict(
            _("The cooperative has not given a bank account yet. Choose another way to pay."),
            code="no_bank_account",
        )
    payment = Payment(
        order_id=order.id,
        method=Method(method),
        provider=method,
        status=PaymentState.pending,
        amount_fen=order.amount_fen,
        currency=CURRENCY,
        idempotency_key=_key(),
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    record(
        actor,
        payment,
        "created",
        to_state=PaymentState.pending.value,
        changes={"order_id": order.id, "method": method, "amount_fen": order.amount_fen},
    )
    _sync_payment_status(order, actor)
    return payment


def attach(payment_id: int, provider_ref: str | None, pay_url: str) -> None:
    """Keep the provider's id for a payment and the page the buyer pays on (set once)."""
    db.session.execute(
        update(_payments)
        .where(_payments.c.id == payment_id, _payments.c.pay_url.is_(None))
        .values(provider_ref=provider_ref, pay_url=pay_url, updated_at=utcnow())
    )


# --- the provider's word ---------------------------------------------------------------------


def apply_remote(payment: Payment, remote: RemotePayment, *, actor: User | None = None) -> bool:
    """Apply what the provider says about a payment; True if anything changed.

    Refused (Mismatch, nothing changed) unless it is this payment: same reference, amount and
    currency. `succeeded` wins over everything; `closed` counts only while pending.
    """
    if (
        remote.reference != payment.reference
        or remote.amount_fen != payment.amount_fen
        or remote.currency != payment.currency
        or (payment.provider_ref and remote.provider_ref != payment.provider_ref)
    ):
        raise Mismatch(_("The payment side's message does not match this payment."))
    if remote.status == "succeeded":
        paid_at = datetime.fromtimestamp(remote.paid_at, UTC) if remote.paid_at else None
        return succeed(payment, paid_at=paid_at, actor=actor, provider_ref=remote.provider_ref)
    if remote.status == "closed":
        return fail(payment, actor=actor)
    return False


def succeed(
    payment: Payment,
    *,
    paid_at: datetime | None = None,
    actor: User | None = None,
    provider_ref: str | None = None,
) -> bool:
    """The money of `payment` arrived: one charge, and the order is paid (or, late, refunded)."""
    now = utcnow()
    order = payment.order
    _lock_order(order.id)
    moved = PAYMENTS.move(
        payment,
        PaymentAction.succeed,
        actor=actor,
        values={"succeeded_at": now, "updated_at": now},
        facts={"amount_fen": payment.amount_fen, "provider_ref": provider_ref},
        strict=False,  # settled already (a notification seen twice): nothing more to do
    )
    if moved is None:
        return False
    db.session.refresh(payment)
    took = False
    if payment.amount_fen == order.amount_fen:
        try:
            # before the charge is written: if the order expires on the way (paid too late),
            # its refund receiver must not see this money as the order's
            orders.mark_paid(order, paid_at=paid_at, now=now)
            took = True
        except (IllegalTransition, Conflict):
            took = False  # already paid by another payment, expired or cancelled meanwhile
    if not took:
        db.session.execute(update(_payments).where(_payments.c.id == payment.id).values(late=True))
        payment.late = True
    _entry(
        order.id,
        EntryKind.charge,
        payment.amount_fen,
        payment.provider,
        provider_ref or payment.provider_ref or payment.reference,
        f"charge:{payment.id}",
        payment_id=payment.id,
    )
    if not took:
        _queue(
            order,
            payment,
            InstructionKind.refund,
            Reason.late_payment,
            payment.amount_fen,
            f"late_payment:{payment.id}",
        )
    _sync_payment_status(order, actor)
    return True


def fail(payment: Payment, *, actor: User | None = None) -> bool:
    """The payment will not be made (closed at the gateway, or the transfer never came)."""
    moved = PAYMENTS.move(
        payment, PaymentAction.fail, actor=actor, values={"updated_at": utcnow()}, strict=False
    )
    if moved is None:
        return False
    db.session.refresh(payment)
    _sync_payment_status(payment.order, actor)
    return True


# --- bank transfers --------------------------------------------------------------------------


def record_transfer(actor: User, payment: Payment, payer_account: str, note: str = "") -> None:
    """The buyer says the transfer was sent (from which account); the cooperative confirms."""
    if not can(actor, "record_transfer", payment):
        raise NotAllowed(_("Only the buyer records its transfer."))
    payer_account = (payer_account or "").strip()
    if not payer_account:
        message = _("Say which account the money was sent from.")
        raise ValidationFailed(message, fields={"payer_account": [message]})
    if len(payer_account) > 120 or len(note or "") > 300:
        message = _("At most %(max)d characters.", max=300)
        raise ValidationFailed(message, fields={"payer_note": [message]})
    moved = PAYMENTS.move(
        payment,
        PaymentAction.record_transfer,
        actor=actor,
        expected=PaymentState.pending,
        where=[_payments.c.method == Method.transfer],
        values={
            "payer_account": payer_account,
            "payer_note": (note or "").strip() or None,
            "recorded_at": utcnow(),
            "updated_at": utcnow(),
        },
        facts={"payer_account": payer_account},
        strict=False,
    )
    if moved is None:
        raise Conflict(_("This transfer cannot be recorded any more."), code="payment_changed")
    db.session.refresh(payment)
    notices.transfer_recorded(payment, actor)


def confirm_transfer(actor: User, payment: Payment) -> None:
    """The cooperative (or an official for it) confirms the transfer reached its account."""
    if not can(actor, "confirm_transfer", payment):
        raise NotAllowed(_("Only the cooperative confirms that its account received a transfer."))
    if payment.method is not Method.transfer:
        raise Conflict(_("Only bank transfers are confirmed by hand."), code="not_a_transfer")
    db.session.execute(
        update(_payments).where(_payments.c.id == payment.id).values(confirmed_by_id=actor.id)
    )
    if not succeed(payment, actor=actor, provider_ref=f"transfer:{payment.reference}"):
        raise Conflict(_("This payment was already settled."), code="payment_changed")


def reject_transfer(actor: User, payment: Payment) -> None:
    """The cooperative says no such transfer arrived: the buyer may pay again."""
    if not can(actor, "confirm_transfer", payment):
        raise NotAllowed(_("Only the cooperative confirms that its account received a transfer."))
    if not fail(payment, actor=actor):
        raise Conflict(_("This payment was already settled."), code="payment_changed")


# --- refunds and payouts (the outbox) --------------------------------------------------------


def _paying_payment(order_id: int) -> Payment | None:
    return db.session.scalar(
        select(Payment).where(
            Payment.order_id == order_id,
            Payment.status == PaymentState.succeeded,
            Payment.late.is_(False),
        )
    )


def _queue(
    order: Order,
    payment: Payment,
    kind: InstructionKind,
    reason: Reason,
    amount_fen: int,
    dedupe_key: str,
) -> PaymentInstruction | None:
    """Write a refund or payout to make, once per cause; it is sent after the commit."""
    if amount_fen <= 0:
        return None
    if db.session.scalar(
        select(_instructions.c.id).where(_instructions.c.dedupe_key == dedupe_key)
    ):
        return None
    instruction = PaymentInstruction(
        order_id=order.id,
        payment_id=payment.id,
        kind=kind,
        reason=reason,
        amount_fen=amount_fen,
        status=InstructionState.queued,
        dedupe_key=dedupe_key,
        idempotency_key=_key(),
        provider=payment.provider,
    )
    db.session.add(instruction)
    db.session.flush()
    record(
        None,
        instruction,
        "queued",
        to_state=InstructionState.queued.value,
        changes={"kind": kind.value, "reason": reason.value, "amount_fen": amount_fen},
    )
    # sent to the provider by a task once this transaction commits (payments/tasks.py)
    after_commit("payments.send_instruction", instruction.id)
    return instruction


def _refund(order: Order, reason: Reason, wanted_fen: int) -> int:
    """Queue a refund of `wanted_fen`, never more than is still held: the amount queued."""
    payment = _paying_payment(order.id)
    if payment is None:
        return 0
    amount = min(wanted_fen, available_fen(order.id))  # never more than is still held
    _queue(order, payment, InstructionKind.refund, reason, amount, f"{reason.value}:{order.id}")
    return max(amount, 0)


def _settle(order: Order) -> None:
    """Pay the cooperative whatever is still held (an order settled on loading: its holdback)."""
    payment = _paying_payment(order.id)
    if payment is None:
        return
    _queue(
        order,
        payment,
        InstructionKind.payout,
        Reason.holdback_release if order.on_loading else Reason.settlement,
        available_fen(order.id),
        f"settlement:{order.id}",
    )


# --- settled on loading (款到发货，装车结算) --------------------------------------------------
#
# The buyer paid before loading. When the cooperative records the loading (photos, the
# weighbridge's weight), what the weighbridge says was not loaded goes back to the buyer at
# once, and what was loaded is paid out to the cooperative the same day, less the holdback
# (the order's holdback_pct of the loaded amount, to the nearest fen). The holdback is held
# until the buyer confirms delivery (then paid out at once, less a short delivery's refund,
# which comes out of it first) or, for a delivery confirmed by the timer, until the dispute
# window closes. A dispute's refund comes out of what is still held. What the buyer is owed
# beyond what is held is never taken from other money: it is recorded as a claim on the
# cooperative (Order.claim_fen, audited), shown to the officials who settle it.


def loading_amounts(order: Order) -> tuple[int, int, int]:
    """(loaded, shortfall, holdback) in fen, from the weighbridge weight (shipped_g)."""
    loaded = min(cost_fen(order.shipped_g or 0, order.price_fen_per_t), order.amount_fen)
    holdback = (loaded * order.holdback_pct + 50) // 100
    return loaded, order.amount_fen - loaded, holdback


def _settle_on_loading(order: Order) -> None:
    payment = _paying_payment(order.id)
    if payment is None:
        return
    loaded, shortfall, holdback = loading_amounts(order)
    _refund(order, Reason.loading_shortfall, shortfall)
    _queue(
        order,
        payment,
        InstructionKind.payout,
        Reason.loading_settlement,
        min(loaded - holdback, available_fen(order.id)),
        f"loading_settlement:{order.id}",
    )


def _claim(order: Order, reason: Reason, wanted_fen: int, refunded_fen: int) -> None:
    """Record what the buyer is owed beyond what was still held: a claim on the cooperative."""
    owed = wanted_fen - refunded_fen
    if owed <= 0 or _paying_payment(order.id) is None:
        return
    total = (order.claim_fen or 0) + owed
    db.session.execute(update(_orders).where(_orders.c.id == order.id).values(claim_fen=total))
    set_committed_value(order, "claim_fen", total)
    record(
        None,
        order,
        "claim_recorded",
        changes={
            "reason": reason.value,
            "owed_fen": owed,
            "refunded_fen": refunded_fen,
            "claim_fen": total,
        },
    )


def _short_delivery(order: Order, release: bool) -> None:
    """Delivery confirmed, of an order settled on loading: the short delivery back from the
    holdback (the rest a claim), and the holdback left paid out if `release`."""
    shipped = cost_fen(order.shipped_g or 0, order.price_fen_per_t)
    accepted = cost_fen(order.accepted_g or 0, order.price_fen_per_t)
    wanted = max(min(shipped, order.amount_fen) - accepted, 0)
    refunded = _refund(order, Reason.short_delivery, wanted)
    _claim(order, Reason.short_delivery, wanted, refunded)
    if release:
        payment = _paying_payment(order.id)
        if payment is not None:
            _queue(
                order,
                payment,
                InstructionKind.payout,
                Reason.holdback_release,
                available_fen(order.id),
                f"settlement:{order.id}",
            )


_A = OrderAction


@ORDERS.on(
    _A.cancel,
    _A.expire,
    _A.dispatch,
    _A.confirm_delivery,
    _A.auto_confirm,
    _A.resolve,
    _A.complete,
)
def _follow_order(moved: Moved) -> None:
    """Refunds and payouts follow the order's moves (rows only; sent after the commit)."""
    order: Order = moved.subject
    _lock_order(order.id)
    if moved.action in (_A.cancel, _A.expire):
        reason = Reason.cancelled if moved.action is _A.cancel else Reason.expired
        _refund(order, reason, charged_fen(order.id))
        # payments still open can no longer pay it: if one is paid after all, it goes back
        for payment in db.session.scalars(
            select(Payment).where(
                Payment.order_id == order.id,
                Payment.status.in_(sorted(OPEN_PAYMENTS)),
            )
        ).all():
            fail(payment)
    elif moved.action is _A.dispatch:
        if order.on_loading:
            _settle_on_loading(order)
    elif moved.action in (_A.confirm_delivery, _A.auto_confirm):
        if order.on_loading:
            # the buyer's own word releases the holdback; the timer's waits for the window
            _short_delivery(order, release=moved.action is _A.confirm_delivery)
            return
        short_g = order.quantity_g - (order.accepted_g or 0)
        if short_g > 0:
            _refund(order, Reason.short_delivery, cost_fen(short_g, order.price_fen_per_t))
    elif moved.action is _A.resolve:
        wanted = order.resolution_refund_fen or 0
        refunded = _refund(order, Reason.dispute, wanted)
        if order.on_loading:
            _claim(order, Reason.dispute, wanted, refunded)
        _settle(order)  # a resolved order is finished: the rest is the cooperative's
    elif moved.action is _A.complete:
        _settle(order)


def instruction_sent(
    instruction: PaymentInstruction, status: str, provider_ref: str | None, error: str | None = None
) -> bool:
    """Apply the provider's answer to a refund or payout; True if the ledger changed."""
    _lock_order(instruction.order_id)
    if status == "succeeded":
        return complete_instruction(instruction, provider_ref)
    values: dict[str, Any] = {
        "attempts": _instructions.c.attempts + 1,
        "updated_at": utcnow(),
        "last_error": (error or None) and error[:300],
    }
    if provider_ref:
        values["provider_ref"] = provider_ref
    if status in _GIVEN_UP:
        INSTRUCTIONS.move(
            instruction,
            _GIVEN_UP[status],
            expected=InstructionState.queued,
            values=values,
            facts={"error": error},
            strict=False,
        )
        return False
    # not done yet: counted, and tried again later (still queued: no move)
    db.session.execute(
        update(_instructions)
        .where(
            _instructions.c.id == instruction.id, _instructions.c.status == InstructionState.queued
        )
        .values(**values)
    )
    return False


#: the provider's answers that end an instruction without money moving, and their moves
_GIVEN_UP = {"manual": InstructionAction.hand_over, "failed": InstructionAction.give_up}


def complete_instruction(
    instruction: PaymentInstruction, provider_ref: str | None, *, actor: User | None = None
) -> bool:
    """The refund or payout was made: its ledger entry, once."""
    _lock_order(instruction.order_id)
    now = utcnow()
    moved = INSTRUCTIONS.move(
        instruction,
        InstructionAction.complete,
        actor=actor,
        values={
            "provider_ref": provider_ref,
            "done_at": now,
            "done_by_id": actor.id if actor else None,
            "updated_at": now,
        },
        facts={"provider_ref": provider_ref, "amount_fen": instruction.amount_fen},
        strict=False,  # done already (the answer came twice): nothing more to do
    )
    if moved is None:
        return False
    db.session.refresh(instruction)
    kind = EntryKind.refund if instruction.kind is InstructionKind.refund else EntryKind.payout
    _entry(
        instruction.order_id,
        kind,
        instruction.amount_fen,
        instruction.provider,
        provider_ref,
        f"{kind.value}:{instruction.id}",
        instruction_id=instruction.id,
        payment_id=instruction.payment_id,
    )
    _sync_payment_status(instruction.order, actor)
    notices.money_moved(
        instruction.order,
        kind.value,
        instruction.amount_fen,
        provider_ref,
        instruction.reason.value,
    )
    return True


def confirm_manual_refund(actor: User, instruction: PaymentInstruction) -> None:
    """The cooperative says it sent a refund back by bank transfer."""
    if not can(actor, "confirm_refund", instruction):
        raise NotAllowed(_("Only the cooperative confirms the money it sent back."))
    if instruction.status is not InstructionState.manual:
        raise Conflict(_("This refund is not waiting for the cooperative."), code="payment_changed")
    complete_instruction(instruction, f"manual:{instruction.id}", actor=actor)


# --- notifications ---------------------------------------------------------------------------


def remember_event(note: Notification) -> bool:
    """Record a notification's event id; False if it was seen before (a duplicate)."""
    if not note.event_id or len(note.event_id) > 64:
        raise Mismatch(_("The payment side's message does not match this payment."))
    dialect = db.session.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = (
        dialect_insert(PaymentEvent.__table__)
        .values(
            provider=note.provider,
            event_id=note.event_id,
            kind=note.kind[:40],
            payload=dict(note.payload),
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(PaymentEvent.__table__.c.id)
    )
    # RETURNING, not rowcount: psycopg does not report a row count for this statement
    return db.session.execute(statement).scalar_one_or_none() is not None


def apply_notification(note: Notification) -> str:
    """Apply a verified notification in the caller's transaction: 'applied', 'duplicate' or
    'ignored'. Mismatch (the caller rolls back, so the event id is not kept) if it does not fit.
    """
    if note.subject == PAYMENT:
        payment = db.session.scalar(
            select(Payment).where(
                Payment.provider == note.provider, Payment.reference == note.reference
            )
        )
        if payment is None:
            raise Mismatch(_("The payment side's message does not match this payment."))
        remote = RemotePayment(
            provider_ref=note.provider_ref or "",
            reference=note.reference,
            status={SUCCEEDED: "succeeded", CLOSED: "closed"}.get(note.outcome, "pending"),
            amount_fen=note.amount_fen,  # type: ignore[arg-type]
            currency=note.currency or "",
            paid_at=note.paid_at,
        )
        # checked before the event is kept: a message that does not fit changes nothing
        _check(payment, remote)
        if not remember_event(note):
            return "duplicate"
        if note.outcome in (SUCCEEDED, CLOSED):
            apply_remote(payment, remote)
        return "applied"
    if note.subject in (REFUND, PAYOUT) and note.outcome == SUCCEEDED:
        instruction = db.session.scalar(
            select(PaymentInstruction).where(
                PaymentInstruction.provider == note.provider,
                PaymentInstruction.idempotency_key == note.reference,
            )
        )
        wanted = InstructionKind.refund if note.subject == REFUND else InstructionKind.payout
        if (
            instruction is None
            or instruction.kind is not wanted
            or note.amount_fen != instruction.amount_fen
            or note.currency != CURRENCY
        ):
            raise Mismatch(_("The payment side's message does not match this payment."))
        if not remember_event(note):
            return "duplicate"
        complete_instruction(instruction, note.provider_ref)
        return "applied"
    if not remember_event(note):
        return "duplicate"
    return "ignored"


def _check(payment: Payment, remote: RemotePayment) -> None:
    if (
        remote.amount_fen != payment.amount_fen
        or remote.currency != payment.currency
        or (payment.provider_ref and remote.provider_ref != payment.provider_ref)
    ):
        raise Mismatch(_("The payment side's message does not match this payment."))


# --- payout accounts -------------------------------------------------------------------------


def payout_account(org_id: int) -> PayoutAccount | None:
    return db.session.scalar(select(PayoutAccount).where(PayoutAccount.organisation_id == org_id))


def payout_destination(order: Order, provider: str) -> tuple[str, str]:
    """Where a payout of `order` by `provider` goes, and the name on it: the payout account's
    fields the provider names (`payout_account_fields`: the bank account's number, an Alipay
    account, a WeChat user's openid). Empty when the cooperative has given none: the provider
    refuses, and the instruction fails saying so. The sandbox's stand-in for a bank account is
    the organisation itself."""
    field, holder_field = REGISTRY[provider].payout_account_fields
    account = payout_account(order.cooperative_org_id)
    destination = getattr(account, field, None) if account is not None else None
    holder = getattr(account, holder_field, None) if account is not None else None
    if field == "account_number":
        destination = destination or f"org-{order.cooperative_org_id}"
        holder = holder or order.cooperative_org.name
    return destination or "", holder or ""


def save_payout_account(
    actor: User,
    org_id: int,
    account_name: str,
    bank_name: str,
    account_number: str,
    alipay_account: str | None = None,
    alipay_name: str | None = None,
    *,
    wechat_openid: str | None = None,
    wechat_name: str | None = None,
) -> PayoutAccount:
    """A cooperative's account for payouts and transfers (its own members only), its Alipay
    account if it has one (payouts of Alipay payments go there), and its WeChat payee for
    WeChat Pay payouts (left as it is when `wechat_openid` is None)."""
    if not (actor.organisation_id == org_id and actor.role.value == "cooperative"):
        raise NotAllowed(_("Only the cooperative's members set its bank account."))
    values: dict[str, Any] = {
        "account_name": (account_name or "").strip(),
        "bank_name": (bank_name or "").strip(),
        "account_number": "".join((account_number or "").split()),
    }
    errors = {k: [_("This field is required.")] for k, v in values.items() if not v}
    if values["account_number"] and not values["account_number"].isdigit():
        errors["account_number"] = [_("An account number has only digits.")]
    values["alipay_account"] = "".join((alipay_account or "").split()) or None
    values["alipay_name"] = (alipay_name or "").strip() or None
    wallet = values["alipay_account"]
    if wallet and not (
        re.fullmatch(r"2088\d{12}", wallet)
        or re.fullmatch(r"1\d{10}", wallet)
        or re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", wallet)
    ):
        errors["alipay_account"] = [
            _("An Alipay account is a mobile number, an e-mail address or a 2088 user id.")
        ]
    if wallet and not values["alipay_name"]:
        errors["alipay_name"] = [_("Give the real name on the Alipay account.")]
    if values["alipay_name"] and not wallet:
        errors["alipay_account"] = [_("This field is required.")]
    if wechat_openid is not None:
        openid = wechat_openid.strip() or None
        name = (wechat_name or "").strip() or None
        if openid and not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", openid):
            errors["wechat_openid"] = [
                _("An openid has 8 to 64 letters, digits, '-' or '_' (as WeChat shows it).")
            ]
        if openid and not name:
            errors["wechat_name"] = [_("Give the real name of this WeChat user.")]
        values["wechat_openid"], values["wechat_name"] = openid, openid and name
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    account = payout_account(org_id)
    if account is None:
        account = PayoutAccount(organisation_id=org_id, **values, updated_by_id=actor.id)
        db.session.add(account)
        db.session.flush()
        record(actor, account, "created", changes=values)
    else:
        changes = {
            k: [getattr(account, k), v] for k, v in values.items() if getattr(account, k) != v
        }
        for k, v in values.items():
            setattr(account, k, v)
        account.updated_by_id = actor.id
        db.session.flush()
        record(actor, account, "edited", changes=changes)
    return account


def pending_payment_ids(older_than: datetime, order_id: int | None = None) -> list[int]:
    """Online payments still pending, started before `older_than` (for reconciliation)."""
    query = select(Payment.id).where(
        Payment.status == PaymentState.pending,
        Payment.method != Method.transfer,
        Payment.created_at <= older_than,
    )
    if order_id is not None:
        query = query.where(Payment.order_id == order_id)
    return list(db.session.scalars(query.order_by(Payment.id)))


def queued_instruction_ids() -> list[int]:
    return list(
        db.session.scalars(
            select(PaymentInstruction.id)
            .where(PaymentInstruction.status == InstructionState.queued)
            .order_by(PaymentInstruction.id)
        )
    )


__all__ = [
    "Mismatch",
    "NotAllowed",
    "apply_notification",
    "apply_remote",
    "attach",
    "available_fen",
    "charged_fen",
    "confirm_manual_refund",
    "confirm_transfer",
    "fail",
    "ledger_sums",
    "record_transfer",
    "start_payment",
    "succeed",
]
