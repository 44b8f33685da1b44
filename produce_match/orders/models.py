"""Orders: their states, the one table of legal moves between them, and the order row.

Everything above the `Order` model is pure (no app, no database): the states, who may move an
order from one state to the next, and which timer is due. `operations` does the moving.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation, User
from produce_match.catalog.models import Region
from produce_match.database import utcnow
from produce_match.dates import DEFAULT_TIMEZONE
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.lots.models import MAX_HOLDBACK_PCT, Lot, Settlement
from produce_match.units import MassUnit


class OrderStatus(enum.StrEnum):
    reserved = "reserved"  #: placed; its quantity is held until the cooperative answers
    accepted = "accepted"  #: the cooperative will sell (payment is requested at once, see below)
    rejected = "rejected"  #: the cooperative declined, with a reason; the quantity went back
    awaiting_payment = "awaiting_payment"  #: the buyer has until `pay_by` to pay
    paid = "paid"  #: the payment side confirmed the money; the cooperative loads and ships
    dispatched = "dispatched"  #: on its way: vehicle plate, driver's phone, shipped quantity
    delivered = "delivered"  #: the buyer confirmed what arrived (or the timer did); disputable
    completed = "completed"  #: delivered and past the dispute window: nothing more to do
    cancelled = "cancelled"  #: called off before dispatch by either side, with a reason
    expired = "expired"  #: not accepted or not paid in time, or the lot spoiled before dispatch
    disputed = "disputed"  #: after delivery the buyer reported short weight or poor quality
    resolved = "resolved"  #: an official or an administrator settled the dispute

    @property
    def label(self) -> Any:
        """The status in words, in the user's language."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    OrderStatus.reserved: _l("reserved"),
    OrderStatus.accepted: _lp("order status", "accepted"),
    OrderStatus.rejected: _l("rejected"),
    OrderStatus.awaiting_payment: _l("awaiting payment"),
    OrderStatus.paid: _l("paid"),
    OrderStatus.dispatched: _l("dispatched"),
    OrderStatus.delivered: _l("delivered"),
    OrderStatus.completed: _l("completed"),
    OrderStatus.cancelled: _l("cancelled"),
    OrderStatus.expired: _l("expired"),
    OrderStatus.disputed: _l("disputed"),
    OrderStatus.resolved: _l("resolved"),
}


class PaymentStatus(enum.StrEnum):
    """Where the money is; separate from the order's status (the payments issue drives it)."""

    unpaid = "unpaid"  #: nothing received
    pending = "pending"  #: a payment was started at the gateway, not yet confirmed
    paid = "paid"  #: the payment side confirmed the whole amount
    partially_refunded = "partially_refunded"  #: part of the money went back to the buyer
    refunded = "refunded"  #: all of it went back to the buyer


class Party(enum.StrEnum):
    """Who may take a step."""

    buyer = "buyer"  #: a buyer-role member of the buyer organisation that placed the order
    cooperative = "cooperative"  #: a cooperative-role member of the organisation selling the lot
    official = "official"  #: an official whose jurisdiction holds the lot, or an administrator
    system = "system"  #: no person: timers, and the payment side's confirmation


class OrderAction(enum.StrEnum):
    accept = "accept"  #: the cooperative takes the order
    reject = "reject"  #: the cooperative declines it (with a reason)
    request_payment = "request_payment"  #: payment is asked for (done by `accept`, at once)
    pay = "pay"  #: the payment side confirmed the money (`mark_paid`)
    dispatch = "dispatch"  #: loaded and shipped
    confirm_delivery = "confirm_delivery"  #: the buyer states the quantity it accepts
    auto_confirm = "auto_confirm"  #: nobody confirmed within AUTO_CONFIRM: the shipped quantity
    complete = "complete"  #: the dispute window has closed
    dispute = "dispute"  #: short weight or poor quality, within the dispute window
    resolve = "resolve"  #: an official or administrator settles the dispute
    cancel = "cancel"  #: either side, before dispatch, with a reason
    expire = "expire"  #: a timer ran out, or the lot spoiled, before dispatch


S, A, P = OrderStatus, OrderAction, Party
_EITHER_SIDE = frozenset({P.buyer, P.cooperative})
#: the states in which the order still waits for its goods and may be called off
BEFORE_DISPATCH = (S.reserved, S.accepted, S.awaiting_payment, S.paid)

#: THE transition table: (from, action) -> (to, who may do it). Every move not here is refused.
#: `accept` is followed at once, in the same transaction, by the system's `request_payment`:
#: `accepted` is kept as its own state (and recorded) so that the payments issue can put a step
#: between the two (e.g. creating the payment at the gateway) without changing this table.
TRANSITIONS: dict[tuple[OrderStatus, OrderAction], tuple[OrderStatus, frozenset[Party]]] = {
    (S.reserved, A.accept): (S.accepted, frozenset({P.cooperative})),
    (S.reserved, A.reject): (S.rejected, frozenset({P.cooperative})),
    (S.accepted, A.request_payment): (S.awaiting_payment, frozenset({P.system})),
    (S.awaiting_payment, A.pay): (S.paid, frozenset({P.system})),
    (S.paid, A.dispatch): (S.dispatched, frozenset({P.cooperative})),
    (S.dispatched, A.confirm_delivery): (S.delivered, frozenset({P.buyer})),
    (S.dispatched, A.auto_confirm): (S.delivered, frozenset({P.system})),
    (S.delivered, A.complete): (S.completed, frozenset({P.system})),
    (S.delivered, A.dispute): (S.disputed, frozenset({P.buyer})),
    (S.disputed, A.resolve): (S.resolved, frozenset({P.official})),
    **{(s, A.cancel): (S.cancelled, _EITHER_SIDE) for s in BEFORE_DISPATCH},
    **{(s, A.expire): (S.expired, frozenset({P.system})) for s in BEFORE_DISPATCH},
}

#: what each move is called in the audit trail (past tense, like the other domains' events)
VERBS: dict[OrderAction, str] = {
    A.accept: "accepted",
    A.reject: "rejected",
    A.request_payment: "payment_requested",
    A.pay: "paid",
    A.dispatch: "dispatched",
    A.confirm_delivery: "delivery_confirmed",
    A.auto_confirm: "delivery_auto_confirmed",
    A.complete: "completed",
    A.dispute: "disputed",
    A.resolve: "resolved",
    A.cancel: "cancelled",
    A.expire: "expired",
}

# --- the sets of states queries and pages need, all derived from the table ------------------

#: states an order never leaves
TERMINAL = frozenset(s for s in OrderStatus if not any(k[0] is s for k in TRANSITIONS))
#: states an order still moves on from (the "active" tab; the others are "closed")
LIVE = frozenset(OrderStatus) - TERMINAL
#: states reached by giving the reserved quantity back to the lot: the early endings
RELEASING = frozenset(
    TRANSITIONS[s, a][0] for s, a in TRANSITIONS if a in (A.reject, A.cancel, A.expire)
)
#: states in which the cooperative has taken the order (the lot has a buyer): every state
#: the table reaches from an accepted order except the early endings
TAKEN = frozenset(OrderStatus) - RELEASING - {S.reserved}
#: a buyer's reliability by state alone: orders that ended well, against those that ended any
#: way the buyer had a hand in (a rejection is the cooperative's doing; a dispute counts once
#: raised). The figures pages and the match score use (trust/reliability.py) go further: they
#: read who cancelled and why an order expired from the audit trail.
SUCCEEDED = frozenset({S.completed})
BUYER_ACCOUNTABLE = (TERMINAL - {S.rejected}) | {S.disputed}


def in_table_order(states: frozenset[OrderStatus]) -> tuple[OrderStatus, ...]:
    """A set of states as a tuple in the order the states are declared (for stable queries)."""
    return tuple(s for s in OrderStatus if s in states)


class IllegalTransition(Conflict):
    """A move the transition table does not allow from the order's present state."""

    code = "illegal_transition"

    def __init__(self, status: str, action: str) -> None:
        label = OrderStatus(status).label if status in _STATUS_VALUES else status
        super().__init__(
            _l("This cannot be done to an order that is %(status)s.", status=label),
            code=self.code,
        )
        # not `status`: DomainError.status is the HTTP status (409)
        self.order_status = status
        self.action = action


def _changed_meanwhile(_status: Any, _action: Any) -> Conflict:
    return Conflict(
        _l("This order was changed meanwhile. Reload it and try again."), code="order_changed"
    )


#: the table as the one lifecycle helper runs it (the parties are checked by `operations`)
ORDERS: Lifecycle[OrderStatus, OrderAction] = Lifecycle(
    "orders",
    OrderStatus,
    OrderAction,
    {key: to for key, (to, _who) in TRANSITIONS.items()},
    verbs=VERBS,
    illegal=IllegalTransition,
    stale=_changed_meanwhile,
)

_STATUS_VALUES = frozenset(s.value for s in OrderStatus)
_ACTION_VALUES = frozenset(a.value for a in OrderAction)


def _move(status: str, action: str) -> tuple[OrderStatus, frozenset[Party]] | None:
    if status not in _STATUS_VALUES or action not in _ACTION_VALUES:
        return None
    return TRANSITIONS.get((OrderStatus(status), OrderAction(action)))


def transition(status: str, action: str) -> OrderStatus:
    """The state `action` leads to from `status`; IllegalTransition for every other move."""
    move = _move(status, action)
    if move is None:
        raise IllegalTransition(status, action)
    return move[0]


def parties(status: str, action: str) -> frozenset[Party]:
    """Who may take `action` from `status` (empty when the move is illegal)."""
    move = _move(status, action)
    return move[1] if move else frozenset()


def parties_for(action: str) -> frozenset[Party]:
    """Who may take `action` from some state (for the policy, which does not look at states)."""
    return frozenset().union(*(who for (_s, a), (_t, who) in TRANSITIONS.items() if a == action))


def actions_from(status: str) -> list[OrderAction]:
    """The actions the table allows from `status`, in table order (for pages and the API)."""
    return [a for (s, a) in TRANSITIONS if s == status]


# --- timers ---------------------------------------------------------------------------------
# There is no scheduler: a timer is a deadline stored on the order and applied whenever the order
# (or its lot) is written, and by `flask orders expire` (cron, every minute). Nothing is wrong if
# neither runs for a while: `due_action` says what is due, `Order.current_status` shows it.

#: how long the cooperative has to accept a reservation before it expires
RESERVATION_HOLD = timedelta(hours=24)
#: how long the buyer has to pay once the order is accepted
PAYMENT_WINDOW = timedelta(hours=48)
#: after dispatch, delivery is confirmed with the shipped quantity unless the buyer did it sooner
AUTO_CONFIRM = timedelta(days=7)
#: after delivery (confirmed by the buyer or by the timer) the buyer may dispute for this long
DISPUTE_WINDOW = timedelta(days=3)


class ExpiryCause(enum.StrEnum):
    not_accepted_in_time = "not_accepted_in_time"  #: reserved past `reserved_until`
    not_paid_in_time = "not_paid_in_time"  #: accepted but unpaid past `pay_by`
    lot_spoiled = "lot_spoiled"  #: the lot's spoil-by date passed before dispatch


class _Timed(Protocol):
    status: OrderStatus
    reserved_until: datetime
    pay_by: datetime | None
    auto_confirm_at: datetime | None
    dispute_until: datetime | None
    lot: Any


def lot_today(lot: Any, now: datetime) -> date:
    """The calendar date where the lot is, at the instant `now`."""
    return now.astimezone(ZoneInfo(lot.timezone or DEFAULT_TIMEZONE)).date()


def lot_spoiled(lot: Any, now: datetime) -> bool:
    """Has the lot's spoil-by date (a calendar date where the lot is) passed at `now`?"""
    return lot.spoil_by < lot_today(lot, now)


def due_action(order: _Timed, now: datetime) -> tuple[OrderAction, ExpiryCause | None] | None:
    """The timer step due for `order` at `now` (and the cause of an expiry), or None."""
    status = order.status
    if status is S.reserved and order.reserved_until <= now:
        return A.expire, ExpiryCause.not_accepted_in_time
    if status in (S.accepted, S.awaiting_payment) and order.pay_by and order.pay_by <= now:
        return A.expire, ExpiryCause.not_paid_in_time
    if status in BEFORE_DISPATCH and lot_spoiled(order.lot, now):
        return A.expire, ExpiryCause.lot_spoiled
    if status is S.dispatched and order.auto_confirm_at and order.auto_confirm_at <= now:
        return A.auto_confirm, None
    if status is S.delivered and order.dispute_until and order.dispute_until <= now:
        return A.complete, None
    return None


# --- the table ------------------------------------------------------------------------------


def _enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, validate_strings=True)


def new_tracking_code() -> str:
    return secrets.token_urlsafe(12)


class Order(db.Model):
    """A buyer's order of part or all of a lot; its quantity is held from the lot from the start."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("quantity_g > 0", name="quantity_positive"),
        CheckConstraint("amount_fen >= 0", name="amount_not_negative"),
        CheckConstraint(
            "shipped_g IS NULL OR (shipped_g > 0 AND shipped_g <= quantity_g)",
            name="shipped_within_quantity",
        ),
        CheckConstraint(
            "accepted_g IS NULL OR (accepted_g >= 0 AND accepted_g <= shipped_g)",
            name="accepted_within_shipped",
        ),
        CheckConstraint(
            "resolution_refund_fen IS NULL OR resolution_refund_fen BETWEEN 0 AND amount_fen",
            name="resolution_refund_within_amount",
        ),
        CheckConstraint(
            f"holdback_pct BETWEEN 0 AND {MAX_HOLDBACK_PCT}", name="holdback_pct_in_range"
        ),
        Index("ix_orders_lot_id_status", "lot_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: who placed it
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: the lot's cooperative, copied so that a cooperative's orders are found without a join
    cooperative_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: ordered, and held from the lot until given back (integer grams)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    #: the unit the buyer ordered in (to show the quantity back the same way)
    unit: Mapped[MassUnit] = mapped_column(_enum(MassUnit, "mass_unit", 4))
    #: the lot's price when the order was placed, frozen: later edits of the lot do not change it
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    #: what the ordered quantity costs at that price, in fen
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    #: what was loaded (at dispatch) and what the buyer accepted (at delivery)
    shipped_g: Mapped[int | None] = mapped_column(BigInteger)
    accepted_g: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[OrderStatus] = mapped_column(
        _enum(OrderStatus, "order_status"), default=OrderStatus.reserved, index=True
    )
    #: when the cooperative is paid, as the buyer chose among the lot's terms (frozen)
    settlement: Mapped[Settlement] = mapped_column(
        _enum(Settlement, "settlement", 12),
        default=Settlement.on_delivery,
        server_default=Settlement.on_delivery.value,
    )
    #: settled on loading: the share of the loaded amount kept until delivery (whole percent)
    holdback_pct: Mapped[int] = mapped_column(default=0, server_default="0")
    #: the weighbridge ticket's number, as written at loading (the weight is `shipped_g`)
    weighbridge_ticket: Mapped[str | None] = mapped_column(String(40))
    #: settled on loading: what the buyer is owed back beyond what was still held (a short
    #: delivery or a dispute's refund larger than the holdback), in fen: a claim on the
    #: cooperative, shown to the official (the payments side writes it)
    claim_fen: Mapped[int | None] = mapped_column(BigInteger)
    payment_status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus, "payment_status"), default=PaymentStatus.unpaid
    )
    #: deadlines (UTC instants); see the timers above
    reserved_until: Mapped[datetime]
    pay_by: Mapped[datetime | None]
    auto_confirm_at: Mapped[datetime | None]
    dispute_until: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    vehicle_plate: Mapped[str | None] = mapped_column(String(16))
    driver_phone: Mapped[str | None] = mapped_column(String(30))
    delivered_at: Mapped[datetime | None]
    #: when the quantity went back to the lot; set once, by a guarded UPDATE, never cleared
    released_at: Mapped[datetime | None]
    #: the words given on rejection or cancellation (the cause of an expiry is in the audit trail)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    #: what the resolution gives back to the buyer, in fen (the payments side refunds it)
    resolution_refund_fen: Mapped[int | None] = mapped_column(BigInteger)
    #: where the goods go and who takes them: filled from the buyer's demand or organisation,
    #: the buyer may change them until dispatch; the cooperative sees the address and the
    #: receiver once it has accepted (policy: view_delivery). Orders placed before these
    #: existed were given their buyer's place and contact.
    delivery_province_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    delivery_county_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    delivery_address: Mapped[str | None] = mapped_column(String(200))
    receiver_name: Mapped[str | None] = mapped_column(String(60))
    receiver_phone: Mapped[str | None] = mapped_column(String(30))
    #: the unguessable part of the public tracking page's address (printed as a QR code)
    tracking_code: Mapped[str] = mapped_column(String(32), unique=True, default=new_tracking_code)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lot: Mapped[Lot] = relationship()
    buyer_org: Mapped[Organisation] = relationship(foreign_keys=[buyer_org_id])
    buyer_user: Mapped[User] = relationship(foreign_keys=[buyer_user_id])
    cooperative_org: Mapped[Organisation] = relationship(foreign_keys=[cooperative_org_id])
    delivery_province: Mapped[Region | None] = relationship(foreign_keys=[delivery_province_code])
    delivery_county: Mapped[Region | None] = relationship(foreign_keys=[delivery_county_code])
    photos: Mapped[list[OrderPhoto]] = relationship(
        back_populates="order", order_by="OrderPhoto.id", cascade="all, delete-orphan"
    )

    @property
    def delivery_region(self) -> str:
        """'江西省 东湖区': the delivery province and county (what a cooperative sees first)."""
        parts = [self.delivery_province, self.delivery_county]
        return " ".join(region.name for region in parts if region is not None)

    @property
    def delivery_place(self) -> str:
        """'江西省 东湖区 八一大道 1 号': the delivery region and the address line."""
        return " ".join(p for p in (self.delivery_region, self.delivery_address) if p)

    @property
    def on_loading(self) -> bool:
        """Is the cooperative paid when the order is loaded (款到发货，装车结算)?"""
        return self.settlement is Settlement.on_loading

    @property
    def reserved_g(self) -> int:
        """What this order holds of the lot: all of its quantity until it is given back.

        For every lot, remaining_g + the sum of reserved_g of its orders == quantity_g.
        """
        return self.quantity_g if self.released_at is None else 0

    def status_at(self, now: datetime | None = None) -> OrderStatus:
        """The status at `now`, counting timers that are due but not yet recorded (no writes)."""
        now = now or utcnow()
        due = due_action(self, now)
        if due is None:
            return self.status
        after = transition(self.status, due[0])
        if due[0] is A.auto_confirm and self.auto_confirm_at + DISPUTE_WINDOW <= now:
            return S.completed
        return after

    @property
    def current_status(self) -> OrderStatus:
        """The status as of now, for read-only pages (like `Lot.current_status`)."""
        return self.status_at()


class PhotoPurpose(enum.StrEnum):
    loading = "loading"  #: taken by the cooperative when the truck was loaded
    evidence = "evidence"  #: taken by the buyer to show short weight or poor quality


class OrderPhoto(db.Model):
    """A photo attached to an order, seen only by its parties and oversight (never public)."""

    __tablename__ = "order_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[PhotoPurpose] = mapped_column(_enum(PhotoPurpose, "photo_purpose", 10))
    #: keys in the upload storage
    key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    width: Mapped[int]
    height: Mapped[int]
    #: where and when it was taken, as the uploader states it (uploads carry no metadata)
    place: Mapped[str | None] = mapped_column(String(120))
    taken_at: Mapped[datetime | None]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="photos")
