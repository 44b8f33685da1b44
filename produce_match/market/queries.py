"""Prices for everyone (行情): per commodity and place, the reference price in force and the
weekly median price actually paid on the platform.

Places: a county, a province, or nationwide (neither). Reference prices are recorded by
officials per county (monitor.ReferencePrice); a province's reference is the median of its
counties' references in force, the nation's the median of every county's. A county without
its own reference falls back to its province's.

Weeks are ISO weeks (Monday to Sunday) of China dates. A week's median is shown only when it
has at least `MIN_ORDERS` orders, so that no single buyer's price can be read off the page.
Medians of an even count are the lower of the two middle prices' mean, rounded down to the
fen (exact integers, the same on SQLite and PostgreSQL: computed here, not in SQL).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from produce_match.catalog.models import Commodity, Region, RegionLevel
from produce_match.dates import DEFAULT_TIMEZONE, local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.monitor.models import ReferencePrice
from produce_match.orders.models import TAKEN, Order

#: a week's median is shown only from this many paid orders (fewer: "too few orders")
MIN_ORDERS = 3
#: weeks shown by default (the current one and the 11 before it)
DEFAULT_WEEKS = 12
#: reference price changes listed on the page
HISTORY_ROWS = 20


class Source(enum.StrEnum):
    """Where the reference price in force comes from."""

    county = "county"  #: the county's own reference price
    province = "province"  #: the median of the province's counties' references
    national = "national"  #: the median of every county's reference


@dataclass(frozen=True)
class Place:
    """A county, a province, or nationwide (both None)."""

    province: Region | None = None
    county: Region | None = None

    @property
    def province_code(self) -> str | None:
        return self.province.code if self.province else None

    @property
    def county_code(self) -> str | None:
        return self.county.code if self.county else None


@dataclass(frozen=True)
class Reference:
    """The reference price in force on a day, and where it comes from."""

    price_fen_per_t: int
    source: Source
    #: the day the (latest of the) price(s) took effect
    valid_from: date
    #: how many county prices the median is of (1 for a county's own)
    counties: int = 1


@dataclass
class Week:
    """One ISO week of paid orders."""

    year: int
    week: int
    monday: date
    orders: int = 0
    grams: int = 0
    #: None when there were fewer than MIN_ORDERS orders (or none)
    median_fen_per_t: int | None = None
    #: the reference in force on the week's last day (or today, for the current week)
    reference: Reference | None = None

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def too_few(self) -> bool:
        return 0 < self.orders < MIN_ORDERS


@dataclass
class Market:
    commodity: Commodity
    place: Place
    reference: Reference | None
    weeks: list[Week] = field(default_factory=list)
    history: list[ReferencePrice] = field(default_factory=list)


def median(values: list[int]) -> int:
    """The median of whole numbers, rounded down to a whole number (exact)."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


def place_of(province_code: str | None, county_code: str | None) -> Place:
    """The place named by codes (unknown codes are ignored; a county fixes its province)."""
    county = db.session.get(Region, county_code) if county_code else None
    if county is not None and county.level is not RegionLevel.county:
        county = None
    province_code = county.province_code if county is not None else province_code
    province = db.session.get(Region, province_code) if province_code else None
    if province is not None and province.level is not RegionLevel.province:
        province = None
    return Place(province=province, county=county)


# --- reference prices -----------------------------------------------------------------------


def _in_force(commodity_id: int, day: date, *where: object) -> list[ReferencePrice]:
    """Per county (of the conditions), the reference price in force on `day`."""
    rows = db.session.scalars(
        select(ReferencePrice)
        .where(
            ReferencePrice.commodity_id == commodity_id,
            ReferencePrice.valid_from <= day,
            *where,
        )
        .order_by(ReferencePrice.county_code, ReferencePrice.valid_from.desc())
    )
    latest: dict[str, ReferencePrice] = {}
    for row in rows:
        latest.setdefault(row.county_code, row)
    return list(latest.values())


def _combined(rows: list[ReferencePrice], source: Source) -> Reference | None:
    if not rows:
        return None
    return Reference(
        price_fen_per_t=median([r.price_fen_per_t for r in rows]),
        source=source,
        valid_from=max(r.valid_from for r in rows),
        counties=len(rows),
    )


def reference_in_force(
    commodity_id: int,
    province_code: str | None,
    county_code: str | None,
    day: date | None = None,
) -> Reference | None:
    """The reference price in force on `day` (China today): the county's own, else its
    province's (the median of its counties'), else for nationwide the median of every county's.
    A county or province without any gets none (no national fallback: too far to compare)."""
    day = day or local_today()
    if county_code:
        own = _in_force(commodity_id, day, ReferencePrice.county_code == county_code)
        if own:
            return _combined(own, Source.county)
        if province_code is None:
            county = db.session.get(Region, county_code)
            province_code = county.province_code if county is not None else None
    if province_code:
        rows = _in_force(commodity_id, day, ReferencePrice.province_code == province_code)
        return _combined(rows, Source.province)
    if county_code:
        return None
    return _combined(_in_force(commodity_id, day), Source.national)


def reference_history(commodity_id: int, place: Place) -> list[ReferencePrice]:
    """The reference prices recorded for the place, newest first (at most HISTORY_ROWS)."""
    query = (
        select(ReferencePrice)
        .where(ReferencePrice.commodity_id == commodity_id)
        .options(selectinload(ReferencePrice.county))
        .order_by(ReferencePrice.valid_from.desc(), ReferencePrice.county_code)
        .limit(HISTORY_ROWS)
    )
    if place.county is not None:
        query = query.where(ReferencePrice.county_code == place.county.code)
    elif place.province is not None:
        query = query.where(ReferencePrice.province_code == place.province.code)
    return list(db.session.scalars(query))


# --- prices paid on the platform ------------------------------------------------------------


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _start_of(day: date) -> datetime:
    """Midnight of a China date, as an instant in UTC."""
    local = datetime.combine(day, time.min, tzinfo=ZoneInfo(DEFAULT_TIMEZONE))
    return local.astimezone(UTC)


def _china_date(instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(DEFAULT_TIMEZONE)).date()


def weekly_medians(
    commodity_id: int,
    place: Place,
    *,
    weeks: int = DEFAULT_WEEKS,
    today: date | None = None,
) -> list[Week]:
    """The last `weeks` ISO weeks (China dates), oldest first: per week the paid orders of
    lots of the commodity in the place that were taken (orders.models TAKEN), their count,
    tonnage and median price per tonne (None below MIN_ORDERS orders)."""
    today = today or local_today()
    first = _monday(today) - timedelta(weeks=weeks - 1)
    query = (
        select(Order.paid_at, Order.price_fen_per_t, Order.quantity_g)
        .join(Lot, Lot.id == Order.lot_id)
        .where(
            Lot.commodity_id == commodity_id,
            Order.paid_at.is_not(None),
            Order.paid_at >= _start_of(first),
            Order.paid_at < _start_of(_monday(today) + timedelta(weeks=1)),
            Order.status.in_(TAKEN),
        )
    )
    if place.county is not None:
        query = query.where(Lot.county_code == place.county.code)
    elif place.province is not None:
        query = query.where(Lot.province_code == place.province.code)
    prices: dict[date, list[int]] = defaultdict(list)
    grams: dict[date, int] = defaultdict(int)
    for paid_at, price, quantity in db.session.execute(query):
        monday = _monday(_china_date(paid_at))
        prices[monday].append(price)
        grams[monday] += quantity
    out = []
    for i in range(weeks):
        monday = first + timedelta(weeks=i)
        year, number, _day = monday.isocalendar()
        paid = prices.get(monday, [])
        out.append(
            Week(
                year=year,
                week=number,
                monday=monday,
                orders=len(paid),
                grams=grams.get(monday, 0),
                median_fen_per_t=median(paid) if len(paid) >= MIN_ORDERS else None,
                reference=reference_in_force(
                    commodity_id,
                    place.province_code,
                    place.county_code,
                    min(monday + timedelta(days=6), today),
                ),
            )
        )
    return out


def market(
    commodity: Commodity, place: Place, *, weeks: int = DEFAULT_WEEKS, today: date | None = None
) -> Market:
    """Everything the page and the API show for a commodity and a place."""
    return Market(
        commodity=commodity,
        place=place,
        reference=reference_in_force(commodity.id, place.province_code, place.county_code, today),
        weeks=weekly_medians(commodity.id, place, weeks=weeks, today=today),
        history=reference_history(commodity.id, place),
    )
