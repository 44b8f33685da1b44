"""The only code that writes passes, their scans, checkpoints, whitelists and suspensions.

Operations flush, never commit, and audit every change; a pass's status moves only through
`PASSES.move` (one guarded UPDATE each). Who may do what is `passes.permissions`' question;
each operation asks it (`_ensure`) before anything is written, so the API and the pages cannot
differ. Offices act through their officials (`office_of`): a checkpoint, a whitelist entry or a
suspension belongs to the office of the official who made it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, insert, or_, select, update
from werkzeug.exceptions import Forbidden

from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.accounts.operations import PlaceInput, create_user, resolve_place
from produce_match.audit.operations import record
from produce_match.catalog import commodities
from produce_match.catalog.models import Region
from produce_match.catalog.regions import distance_km
from produce_match.database import utcnow
from produce_match.dates import BadDate, local_today, parse_date
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.inputs import mobile_number
from produce_match.lots.uploads import process_uploads
from produce_match.notifications.operations import notify, notify_members, overseers
from produce_match.orders.models import ORDERS, Order, OrderAction, OrderStatus
from produce_match.orders.permissions import order_party
from produce_match.passes.models import (
    ACTIVE,
    PASSES,
    Checkpoint,
    CheckpointKind,
    PassAction,
    PassageDirection,
    PassCounter,
    PassScan,
    PassStatus,
    Recognition,
    StepKind,
    Suspension,
    TransportPass,
    Verdict,
    WhitelistEntry,
)
from produce_match.passes.plates import is_plate, normalise_plate
from produce_match.passes.queries import verdict
from produce_match.policy import can, covers
from produce_match.storage import save_in_transaction
from produce_match.units import MassUnit, UnitError, amount_text, parse_unit, to_grams

MAX_TEXT = 500
#: route checkpoints a pass may name
MAX_ROUTE = 12
#: the order states in which a pass may be asked for its cargo: paid (or settled on loading,
#: from acceptance), not yet delivered
_ORDER_STATES = (OrderStatus.paid, OrderStatus.dispatched)
_ON_LOADING_STATES = (OrderStatus.accepted, OrderStatus.awaiting_payment)


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


def _ensure(actor: User | None, action: str, target: Any) -> None:
    if not can(actor, action, target):
        raise Forbidden()


def _invalid(field_name: str, message: Any) -> ValidationFailed:
    return ValidationFailed(message, fields={field_name: [str(message)]})


def _text(value: str | None, field_name: str, missing: Any, limit: int = MAX_TEXT) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise _invalid(field_name, missing)
    if len(text) > limit:
        raise _invalid(field_name, _("At most %(max)d characters.", max=limit))
    return text


def office_of(actor: User | None) -> Organisation | None:
    """The office an official (or checkpoint staff) acts for, if any."""
    if actor is None or actor.role not in (Role.official, Role.checkpoint):
        return None
    office = actor.organisation
    if office is None or office.kind is not OrgKind.office or office.province_code is None:
        return None
    return office


def _own_office(actor: User) -> Organisation:
    office = office_of(actor)
    if office is None or actor.role is not Role.official:
        raise Forbidden()
    return office


# --- applying -------------------------------------------------------------------------------


@dataclass
class PassInput:
    """A pass as asked for: from a form, the API or an order's prefill. Places are names as
    people type them (or region codes); dates as `parse_date` reads them."""

    plate: str | None = None
    driver_name: str | None = None
    driver_phone: str | None = None
    origin: PlaceInput = field(default_factory=PlaceInput)
    destination: PlaceInput = field(default_factory=PlaceInput)
    route: Iterable[Any] = ()
    valid_from: str | date | None = None
    valid_until: str | date | None = None
    commodity: str | None = None
    quantity: str | None = None
    unit: str | MassUnit | None = None


def order_passable(order: Order) -> bool:
    """May a pass be asked for this order's cargo now? Paid (or settled on loading and
    accepted), and not yet delivered."""
    return order.status in _ORDER_STATES or (
        order.on_loading and order.status in _ON_LOADING_STATES
    )


def prefill(order: Order, today: date | None = None) -> PassInput:
    """What an order already says about its transport: route ends, cargo, truck, dates."""
    today = today or local_today()
    lot = order.lot
    grams = order.shipped_g or order.quantity_g
    return PassInput(
        plate=order.vehicle_plate or "",
        driver_phone=order.driver_phone or "",
        origin=PlaceInput(
            province=lot.province.name if lot.province else None,
            county=lot.county.name if lot.county else None,
        ),
        destination=PlaceInput(
            province=order.delivery_province.name if order.delivery_province else None,
            county=order.delivery_county.name if order.delivery_county else None,
        ),
        valid_from=today,
        valid_until=today + timedelta(days=transit_days(lot.county, order.delivery_county)),
        commodity=lot.commodity.code,
        quantity=amount_text(grams, order.unit),  # 10, not 1E+1
        unit=order.unit,
    )


def transit_days(origin: Region | None, destination: Region | None) -> int:
    """Days a pass's window spans by default: the road time between the counties, and a day
    to load and one to spare."""
    if origin is None or destination is None:
        return 3
    hours = distance_km(origin, destination) / current_app.config["PASS_ROAD_KMH"]
    return max(2, int(hours // 10) + 2)  # drivers rest: ten hours of road a day


def _window(data: PassInput, today: date, errors: dict[str, list[str]]) -> tuple[date, date]:
    start = end = today
    try:
        start = parse_date(data.valid_from) or today
    except BadDate as exc:
        errors["valid_from"] = [str(exc.message)]
    try:
        end = parse_date(data.valid_until) or start
    except BadDate as exc:
        errors["valid_until"] = [str(exc.message)]
    if "valid_from" not in errors and start < today:
        errors["valid_from"] = [_("The pass cannot start before today.")]
    if not errors.keys() & {"valid_from", "valid_until"}:
        longest = current_app.config["PASS_MAX_DAYS"]
        if end < start:
            errors["valid_until"] = [_("The last day comes before the first.")]
        elif (end - start).days + 1 > longest:
            errors["valid_until"] = [_("A pass is valid for at most %(days)d days.", days=longest)]
    return start, end


def _place(place: PlaceInput, field_name: str, errors: dict[str, list[str]]) -> Region | None:
    try:
        _province, county = resolve_place(place, required=True)
    except ValidationFailed as exc:
        message = next(iter(exc.fields.values()))[0] if exc.fields else str(exc.message)
        errors[field_name] = [message]
        return None
    return county


def _route(ids: Iterable[Any], errors: dict[str, list[str]]) -> list[int]:
    wanted: list[int] = []
    for raw in ids or ():
        try:
            ident = int(raw)
        except (TypeError, ValueError):
            errors["route"] = [_("Choose the checkpoints from the list.")]
            return []
        if ident not in wanted:
            wanted.append(ident)
    if len(wanted) > MAX_ROUTE:
        errors["route"] = [_("At most %(max)d checkpoints.", max=MAX_ROUTE)]
        return []
    if wanted:
        found = set(
            db.session.scalars(
                select(Checkpoint.id).where(
                    Checkpoint.id.in_(wanted), Checkpoint.retired_at.is_(None)
                )
            )
        )
        if found != set(wanted):
            errors["route"] = [_("Choose the checkpoints from the list.")]
            return []
    return wanted


def _cargo(data: PassInput, errors: dict[str, list[str]]) -> tuple[Any, int, MassUnit | None]:
    commodity = commodities.resolve(data.commodity)
    if commodity is None:
        errors["commodity"] = [_("Choose the commodity from the catalogue.")]
    grams, unit = 0, None
    try:
        unit = parse_unit(data.unit)
        grams = to_grams(data.quantity or "", unit)
        if grams <= 0:
            raise UnitError(_("Enter a quantity above zero."))
    except UnitError as exc:
        errors["quantity"] = [str(exc.message)]
    return commodity, grams, unit


def apply(
    actor: User, data: PassInput, *, order: Order | None = None, now: datetime | None = None
) -> TransportPass:
    """Ask for a pass: for an order's cargo (its route ends and commodity are the order's), or
    for any shipment. A whitelisted applicant's pass is approved at once; else the officials of
    the origin county are told."""
    now = _now(now)
    _ensure(actor, "create", TransportPass)
    if order is not None:
        if order_party(actor, order) is None or actor.role not in (Role.cooperative, Role.buyer):
            raise Forbidden()
        if not order_passable(order):
            raise Conflict(
                _(
                    "A pass is asked for once the order is paid (or accepted, if it is paid on "
                    "loading), and before it is delivered."
                ),
                code="order_not_ready",
            )
        fixed = prefill(order)
        data = PassInput(
            plate=data.plate,
            driver_name=data.driver_name,
            driver_phone=data.driver_phone,
            origin=fixed.origin,
            destination=fixed.destination
            if order.delivery_county is not None
            else data.destination,
            route=data.route,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            commodity=fixed.commodity,
            quantity=data.quantity or fixed.quantity,
            unit=data.unit or fixed.unit,
        )
    today = local_today()
    errors: dict[str, list[str]] = {}
    plate = normalise_plate(data.plate)
    if not is_plate(plate):
        errors["plate"] = [
            _(
                "Enter the vehicle's plate as it is written, e.g. 辽A12345, or 辽A12345D for a "
                "new-energy vehicle."
            )
        ]
    driver_name = " ".join(str(data.driver_name or "").split())
    if not driver_name:
        errors["driver_name"] = [_("Enter the driver's name.")]
    elif len(driver_name) > 30:
        errors["driver_name"] = [_("At most %(max)d characters.", max=30)]
    phone = mobile_number(data.driver_phone)
    if phone is None:
        errors["driver_phone"] = [_("Enter the driver's mobile number (11 digits).")]
    origin = _place(data.origin, "origin", errors)
    destination = _place(data.destination, "destination", errors)
    start, end = _window(data, today, errors)
    route = _route(data.route, errors)
    commodity, grams, unit = _cargo(data, errors)
    if order is not None and not errors and grams > (order.shipped_g or order.quantity_g):
        errors["quantity"] = [_("More than the order's quantity.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    assert origin is not None and destination is not None and unit is not None
    if order is not None:
        duplicate = db.session.scalar(
            select(TransportPass.number).where(
                TransportPass.order_id == order.id,
                TransportPass.plate == plate,
                TransportPass.status.in_(ACTIVE),
            )
        )
        if duplicate:
            raise Conflict(
                _("This vehicle already has pass %(number)s for this order.", number=duplicate),
                code="duplicate_pass",
            )
    org = actor.organisation
    suspension = _suspension_of(org.id, (origin, destination))
    if suspension is not None:
        raise Conflict(_suspended_message(suspension), code="suspended")
    row = TransportPass(
        number=_next_number(origin, today),
        status=PassStatus.pending,
        applicant_org_id=org.id,
        applicant_user_id=actor.id,
        order_id=order.id if order is not None else None,
        plate=plate,
        driver_name=driver_name,
        driver_phone=phone,
        origin_province_code=origin.province_code,
        origin_county_code=origin.code,
        dest_province_code=destination.province_code,
        dest_county_code=destination.code,
        route=route,
        valid_from=start,
        valid_until=end,
        commodity_id=commodity.id,
        cargo_g=grams,
        cargo_unit=unit,
        created_at=now,
        loaded_at=order.dispatched_at if order is not None else None,
    )
    db.session.add(row)
    db.session.flush()
    record(
        actor,
        row,
        "applied",
        to_state=PassStatus.pending.value,
        changes={
            "number": row.number,
            "plate": plate,
            "order_id": row.order_id,
            "origin": origin.code,
            "destination": destination.code,
            "valid_from": start.isoformat(),
            "valid_until": end.isoformat(),
            "cargo_g": grams,
        },
    )
    entry = whitelisted(org.id, origin, today)
    if entry is not None:
        PASSES.move(
            row,
            PassAction.approve,
            actor=None,
            expected=PassStatus.pending,
            values={"decided_at": now, "whitelist_entry_id": entry.id},
            facts={"whitelist_entry_id": entry.id, "office_id": entry.office_id},
        )
    else:
        notify(
            overseers(origin.province_code, origin.code),
            "pass.pending",
            _params(row),
            url=f"/passes/{row.id}",
            actor=actor,
        )
    return row


def _params(row: TransportPass) -> dict[str, Any]:
    return {
        "pass_id": row.id,
        "number": row.number,
        "applicant": row.applicant_org.name if row.applicant_org else None,
    }


def _next_number(county: Region, today: date) -> str:
    """The county's code and the next of its sequence this year: one guarded UPDATE on the
    counter row (created first if missing), which two applications cannot both pass."""
    table = PassCounter.__table__
    key = {"county_code": county.code, "year": today.year}
    bumped = db.session.execute(
        update(table)
        .where(table.c.county_code == county.code, table.c.year == today.year)
        .values(last=table.c.last + 1)
    ).rowcount
    if not bumped:
        db.session.execute(insert(table).values(**key, last=1))
    last = db.session.scalar(
        select(table.c.last).where(table.c.county_code == county.code, table.c.year == today.year)
    )
    return f"{county.code}-{today.year}-{last:05d}"


# --- whitelists and suspensions: what the decision reads ----------------------------------


def offices_covering(region: Region) -> Any:
    """A query of the ids of the offices whose jurisdiction holds a county."""
    return select(Organisation.id).where(
        Organisation.kind == OrgKind.office,
        Organisation.province_code == region.province_code,
        or_(Organisation.county_code.is_(None), Organisation.county_code == region.code),
    )


def whitelisted(org_id: int, origin: Region, today: date) -> WhitelistEntry | None:
    """The whitelist entry, in force today, by which an office of the origin county (or an
    office whose whitelist such an office recognises) trusts the organisation."""
    local = offices_covering(origin)
    recognised = select(Recognition.recognised_office_id).where(Recognition.office_id.in_(local))
    return db.session.scalar(
        select(WhitelistEntry)
        .where(
            WhitelistEntry.organisation_id == org_id,
            WhitelistEntry.removed_at.is_(None),
            WhitelistEntry.valid_from <= today,
            WhitelistEntry.valid_until >= today,
            or_(WhitelistEntry.office_id.in_(local), WhitelistEntry.office_id.in_(recognised)),
        )
        .order_by(WhitelistEntry.valid_until.desc(), WhitelistEntry.id)
        .limit(1)
    )


def _suspension_of(org_id: int, places: Iterable[Region]) -> Suspension | None:
    """An active suspension of the organisation by an office covering one of the places."""
    offices = [offices_covering(place) for place in places]
    return db.session.scalar(
        select(Suspension)
        .where(
            Suspension.organisation_id == org_id,
            Suspension.lifted_at.is_(None),
            or_(*(Suspension.office_id.in_(q) for q in offices)),
        )
        .order_by(Suspension.id)
        .limit(1)
    )


def _suspended_message(suspension: Suspension) -> str:
    return _(
        "The passes of %(org)s are suspended by %(office)s: %(reason)s",
        org=suspension.organisation.name,
        office=suspension.office.name,
        reason=suspension.reason,
    )


# --- the office's decision ------------------------------------------------------------------


def approve(actor: User, row: TransportPass, *, now: datetime | None = None) -> None:
    """An official of the origin county approves a pending pass."""
    now = _now(now)
    _ensure(actor, "approve", row)
    suspension = _suspension_of(row.applicant_org_id, (row.origin_county, row.dest_county))
    if suspension is not None:
        raise Conflict(_suspended_message(suspension), code="suspended")
    PASSES.move(
        row,
        PassAction.approve,
        actor=actor,
        expected=row.status,
        values={"decided_at": now, "decided_by_id": actor.id},
        facts={"wait_minutes": int((now - row.created_at).total_seconds() // 60)},
    )
    _tell_applicant(row, "pass.approved", actor)


def reject(
    actor: User, row: TransportPass, reason: str | None, *, now: datetime | None = None
) -> None:
    """An official of the origin county rejects a pending pass, saying why."""
    now = _now(now)
    _ensure(actor, "reject", row)
    reason = _text(reason, "reason", _("Say why the pass is rejected."))
    PASSES.move(
        row,
        PassAction.reject,
        actor=actor,
        expected=row.status,
        values={"decided_at": now, "decided_by_id": actor.id, "reject_reason": reason},
        facts={"reason": reason},
    )
    _tell_applicant(row, "pass.rejected", actor, reason=reason)


def withdraw(actor: User, row: TransportPass) -> None:
    """The applicant calls the pass off (not needed any more, or a mistake in it)."""
    _ensure(actor, "withdraw", row)
    PASSES.move(row, PassAction.withdraw, actor=actor)


def revoke(
    actor: User, row: TransportPass, reason: str | None, *, now: datetime | None = None
) -> None:
    """An office of the origin or destination county takes a pass back, saying why; every
    verification shows it at once."""
    now = _now(now)
    _ensure(actor, "revoke", row)
    reason = _text(reason, "reason", _("Say why the pass is revoked."))
    PASSES.move(
        row,
        PassAction.revoke,
        actor=actor,
        values={"revoked_at": now, "revoke_reason": reason},
        facts={"reason": reason},
    )
    _tell_applicant(row, "pass.revoked", actor, reason=reason)


def _tell_applicant(row: TransportPass, kind: str, actor: User | None, **extra: Any) -> None:
    notify_members(
        [(row.applicant_org_id, row.applicant_user.role)],
        kind,
        {**_params(row), **extra},
        url=f"/passes/{row.id}",
        actor=actor,
    )


def suspend(
    actor: User, organisation: Organisation, reason: str | None, *, now: datetime | None = None
) -> Suspension:
    """熔断: the official's office suspends every approved pass of an organisation from or to
    its jurisdiction, and refuses new ones there, until it lifts the suspension."""
    now = _now(now)
    _ensure(actor, "create", Suspension)
    office = _own_office(actor)
    reason = _text(reason, "reason", _("Say why the passes are suspended."))
    if organisation.kind not in (OrgKind.cooperative, OrgKind.buyer, OrgKind.haulier):
        raise _invalid("organisation", _("Only traders' and hauliers' passes can be suspended."))
    active = db.session.scalar(
        select(Suspension.id).where(
            Suspension.office_id == office.id,
            Suspension.organisation_id == organisation.id,
            Suspension.lifted_at.is_(None),
        )
    )
    if active is not None:
        raise Conflict(
            _("The passes of this organisation are already suspended."), code="duplicate"
        )
    row = Suspension(
        office_id=office.id,
        organisation_id=organisation.id,
        reason=reason,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    record(actor, row, "created", changes={"organisation_id": organisation.id, "reason": reason})
    passes = db.session.scalars(
        select(TransportPass)
        .where(
            TransportPass.applicant_org_id == organisation.id,
            TransportPass.status == PassStatus.approved,
            _in_jurisdiction(office),
        )
        .order_by(TransportPass.id)
    )
    for item in passes:
        PASSES.move(
            item,
            PassAction.suspend,
            actor=actor,
            expected=PassStatus.approved,
            values={"suspension_id": row.id},
            facts={"suspension_id": row.id, "reason": reason},
            strict=False,
        )
    notify_members(
        [(organisation.id, role) for role in _trading_roles(organisation)][:1],
        "pass.suspended",
        {"office": office.name, "reason": reason},
        url="/passes",
        actor=actor,
    )
    return row


def _trading_roles(org: Organisation) -> list[Role]:
    return {
        OrgKind.cooperative: [Role.cooperative],
        OrgKind.buyer: [Role.buyer],
        OrgKind.haulier: [Role.haulier],
    }.get(org.kind, [])


def _in_jurisdiction(office: Organisation) -> Any:
    """Passes from or to the office's jurisdiction."""

    def inside(province: Any, county: Any) -> Any:
        if office.county_code is None:
            return province == office.province_code
        return and_(province == office.province_code, county == office.county_code)

    return or_(
        inside(TransportPass.origin_province_code, TransportPass.origin_county_code),
        inside(TransportPass.dest_province_code, TransportPass.dest_county_code),
    )


def lift(actor: User, suspension: Suspension, *, now: datetime | None = None) -> int:
    """The office lifts its suspension: the passes it suspended are approved again (unless
    another office's suspension holds them). How many were reinstated."""
    now = _now(now)
    _ensure(actor, "lift", suspension)
    table = Suspension.__table__
    done = db.session.execute(
        update(table)
        .where(table.c.id == suspension.id, table.c.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by_id=actor.id)
    ).rowcount
    if not done:
        raise Conflict(_("This suspension was lifted already."), code="state_changed")
    db.session.expire(suspension)
    record(actor, suspension, "lifted")
    reinstated = 0
    passes = db.session.scalars(
        select(TransportPass)
        .where(
            TransportPass.suspension_id == suspension.id,
            TransportPass.status == PassStatus.suspended,
        )
        .order_by(TransportPass.id)
    )
    for item in passes:
        if _suspension_of(item.applicant_org_id, (item.origin_county, item.dest_county)):
            continue
        moved = PASSES.move(
            item,
            PassAction.reinstate,
            actor=actor,
            expected=PassStatus.suspended,
            values={"suspension_id": None},
            strict=False,
        )
        reinstated += moved is not None
    return reinstated


# --- on the road ----------------------------------------------------------------------------


def _photo(actor: User, row: TransportPass, photo: bytes | None) -> tuple[str | None, str | None]:
    if not photo:
        return None, None
    (processed,) = process_uploads(actor, [photo], max_count=1)
    name = secrets.token_hex(12)
    key, thumb = f"passes/{row.id}/{name}.jpg", f"passes/{row.id}/{name}-thumb.jpg"
    save_in_transaction(key, processed.full)
    save_in_transaction(thumb, processed.thumb)
    return key, thumb


def _must_be_valid(row: TransportPass, now: datetime) -> None:
    if verdict(row, now) is not Verdict.valid:
        raise Conflict(
            _("This pass is not valid now: the vehicle may not pass on it."), code="pass_invalid"
        )


def expected_arrival(row: TransportPass, checkpoint: Checkpoint, at: datetime) -> datetime:
    """When a vehicle that entered at `checkpoint` should reach its destination: the road
    between the checkpoint's county and the destination, and the slack an office allows."""
    config = current_app.config
    hours = distance_km(checkpoint.county, row.dest_county) / config["PASS_ROAD_KMH"]
    return at + timedelta(hours=hours + config["PASS_ARRIVAL_SLACK_HOURS"])


def record_passage(
    actor: User,
    row: TransportPass,
    checkpoint: Checkpoint,
    direction: PassageDirection | str,
    *,
    photo: bytes | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> PassScan:
    """Checkpoint staff (or an official) of the checkpoint's office record that the vehicle of
    a valid pass went out of or into the county there. The first exit and the first entry are
    the timeline's; an entry sets when the vehicle is due at its destination."""
    now = _now(now)
    _ensure(actor, "scan", row)
    if checkpoint.office_id != actor.organisation_id or checkpoint.retired_at is not None:
        raise _invalid("checkpoint", _("Choose one of your office's checkpoints."))
    try:
        direction = PassageDirection(direction)
    except ValueError:
        raise _invalid("direction", _("Choose exit or entry.")) from None
    note = " ".join(str(note or "").split()) or None
    if note is not None and len(note) > 200:
        raise _invalid("note", _("At most %(max)d characters.", max=200))
    _must_be_valid(row, now)
    key, thumb = _photo(actor, row, photo)
    kind = StepKind.exit if direction is PassageDirection.out else StepKind.entry
    scan = PassScan(
        transport_pass=row,
        kind=kind,
        checkpoint=checkpoint,
        at=now,
        recorded_by_id=actor.id,
        photo_key=key,
        thumb_key=thumb,
        note=note,
    )
    db.session.add(scan)
    values: dict[str, Any] = {}
    if kind is StepKind.exit and row.exited_at is None:
        values["exited_at"] = now
    if kind is StepKind.entry and row.entered_at is None:
        values["entered_at"] = now
        values["expected_by"] = expected_arrival(row, checkpoint, now)
    for name, value in values.items():
        setattr(row, name, value)
    db.session.flush()
    record(
        actor,
        row,
        "passage_recorded",
        changes={
            "checkpoint_id": checkpoint.id,
            "direction": direction.value,
            "photo": key is not None,
            **{k: v.isoformat() for k, v in values.items()},
        },
    )
    return scan


def record_step(
    actor: User,
    row: TransportPass,
    kind: StepKind | str,
    *,
    photo: bytes | None = None,
    now: datetime | None = None,
) -> PassScan:
    """The applicant of a pass without an order records the loading or the delivery (an
    order's own dispatch and delivery are its pass's steps)."""
    now = _now(now)
    _ensure(actor, "record_step", row)
    try:
        kind = StepKind(kind)
    except ValueError:
        raise _invalid("kind", _("Choose loading or delivery.")) from None
    if kind not in (StepKind.loading, StepKind.delivery):
        raise _invalid("kind", _("Choose loading or delivery."))
    if kind is StepKind.loading:
        if row.loaded_at is not None:
            raise Conflict(_("The loading was recorded already."), code="duplicate")
        _must_be_valid(row, now)
    key, thumb = _photo(actor, row, photo)
    scan = PassScan(
        transport_pass=row,
        kind=kind,
        at=now,
        recorded_by_id=actor.id,
        photo_key=key,
        thumb_key=thumb,
    )
    db.session.add(scan)
    if kind is StepKind.loading:
        row.loaded_at = now
        db.session.flush()
        record(actor, row, "loading_recorded", changes={"photo": key is not None})
    else:
        PASSES.move(
            row,
            PassAction.complete,
            actor=actor,
            values={"delivered_at": now},
            facts={"photo": key is not None},
        )
    return scan


def flag_overdue(now: datetime | None = None) -> int:
    """Tell the destination offices of the vehicles that entered and have not arrived in the
    expected time (once per pass). How many were flagged."""
    now = _now(now)
    due = db.session.scalars(
        select(TransportPass)
        .where(
            TransportPass.status == PassStatus.approved,
            TransportPass.expected_by < now,
            TransportPass.overdue_at.is_(None),
            TransportPass.delivered_at.is_(None),
        )
        .order_by(TransportPass.id)
        .limit(500)
    ).all()
    table = TransportPass.__table__
    flagged = 0
    for row in due:
        done = db.session.execute(
            update(table)
            .where(table.c.id == row.id, table.c.overdue_at.is_(None))
            .values(overdue_at=now)
        ).rowcount
        if not done:
            continue
        row.overdue_at = now
        flagged += 1
        record(None, row, "flagged_overdue", changes={"expected_by": row.expected_by.isoformat()})
        notify(
            overseers(row.dest_province_code, row.dest_county_code),
            "pass.overdue",
            {**_params(row), "destination": row.destination},
            url=f"/passes/{row.id}",
        )
    return flagged


# --- what the order does to its passes ------------------------------------------------------


@ORDERS.on(OrderAction.dispatch)
def _order_dispatched(event: Any) -> None:
    order = event.subject
    table = TransportPass.__table__
    db.session.execute(
        update(table)
        .where(table.c.order_id == order.id, table.c.loaded_at.is_(None))
        .values(loaded_at=order.dispatched_at or utcnow())
    )


@ORDERS.on(OrderAction.confirm_delivery, OrderAction.auto_confirm)
def _order_delivered(event: Any) -> None:
    order = event.subject
    passes = db.session.scalars(
        select(TransportPass)
        .where(TransportPass.order_id == order.id, TransportPass.status == PassStatus.approved)
        .order_by(TransportPass.id)
    )
    for item in passes:
        PASSES.move(
            item,
            PassAction.complete,
            actor=event.actor,
            expected=PassStatus.approved,
            values={"delivered_at": order.delivered_at or utcnow()},
            strict=False,
        )


@ORDERS.on(OrderAction.cancel, OrderAction.expire, OrderAction.reject)
def _order_called_off(event: Any) -> None:
    order = event.subject
    passes = db.session.scalars(
        select(TransportPass)
        .where(TransportPass.order_id == order.id, TransportPass.status.in_(ACTIVE))
        .order_by(TransportPass.id)
    )
    for item in passes:
        PASSES.move(
            item,
            PassAction.withdraw,
            actor=event.actor,
            strict=False,
            facts={"order": event.action.value},
        )


# --- checkpoints ---------------------------------------------------------------------------


def add_checkpoint(
    actor: User, name: str | None, kind: CheckpointKind | str | None, place: PlaceInput
) -> Checkpoint:
    """An official adds a checkpoint of the office, in its jurisdiction."""
    _ensure(actor, "create", Checkpoint)
    office = _own_office(actor)
    errors: dict[str, list[str]] = {}
    clean = " ".join(str(name or "").split())
    if not clean:
        errors["name"] = [_("Enter the checkpoint's name.")]
    elif len(clean) > 60:
        errors["name"] = [_("At most %(max)d characters.", max=60)]
    try:
        kind = CheckpointKind(kind or "")
    except ValueError:
        errors["kind"] = [_("Choose what kind of checkpoint it is.")]
    if not place.province and office.province_code:
        place = PlaceInput(province=office.province.name, county=place.county)
    if not place.county and office.county_code:
        place = PlaceInput(province=place.province, county=office.county.name)
    county = _place(place, "county", errors)
    if county is not None and not covers(office, county.province_code, county.code):
        errors["county"] = [_("The checkpoint must be in your office's jurisdiction.")]
    if clean and db.session.scalar(
        select(Checkpoint.id).where(Checkpoint.office_id == office.id, Checkpoint.name == clean)
    ):
        errors["name"] = [_("Your office has a checkpoint of that name already.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    assert county is not None
    row = Checkpoint(
        office_id=office.id,
        name=clean,
        kind=kind,
        province_code=county.province_code,
        county_code=county.code,
    )
    db.session.add(row)
    db.session.flush()
    record(
        actor, row, "created", changes={"name": clean, "kind": kind.value, "county": county.code}
    )
    return row


def retire_checkpoint(actor: User, checkpoint: Checkpoint, *, now: datetime | None = None) -> None:
    _ensure(actor, "retire", checkpoint)
    table = Checkpoint.__table__
    done = db.session.execute(
        update(table)
        .where(table.c.id == checkpoint.id, table.c.retired_at.is_(None))
        .values(retired_at=_now(now))
    ).rowcount
    if not done:
        raise Conflict(_("This checkpoint is no longer in use already."), code="state_changed")
    db.session.expire(checkpoint)
    record(actor, checkpoint, "retired")


# --- whitelists -----------------------------------------------------------------------------


@dataclass
class EntryInput:
    organisation: str | int | None = None  #: its id, or its exact name
    valid_from: str | date | None = None
    valid_until: str | date | None = None
    reason: str | None = None


def _whitelistable(text: str | int | None) -> Organisation | None:
    if text is None or str(text).strip() == "":
        return None
    query = select(Organisation).where(
        Organisation.kind.in_((OrgKind.cooperative, OrgKind.buyer, OrgKind.haulier))
    )
    if isinstance(text, int) or str(text).strip().isdigit():
        return db.session.scalar(query.where(Organisation.id == int(str(text).strip())))
    return db.session.scalar(query.where(Organisation.name == " ".join(str(text).split())))


def check_entry(
    data: EntryInput, today: date | None = None
) -> tuple[Organisation, date, date, str]:
    """A whitelist entry's fields, checked (the import previews every row with this)."""
    today = today or local_today()
    errors: dict[str, list[str]] = {}
    org = _whitelistable(data.organisation)
    if org is None:
        errors["organisation"] = [_("No cooperative, buyer or haulier of that name is registered.")]
    start = end = today
    try:
        start = parse_date(data.valid_from) or today
    except BadDate as exc:
        errors["valid_from"] = [str(exc.message)]
    try:
        end = parse_date(data.valid_until)
        if end is None:
            errors["valid_until"] = [_("Enter the last day the entry is valid.")]
            end = start
    except BadDate as exc:
        errors["valid_until"] = [str(exc.message)]
    if not errors.keys() & {"valid_from", "valid_until"} and end < start:
        errors["valid_until"] = [_("The last day comes before the first.")]
    elif "valid_until" not in errors and end < today:
        errors["valid_until"] = [_("The entry would have ended already.")]
    reason = " ".join(str(data.reason or "").split())
    if not reason:
        errors["reason"] = [_("Say why the organisation is on the whitelist.")]
    elif len(reason) > MAX_TEXT:
        errors["reason"] = [_("At most %(max)d characters.", max=MAX_TEXT)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    assert org is not None
    return org, start, end, reason


def add_entry(actor: User, data: EntryInput, *, via: str | None = None) -> WhitelistEntry:
    """An official puts an organisation on the office's whitelist for a period, with a reason
    (`via`: "import" for a row of an imported spreadsheet, for the audit trail)."""
    _ensure(actor, "create", WhitelistEntry)
    office = _own_office(actor)
    org, start, end, reason = check_entry(data)
    row = WhitelistEntry(
        office_id=office.id,
        organisation_id=org.id,
        valid_from=start,
        valid_until=end,
        reason=reason,
        created_by_id=actor.id,
    )
    db.session.add(row)
    db.session.flush()
    record(
        actor,
        row,
        "created",
        changes={
            "organisation_id": org.id,
            "valid_from": start.isoformat(),
            "valid_until": end.isoformat(),
            "reason": reason,
            **({"via": via} if via else {}),
        },
    )
    return row


def remove_entry(actor: User, entry: WhitelistEntry, *, now: datetime | None = None) -> None:
    _ensure(actor, "remove", entry)
    table = WhitelistEntry.__table__
    done = db.session.execute(
        update(table)
        .where(table.c.id == entry.id, table.c.removed_at.is_(None))
        .values(removed_at=_now(now), removed_by_id=actor.id)
    ).rowcount
    if not done:
        raise Conflict(_("This entry was removed already."), code="state_changed")
    db.session.expire(entry)
    record(actor, entry, "removed")


def recognise(actor: User, other: Organisation) -> Recognition:
    """The official's office counts another office's whitelist as its own (互认)."""
    _ensure(actor, "create", Recognition)
    office = _own_office(actor)
    if other.kind is not OrgKind.office or other.id == office.id:
        raise _invalid("office", _("Choose another office."))
    if db.session.scalar(
        select(Recognition.id).where(
            Recognition.office_id == office.id, Recognition.recognised_office_id == other.id
        )
    ):
        raise Conflict(_("Your office recognises that whitelist already."), code="duplicate")
    row = Recognition(office_id=office.id, recognised_office_id=other.id, created_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    record(actor, row, "created", changes={"recognised_office_id": other.id})
    return row


def end_recognition(actor: User, recognition: Recognition) -> None:
    _ensure(actor, "remove", recognition)
    record(
        actor,
        recognition,
        "removed",
        changes={"recognised_office_id": recognition.recognised_office_id},
    )
    db.session.delete(recognition)
    db.session.flush()


def add_entries(actor: User, rows: Sequence[EntryInput]) -> list[WhitelistEntry]:
    """An imported whitelist: every row is checked first, and all are added or none (each
    entry audited as the form's are)."""
    _ensure(actor, "create", WhitelistEntry)
    _own_office(actor)
    errors: dict[str, list[str]] = {}
    for number, data in enumerate(rows, start=1):
        try:
            check_entry(data)
        except ValidationFailed as exc:
            errors[f"row_{number}"] = [m for ms in exc.fields.values() for m in ms]
    if errors or not rows:
        raise ValidationFailed(
            _("Some rows have errors: nothing was imported."), fields=errors, code="import_invalid"
        )
    return [add_entry(actor, data, via="import") for data in rows]


# --- checkpoint staff -----------------------------------------------------------------------


def add_staff(actor: User, name: str | None, phone_text: str | None) -> User:
    """An official gives the office's checkpoint staff an account: its login is the staff
    member's mobile number, its password a random one nobody knows; the staff member sets
    their own with a code texted to that number (忘记密码), which confirms the number too."""
    office = _own_office(actor)
    errors: dict[str, list[str]] = {}
    clean_name = " ".join(str(name or "").split())
    if not clean_name:
        errors["name"] = [_("Enter the staff member's name.")]
    elif len(clean_name) > 60:
        errors["name"] = [_("At most %(max)d characters.", max=60)]
    phone = mobile_number(phone_text)
    if phone is None:
        errors["phone"] = [_("Enter an 11-digit mobile number, e.g. 13800138000.")]
    elif db.session.scalar(
        select(User.id).where(or_(User.login == phone, User.phone == phone)).limit(1)
    ):
        errors["phone"] = [_("This mobile number already has an account.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    return create_user(
        login=phone or "",
        password=secrets.token_urlsafe(24),
        role=Role.checkpoint,
        org_name=office.name,
        name=clean_name,
        phone=phone,
        actor=actor,
    )
