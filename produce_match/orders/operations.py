"""The only code that writes orders. Operations flush, never commit, and audit every step.

Stock is always right because a lot's `remaining_g` changes only through two guarded statements,
both here: `_reserve` (UPDATE ... WHERE remaining_g >= :q, checking that a row came back) and
`_give_back` (run only if the guarded UPDATE that sets the order's `released_at` changed a row,
so that a quantity goes back exactly once). The database CHECKs that remaining_g never goes
below zero nor above the quantity. A read-check-write would sell the same stock twice; and
SELECT ... FOR UPDATE is silently ignored on SQLite, so nothing here relies on it for
correctness (on SQLite every writing transaction begins IMMEDIATE; see database.py).

Every step of an order is one guarded statement too (UPDATE ... WHERE status = :expected), so
two people (or two cron runs) acting on the same order at once cannot both move it.

Lock order, for PostgreSQL: a transaction that gives stock back locks the lot's row before the
order's, and `expire_due` goes through lots in id order, so two transactions never wait for each
other in a circle.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, case, func, insert, literal_column, or_, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from produce_match.accounts.models import User
from produce_match.accounts.operations import PlaceInput, resolve_place
from produce_match.accounts.rules import normalise_phone
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.dates import BadDate, parse_date
from produce_match.demands.models import MATCHED, Demand
from produce_match.errors import Conflict, DomainError, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import (
    LOTS,
    Lot,
    LotAction,
    LotStatus,
    Settlement,
    meets_minimum,
    minimum_met,
    sellable,
)
from produce_match.lots.photos import ProcessedPhoto
from produce_match.lots.updates import prepared, update_lots
from produce_match.lots.uploads import process_uploads
from produce_match.orders.events import order_changed
from produce_match.orders.models import (
    AUTO_CONFIRM,
    BEFORE_DISPATCH,
    DISPUTE_WINDOW,
    ORDERS,
    PAYMENT_WINDOW,
    RESERVATION_HOLD,
    Order,
    OrderAction,
    OrderPhoto,
    OrderStatus,
    Party,
    PaymentStatus,
    PhotoPurpose,
    due_action,
    lot_spoiled,
    lot_today,
    new_tracking_code,
    parties,
    parties_for,
    transition,
)
from produce_match.orders.permissions import order_party
from produce_match.policy import can
from produce_match.storage import save_in_transaction
from produce_match.units import (
    MassUnit,
    UnitError,
    cost_fen,
    format_mass,
    parse_unit,
    to_grams,
    yuan_text,
)

__all__ = [
    "AUTO_CONFIRM",
    "DISPUTE_WINDOW",
    "PAYMENT_WINDOW",
    "RESERVATION_HOLD",
    "DeliveryInput",
    "NotAllowed",
    "TimerCounts",
    "accept",
    "apply_expiry",
    "apply_lot_expiry",
    "cancel",
    "change_delivery",
    "complete",
    "confirm_delivery",
    "delivery_defaults",
    "delivery_of",
    "dispatch",
    "dispute",
    "expire_due",
    "mark_paid",
    "order_amount_fen",
    "place_order",
    "reject",
    "resolve",
    "settlement_for",
]

A, S = OrderAction, OrderStatus
_orders = Order.__table__
_lots = Lot.__table__

#: the longest reason, dispute or resolution text accepted
MAX_TEXT = 1000
#: photos of a loading, or of a dispute's evidence, at most
MAX_PHOTOS = 6


class NotAllowed(DomainError):
    """The actor is not a side that may take this step (views check the policy first)."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class TimerCounts:
    """What `expire_due` recorded."""

    expired: int = 0
    confirmed: int = 0
    completed: int = 0

    @property
    def total(self) -> int:
        """Every step recorded."""
        return self.expired + self.confirmed + self.completed


def _now(now: datetime | None) -> datetime:
    # `utcnow` is looked up here at call time so that tests can freeze it in this module
    return now or utcnow()


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


def _notify(actor: User | None, order: Order, event: str) -> None:
    """Send `order_changed` for a change that is not a move (placed, delivery changed)."""
    order_changed.send(order, event=event, actor=actor)


# --- who and what -------------------------------------------------------------------------


def _party(actor: User | None, order: Order) -> Party | None:
    return Party.system if actor is None else order_party(actor, order)


def _check_party(actor: User | None, order: Order, action: OrderAction) -> None:
    """Refuse an actor who is no side that could ever take `action` (before any timer runs)."""
    party = _party(actor, order)
    if party is None or party not in parties_for(action):
        raise NotAllowed(_("Your account may not do this to this order."))


def _text(value: str | None, field: str, missing: str) -> str:
    text = str(value or "").strip()  # inner line breaks stay: a dispute may need paragraphs
    if not text:
        raise ValidationFailed(missing, fields={field: [missing]})
    if len(text) > MAX_TEXT:
        message = _("At most %(max)d characters.", max=MAX_TEXT)
        raise ValidationFailed(message, fields={field: [message]})
    return text


def _quantity(
    amount: str | int | Decimal | None,
    unit: str | MassUnit | None,
    field: str = "quantity",
    *,
    allow_zero: bool = False,
) -> tuple[int, MassUnit]:
    """A quantity as typed, in exact grams, or ValidationFailed naming the field."""
    try:
        mass_unit = parse_unit(unit)
    except UnitError as exc:
        raise ValidationFailed(exc.message, fields={"unit": [str(exc.message)]}) from None
    if amount is None or not str(amount).strip():
        message = _("Enter the quantity.")
        raise ValidationFailed(message, fields={field: [message]})
    if allow_zero:
        try:
            if Decimal(str(amount).strip()) == 0:
                return 0, mass_unit
        except InvalidOperation:
            pass  # to_grams explains what is wrong with it
    try:
        return to_grams(amount, mass_unit), mass_unit
    except UnitError as exc:
        raise ValidationFailed(exc.message, fields={field: [str(exc.message)]}) from None


def _photos(actor: User, photos: Sequence[bytes]) -> list[ProcessedPhoto]:
    """Check and re-encode uploaded photos before anything is recorded (all or none)."""
    return process_uploads(actor, [p for p in photos if p], max_count=MAX_PHOTOS)


def _attach(
    actor: User,
    order: Order,
    purpose: PhotoPurpose,
    photos: list[ProcessedPhoto],
    place: str | None = None,
    taken_at: datetime | None = None,
) -> list[int]:
    """Store checked photos with the order (removed again if the transaction rolls back)."""
    ids = []
    for photo in photos:
        name = secrets.token_hex(12)
        key, thumb_key = f"orders/{order.id}/{name}.jpg", f"orders/{order.id}/{name}-thumb.jpg"
        save_in_transaction(key, photo.full)
        save_in_transaction(thumb_key, photo.thumb)
        row = OrderPhoto(
            order=order,
            purpose=purpose,
            key=key,
            thumb_key=thumb_key,
            width=photo.width,
            height=photo.height,
            place=place,
            # in UTC, as it is stored: the response that shows the new row reads it as stored
            taken_at=taken_at.astimezone(UTC) if taken_at is not None else None,
            uploaded_by_id=actor.id,
        )
        db.session.add(row)
        db.session.flush()
        ids.append(row.id)
    return ids


def _place_and_time(
    place: str | None, taken_at: datetime | None, now: datetime
) -> tuple[str | None, datetime | None]:
    place = (place or "").strip() or None
    if place is not None and len(place) > 120:
        message = _("At most %(max)d characters.", max=120)
        raise ValidationFailed(message, fields={"place": [message]})
    if taken_at is not None:
        if taken_at.tzinfo is None:
            raise ValueError("taken_at must be timezone-aware")
        try:  # the years any input may name: year 1 at +14:00 cannot even be stored in UTC
            parse_date(taken_at.date())
        except BadDate as exc:
            raise ValidationFailed(exc.message, fields={"taken_at": [exc.message]}) from None
        if taken_at > now + timedelta(minutes=10):
            message = _("This time is in the future.")
            raise ValidationFailed(message, fields={"taken_at": [message]})
    return place, taken_at


# --- the guarded statements -----------------------------------------------------------------


def _step(
    actor: User | None,
    order: Order,
    action: OrderAction,
    now: datetime,
    *,
    values: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    strict: bool = True,
) -> bool:
    """Move `order` by `action` through the table, guarded on its present state, and audit it.

    False (strict=False) or Conflict `order_changed` (strict) if the order was moved meanwhile.
    """
    before = order.status
    transition(before, action)  # IllegalTransition before anything else is looked at
    if _party(actor, order) not in parties(before, action):
        raise NotAllowed(_("Your account may not do this to this order."))
    moved = ORDERS.move(
        order,
        action,
        actor=actor,
        expected=before,
        values={"updated_at": now, **(values or {})},
        facts=facts,
        strict=strict,
    )
    return moved is not None  # who else needs to know listens to ORDERS' typed events


def _lot_rows(statement: Any) -> int:
    """Run a statement on lots through the search index's queue: how many rows it wrote."""
    return len(update_lots(statement))


def _lock_lot(lot_id: int) -> None:
    """Lock the lot's row before any order's (PostgreSQL; see the module's note on lock order).

    Not for correctness, which the guarded statements give; SQLite has no row locks and its
    writers are serialised by BEGIN IMMEDIATE anyway.
    """
    if db.session.connection().dialect.name != "sqlite":
        db.session.execute(
            select(_lots.c.id).where(_lots.c.id == lot_id).with_for_update(key_share=True)
        )


def _stamp(now: datetime) -> Any:
    """A lot's new `updated_at` for a statement that writes it: `now`, or a microsecond after
    the stamp it has if that is later (PostgreSQL).

    The stamp is the version of the lot's search document, which is never replaced by an older
    one. Two orders on one lot take `now` before they queue for its row; the one that took the
    earlier `now` may write the row last, and its stamp would then go back in time and its
    document be refused as older. Each writer holds the row, so the stamps it leaves are in
    the order the changes were made. (SQLite's writers take the database in turn before
    `now` is read.)
    """
    if db.session.get_bind().dialect.name == "sqlite":
        return now
    return func.greatest(
        _lots.c.updated_at + literal_column("interval '1 microsecond'"),
        bindparam("now_stamp", now, type_=_lots.c.updated_at.type),
    )


def _reserve_statement(dialect: str) -> Any:
    """The guarded UPDATE that takes an order's grams from its lot, built once per dialect
    (parameters: lot_id, today, grams, now_stamp): see `_reserve`."""
    grams = bindparam("grams", type_=_lots.c.remaining_g.type)
    if dialect == "sqlite":  # see `_stamp`
        stamp: Any = bindparam("now_stamp", type_=_lots.c.updated_at.type)
    else:
        stamp = func.greatest(
            _lots.c.updated_at + literal_column("interval '1 microsecond'"),
            bindparam("now_stamp", type_=_lots.c.updated_at.type),
        )
    return prepared(
        update(_lots)
        .where(
            _lots.c.id == bindparam("lot_id"),
            sellable(bindparam("today", type_=_lots.c.spoil_by.type), at_least_g=grams),
            minimum_met(grams),
        )
        .values(
            remaining_g=_lots.c.remaining_g - grams,
            status=case(
                (_lots.c.remaining_g == grams, LotStatus.sold_out.value), else_=_lots.c.status
            ),
            updated_at=stamp,
        )
        .returning(_lots.c.remaining_g, _lots.c.status, _lots.c.updated_at)
    )


_RESERVE = {dialect: _reserve_statement(dialect) for dialect in ("sqlite", "postgresql")}


def _reserve(lot: Lot, grams: int, now: datetime) -> int | None:
    """Take `grams` from the lot in one guarded statement: the new remaining, or None.

    Guarded by the lot's one rule of what it can sell (`sellable`, `minimum_met`), so that the
    statement refuses whatever a concurrent change made unsellable since the lot was read. The
    lot is queued for the search index before the statement (`only`): from the moment the
    statement takes the lot's row, nothing but the commit needs to follow. The statement is
    built once (every order placed runs it); its parameters are this order's.
    """
    rows = update_lots(
        _RESERVE[db.session.get_bind().dialect.name],
        only=[lot.id],
        params={"lot_id": lot.id, "today": lot_today(lot, now), "grams": grams, "now_stamp": now},
    )
    if not rows:
        return None
    row = rows[0]
    set_committed_value(lot, "remaining_g", row.remaining_g)
    set_committed_value(lot, "status", LotStatus(row.status))
    set_committed_value(lot, "updated_at", row.updated_at)
    return row.remaining_g


def _give_back(actor: User | None, order: Order, now: datetime) -> bool:
    """Return the order's quantity to its lot, exactly once; False if it was already returned.

    A sold-out lot is on offer again, unless its spoil-by date has passed meanwhile: then it is
    recorded as expired. A withdrawn or expired lot keeps its status; the quantity returns to it
    all the same, so that the lot's books balance.
    """
    released = db.session.execute(
        update(_orders)
        .where(_orders.c.id == order.id, _orders.c.released_at.is_(None))
        .values(released_at=now)
    ).rowcount
    if not released:
        return False
    set_committed_value(order, "released_at", now)
    lot = order.lot
    row = update_lots(
        update(_lots)
        .where(_lots.c.id == order.lot_id)
        .values(remaining_g=_lots.c.remaining_g + order.quantity_g, updated_at=_stamp(now))
        .returning(_lots.c.remaining_g, _lots.c.updated_at)
    )[0]
    set_committed_value(lot, "remaining_g", row.remaining_g)
    set_committed_value(lot, "updated_at", row.updated_at)
    status = db.session.scalar(select(_lots.c.status).where(_lots.c.id == order.lot_id))
    if status == LotStatus.sold_out:  # on offer again, unless it spoiled meanwhile
        action = LotAction.expire if lot.spoil_by < lot_today(lot, now) else LotAction.reopen
        LOTS.move(
            lot,
            action,
            actor=actor,
            expected=LotStatus.sold_out,
            facts={"order_id": order.id, "returned_g": order.quantity_g},
            execute=_lot_rows,
            strict=False,
        )
    return True


def _ending(
    actor: User | None,
    order: Order,
    action: OrderAction,
    now: datetime,
    *,
    values: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    strict: bool = True,
) -> bool:
    """A step that ends the order early (reject, cancel, expire): the quantity goes back."""
    _lock_lot(order.lot_id)
    if not _step(actor, order, action, now, values=values, facts=facts, strict=strict):
        return False
    _give_back(actor, order, now)
    return True


# --- where it goes -------------------------------------------------------------------------

#: the longest delivery address line and receiver's name accepted
MAX_ADDRESS = 200
MAX_RECEIVER = 60


@dataclass
class DeliveryInput:
    """Where an order goes and who receives it, as typed; None: not given (keep or default)."""

    province: str | None = None
    county: str | None = None
    address: str | None = None
    receiver_name: str | None = None
    receiver_phone: str | None = None


def _phone(text: str | None) -> str | None:
    """A phone number in ASCII digits without spaces, dashes or brackets; None if it is not one."""
    phone = normalise_phone(text)
    return phone if _PHONE.match(phone) else None


_demands = Demand.__table__
#: where the buyer's active demand for a commodity most recently changed wants its goods
_DEMAND_PLACE = (
    select(_demands.c.province_code, _demands.c.county_code)
    .where(
        _demands.c.buyer_org_id == bindparam("buyer_org_id"),
        _demands.c.commodity_id == bindparam("commodity_id"),
        _demands.c.status.in_(sorted(MATCHED)),
    )
    .order_by(_demands.c.updated_at.desc(), _demands.c.id.desc())
    .limit(1)
)


def _buyers_demand_place(buyer_org_id: int, commodity_id: int) -> tuple[str, str] | None:
    """The province and county of the buyer's active demand for this commodity most recently
    changed (a plain query of two columns: it is read for every order placed)."""
    db.session.flush()  # what the session holds first, as the ORM's own queries would
    row = (
        db.session.connection()
        .execute(_DEMAND_PLACE, {"buyer_org_id": buyer_org_id, "commodity_id": commodity_id})
        .first()
    )
    return (row.province_code, row.county_code) if row else None


def delivery_defaults(buyer: User, lot: Lot, demand: Demand | None = None) -> DeliveryInput:
    """What a new order of `lot` by `buyer` is delivered to unless the buyer says otherwise.

    The place is the demand's (the one given, e.g. by a proposal, or the buyer's active demand
    for the lot's commodity), else the buyer organisation's; the address line is the
    organisation's own where it is in that county. The receiver is the buyer's user if it has
    a phone, else the organisation's contact person.
    """
    org = buyer.organisation
    if demand is not None:
        place = (demand.province_code, demand.county_code)
    else:
        place = org and _buyers_demand_place(org.id, lot.commodity_id)
    if place:
        province, county = place
    else:
        province, county = (org.province_code, org.county_code) if org else (None, None)
    address = None
    if org is not None and county and county == org.county_code:
        address = " ".join(p for p in (org.township, org.village) if p) or None
    if buyer.phone:
        name, phone = buyer.name, buyer.phone
    else:
        name, phone = (org and org.contact_person) or buyer.name, org and org.phone
    return DeliveryInput(province, county, address, name, phone)


def _delivery_values(given: DeliveryInput | None, current: DeliveryInput) -> dict[str, Any]:
    """The order's delivery columns: what is given, else `current`; ValidationFailed per field."""
    return _delivery(given, current)[0]


def _delivery(
    given: DeliveryInput | None, current: DeliveryInput
) -> tuple[dict[str, Any], tuple[Any, Any]]:
    """`_delivery_values`, and the province and county regions it found."""
    given = given or DeliveryInput()

    def pick(name: str) -> str:
        value = getattr(given, name)
        return " ".join(str(value if value is not None else getattr(current, name) or "").split())

    errors: dict[str, list[str]] = {}
    province = county = None
    try:
        province, county = resolve_place(
            PlaceInput(province=pick("province"), county=pick("county")), required=True
        )
    except ValidationFailed as exc:
        for field, messages in exc.fields.items():
            errors[f"delivery_{field}"] = [str(m) for m in messages]
    address = pick("address")
    if len(address) > MAX_ADDRESS:
        errors["delivery_address"] = [_("At most %(max)d characters.", max=MAX_ADDRESS)]
    name = pick("receiver_name")
    if not name:
        errors["receiver_name"] = [_("Enter the name of the person who receives the goods.")]
    elif len(name) > MAX_RECEIVER:
        errors["receiver_name"] = [_("At most %(max)d characters.", max=MAX_RECEIVER)]
    phone = _phone(pick("receiver_phone"))
    if phone is None:
        errors["receiver_phone"] = [_("Enter the receiver's phone number.")]
    if errors:
        raise ValidationFailed(_("Please correct the delivery address."), fields=errors)
    values = {
        "delivery_province_code": province.code,
        "delivery_county_code": county.code,
        "delivery_address": address or None,
        "receiver_name": name,
        "receiver_phone": phone,
    }
    return values, (province, county)


def delivery_of(order: Order) -> DeliveryInput:
    """The order's delivery as it is stored (region codes)."""
    return DeliveryInput(
        order.delivery_province_code,
        order.delivery_county_code,
        order.delivery_address,
        order.receiver_name,
        order.receiver_phone,
    )


def change_delivery(
    actor: User, order: Order, delivery: DeliveryInput, *, now: datetime | None = None
) -> bool:
    """The buyer changes where the order goes, or who receives it, until it is dispatched.

    Fields left None keep their value. Recorded with what changed; the cooperative is told.
    False if nothing changed.
    """
    now = _now(now)
    if _party(actor, order) is not Party.buyer:
        raise NotAllowed(_("Your account may not do this to this order."))
    apply_expiry(order, now)
    if order.status not in BEFORE_DISPATCH:
        message = _(
            "The delivery address can no longer be changed: the order is %(status)s.",
            status=order.status.label,
        )
        raise Conflict(message, code="delivery_fixed")
    values = _delivery_values(delivery, delivery_of(order))
    changes = {k: [getattr(order, k), v] for k, v in values.items() if getattr(order, k) != v}
    if not changes:
        return False
    # guarded on the states before dispatch: a truck that left meanwhile keeps its address
    moved = db.session.execute(
        update(_orders)
        .where(_orders.c.id == order.id, _orders.c.status.in_(BEFORE_DISPATCH))
        .values(**values, updated_at=now)
    ).rowcount
    if moved != 1:
        raise Conflict(
            _("This order was changed meanwhile. Reload it and try again."), code="order_changed"
        )
    for name, value in {**values, "updated_at": now}.items():
        set_committed_value(order, name, value)
    for name in ("delivery_province", "delivery_county"):
        db.session.expire(order, [name])  # the relationships follow the new codes
    record(actor, order, "delivery_changed", changes=changes)
    _notify(actor, order, "delivery_changed")
    return True


# --- placing --------------------------------------------------------------------------------


def _insufficient(lot: Lot, unit: MassUnit) -> Conflict:
    if lot.remaining_g <= 0:
        message = _("Nothing is left of this lot.")
    else:
        left = format_mass(lot.remaining_g, unit)  # in the unit the buyer was thinking in
        message = _("Only %(left)s is left of this lot.", left=left)
    return Conflict(message, code="insufficient_quantity")


def order_amount_fen(grams: int, price_fen_per_t: int) -> int:
    """What `grams` cost at the price, in fen; ValidationFailed if that rounds to nothing.

    An order of 0 fen could never be paid (no payment side takes an amount of zero), so it is
    refused where the amount is first worked out: the order form's preview and placing.
    """
    amount = cost_fen(grams, price_fen_per_t)
    if amount < 1:
        message = _("An order must cost at least 0.01 元: this quantity costs less. Order more.")
        raise ValidationFailed(message, fields={"quantity": [message]})
    return amount


def _check_orderable(lot: Lot, unit: MassUnit, now: datetime) -> None:
    if lot.status is LotStatus.withdrawn:
        raise Conflict(_("This lot is no longer offered."), code="lot_not_open")
    if lot.status is LotStatus.expired or lot_spoiled(lot, now):
        raise Conflict(
            _("This lot has passed its spoil-by date: it can no longer be ordered."),
            code="lot_not_open",
        )
    if lot.status is LotStatus.sold_out or lot.remaining_g <= 0:
        raise _insufficient(lot, unit)


def settlement_for(lot: Lot, chosen: str | Settlement | None) -> Settlement:
    """The settlement terms an order of `lot` gets: the buyer's choice if the lot offers it,
    the lot's default if none was made; ValidationFailed (field `settlement`) otherwise."""
    text = str(chosen or "").strip()
    if not text:
        return lot.default_settlement
    if text in {s.value for s in Settlement} and Settlement(text) in lot.settlements:
        return Settlement(text)
    offered = " / ".join(str(s.label) for s in lot.settlements)
    message = _("This lot is settled only as follows: %(offered)s.", offered=offered)
    raise ValidationFailed(message, fields={"settlement": [message]})


def place_order(
    actor: User,
    lot: Lot,
    quantity: str | int | Decimal,
    unit: str | MassUnit,
    *,
    delivery: DeliveryInput | None = None,
    demand: Demand | None = None,
    settlement: str | Settlement | None = None,
    now: datetime | None = None,
) -> Order:
    """A buyer orders `quantity` `unit` of an open lot; the quantity is reserved at once.

    It is delivered where `delivery` says; what it leaves out comes from `delivery_defaults`
    (the `demand` it serves, the buyer's demand for the commodity, or the buyer organisation).
    Refused with Conflict `insufficient_quantity` (nothing reserved) when less is left,
    `lot_not_open` for an expired or withdrawn lot, ValidationFailed for a bad quantity or one
    below the lot's minimum (the last of a lot may be bought whatever the minimum), or for a
    delivery place or receiver that is missing or wrong, or for `settlement` terms the lot
    does not offer (none given: the lot's default, see `settlement_for`).
    """
    now = _now(now)
    if not can(actor, "create", Order):
        raise NotAllowed(_("Only buyers place orders."))
    terms = settlement_for(lot, settlement)
    holdback_pct = lot.holdback_pct if terms is Settlement.on_loading else 0
    grams, mass_unit = _quantity(quantity, unit)
    destination, (province, county) = _delivery(delivery, delivery_defaults(actor, lot, demand))
    apply_lot_expiry(lot, now)  # reservations that ran out first: their quantity is for sale
    _check_orderable(lot, mass_unit, now)
    if not meets_minimum(lot, grams):
        message = _(
            "The cooperative sells at least %(min)s per order.",
            min=format_mass(lot.min_order_g, mass_unit),
        )
        raise ValidationFailed(message, fields={"quantity": [message]})
    if grams > lot.remaining_g:
        raise _insufficient(lot, mass_unit)
    amount_fen = order_amount_fen(grams, lot.price_fen_per_t)
    # Everything but the reservation is written first: the guarded statement takes the lot's
    # row, and every other order of the lot waits for it until this transaction ends, so it
    # comes last and only the commit follows it. A reservation refused after all rolls back
    # the order, its audit record and its notices with it (nothing was committed).
    order = _insert_order(
        lot_id=lot.id,
        buyer_org_id=actor.organisation_id,
        buyer_user_id=actor.id,
        cooperative_org_id=lot.cooperative_id,
        quantity_g=grams,
        unit=mass_unit,
        price_fen_per_t=lot.price_fen_per_t,
        amount_fen=amount_fen,
        settlement=terms,
        holdback_pct=holdback_pct,
        status=S.reserved,
        payment_status=PaymentStatus.unpaid,
        reserved_until=now + RESERVATION_HOLD,
        tracking_code=new_tracking_code(),
        created_at=now,
        updated_at=now,
        **destination,
    )
    # what showing the new order needs is at hand: its lot and organisations were read with the
    # lot, a new order has no photos, and its delivery place's regions were just looked up
    set_committed_value(order, "lot", lot)
    set_committed_value(order, "buyer_org", actor.organisation)
    set_committed_value(order, "cooperative_org", lot.cooperative)
    set_committed_value(order, "photos", [])
    set_committed_value(order, "delivery_province", province)
    set_committed_value(order, "delivery_county", county)
    record(
        actor,
        order,
        "placed",
        to_state=S.reserved.value,
        changes={
            "lot_id": lot.id,
            "quantity_g": grams,
            "unit": mass_unit.value,
            "price_fen_per_t": order.price_fen_per_t,
            "amount_fen": order.amount_fen,
            "settlement": terms.value,
            "holdback_pct": holdback_pct,
            "reserved_until": _iso(order.reserved_until),
            **destination,
        },
    )
    _notify(actor, order, "placed")
    _load_for_showing(order)
    db.session.flush()
    remaining = _reserve(lot, grams, now)
    if remaining is None:  # someone else was quicker (or the lot changed) since it was read
        db.session.refresh(lot)
        _check_orderable(lot, mass_unit, now)
        raise _insufficient(lot, mass_unit)
    if remaining == 0:  # the stock statement marked it sold out, in the same breath
        LOTS.recorded(
            lot, LotAction.sell_out, LotStatus.open, actor=actor, facts={"order_id": order.id}
        )
    return order


_INSERT_ORDER = insert(_orders).returning(_orders.c.id)


def _insert_order(**values: Any) -> Order:
    """A new order: one INSERT (no flush of the unit of work), and the order as the session
    would hold it once read back. Every column is given (those left out are None), so that
    reading the order asks nothing more of the database."""
    db.session.flush()  # the session's pending changes first, as a flush would
    columns = {column.key: None for column in _orders.c if column.key != "id"}
    columns.update(values)
    # through the session: whoever watches its statements sees an order written
    order_id = db.session.execute(_INSERT_ORDER, columns).scalar_one()
    order = Order(id=order_id, **columns)
    make_transient_to_detached(order)  # as if read back: nothing left to write
    db.session.add(order)
    return order


def _load_for_showing(order: Order) -> None:
    """Load what the order's page and the API show of a new order (its lot's commodity and
    county, the organisations), before its lot's row is taken rather than while it is held."""
    lot = order.lot
    (lot.commodity, lot.county, order.buyer_org, order.cooperative_org)  # noqa: B018 - loads


# --- the cooperative's steps ----------------------------------------------------------------


def accept(actor: User, order: Order, *, now: datetime | None = None) -> None:
    """The lot's cooperative accepts a reservation; payment is requested at once (pay_by)."""
    now = _now(now)
    _check_party(actor, order, A.accept)
    apply_expiry(order, now)  # a reservation past its hold (or on a spoiled lot) expires first
    pay_by = now + PAYMENT_WINDOW
    _step(actor, order, A.accept, now, values={"pay_by": pay_by})
    _step(None, order, A.request_payment, now, facts={"pay_by": _iso(pay_by)})


def reject(actor: User, order: Order, reason: str, *, now: datetime | None = None) -> None:
    """The lot's cooperative declines a reservation, saying why; the quantity goes back."""
    now = _now(now)
    _check_party(actor, order, A.reject)
    apply_expiry(order, now)
    transition(order.status, A.reject)
    reason = _text(reason, "reason", _("Say why the order is rejected."))
    _ending(actor, order, A.reject, now, values={"cancel_reason": reason}, facts={"reason": reason})


_PLATE_NOISE = re.compile(r"[\s·•.\-]")
_PLATE = re.compile(r"^[\u4e00-\u9fffA-Z0-9]{5,12}$")
_PHONE = re.compile(r"^\+?[0-9]{7,15}$")  # ASCII digits: \d takes any script's


def dispatch(
    actor: User,
    order: Order,
    vehicle_plate: str,
    driver_phone: str,
    shipped_quantity: str | int | Decimal,
    unit: str | MassUnit,
    *,
    photos: Sequence[bytes] = (),
    place: str | None = None,
    taken_at: datetime | None = None,
    weighbridge_ticket: str | None = None,
    now: datetime | None = None,
) -> None:
    """The lot's cooperative ships a paid order: the truck, its driver and what was loaded.

    The loaded quantity is the weighbridge's weight. Photos of the loading are optional for an
    order settled on delivery, and at least one is needed for an order settled on loading:
    the village is paid on this record, the payments side pays what was loaded (less the
    holdback) at once and refunds the shortfall. Where and when the photos were taken is what
    the cooperative states (uploads are stripped of their metadata, GPS included).
    """
    now = _now(now)
    _check_party(actor, order, A.dispatch)
    apply_expiry(order, now)
    transition(order.status, A.dispatch)
    errors: dict[str, list[str]] = {}
    plate = _PLATE_NOISE.sub("", vehicle_plate or "").upper()
    if not _PLATE.match(plate):
        errors["vehicle_plate"] = [_("Enter the vehicle's plate number, e.g. 辽A12345.")]
    phone = _phone(driver_phone)
    if phone is None:
        errors["driver_phone"] = [_("Enter the driver's phone number.")]
    shipped_g = 0
    try:
        shipped_g, _unit = _quantity(shipped_quantity, unit, "shipped_quantity")
    except ValidationFailed as exc:
        errors.update(exc.fields)
    else:
        if shipped_g > order.quantity_g:
            errors["shipped_quantity"] = [
                _(
                    "More than was ordered (%(ordered)s).",
                    ordered=format_mass(order.quantity_g, order.unit),
                )
            ]
    try:
        place, taken_at = _place_and_time(place, taken_at, now)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    ticket = " ".join((weighbridge_ticket or "").split()) or None
    if ticket is not None and len(ticket) > 40:
        errors["weighbridge_ticket"] = [_("At most %(max)d characters.", max=40)]
    if order.on_loading and not any(photos):
        errors["photos"] = [
            _(
                "This order is paid on loading: add at least one photo of the loading (the "
                "village is paid on it)."
            )
        ]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    processed = _photos(actor, photos)
    auto_confirm_at = now + AUTO_CONFIRM
    _step(
        actor,
        order,
        A.dispatch,
        now,
        values={
            "vehicle_plate": plate,
            "driver_phone": phone,
            "shipped_g": shipped_g,
            "dispatched_at": now,
            "auto_confirm_at": auto_confirm_at,
            "weighbridge_ticket": ticket,
        },
        facts={
            "vehicle_plate": plate,
            "driver_phone": phone,
            "shipped_g": shipped_g,
            "weighbridge_ticket": ticket,
            "settlement": order.settlement.value,
            "auto_confirm_at": _iso(auto_confirm_at),
            "photos": len(processed),
        },
    )
    _attach(actor, order, PhotoPurpose.loading, processed, place, taken_at or now)


# --- the buyer's steps ----------------------------------------------------------------------


def confirm_delivery(
    actor: User,
    order: Order,
    accepted_quantity: str | int | Decimal,
    unit: str | MassUnit,
    *,
    now: datetime | None = None,
) -> None:
    """The buyer states how much of the shipped quantity it accepts; the dispute window opens."""
    now = _now(now)
    _check_party(actor, order, A.confirm_delivery)
    apply_expiry(order, now)  # past auto_confirm_at the timer has confirmed it already
    transition(order.status, A.confirm_delivery)
    accepted_g, _unit = _quantity(accepted_quantity, unit, "accepted_quantity", allow_zero=True)
    shipped_g = order.shipped_g or 0
    if accepted_g > shipped_g:
        message = _(
            "More than was shipped (%(shipped)s).", shipped=format_mass(shipped_g, order.unit)
        )
        raise ValidationFailed(message, fields={"accepted_quantity": [message]})
    _step(
        actor,
        order,
        A.confirm_delivery,
        now,
        values={
            "accepted_g": accepted_g,
            "delivered_at": now,
            "dispute_until": now + DISPUTE_WINDOW,
        },
        facts={"accepted_g": accepted_g, "shipped_g": shipped_g},
    )


def dispute(
    actor: User,
    order: Order,
    reason: str,
    *,
    photos: Sequence[bytes] = (),
    now: datetime | None = None,
) -> None:
    """The buyer reports short weight or poor quality, within DISPUTE_WINDOW of delivery,
    with photos as evidence if it has them."""
    now = _now(now)
    _check_party(actor, order, A.dispute)
    apply_expiry(order, now)  # past the window the order is completed, and this is refused
    transition(order.status, A.dispute)
    reason = _text(reason, "reason", _("Say what is wrong with the delivery."))
    processed = _photos(actor, photos)
    _step(
        actor,
        order,
        A.dispute,
        now,
        values={"dispute_reason": reason},
        facts={"reason": reason, "photos": len(processed)},
    )
    _attach(actor, order, PhotoPurpose.evidence, processed, None, now)


# --- photos after the step -----------------------------------------------------------------

#: photos a side may add after its step (a phone on a slow road uploads later): the cooperative
#: its loading photos until the order is settled, the buyer evidence while its dispute is open
PHOTO_WINDOWS: dict[Party, tuple[PhotoPurpose, frozenset[OrderStatus]]] = {
    Party.cooperative: (PhotoPurpose.loading, frozenset({S.dispatched, S.delivered, S.disputed})),
    Party.buyer: (PhotoPurpose.evidence, frozenset({S.disputed})),
}


def photo_purpose(actor: User | None, order: Order) -> PhotoPurpose | None:
    """What kind of photo `actor` may add to `order` now (None: none)."""
    window = PHOTO_WINDOWS.get(_party(actor, order))  # type: ignore[arg-type]
    if window is None or order.current_status not in window[1]:
        return None
    return window[0]


def add_photos(
    actor: User,
    order: Order,
    photos: Sequence[bytes],
    *,
    place: str | None = None,
    taken_at: datetime | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Add photos to an order after its step: the loading (cooperative) or evidence (buyer).

    All or none: every photo is checked before any is stored. Returns the new photos' ids.
    """
    now = _now(now)
    if _party(actor, order) not in PHOTO_WINDOWS:
        raise NotAllowed(_("Your account may not do this to this order."))
    apply_expiry(order, now)
    purpose = photo_purpose(actor, order)
    if purpose is None:
        raise Conflict(
            _("Photos cannot be added to this order at this stage."), code="photos_not_accepted"
        )
    photos = [p for p in photos if p]
    if not photos:
        message = _("Choose at least one photo.")
        raise ValidationFailed(message, fields={"photos": [message]})
    held = sum(1 for p in order.photos if p.purpose is purpose)
    if held + len(photos) > MAX_PHOTOS:
        message = _(
            "At most %(n)d photos; this order has %(held)d already.", n=MAX_PHOTOS, held=held
        )
        raise ValidationFailed(message, fields={"photos": [message]})
    if purpose is PhotoPurpose.evidence:
        place, taken_at = None, None  # evidence is dated by its upload
    place, taken_at = _place_and_time(place, taken_at, now)
    processed = _photos(actor, photos)
    ids = _attach(actor, order, purpose, processed, place, taken_at or now)
    record(
        actor,
        order,
        "photos_added",
        changes={"purpose": purpose.value, "photos": len(ids), "place": place},
    )
    return ids


# --- either side ----------------------------------------------------------------------------


def cancel(actor: User, order: Order, reason: str, *, now: datetime | None = None) -> None:
    """The buyer or the cooperative calls the order off before dispatch; the quantity goes back.

    A paid order keeps payment_status `paid`: refunding it is the payments side's job.
    """
    now = _now(now)
    _check_party(actor, order, A.cancel)
    apply_expiry(order, now)
    transition(order.status, A.cancel)
    reason = _text(reason, "reason", _("Say why the order is cancelled."))
    _ending(actor, order, A.cancel, now, values={"cancel_reason": reason}, facts={"reason": reason})


# --- officials ------------------------------------------------------------------------------


def resolve(
    actor: User,
    order: Order,
    resolution: str,
    refund: str | int | Decimal | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """An official whose jurisdiction holds the lot, or an administrator, settles a dispute.

    `refund` (yuan, may be 0 or left out) is what goes back to the buyer; the payments side
    pays it back. It cannot be more than the order's amount.
    """
    now = _now(now)
    _check_party(actor, order, A.resolve)
    transition(order.status, A.resolve)
    text = _text(resolution, "resolution", _("Describe how the dispute was settled."))
    refund_fen = _refund_fen(refund, order.amount_fen)
    _step(
        actor,
        order,
        A.resolve,
        now,
        values={"resolution": text, "resolution_refund_fen": refund_fen},
        facts={"resolution": text, "refund_fen": refund_fen},
    )


def _refund_fen(refund: str | int | Decimal | None, most: int) -> int:
    """Yuan as typed -> exact fen between 0 and `most`; nothing typed is 0."""
    text = str(refund if refund is not None else "").strip().replace(",", "")
    if not text:
        return 0
    try:
        value = Decimal(text) * 100
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value != value.to_integral_value() or value < 0:
        message = _("Enter an amount in yuan with at most two decimals, e.g. 1200.50.")
        raise ValidationFailed(message, fields={"refund": [message]})
    if value > most:
        message = _("At most the order's amount (%(amount)s 元).", amount=yuan_text(most))
        raise ValidationFailed(message, fields={"refund": [message]})
    return int(value)


# --- the system -----------------------------------------------------------------------------


def mark_paid(
    order: Order, *, paid_at: datetime | None = None, now: datetime | None = None
) -> None:
    """The payment side confirmed the money (called by the payments issue, never by a browser).

    The timers are applied as of `paid_at`: money paid before `pay_by` counts even if the
    confirmation arrives later, as long as the order has not been recorded as expired.
    """
    now = _now(now)
    paid_at = min(paid_at or now, now)
    apply_expiry(order, paid_at)
    _step(
        None,
        order,
        A.pay,
        now,
        values={"payment_status": PaymentStatus.paid, "paid_at": paid_at},
        facts={"paid_at": _iso(paid_at), "amount_fen": order.amount_fen},
    )


def complete(order: Order, *, now: datetime | None = None) -> None:
    """Close a delivered order once its dispute window has passed (the timers do this too)."""
    now = _now(now)
    if order.status is S.delivered and order.dispute_until and now < order.dispute_until:
        raise Conflict(_("The buyer may still dispute this delivery."), code="dispute_window_open")
    _step(None, order, A.complete, now)


def _apply_timers(order: Order, now: datetime) -> list[OrderAction]:
    """Record every timer step due for `order` at `now`; the steps taken."""
    done: list[OrderAction] = []
    while (due := due_action(order, now)) is not None:
        action, cause = due
        if action is A.expire:
            moved = _ending(None, order, A.expire, now, facts={"reason": str(cause)}, strict=False)
        elif action is A.auto_confirm:
            at = order.auto_confirm_at
            # as if the timer had run on time: the dispute window counts from the due instant
            moved = _step(
                None,
                order,
                A.auto_confirm,
                now,
                values={
                    "accepted_g": order.shipped_g,
                    "delivered_at": at,
                    "dispute_until": at + DISPUTE_WINDOW,
                },
                facts={"accepted_g": order.shipped_g, "due_at": _iso(at)},
                strict=False,
            )
        else:
            moved = _step(None, order, A.complete, now, strict=False)
        if not moved:  # someone else recorded a step meanwhile; it is theirs to finish
            break
        done.append(action)
    return done


def apply_expiry(order: Order, now: datetime | None = None) -> bool:
    """Record the timers due for one order (expiry, automatic confirmation, completion).

    Call it whenever an order is read in a transaction that may write (every operation here
    does); read-only pages can show `order.current_status` instead. True if anything changed.
    """
    return bool(_apply_timers(order, _now(now)))


def _lapsed_statement(spoiled: bool) -> Any:
    """The ids of a lot's orders whose time ran out at :now (all those before dispatch if the
    lot spoiled), built once: every order placed runs it."""
    now = bindparam("now", type_=_orders.c.reserved_until.type)
    due = [
        and_(_orders.c.status == S.reserved, _orders.c.reserved_until <= now),
        and_(_orders.c.status.in_([S.accepted, S.awaiting_payment]), _orders.c.pay_by <= now),
    ]
    if spoiled:
        due.append(_orders.c.status.in_(BEFORE_DISPATCH))
    return (
        select(_orders.c.id)
        .where(_orders.c.lot_id == bindparam("lot_id"), or_(*due))
        .order_by(_orders.c.id)
    )


_LAPSED = {spoiled: _lapsed_statement(spoiled) for spoiled in (False, True)}


def apply_lot_expiry(lot: Lot, now: datetime | None = None) -> int:
    """Expire the lot's orders whose time ran out, giving their quantity back; how many."""
    now = _now(now)
    db.session.flush()  # the session's pending changes first, as the ORM's execute would
    ids = (
        db.session.connection()
        .scalars(_LAPSED[lot_spoiled(lot, now)], {"lot_id": lot.id, "now": now})
        .all()
    )
    count = 0
    for order_id in ids:
        order = db.session.get(Order, order_id)
        if order is not None and A.expire in _apply_timers(order, now):
            count += 1
    return count


def expire_due(now: datetime | None = None) -> TimerCounts:
    """Record every timer that has run out, for all orders; safe to run at any time (cron).

    Reservations not accepted in time and accepted orders not paid in time expire, and so do
    orders whose lot spoiled before dispatch (their quantity goes back exactly once); deliveries
    nobody confirmed in time are confirmed with the shipped quantity; delivered orders past the
    dispute window are completed.
    """
    now = _now(now)
    # no time zone is a day ahead of UTC: a superset, checked exactly per order below
    spoil_horizon = (now.astimezone(UTC) + timedelta(days=1)).date()
    o = _orders
    rows = db.session.execute(
        select(o.c.id)
        .join(_lots, _lots.c.id == o.c.lot_id)
        .where(
            or_(
                and_(o.c.status == S.reserved, o.c.reserved_until <= now),
                and_(o.c.status.in_([S.accepted, S.awaiting_payment]), o.c.pay_by <= now),
                and_(o.c.status.in_(BEFORE_DISPATCH), _lots.c.spoil_by < spoil_horizon),
                and_(o.c.status == S.dispatched, o.c.auto_confirm_at <= now),
                and_(o.c.status == S.delivered, o.c.dispute_until <= now),
            )
        )
        .order_by(o.c.lot_id, o.c.id)  # lots in id order: see the note on lock order
    ).all()
    counts = {A.expire: 0, A.auto_confirm: 0, A.complete: 0}
    for (order_id,) in rows:
        order = db.session.get(Order, order_id)
        if order is None:
            continue
        for action in _apply_timers(order, now):
            counts[action] += 1
    return TimerCounts(
        expired=counts[A.expire],
        confirmed=counts[A.auto_confirm],
        completed=counts[A.complete],
    )
