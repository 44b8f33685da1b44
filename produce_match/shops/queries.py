"""Reading what a county shop and the public feeds show: offices with a jurisdiction, the open
lots of a place (most urgent or newest first), and the offices whose jurisdiction holds a lot."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from produce_match.accounts.models import Organisation, OrgKind
from produce_match.extensions import db
from produce_match.lots import queries as lot_queries
from produce_match.lots.models import Lot


class Order(enum.StrEnum):
    urgent = "urgent"  #: the soonest to spoil first
    newest = "newest"  #: the most recently posted first


@dataclass(frozen=True)
class Place:
    """Where lots are wanted: everywhere, a province, or a county (codes)."""

    province_code: str | None = None
    county_code: str | None = None

    def conditions(self) -> list:
        found = []
        if self.province_code is not None:
            found.append(Lot.province_code == self.province_code)
        if self.county_code is not None:
            found.append(Lot.county_code == self.county_code)
        return found


@dataclass(frozen=True)
class Wanted:
    """Which open lots: a place, a commodity (or a name typed for produce not catalogued)."""

    place: Place = field(default_factory=Place)
    commodity_id: int | None = None
    commodity_name: str | None = None

    def conditions(self) -> list:
        found = self.place.conditions()
        if self.commodity_id is not None:
            found.append(Lot.commodity_id == self.commodity_id)
        if self.commodity_name is not None:
            found.append(Lot.commodity_name == self.commodity_name)
        return found


def jurisdiction(office: Organisation) -> Place:
    """An office's jurisdiction: its county, or its whole province."""
    return Place(office.province_code, office.county_code)


def _offices() -> Select[tuple[Organisation]]:
    return select(Organisation).where(
        Organisation.kind == OrgKind.office, Organisation.province_code.is_not(None)
    )


def office(office_id: int) -> Organisation | None:
    """The office with a jurisdiction that has this id (None for any other organisation)."""
    return db.session.scalar(
        _offices()
        .where(Organisation.id == office_id)
        .options(selectinload(Organisation.province), selectinload(Organisation.county))
    )


def offices() -> list[tuple[Organisation, int]]:
    """Every office with a jurisdiction and the number of open lots in it, provinces' offices
    before counties', by region code."""
    found = list(
        db.session.scalars(
            _offices().options(
                selectinload(Organisation.province), selectinload(Organisation.county)
            )
        )
    )
    sub = lot_queries.on_offer().subquery()
    per_county = Counter()
    per_province = Counter()
    for province, county, n in db.session.execute(
        select(sub.c.province_code, sub.c.county_code, func.count()).group_by(
            sub.c.province_code, sub.c.county_code
        )
    ):
        per_county[county] += n
        per_province[province] += n
    found.sort(key=lambda o: (o.county_code is not None, o.county_code or o.province_code, o.id))
    return [
        (o, per_county[o.county_code] if o.county_code else per_province[o.province_code])
        for o in found
    ]


def _ordered(query: Select[tuple[Lot]], order: Order) -> Select[tuple[Lot]]:
    if order is Order.newest:
        return query.order_by(Lot.created_at.desc(), Lot.id.desc())
    return query.order_by(Lot.spoil_by, Lot.id)


def count_open(wanted: Wanted) -> tuple[int, int]:
    """(number of open lots, grams left in them) of what is wanted."""
    sub = lot_queries.on_offer().where(*wanted.conditions()).subquery()
    count, grams = db.session.execute(
        select(func.count(), func.coalesce(func.sum(sub.c.remaining_g), 0))
    ).one()
    return int(count), int(grams)


def open_lots(
    wanted: Wanted, *, order: Order = Order.urgent, limit: int = 20, offset: int = 0
) -> list[Lot]:
    """Open lots (`lots.queries.on_offer`) of what is wanted, with what cards show of them."""
    query = lot_queries.with_details(lot_queries.on_offer().where(*wanted.conditions()))
    return list(db.session.scalars(_ordered(query, order).limit(limit).offset(offset)))


def chosen_lots(wanted: Wanted, ids: list[int]) -> list[Lot]:
    """Those of `ids` that are open and wanted, most urgent first (a flyer's chosen lots)."""
    if not ids:
        return []
    query = lot_queries.with_details(
        lot_queries.on_offer().where(*wanted.conditions(), Lot.id.in_(ids))
    )
    return list(db.session.scalars(_ordered(query, Order.urgent)))


def offices_covering(lot: Lot) -> list[Organisation]:
    """The offices whose jurisdiction holds the lot's place, the county's first."""
    return list(
        db.session.scalars(
            _offices()
            .where(
                Organisation.province_code == lot.province_code,
                or_(
                    Organisation.county_code.is_(None), Organisation.county_code == lot.county_code
                ),
            )
            .order_by(Organisation.county_code.is_(None), Organisation.id)
        )
    )


def commodity_named(text: str) -> tuple[int | None, str | None] | None:
    """A commodity filter from a code or any name (黑豆, heidou, black_bean), or a name typed for
    produce posted under "other" (榴莲干); None when no lot could ever match it."""
    from produce_match.catalog import commodities

    found = commodities.resolve(text)
    if found is not None:
        return found.id, None
    name = text.strip()
    if name and db.session.scalar(select(Lot.id).where(Lot.commodity_name == name).limit(1)):
        return None, name
    return None
