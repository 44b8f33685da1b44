"""The only code that writes demands. Operations flush, never commit, and record every change."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _

from produce_match.accounts.models import Organisation, User
from produce_match.accounts.operations import PlaceInput, resolve_place
from produce_match.audit.operations import diff, record
from produce_match.catalog import commodities
from produce_match.database import utcnow
from produce_match.dates import BadDate, local_today, parse_date
from produce_match.demands.models import (
    DEMAND_TRANSITIONS,
    DEMANDS,
    EDITABLE,
    Demand,
    DemandAction,
    DemandStatus,
)
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lifecycle import MoveRefused
from produce_match.matching.rules import grade_key, split_grades
from produce_match.units import (
    MassUnit,
    UnitError,
    amount_text,
    fen_per_tonne,
    parse_unit,
    to_fen,
    to_grams,
    yuan_text,
)

#: the longest text each field takes, and the most grades a demand names
NOTES_MAX, GRADE_MAX, GRADES_MAX = 2000, 30, 12
#: how far ahead a needed-by date may lie, and the largest maximum distance
MAX_AHEAD_DAYS = 2 * 365
MAX_DISTANCE_KM = 6000


@dataclass
class DemandInput:
    """A demand as typed into a form, an API body or a spreadsheet row: text, not yet checked.

    None means "not given": on a new demand the default applies, on an edit the value is kept.
    """

    commodity: str | None = None
    grades: str | list[str] | None = None
    min_quantity: str | None = None
    max_quantity: str | None = None
    unit: str | None = None
    max_price: str | None = None
    price_unit: str | None = None
    province: str | None = None
    county: str | None = None
    needed_by: str | date | None = None
    max_distance_km: str | int | None = None
    notes: str | None = None

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


def _as_input(demand: Demand) -> DemandInput:
    """A demand's values written back as text, the way its buyer entered them."""
    return DemandInput(
        commodity=demand.commodity.code,
        grades=list(demand.grades or []),
        min_quantity=amount_text(demand.min_quantity_g, demand.quantity_unit),
        max_quantity=amount_text(demand.max_quantity_g, demand.quantity_unit),
        unit=demand.quantity_unit.value,
        max_price=yuan_text(demand.max_price_fen),
        price_unit=demand.price_unit.value,
        province=demand.province_code,
        county=demand.county_code,
        needed_by=demand.needed_by,
        max_distance_km=str(demand.max_distance_km) if demand.max_distance_km else "",
        notes=demand.notes or "",
    )


def clean(data: DemandInput, buyer: Organisation, demand: Demand | None = None) -> dict[str, Any]:
    """Check a demand's input against every rule and return the model's values.

    Raises ValidationFailed with messages keyed by the fields of `DemandInput`. On an edit the
    fields not given keep their values. Changes nothing.
    """
    given = data.given()
    if demand is not None:
        merged = _as_input(demand)
        for name, value in given.items():
            setattr(merged, name, value)
        data = merged
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    today = local_today()

    def fail(name: str, message: Any) -> None:
        errors.setdefault(name, []).append(str(message))

    def text(value: Any) -> str:
        return str(value or "").strip()

    commodity = None
    if not text(data.commodity):
        fail("commodity", _("Enter the commodity, e.g. 黑豆 or heidou."))
    else:
        commodity = commodities.resolve(text(data.commodity))
        if commodity is None:
            fail("commodity", _("Unknown commodity: %(name)s", name=text(data.commodity)))
        elif commodity.is_other:
            # 其他水果 holds produce of every name (榴莲干, 芒果干): it would match them all
            fail("commodity", _("Enter the commodity itself, not a category's “other”."))
            commodity = None
        else:
            values["commodity_id"] = commodity.id

    grades = split_grades(data.grades)
    if len(grades) > GRADES_MAX:
        fail("grades", _("At most %(n)d grades.", n=GRADES_MAX))
    elif any(len(g) > GRADE_MAX for g in grades):
        fail("grades", _("At most %(max)d characters.", max=GRADE_MAX))
    else:
        values["grades"] = list(grades)

    unit: MassUnit | None = None
    try:
        unit = parse_unit(text(data.unit)) if text(data.unit) else None
    except UnitError as exc:
        fail("unit", exc.message)
    if unit is None and not errors.get("unit"):
        unit = commodity.unit if commodity is not None else MassUnit.kg
    quantities: dict[str, int] = {}
    for name in ("min_quantity", "max_quantity"):
        if not text(getattr(data, name)):
            fail(name, _("Enter the quantity."))
        elif unit is not None:
            try:
                quantities[name] = to_grams(text(getattr(data, name)), unit)
            except UnitError as exc:
                fail(name, exc.message)
    if len(quantities) == 2 and quantities["min_quantity"] > quantities["max_quantity"]:
        fail("min_quantity", _("The least must not be more than the most."))
    if unit is not None and len(quantities) == 2:
        values.update(
            min_quantity_g=quantities["min_quantity"],
            max_quantity_g=quantities["max_quantity"],
            quantity_unit=unit,
        )

    price_unit: MassUnit | None = unit
    if text(data.price_unit):
        try:
            price_unit = parse_unit(text(data.price_unit))
        except UnitError as exc:
            fail("price_unit", exc.message)
            price_unit = None
    if not text(data.max_price):
        fail("max_price", _("Enter the highest price you pay."))
    elif price_unit is not None:
        try:
            fen = to_fen(text(data.max_price))
        except UnitError as exc:
            fail("max_price", exc.message)
        else:
            values.update(
                max_price_fen=fen,
                price_unit=price_unit,
                max_price_fen_per_t=fen_per_tonne(fen, price_unit),
            )

    place = PlaceInput(
        province=text(data.province) or buyer.province_code,
        county=text(data.county) or (buyer.county_code if not text(data.province) else None),
    )
    try:
        province, county = resolve_place(place, required=True)
    except ValidationFailed as exc:
        for name, messages in exc.fields.items():
            for message in messages:
                fail(name, message)
    else:
        assert province is not None and county is not None
        values.update(province_code=province.code, county_code=county.code)

    try:
        needed_by = parse_date(data.needed_by)
    except BadDate as exc:
        fail("needed_by", str(exc.message))
    else:
        if needed_by is None:
            fail("needed_by", _("Enter the date by which you need it."))
        elif needed_by < today and (demand is None or "needed_by" in given):
            fail("needed_by", _("This date has passed."))
        elif needed_by > today + timedelta(days=MAX_AHEAD_DAYS):
            fail("needed_by", _("The date is too far ahead."))
        else:
            values["needed_by"] = needed_by

    distance = text(data.max_distance_km)
    if not distance:
        values["max_distance_km"] = None
    elif not distance.isdigit() or not 0 < int(distance) <= MAX_DISTANCE_KM:
        fail(
            "max_distance_km",
            _("A whole number of kilometres, at most %(max)d.", max=MAX_DISTANCE_KM),
        )
    else:
        values["max_distance_km"] = int(distance)

    notes = text(data.notes)
    if len(notes) > NOTES_MAX:
        fail("notes", _("At most %(max)d characters.", max=NOTES_MAX))
    else:
        values["notes"] = notes or None

    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    return values


def create_demand(actor: User | None, buyer: Organisation, data: DemandInput) -> Demand:
    """Register a standing demand for a buyer."""
    values = clean(data, buyer)
    demand = Demand(
        buyer=buyer,
        created_by_id=actor.id if actor else None,
        status=DemandStatus.active,
        **values,
    )
    db.session.add(demand)
    db.session.flush()
    record(
        actor,
        demand,
        "posted",
        to_state=DemandStatus.active.value,
        changes={
            "commodity_id": demand.commodity_id,
            "max_quantity_g": demand.max_quantity_g,
            "max_price_fen_per_t": demand.max_price_fen_per_t,
        },
    )
    return demand


def update_demand(actor: User, demand: Demand, data: DemandInput) -> dict[str, list[Any]]:
    """Edit a demand; returns {field: [old, new]} of what changed (recorded in the audit trail)."""
    if demand.status not in EDITABLE:
        raise Conflict(_("This demand is closed and can no longer be changed."), code="closed")
    values = clean(data, demand.buyer, demand)
    if {grade_key(g) for g in values.get("grades", [])} == {grade_key(g) for g in demand.grades}:
        values.pop("grades", None)  # the same grades, written differently: no change
    changes = diff(demand, values)
    if changes:
        demand.updated_at = utcnow()
        record(actor, demand, "edited", changes=changes)
    return changes


#: the actions people take on a demand (the table is `models.DEMAND_TRANSITIONS`)
MOVES = tuple(a.value for a in DemandAction)


def move(actor: User | None, demand: Demand, action: str) -> None:
    """Pause, resume or close a demand, in one guarded statement (two clicks move it once)."""
    step = DemandAction(action)
    try:
        DEMANDS.move(demand, step, actor=actor, values={"updated_at": utcnow()})
    except MoveRefused:
        db.session.refresh(demand, ["status", "updated_at"])
        if demand.status in {to for (_s, a), to in DEMAND_TRANSITIONS.items() if a is step}:
            return  # already done (by this request's twin): nothing to record
        raise Conflict(
            _("This demand cannot be %(action)s now.", action=_label(action)), code="bad_state"
        ) from None


def _label(action: str) -> str:
    return {"pause": _("paused"), "resume": _("resumed"), "close": _("closed")}[action]
