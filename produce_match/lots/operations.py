"""The only code that writes lots. Operations flush, never commit, and record every change."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import case, select, update

from produce_match.accounts.models import Organisation, User
from produce_match.accounts.operations import PlaceInput, resolve_place
from produce_match.audit.operations import diff, record
from produce_match.catalog import commodities
from produce_match.catalog.models import Commodity
from produce_match.database import utcnow
from produce_match.dates import BadDate, local_today, parse_date
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.events import lot_offered
from produce_match.lots.models import (
    DEFAULT_HOLDBACK_PCT,
    LOTS,
    MAX_HOLDBACK_PCT,
    Lot,
    LotAction,
    LotPhoto,
    LotStatus,
    Settlement,
    sellable,
)
from produce_match.lots.updates import update_lots
from produce_match.lots.uploads import process_uploads
from produce_match.storage import delete_after_commit, get_storage
from produce_match.units import (
    MassUnit,
    UnitError,
    fen_per_tonne,
    format_mass,
    parse_unit,
    to_fen,
    to_grams,
    yuan_text,
)

MAX_PHOTOS = 6
#: the longest commodity name taken, catalogued or typed (Lot.commodity_name)
COMMODITY_NAME_MAX = 40
#: how far ahead a spoil-by date may lie
MAX_SHELF_DAYS = 5 * 365
#: the longest text each field takes
LIMITS = {
    "title": 120,
    "variety": 60,
    "grade": 30,
    "township": 60,
    "village": 60,
    "storage_notes": 2000,
    "description": 5000,
}


@dataclass
class LotInput:
    """A lot as typed into a form, an API body or a spreadsheet row: text, not yet checked.

    None means "not given": on a new lot the default applies, on an edit the value is kept.
    """

    commodity: str | None = None
    #: the category (fruit, vegetable ...) of a commodity not in the catalogue: the lot is
    #: posted under that category's "other" entry with the name as typed
    category: str | None = None
    title: str | None = None
    variety: str | None = None
    grade: str | None = None
    quantity: str | None = None
    unit: str | None = None
    price: str | None = None
    price_unit: str | None = None
    province: str | None = None
    county: str | None = None
    township: str | None = None
    village: str | None = None
    available_from: str | date | None = None
    spoil_by: str | date | None = None
    storage_notes: str | None = None
    description: str | None = None
    #: the settlement terms offered: `Settlement` values, as a list or separated by commas
    #: (none given: on delivery only on a new lot)
    settlement_terms: str | list[str] | tuple[str, ...] | None = None
    #: settled on loading: the share kept until delivery, whole percent 0-10 (none given on a
    #: lot that starts offering it: DEFAULT_HOLDBACK_PCT)
    holdback_percent: str | int | None = None

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


class _Checker:
    """Checks one lot's input field by field, collecting a message per field."""

    def __init__(self, data: LotInput, cooperative: Organisation, lot: Lot | None) -> None:
        self.given = data.given()
        self.cooperative = cooperative
        self.lot = lot
        self.today = local_today(lot.timezone if lot else None)
        self.values: dict[str, Any] = {}
        self.errors: dict[str, list[str]] = {}
        self.commodity: Commodity | None = lot.commodity if lot else None
        self.unit: MassUnit | None = lot.quantity_unit if lot else None
        self.county_short = lot.county.short_name if lot else ""

    def asked(self, *names: str) -> bool:
        """Is any of these fields to be set: always on a new lot, if given on an edit."""
        return self.lot is None or any(n in self.given for n in names)

    def fail(self, name: str, message: Any) -> None:
        self.errors.setdefault(name, []).append(str(message))

    def text(self, name: str) -> str:
        return str(self.given.get(name) or "").strip()

    def check_commodity(self) -> None:
        if not self.asked("commodity", "category"):
            return
        name = " ".join(self.text("commodity").split())
        if not name and self.lot is not None and "commodity" not in self.given:
            name = self.lot.commodity_name or self.lot.commodity.name_zh
        found = commodities.resolve(name) if name else None
        category = self.text("category")
        if not category and self.lot is not None and self.lot.commodity_name:
            category = self.lot.commodity.category.value  # renaming keeps its kind
        self.commodity = None
        if not name:
            self.fail("commodity", _("Enter the commodity, e.g. 黑豆 or heidou."))
        elif len(name) > COMMODITY_NAME_MAX:
            self.fail("commodity", _("At most %(max)d characters.", max=COMMODITY_NAME_MAX))
        elif found is not None and found.is_other:
            # 其他水果 says only where it goes, not what it is
            self.fail("commodity", _("Enter what it is, e.g. 榴莲干, and choose its kind."))
        elif found is not None:
            self.commodity = found
            self.values.update(commodity_id=found.id, commodity_name=None)
        elif not category:
            self.fail(
                "commodity",
                _(
                    "%(name)s is not in our catalogue. Check the name, or choose its kind to "
                    "post it as it is.",
                    name=name,
                ),
            )
        elif (other := commodities.other_of(category)) is None:
            self.fail("category", _("Choose a category."))
        else:
            self.commodity = other
            self.values.update(commodity_id=other.id, commodity_name=name)

    @property
    def commodity_text(self) -> str:
        """The commodity's name for the title: the typed one for produce not in the catalogue."""
        if "commodity_name" in self.values:
            return self.values["commodity_name"] or (
                self.commodity.name_zh if self.commodity else ""
            )
        if self.lot is not None and self.lot.commodity_name:
            return self.lot.commodity_name
        return self.commodity.name_zh if self.commodity else ""

    def _unit(self, field: str, default: MassUnit | None) -> MassUnit | None:
        try:
            unit = parse_unit(self.text(field)) if self.text(field) else default
        except UnitError as exc:
            self.fail(field, exc.message)
            return None
        if unit is None:
            self.fail(field, _("Choose a unit."))
        return unit

    def check_quantity(self) -> None:
        if self.asked("unit"):
            self.unit = self._unit("unit", self.commodity.unit if self.commodity else None)
            if self.unit is not None:
                self.values["quantity_unit"] = self.unit
        if not self.asked("quantity") or self.unit is None:
            return
        if not self.text("quantity"):
            self.fail("quantity", _("Enter the quantity."))
            return
        try:
            grams = to_grams(self.text("quantity"), self.unit)
        except UnitError as exc:
            self.fail("quantity", exc.message)
            return
        committed = self.lot.quantity_g - self.lot.remaining_g if self.lot else 0
        if grams < committed:
            self.fail(
                "quantity",
                _(
                    "%(q)s is already ordered: the quantity cannot be less.",
                    q=format_mass(committed, self.unit),
                ),
            )
        self.values.update(quantity_g=grams, remaining_g=grams - committed)

    def check_price(self) -> None:
        if not self.asked("price", "price_unit"):
            return
        default_unit = self.lot.price_unit if self.lot else self.unit
        price_unit = (
            self._unit("price_unit", default_unit) if self.asked("price_unit") else default_unit
        )
        price = (
            self.text("price")
            if "price" in self.given or self.lot is None
            else yuan_text(self.lot.price_fen)
        )
        if not price:
            self.fail("price", _("Enter the asking price."))
        elif price_unit is not None:
            try:
                fen = to_fen(price)
            except UnitError as exc:
                self.fail("price", exc.message)
            else:
                self.values.update(
                    price_fen=fen,
                    price_unit=price_unit,
                    price_fen_per_t=fen_per_tonne(fen, price_unit),
                )

    def check_place(self) -> None:
        if self.asked("province", "county"):
            own = self.lot or self.cooperative
            place = PlaceInput(
                province=self.text("province") or own.province_code,
                county=self.text("county") or own.county_code,
            )
            try:
                province, county = resolve_place(place, required=True)
            except ValidationFailed as exc:
                for name, messages in exc.fields.items():
                    for message in messages:
                        self.fail(name, message)
            else:
                self.values.update(province_code=province.code, county_code=county.code)
                self.county_short = county.short_name
        for name in ("township", "village"):
            if name in self.given:
                self.values[name] = " ".join(self.text(name).split()) or None
            elif self.lot is None:
                self.values[name] = getattr(self.cooperative, name)

    def _date(self, name: str) -> date | None:
        try:
            return parse_date(self.given.get(name))
        except BadDate as exc:
            self.fail(name, str(exc.message))
            raise

    def check_dates(self) -> None:
        available = self.lot.available_from if self.lot else self.today
        if self.asked("available_from"):
            try:
                available = self._date("available_from") or self.today
            except ValueError:
                return
            self.values["available_from"] = available
        if not self.asked("spoil_by", "available_from"):
            return
        try:
            spoil_by = (
                self._date("spoil_by")
                if "spoil_by" in self.given
                else (self.lot.spoil_by if self.lot else None)
            )
        except ValueError:
            return
        if spoil_by is None and self.commodity is not None:
            # suggested from the commodity's shelf life
            spoil_by = max(available, self.today) + timedelta(days=self.commodity.shelf_life_days)
        if spoil_by is None:
            # without a known commodity there is no shelf life to suggest the date from: the
            # commodity's own message says what to do first
            if "commodity" not in self.errors and "category" not in self.errors:
                self.fail("spoil_by", _("Enter the date by which it must be sold."))
        elif spoil_by < self.today and "spoil_by" in self.given:
            self.fail("spoil_by", _("This date has passed: a spoiled lot cannot be offered."))
        elif spoil_by > self.today + timedelta(days=MAX_SHELF_DAYS):
            self.fail("spoil_by", _("The date is too far ahead."))
        elif spoil_by < available:
            self.fail("spoil_by", _("It must be sold after it becomes available."))
        else:
            self.values["spoil_by"] = spoil_by

    def check_settlement(self) -> None:
        if not self.asked("settlement_terms", "holdback_percent"):
            return
        raw = self.given.get("settlement_terms")
        if raw is None:
            offered = set(self.lot.settlements) if self.lot else {Settlement.on_delivery}
        else:
            words = raw.split(",") if isinstance(raw, str) else [str(w) for w in raw]
            words = [w.strip() for w in words if str(w).strip()]
            known = {s.value for s in Settlement}
            if any(w not in known for w in words):
                self.fail("settlement_terms", _("Choose when the cooperative is paid."))
                return
            offered = {Settlement(w) for w in words}
            if not offered:
                self.fail("settlement_terms", _("Offer at least one way of settling."))
                return
        self.values["settle_on_delivery"] = Settlement.on_delivery in offered
        self.values["settle_on_loading"] = Settlement.on_loading in offered
        text = str(self.given.get("holdback_percent") or "").strip().rstrip("%％").strip()
        if not text:
            if self.lot is not None and self.lot.settle_on_loading:
                return  # kept
            pct = DEFAULT_HOLDBACK_PCT if Settlement.on_loading in offered else 0
        elif not (text.isascii() and text.isdigit()) or int(text) > MAX_HOLDBACK_PCT:
            self.fail(
                "holdback_percent",
                _(
                    "The holdback is a whole percent from 0 to %(max)d.",
                    max=MAX_HOLDBACK_PCT,
                ),
            )
            return
        else:
            pct = int(text)
        self.values["holdback_pct"] = pct

    def check_texts(self) -> None:
        for name, limit in LIMITS.items():
            if name in ("township", "village"):
                value = self.values.get(name)
            elif name in self.given:
                value = self.text(name) or None
                if name in ("title", "variety", "grade") and value:
                    value = " ".join(value.split())
                self.values[name] = value
            else:
                continue
            if value and len(value) > limit:
                self.fail(name, _("At most %(max)d characters.", max=limit))
        if self.lot is None and not self.values.get("title"):
            if self.commodity is not None and "quantity_g" in self.values:
                mass = format_mass(self.values["quantity_g"], self.unit)
                self.values["title"] = f"{self.county_short}{self.commodity_text} {mass}"
        elif self.lot is not None and "title" in self.values and not self.values["title"]:
            self.fail("title", _("Enter a title."))


def clean(data: LotInput, cooperative: Organisation, lot: Lot | None = None) -> dict[str, Any]:
    """Check a lot's input against every rule and return the model's values.

    Raises ValidationFailed with messages keyed by the fields of `LotInput` (forms, the API and
    the importer map those names to their own fields or columns). Changes nothing.
    """
    checker = _Checker(data, cooperative, lot)
    checker.check_commodity()
    checker.check_quantity()
    checker.check_price()
    checker.check_place()
    checker.check_dates()
    checker.check_settlement()
    checker.check_texts()
    if checker.errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=checker.errors)
    return checker.values


def create_lot(actor: User | None, cooperative: Organisation, data: LotInput) -> Lot:
    """Post a lot for a cooperative."""
    values = clean(data, cooperative)
    lot = Lot(
        cooperative=cooperative,
        created_by_id=actor.id if actor else None,
        status=LotStatus.open,
        **values,
    )
    db.session.add(lot)
    db.session.flush()
    record(
        actor,
        lot,
        "posted",
        to_state=LotStatus.open.value,
        changes={"quantity_g": lot.quantity_g, "price_fen_per_t": lot.price_fen_per_t},
    )
    lot_offered.send(lot, actor=actor, event="posted")
    return lot


def update_lot(actor: User, lot: Lot, data: LotInput) -> dict[str, list[Any]]:
    """Edit a lot; returns {field: [old, new]} of what changed (recorded in the audit trail)."""
    if lot.status is LotStatus.withdrawn:
        raise Conflict(
            _("This lot was withdrawn and can no longer be changed."), code="lot_withdrawn"
        )
    values = clean(data, lot.cooperative, lot)
    before = lot.current_status
    new_quantity = values.pop("quantity_g", None)
    values.pop("remaining_g", None)
    changes: dict[str, list[Any]] = {}
    if new_quantity is not None and new_quantity != lot.quantity_g:
        changes["quantity_g"] = [lot.quantity_g, new_quantity]
        _set_quantity(lot, new_quantity)
    changes.update(diff(lot, values))
    after = _status_after_edit(lot)
    if after is not lot.status:
        lot.status = after
    if changes:
        record(
            actor,
            lot,
            "edited",
            from_state=before.value,
            to_state=lot.current_status.value,
            changes=changes,
        )
    old_price, new_price = changes.get("price_fen_per_t", (0, 0))
    if new_price < old_price:
        lot_offered.send(lot, actor=actor, event="price_dropped")
    return changes


def _set_quantity(lot: Lot, grams: int) -> None:
    """Change a lot's quantity in one guarded statement: what orders hold stays held, even if
    one is placed at this very moment (the remainder moves by the difference, never below 0)."""
    delta = grams - Lot.quantity_g
    done = update_lots(
        update(Lot)
        .where(Lot.id == lot.id, Lot.remaining_g + delta >= 0)
        .values(quantity_g=grams, remaining_g=Lot.remaining_g + delta, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not done:
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={
                "quantity": [_("More than that is already ordered: the quantity cannot be less.")]
            },
        )
    db.session.refresh(lot, ["quantity_g", "remaining_g", "status", "updated_at"])


def _status_after_edit(lot: Lot) -> LotStatus:
    if lot.remaining_g == 0:
        return LotStatus.sold_out
    if lot.spoil_by < lot.today():
        return LotStatus.expired
    return LotStatus.open


def _lot_rows(statement: Any) -> int:
    """Run a statement on lots through the search index's queue: how many rows it wrote."""
    return len(update_lots(statement))


def withdraw_lot(actor: User, lot: Lot) -> None:
    """Take a lot off the market."""
    if lot.status is LotStatus.withdrawn:
        return
    LOTS.move(
        lot,
        LotAction.withdraw,
        actor=actor,
        values={"updated_at": utcnow()},
        execute=_lot_rows,
        strict=False,  # withdrawn meanwhile (a second click): nothing more to do
    )


def expire_lots() -> int:
    """Record the expiry of every open lot past its spoil-by date; safe to run at any time."""
    today = local_today()
    due = db.session.scalars(
        select(Lot.id).where(Lot.status == LotStatus.open, Lot.spoil_by < today)
    ).all()
    count = 0
    for lot_id in due:
        lot = db.session.get(Lot, lot_id)
        moved = LOTS.move(
            lot, LotAction.expire, expected=LotStatus.open, execute=_lot_rows, strict=False
        )
        count += moved is not None
    return count


def give_away(
    actor: User | None, lot: Lot, grams: int, *, today: date, facts: dict[str, Any]
) -> int:
    """Take `grams` given away (a donation) from the lot, exactly as a sale takes them: one
    guarded UPDATE (a sellable lot, not past its date, with at least that much left), the
    sold-out move when nothing is left. The new remainder; ValidationFailed if too little is left
    (nothing written)."""
    rows = update_lots(
        update(Lot)
        .where(Lot.id == lot.id, sellable(today, at_least_g=grams))
        .values(
            remaining_g=Lot.remaining_g - grams,
            status=case((Lot.remaining_g == grams, LotStatus.sold_out.value), else_=Lot.status),
            updated_at=utcnow(),
        )
        .returning(Lot.remaining_g)
        .execution_options(synchronize_session=False),
        only=[lot.id],
    )
    if not rows:
        db.session.refresh(lot, ["remaining_g", "status"])
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={
                "quantity": [
                    _(
                        "Only %(q)s is left to give.",
                        q=format_mass(lot.remaining_g, lot.quantity_unit),
                    )
                ]
            },
        )
    remaining = rows[0][0]
    db.session.refresh(lot, ["remaining_g", "status", "updated_at"])
    if remaining == 0:
        LOTS.recorded(lot, LotAction.sell_out, LotStatus.open, actor=actor, facts=facts)
    return remaining


def add_photo(actor: User, lot: Lot, data: bytes) -> LotPhoto:
    """Re-encode an uploaded photo without its metadata and attach it to the lot."""
    if len(lot.photos) >= MAX_PHOTOS:
        raise ValidationFailed(
            _("A lot has at most %(n)d photos.", n=MAX_PHOTOS),
            fields={"photos": [_("A lot has at most %(n)d photos.", n=MAX_PHOTOS)]},
        )
    (photo,) = process_uploads(actor, [data], max_count=1)
    storage = get_storage()
    name = secrets.token_hex(12)
    key, thumb_key = f"lots/{lot.id}/{name}.jpg", f"lots/{lot.id}/{name}-thumb.jpg"
    storage.save(key, photo.full)
    storage.save(thumb_key, photo.thumb)
    position = max((p.position for p in lot.photos), default=-1) + 1
    row = LotPhoto(
        lot=lot,
        position=position,
        key=key,
        thumb_key=thumb_key,
        width=photo.width,
        height=photo.height,
    )
    db.session.add(row)
    db.session.flush()
    record(actor, lot, "photo_added", changes={"photo_id": row.id})
    return row


def remove_photo(actor: User, photo: LotPhoto) -> None:
    """Remove a photo; its files go once the change is committed."""
    lot = photo.lot
    record(actor, lot, "photo_removed", changes={"photo_id": photo.id})
    delete_after_commit(photo.key)
    delete_after_commit(photo.thumb_key)
    lot.photos.remove(photo)
    db.session.delete(photo)
