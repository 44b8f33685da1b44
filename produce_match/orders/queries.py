"""Reading orders: whose they are, what needs doing, and timers found due while reading.

Reading never writes: pages show `Order.current_status` (timers counted, nothing written). The
timers are recorded by the timer command (the worker) or by the next step on the order or its
lot (every operation applies the timers due first, see orders.operations).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from produce_match.accounts.models import Role, User
from produce_match.audit.models import AuditEvent
from produce_match.catalog.regions import distance_km
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.geo import transit_days
from produce_match.lots.models import Lot, LotStatus
from produce_match.orders.models import (
    BEFORE_DISPATCH,
    LIVE,
    TERMINAL,
    Order,
    OrderPhoto,
    OrderStatus,
    in_table_order,
    lot_spoiled,
    lot_today,
)

S = OrderStatus

#: the tabs of an order list: which states each shows
TABS: dict[str, tuple[OrderStatus, ...]] = {
    "active": in_table_order(LIVE),  # orders still moving on
    "closed": in_table_order(TERMINAL),  # orders no move leaves
}
#: the states in which an order waits for someone of this role
WAITING_FOR: dict[Role, tuple[OrderStatus, ...]] = {
    Role.buyer: (S.awaiting_payment, S.dispatched),
    Role.cooperative: (S.reserved, S.paid),
    Role.official: (S.disputed,),
    Role.admin: (S.disputed,),
}


def tab_states(user: User, tab: str) -> tuple[OrderStatus, ...]:
    if tab == "todo":
        return WAITING_FOR.get(user.role, ())
    return TABS.get(tab, TABS["active"])


def visible_to(user: User) -> Select[tuple[Order]]:
    """Every order `user` may see: its organisation's (buyer or cooperative side), or those in an
    official's jurisdiction, or all for an administrator."""
    query = select(Order).options(
        selectinload(Order.lot).selectinload(Lot.commodity),
        selectinload(Order.buyer_org),
        selectinload(Order.cooperative_org),
    )
    if user.is_admin:
        return query
    if user.role is Role.buyer:
        return query.where(Order.buyer_org_id == user.organisation_id)
    if user.role is Role.cooperative:
        return query.where(Order.cooperative_org_id == user.organisation_id)
    office = user.organisation
    if user.role is Role.official and office is not None and office.province_code:
        query = query.join(Lot, Lot.id == Order.lot_id).where(
            Lot.province_code == office.province_code
        )
        if office.county_code:
            query = query.where(Lot.county_code == office.county_code)
        return query
    return query.where(False)


def listing(user: User, tab: str = "active", *, page: int = 1, per_page: int = 30):  # noqa: ANN201
    """One page of the user's orders in a tab, newest first (Flask-SQLAlchemy pagination)."""
    query = visible_to(user).where(Order.status.in_(tab_states(user, tab)))
    return db.paginate(
        query.order_by(Order.created_at.desc(), Order.id.desc()),
        page=page,
        per_page=per_page,
        error_out=False,
    )


def of_lot(lot: Lot, user: User) -> list[Order]:
    """The orders of one lot that `user` may see (the buyer: its own), newest first."""
    return list(
        db.session.scalars(
            visible_to(user)
            .where(Order.lot_id == lot.id)
            .order_by(Order.created_at.desc(), Order.id.desc())
        )
    )


def as_of_now(lot: Lot, now: datetime | None = None) -> Lot:
    """The lot as its pages show it: what its orders' lapsed timers still hold is counted back
    into what is left (and a lot sold out by them is on offer again). Nothing is written: the
    timer or the next order records it (see orders.operations.apply_lot_expiry)."""
    now = now or utcnow()
    o = Order.__table__
    due = [
        and_(o.c.status == S.reserved, o.c.reserved_until <= now),
        and_(o.c.status.in_([S.accepted, S.awaiting_payment]), o.c.pay_by <= now),
    ]
    if lot_spoiled(lot, now):
        due.append(o.c.status.in_(BEFORE_DISPATCH))
    held = db.session.scalar(
        select(func.coalesce(func.sum(o.c.quantity_g), 0)).where(
            o.c.lot_id == lot.id, o.c.released_at.is_(None), or_(*due)
        )
    )
    if held:
        # the values shown, not changes: set as loaded, so that nothing is flushed
        set_committed_value(lot, "remaining_g", lot.remaining_g + held)
        if lot.status is LotStatus.sold_out:
            shown = LotStatus.expired if lot.spoil_by < lot.today() else LotStatus.open
            set_committed_value(lot, "status", shown)
    return lot


def next_lapse(lot: Lot, now: datetime | None = None) -> datetime | None:
    """The next instant at which `as_of_now(lot)` counts an order's hold back (a reservation
    or a payment deadline passes), None if no order holds any of it with a deadline."""
    now = now or utcnow()
    o = Order.__table__
    return db.session.scalar(
        select(
            func.min(
                case(
                    (o.c.status == S.reserved, o.c.reserved_until),
                    else_=o.c.pay_by,
                )
            )
        ).where(
            o.c.lot_id == lot.id,
            o.c.released_at.is_(None),
            or_(
                and_(o.c.status == S.reserved, o.c.reserved_until > now),
                and_(o.c.status.in_([S.accepted, S.awaiting_payment]), o.c.pay_by > now),
            ),
        )
    )


def timeline(order: Order) -> list[tuple[OrderStatus, datetime]]:
    """The states the order went through and when, oldest first (no actors, no reasons)."""
    rows = db.session.execute(
        select(AuditEvent.to_state, AuditEvent.at)
        .where(
            AuditEvent.subject_type == Order.__tablename__,
            AuditEvent.subject_id == order.id,
            AuditEvent.to_state.is_not(None),
        )
        .order_by(AuditEvent.id)
    ).all()
    return [(OrderStatus(state), at) for state, at in rows if state in OrderStatus.__members__]


def photo_key(order: Order, photo_id: int, size: str) -> str | None:
    """The storage key of one of `order`'s photos, "full" or "thumb" (None: no such photo)."""
    if size not in ("full", "thumb"):
        return None
    photo = db.session.get(OrderPhoto, photo_id)
    if photo is None or photo.order_id != order.id:
        return None
    return photo.key if size == "full" else photo.thumb_key


@dataclass(frozen=True)
class DeliveryEstimate:
    """How far the goods travel to the order's delivery county, and when they should arrive."""

    distance_km: int
    transit_days: int
    #: the earliest day of arrival (a calendar date where the lot is); None once delivered
    arrives: date | None


def delivery_estimate(order: Order, now: datetime | None = None) -> DeliveryEstimate | None:
    """Distance and arrival from the lot's county to the order's delivery county.

    The same reckoning as matching (`geo.transit_days`: a truck's day is 500 km, at least one
    day): before dispatch the goods leave on the later of today and the lot's available-from
    date; once dispatched, on the day they left. None when either county is unknown.
    """
    lot, to = order.lot, order.delivery_county
    if lot.county is None or to is None:
        return None
    now = now or utcnow()
    km = distance_km(lot.county, to)
    days = transit_days(km)
    status = order.status_at(now)
    if status in BEFORE_DISPATCH:
        leaves = max(lot_today(lot, now), lot.available_from)
    elif status is S.dispatched and order.dispatched_at is not None:
        leaves = lot_today(lot, order.dispatched_at)
    else:
        return DeliveryEstimate(round(km), days, None)
    return DeliveryEstimate(round(km), days, leaves + timedelta(days=days))
