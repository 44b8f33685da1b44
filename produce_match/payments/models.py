"""Payments: what was asked of a provider, what it said, and the money as a ledger.

Nothing here is a balance. What an order holds is the sum of its ledger entries (charges in,
refunds and payouts out), each written once (unique `key`) when the provider confirmed it.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation, User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.orders.models import Order

#: the only currency the platform trades in
CURRENCY = "CNY"


def _enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, validate_strings=True)


class Method(enum.StrEnum):
    sandbox = "sandbox"  #: our own gateway (an online provider): hosted checkout, notifications
    transfer = "transfer"  #: an offline bank transfer to the cooperative's account
    alipay = "alipay"  #: Alipay's open platform (page pay on a computer, WAP pay on a phone)
    wechatpay = "wechatpay"  #: WeChat Pay API v3 (Native QR code on a computer, H5 on a phone)

    @property
    def label(self) -> Any:
        return _METHOD_LABELS[self]


_METHOD_LABELS = {
    Method.sandbox: _l("Online payment"),
    Method.transfer: _l("Bank transfer"),
    Method.alipay: _l("Alipay"),
    Method.wechatpay: _l("WeChat Pay"),
}


def channel_label(provider: str) -> str:
    """A provider's name (as ledger entries store it) in the reader's words."""
    try:
        return str(Method(provider).label)
    except ValueError:  # a provider that is no longer offered keeps the name it was stored with
        return provider


class PaymentState(enum.StrEnum):
    pending = "pending"  #: started; the money is not confirmed
    recorded = "recorded"  #: (transfer) the buyer says it was sent; the cooperative confirms
    succeeded = "succeeded"  #: the provider (or, for a transfer, the cooperative) confirmed it
    failed = "failed"  #: the provider refused or the buyer gave up; another payment may follow

    @property
    def label(self) -> Any:
        return _PAYMENT_LABELS[self]


_PAYMENT_LABELS = {
    PaymentState.pending: _l("waiting for payment"),
    PaymentState.recorded: _l("transfer recorded, waiting for confirmation"),
    PaymentState.succeeded: _l("payment received"),
    PaymentState.failed: _l("payment failed"),
}


class PaymentAction(enum.StrEnum):
    record_transfer = "record_transfer"  #: the buyer says its bank transfer was sent
    succeed = "succeed"  #: the provider (or the cooperative, for a transfer) confirmed the money
    fail = "fail"  #: closed at the provider, refused by the cooperative, or its order ended


#: THE transition table of payments: (from, action) -> to. Money that arrives after a payment
#: was given up still counts (a failed payment may succeed: it is then refunded if late).
PAYMENT_TRANSITIONS: dict[tuple[PaymentState, PaymentAction], PaymentState] = {
    (PaymentState.pending, PaymentAction.record_transfer): PaymentState.recorded,
    (PaymentState.pending, PaymentAction.succeed): PaymentState.succeeded,
    (PaymentState.recorded, PaymentAction.succeed): PaymentState.succeeded,
    (PaymentState.failed, PaymentAction.succeed): PaymentState.succeeded,
    (PaymentState.pending, PaymentAction.fail): PaymentState.failed,
    (PaymentState.recorded, PaymentAction.fail): PaymentState.failed,
}
PAYMENTS: Lifecycle[PaymentState, PaymentAction] = Lifecycle(
    "payments",
    PaymentState,
    PaymentAction,
    PAYMENT_TRANSITIONS,
    verbs={
        PaymentAction.record_transfer: "transfer_recorded",
        PaymentAction.succeed: "succeeded",
        PaymentAction.fail: "failed",
    },
)
#: payments still open: they may yet pay (or be given up); one is reused rather than doubled
OPEN_PAYMENTS = PAYMENTS.sources(PaymentAction.fail)


def new_reference() -> str:
    """What the buyer writes on a transfer and the provider carries back: short, unambiguous."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "PM" + "".join(secrets.choice(alphabet) for _ in range(10))


class Payment(db.Model):
    """One attempt to pay an order through one method; at most one per order pays it."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        Index("ix_payments_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    method: Mapped[Method] = mapped_column(_enum(Method, "payment_method", 10))
    #: the provider that holds the money (`sandbox`, `transfer`, later a real gateway)
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[PaymentState] = mapped_column(
        _enum(PaymentState, "payment_state"), default=PaymentState.pending
    )
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    #: ours: sent to the provider, written on a bank transfer
    reference: Mapped[str] = mapped_column(String(20), unique=True, default=new_reference)
    #: sent with every create call, so that a retried call never creates a second payment
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: the provider's id for it, once the provider answered
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    #: where the buyer goes to pay
    pay_url: Mapped[str | None] = mapped_column(String(500))
    #: True when it succeeded but could not pay its order (already paid, expired, cancelled):
    #: the money goes straight back
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    #: (transfer) what the buyer recorded: from which account, when, any note
    payer_account: Mapped[str | None] = mapped_column(String(120))
    payer_note: Mapped[str | None] = mapped_column(String(300))
    recorded_at: Mapped[datetime | None]
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    succeeded_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship()
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])


class PaymentEvent(db.Model):
    """A notification from a provider, kept once: the unique pair makes duplicates harmless."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_payment_events_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class EntryKind(enum.StrEnum):
    charge = "charge"  #: money in from the buyer
    refund = "refund"  #: money back to the buyer
    payout = "payout"  #: money out to the cooperative

    @property
    def label(self) -> Any:
        return _ENTRY_LABELS[self]


_ENTRY_LABELS = {
    EntryKind.charge: _l("paid by the buyer"),
    EntryKind.refund: _l("refunded to the buyer"),
    EntryKind.payout: _l("paid out to the cooperative"),
}


class LedgerEntry(db.Model):
    """One movement of money for an order, written once, never changed."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, "ledger_kind", 10))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    provider: Mapped[str] = mapped_column(String(20))
    #: the provider's id for the charge, refund or payout
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    #: what it is, once: "charge:<payment id>", "refund:<instruction id>", "payout:<...>"
    key: Mapped[str] = mapped_column(String(64), unique=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    instruction_id: Mapped[int | None] = mapped_column(ForeignKey("payment_instructions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InstructionKind(enum.StrEnum):
    refund = "refund"
    payout = "payout"


class Reason(enum.StrEnum):
    cancelled = "cancelled"  #: a paid order was cancelled: everything back
    expired = "expired"  #: a paid order expired before dispatch (the lot spoiled): all back
    short_delivery = "short_delivery"  #: less was accepted than ordered: the difference back
    dispute = "dispute"  #: what the resolution of a dispute gives back
    late_payment = "late_payment"  #: a payment that came when the order could not take it
    settlement = "settlement"  #: the cooperative's share, once the order is done
    #: settled on loading: what was loaded, less the holdback, paid the day of loading
    loading_settlement = "loading_settlement"
    #: settled on loading: what the weighbridge says was not loaded, back to the buyer at once
    loading_shortfall = "loading_shortfall"
    #: settled on loading: the holdback, once delivery is confirmed (less a short delivery)
    holdback_release = "holdback_release"

    @property
    def label(self) -> Any:
        return _REASON_LABELS[self]


_REASON_LABELS = {
    Reason.cancelled: _l("order cancelled"),
    Reason.expired: _l("order expired"),
    Reason.short_delivery: _l("less delivered than ordered"),
    Reason.dispute: _l("dispute resolved"),
    Reason.late_payment: _l("payment arrived when the order could no longer take it"),
    Reason.settlement: _l("the cooperative's share"),
    Reason.loading_settlement: _l("paid on loading, less the holdback"),
    Reason.loading_shortfall: _l("less loaded than ordered"),
    Reason.holdback_release: _l("the holdback, delivery confirmed"),
}


class InstructionState(enum.StrEnum):
    queued = "queued"  #: written with the order's step; not yet (or not surely) sent
    manual = "manual"  #: (transfer) a person has to move the money and say so
    succeeded = "succeeded"  #: the provider confirmed it; the ledger has its entry
    failed = "failed"  #: the provider refused it for good (an administrator looks at it)

    @property
    def label(self) -> Any:
        return _INSTRUCTION_LABELS[self]


_INSTRUCTION_LABELS = {
    InstructionState.queued: _l("being sent"),
    InstructionState.manual: _l("to be sent by the cooperative"),
    InstructionState.succeeded: _l("done"),
    InstructionState.failed: _l("refused by the payment side"),
}


class InstructionAction(enum.StrEnum):
    hand_over = "hand_over"  #: a person has to move the money (a transfer refund) and say so
    give_up = "give_up"  #: the provider refused it for good
    complete = "complete"  #: the provider, or the person, made it: the ledger has its entry


#: THE transition table of refunds and payouts: (from, action) -> to
INSTRUCTION_TRANSITIONS: dict[tuple[InstructionState, InstructionAction], InstructionState] = {
    (InstructionState.queued, InstructionAction.hand_over): InstructionState.manual,
    (InstructionState.queued, InstructionAction.give_up): InstructionState.failed,
    (InstructionState.queued, InstructionAction.complete): InstructionState.succeeded,
    (InstructionState.manual, InstructionAction.complete): InstructionState.succeeded,
}
INSTRUCTIONS: Lifecycle[InstructionState, InstructionAction] = Lifecycle(
    "payment_instructions",
    InstructionState,
    InstructionAction,
    INSTRUCTION_TRANSITIONS,
    verbs={
        InstructionAction.hand_over: "manual",
        InstructionAction.give_up: "failed",
        InstructionAction.complete: "succeeded",
    },
)
#: instructions still to be carried out (sent, or done by hand)
OUTSTANDING = INSTRUCTIONS.live


class PaymentInstruction(db.Model):
    """A refund or payout to make (the outbox): written in the order's transaction, sent after.

    The provider is called after the commit and again by `flask payments reconcile` until it
    answers; the idempotency key makes every repeat the same call.
    """

    __tablename__ = "payment_instructions"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_payment_instructions_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    #: the payment refunded (refunds), or that paid the order (payouts)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    kind: Mapped[InstructionKind] = mapped_column(_enum(InstructionKind, "instruction_kind", 10))
    reason: Mapped[Reason] = mapped_column(_enum(Reason, "instruction_reason"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[InstructionState] = mapped_column(
        _enum(InstructionState, "instruction_state"), default=InstructionState.queued
    )
    #: once per cause: "cancelled:<order>", "settlement:<order>", "late_payment:<payment>" ...
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    order: Mapped[Order] = relationship()
    payment: Mapped[Payment] = relationship()


class PayoutAccount(db.Model):
    """Where a cooperative is paid (and where buyers send a bank transfer)."""

    __tablename__ = "payout_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), unique=True)
    account_name: Mapped[str] = mapped_column(String(120))
    bank_name: Mapped[str] = mapped_column(String(120))
    account_number: Mapped[str] = mapped_column(String(40))
    #: Alipay payouts (optional): the account's login (phone, e-mail) or user id (2088…), and
    #: the real name on it, which Alipay checks
    alipay_account: Mapped[str | None] = mapped_column(String(100))
    alipay_name: Mapped[str | None] = mapped_column(String(120))
    #: WeChat Pay payouts (merchant transfer) go to a WeChat user, not a bank account: the
    #: openid of the cooperative's payee under the platform's AppID, and the payee's real name
    #: (WeChat Pay checks it against the openid's owner)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    wechat_name: Mapped[str | None] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    organisation: Mapped[Organisation] = relationship()
