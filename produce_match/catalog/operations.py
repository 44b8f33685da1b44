"""The only code that writes catalogue rows."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from produce_match.audit.operations import Actor, diff, record
from produce_match.catalog.models import Category, Commodity, CommodityName, Region, RegionLevel
from produce_match.catalog.names import normalise, pinyin_key
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.units import MassUnit

DATA_DIR = Path(__file__).with_name("data")


def load_regions(path: Path | None = None) -> int:
    """Insert or update every region from the CSV shipped in the repo; returns the row count."""
    path = path or DATA_DIR / "regions.csv"
    existing = {r.code: r for r in db.session.scalars(db.select(Region))}
    count = 0
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            values = {
                "name": row["name"],
                "short_name": row["short_name"] or row["name"],
                "level": RegionLevel(row["level"]),
                "parent_code": row["parent_code"] or None,
                "province_code": row["code"][:2] + "0000",
                "lat": float(row["lat"]),
                "lng": float(row["lng"]),
            }
            region = existing.get(row["code"])
            if region is None:
                db.session.add(Region(code=row["code"], **values))
            else:
                for key, value in values.items():
                    setattr(region, key, value)
            count += 1
    db.session.flush()
    return count


# --- commodities ------------------------------------------------------------------------


@dataclass
class CommodityData:
    code: str
    name_zh: str
    name_en: str
    pinyin: str
    category: str
    shelf_life_days: int
    unit: str
    traditional: str | None = None
    synonyms_zh: list[str] = field(default_factory=list)
    synonyms_en: list[str] = field(default_factory=list)
    active: bool = True


def _name_entries(c: CommodityData) -> list[tuple[str, str, str]]:
    """(key, name, kind) for every name of a commodity, most specific first."""
    entries = [(normalise(c.code), c.code, "code"), (normalise(c.name_zh), c.name_zh, "zh")]
    if c.traditional:
        entries.append((normalise(c.traditional), c.traditional, "traditional"))
    entries += [(normalise(n), n, "synonym") for n in c.synonyms_zh]
    entries.append((normalise(c.name_en), c.name_en, "en"))
    entries += [(normalise(n), n, "en") for n in c.synonyms_en]
    entries.append((normalise(c.pinyin), c.pinyin, "pinyin"))
    entries += [(pinyin_key(n), pinyin_key(n), "pinyin") for n in c.synonyms_zh]
    seen: set[str] = set()
    unique = []
    for key, name, kind in entries:
        if key and key not in seen:
            seen.add(key)
            unique.append((key, name, kind))
    return unique


def _validate(c: CommodityData, own_id: int | None) -> None:
    errors: dict[str, list[str]] = {}
    for name in ("code", "name_zh", "name_en", "pinyin"):
        if not str(getattr(c, name) or "").strip():
            errors[name] = [_("This field is required.")]
    if c.category not in Category.__members__:
        errors["category"] = [_("Choose a category.")]
    if c.unit not in MassUnit.__members__:
        errors["unit"] = [_("Choose a unit.")]
    if not 1 <= int(c.shelf_life_days or 0) <= 3650:
        errors["shelf_life_days"] = [_("Between 1 and 3650 days.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    for key, name, kind in _name_entries(c):
        other = db.session.scalar(select(CommodityName).where(CommodityName.key == key))
        if other is not None and other.commodity_id != own_id and kind != "pinyin":
            raise ValidationFailed(
                _("Please correct the marked fields."),
                fields={
                    "synonyms_zh" if kind == "synonym" else "name_zh": [
                        _(
                            "%(name)s already names %(other)s.",
                            name=name,
                            other=other.commodity.name_zh,
                        )
                    ]
                },
            )


def _rebuild_names(commodity: Commodity, data: CommodityData) -> None:
    commodity.names.clear()
    db.session.flush()
    taken = {k for (k,) in db.session.execute(select(CommodityName.key))}
    for key, name, kind in _name_entries(data):
        if key in taken:  # a pinyin shared with another commodity is ambiguous: not a name
            continue
        commodity.names.append(CommodityName(key=key, name=name[:120], kind=kind))
        taken.add(key)


def _values(data: CommodityData) -> dict[str, Any]:
    return {
        "code": data.code.strip(),
        "name_zh": data.name_zh.strip(),
        "name_en": data.name_en.strip(),
        "pinyin": data.pinyin.strip().lower(),
        "traditional": (data.traditional or "").strip() or None,
        "synonyms_zh": [s.strip() for s in data.synonyms_zh if s.strip()],
        "synonyms_en": [s.strip() for s in data.synonyms_en if s.strip()],
        "category": Category(data.category),
        "shelf_life_days": int(data.shelf_life_days),
        "unit": MassUnit(data.unit),
        "active": bool(data.active),
    }


def save_commodity(
    actor: Actor | None, commodity: Commodity | None, data: CommodityData
) -> Commodity:
    """Create or edit a catalogue entry; every one of its names must be free."""
    _validate(data, commodity.id if commodity else None)
    values = _values(data)
    if commodity is None:
        commodity = Commodity(**values)
        db.session.add(commodity)
        db.session.flush()
        record(actor, commodity, "created", changes={"code": commodity.code})
    else:
        changes = diff(commodity, values)
        if changes:
            record(actor, commodity, "edited", changes=changes)
    _rebuild_names(commodity, data)
    db.session.flush()
    return commodity


def load_commodities(path: Path | None = None, *, update: bool = False) -> int:
    """Load the catalogue shipped in the repo: new codes are added, existing ones kept
    (or overwritten with `update`, discarding administrators' edits)."""
    path = path or DATA_DIR / "commodities.json"
    existing = {c.code: c for c in db.session.scalars(select(Commodity))}
    count = 0
    for row in json.loads(path.read_text(encoding="utf-8")):
        data = CommodityData(**row)
        current = existing.get(data.code)
        if current is not None and not update:
            continue
        if current is None:
            commodity = Commodity(**_values(data))
            db.session.add(commodity)
        else:
            commodity = current
            for key, value in _values(data).items():
                setattr(commodity, key, value)
        db.session.flush()
        _rebuild_names(commodity, data)
        count += 1
    db.session.flush()
    return count


def data_of(commodity: Commodity) -> CommodityData:
    """The editable fields of a commodity."""
    return CommodityData(
        code=commodity.code,
        name_zh=commodity.name_zh,
        name_en=commodity.name_en,
        pinyin=commodity.pinyin,
        category=commodity.category.value,
        shelf_life_days=commodity.shelf_life_days,
        unit=commodity.unit.value,
        traditional=commodity.traditional,
        synonyms_zh=list(commodity.synonyms_zh or []),
        synonyms_en=list(commodity.synonyms_en or []),
        active=commodity.active,
    )
