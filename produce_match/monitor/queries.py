"""Reads for the officials' area: the jurisdiction, the dashboard's figures, lots at risk, deals,
payments and the ledger. Nothing here writes (GET requests must not write).

Every figure is an exact integer (grams, fen) computed from the rows of the jurisdiction; the
definitions are in `Figures` and in the README ("The officials' area").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, overload
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from produce_match import policy
from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.audit.operations import history
from produce_match.catalog import regions
from produce_match.catalog.models import Commodity, Region
from produce_match.dates import DEFAULT_TIMEZONE, BadDate, local_today, parse_date
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import Lot, sellable
from produce_match.matching import queries as matching
from produce_match.matching.rules import LotFacts
from produce_match.monitor.models import (
    SOLVED,
    FollowUp,
    Problem,
    ProblemCategory,
    ProblemStatus,
    ReferencePrice,
)
from produce_match.orders.models import RELEASING, Order, OrderStatus, in_table_order
from produce_match.orders.models import TAKEN as ORDER_TAKEN
from produce_match.payments.models import EntryKind, LedgerEntry
from produce_match.sharing import queries as sharing
from produce_match.trust import reliability
from produce_match.units import cost_fen

#: an order in one of these states has been taken by the cooperative (the lot has a buyer);
#: those that never went anywhere are not counted as "ordered" (both derived beside the table)
TAKEN = in_table_order(ORDER_TAKEN)
NOT_ORDERED = in_table_order(RELEASING)
#: a lot is flagged when it has no taken order this many days before it spoils
FLAG_DAYS = 7
#: how far back the dashboard looks by default
DEFAULT_PERIOD_DAYS = 30


# --- the jurisdiction ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A place the figures are about: everywhere (None, None), a province, or a county."""

    province_code: str | None
    county_code: str | None
    name: str

    def holds(self, province_col: Any, county_col: Any) -> list[Any]:
        """SQL conditions: the row's place lies in this scope."""
        conditions = []
        if self.province_code is not None:
            conditions.append(province_col == self.province_code)
        if self.county_code is not None:
            conditions.append(county_col == self.county_code)
        return conditions


def _region(code: str | None) -> Region | None:
    return db.session.get(Region, code) if code else None


def resolve_scope(user: User, province: str | None = None, county: str | None = None) -> Scope:
    """The scope asked for (codes or names), or the user's whole jurisdiction; 404 outside it.

    Officials see their office's jurisdiction (a province office may narrow to a county);
    administrators see everywhere and may pick any province or county.
    """
    if not policy.overseer(user):
        raise NotFound()
    # codes and names go through the lookups that check the level: a prefecture's or a
    # province's code is not a county, a county's code is not a province
    county_region = None
    if county:
        province_region = regions.find_province(province) if province else None
        matches = regions.find_counties(county, province_region.code if province_region else None)
        if len(matches) != 1:
            raise NotFound()
        county_region = matches[0]
    province_region = None
    if province and county_region is None:
        province_region = regions.find_province(province)
        if province_region is None:
            raise NotFound()
    if county_region is None and province_region is None and not user.is_admin:
        office = user.organisation
        county_region = _region(office.county_code)
        province_region = _region(office.province_code)
    if county_region is not None:
        scope = Scope(county_region.province_code, county_region.code, county_region.name)
    elif province_region is not None:
        scope = Scope(province_region.code, None, province_region.name)
    else:
        scope = Scope(None, None, "")
    if not policy.may_watch(user, scope.province_code, scope.county_code):
        raise NotFound()
    return scope


def county_choices(user: User, scope: Scope) -> list[Region]:
    """The counties a province office (or an administrator in a province) may narrow to."""
    office = user.organisation
    if user.is_admin:
        return regions.counties(scope.province_code) if scope.province_code else []
    if office is not None and office.county_code is None and office.province_code:
        return regions.counties(office.province_code)
    return []


def overseers_of(scope: Scope) -> list[User]:
    """The officials a ledger entry of this place can be assigned to."""
    query = (
        select(User)
        .join(User.organisation)
        .where(User.role == Role.official, User.disabled_at.is_(None))
    )

    query = query.where(Organisation.kind == OrgKind.office)
    if scope.province_code:
        query = query.where(Organisation.province_code == scope.province_code)
    users = list(db.session.scalars(query.order_by(User.id)))
    return [
        u
        for u in users
        if scope.province_code is None
        or policy.official_covers(u, scope.province_code, scope.county_code)
    ]


# --- the period ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Calendar days (inclusive) where the produce is (Asia/Shanghai)."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), ZoneInfo(DEFAULT_TIMEZONE))

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), ZoneInfo(DEFAULT_TIMEZONE))

    def holds(self, column: Any) -> list[Any]:
        return [column >= self.since, column < self.until]

    def contains(self, instant: datetime | None) -> bool:
        if instant is None:
            return False
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=ZoneInfo("UTC"))
        return self.since <= instant < self.until


def parse_period(start: str | None, end: str | None) -> Period:
    """The period from two dates (either may be missing: the last 30 days up to today).

    A date that cannot be read, or one outside the years any input may name, is refused
    (ValidationFailed, in the user's language) rather than guessed.
    """
    errors: dict[str, list[str]] = {}

    def parse(name: str, text: str | None) -> date | None:
        try:
            return parse_date(text)
        except BadDate as exc:
            errors[name] = [str(exc.message)]
            return None

    first, last = parse("from", start), parse("to", end)
    if errors:
        raise ValidationFailed(" ".join(m for ms in errors.values() for m in ms), fields=errors)
    last = last or local_today()
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        first, last = last, first
    return Period(first, last)


# --- reference prices ------------------------------------------------------------------------


class References:
    """Looks up the reference price of a commodity in a county on a date."""

    def __init__(self, scope: Scope) -> None:
        query = select(ReferencePrice).where(
            *scope.holds(ReferencePrice.province_code, ReferencePrice.county_code)
        )
        self._rows: dict[tuple[int, str], list[ReferencePrice]] = defaultdict(list)
        for row in db.session.scalars(query.order_by(ReferencePrice.valid_from)):
            self._rows[(row.commodity_id, row.county_code)].append(row)

    def on(self, commodity_id: int, county_code: str, day: date) -> ReferencePrice | None:
        found = None
        for row in self._rows.get((commodity_id, county_code), []):
            if row.valid_from <= day:
                found = row
        return found

    def for_order(self, order: Order) -> ReferencePrice | None:
        day = order.created_at
        if day.tzinfo is None:
            day = day.replace(tzinfo=ZoneInfo("UTC"))
        local = day.astimezone(ZoneInfo(order.lot.timezone or DEFAULT_TIMEZONE)).date()
        return self.on(order.lot.commodity_id, order.lot.county_code, local)


def premium_percent(price_fen_per_t: int, reference_fen_per_t: int) -> Decimal:
    """How much above (or below) the reference price, in percent with one decimal."""
    ratio = Decimal(price_fen_per_t - reference_fen_per_t) * 100 / Decimal(reference_fen_per_t)
    return ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def reference_prices(scope: Scope) -> list[ReferencePrice]:
    query = (
        select(ReferencePrice)
        .where(*scope.holds(ReferencePrice.province_code, ReferencePrice.county_code))
        .options(selectinload(ReferencePrice.commodity), selectinload(ReferencePrice.county))
        .order_by(
            ReferencePrice.county_code,
            ReferencePrice.commodity_id,
            ReferencePrice.valid_from.desc(),
        )
    )
    return list(db.session.scalars(query))


# --- lots ------------------------------------------------------------------------------------


class OpenLots:
    """The lots of a scope still on offer (`can_sell`: a sellable status, something left, not
    past spoil-by where the lot is) as SQL conditions, exact for every time zone the lots are
    in, so that pages count, sum and paginate them in the database."""

    def __init__(self, scope: Scope) -> None:
        # a day's margin for the lots' own dates (a lot's day may still be yesterday's); the
        # zones found decide each lot's day exactly
        margin = [
            sellable(local_today() - timedelta(days=1)),
            *scope.holds(Lot.province_code, Lot.county_code),
        ]
        zones = db.session.scalars(select(Lot.timezone).where(*margin).distinct()).all()
        self.days: dict[date, list[str]] = defaultdict(list)
        for zone in zones:
            self.days[local_today(zone)].append(zone)
        self.where = [*margin, self.within(None)]

    def within(self, days: int | None) -> Any:
        """SQL: the lot is not past its spoil-by date where it is and, given `days`, spoils at
        most that many days from its today (its spoil-by date itself counts as 0 days)."""
        if not self.days:
            return false()
        return or_(
            *(
                and_(
                    Lot.timezone.in_(sorted(zones)),
                    Lot.spoil_by >= day,
                    *([Lot.spoil_by <= day + timedelta(days=days)] if days is not None else []),
                )
                for day, zones in sorted(self.days.items())
            )
        )

    def query(self, *conditions: Any) -> Any:
        """A query of these lots (and `conditions`), soonest to spoil first, with what the
        pages show of each."""
        return (
            select(Lot)
            .where(*self.where, *conditions)
            .options(
                selectinload(Lot.cooperative),
                selectinload(Lot.county),
                selectinload(Lot.commodity),
            )
            .order_by(Lot.spoil_by, Lot.id)
        )

    def count(self) -> int:
        return int(db.session.scalar(select(func.count()).select_from(Lot).where(*self.where)))

    def page(self, number: int, size: int) -> list[Lot]:
        """Lots `size` to a page (`number` from 1), soonest to spoil first."""
        query = self.query().limit(size).offset((number - 1) * size)
        return list(db.session.scalars(query))


def open_lots(scope: Scope) -> list[Lot]:
    """Lots still on offer (open, not past spoil-by, something left), soonest to spoil first."""
    return list(db.session.scalars(OpenLots(scope).query()))


@dataclass
class AtRisk:
    """An open lot, how long it keeps, whether it is flagged, and its best buyers."""

    lot: Lot
    days_left: int
    taken: bool
    matches: list[matching.Found]
    buyers: int

    @property
    def flagged(self) -> bool:
        return self.days_left <= FLAG_DAYS and not self.taken


def _taken_lot_ids(lot_ids: list[int]) -> set[int]:
    if not lot_ids:
        return set()
    return set(
        db.session.scalars(
            select(Order.lot_id).where(Order.lot_id.in_(lot_ids), Order.status.in_(TAKEN))
        )
    )


def at_risk(scope: Scope, *, best: int = 3) -> AtRiskLots:
    """Every open lot of the scope by days left, with its compatible buyers (the matching rule).

    The rule runs over every lot at once from plain columns; the lots, and their best
    `best` matches, become objects only when read (`AtRiskLots`)."""
    lots = OpenLots(scope)
    facts, days = matching.lot_facts_where(*lots.where)
    taken = set(
        db.session.scalars(
            select(Order.lot_id)
            .where(Order.status.in_(TAKEN), Order.lot_id.in_(select(Lot.id).where(*lots.where)))
            .distinct()
        )
    )
    return AtRiskLots(facts, days, taken, matching.match_all(facts, days), best)


class AtRiskLots(Sequence[AtRisk]):
    """The lots at risk of a scope, soonest to spoil first, as a sequence of `AtRisk`.

    What every lot's line says without its objects is in plain arrays (`rows`); reading an item
    or a slice loads those lots (with their cooperative, county and commodity) and their best
    matches' demands in a few queries, `CHUNK` lots at a time when iterated (the export)."""

    CHUNK = 500

    def __init__(
        self,
        facts: list[LotFacts],
        days: list[date],
        taken: set[int],
        matched: matching.Matched,
        best: int | None,
    ) -> None:
        self.ids = [f.id for f in facts]
        self.days_left = [(f.spoil_by - day).days for f, day in zip(facts, days, strict=True)]
        self.taken = [i in taken for i in self.ids]
        self.buyers = [int(n) for n in matched.buyers.tolist()]
        self._matched = matched
        self._best = best
        self._built: dict[int, AtRisk] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> AtRisk: ...

    @overload
    def __getitem__(self, index: slice) -> list[AtRisk]: ...

    def __getitem__(self, index: int | slice) -> AtRisk | list[AtRisk]:
        if isinstance(index, slice):
            return self._build(range(len(self))[index])
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._build(range(index, index + 1))[0]

    def __iter__(self) -> Iterator[AtRisk]:
        for start in range(0, len(self), self.CHUNK):
            yield from self._build(range(start, min(len(self), start + self.CHUNK)))

    def rows(self) -> list[tuple[int, int, bool, int, tuple[tuple[int, float], ...]]]:
        """(lot id, days left, taken, compatible buyers, (demand id, shown score) of its best
        matches) of every lot, as plain tuples: no lot, demand or match object is built."""
        return [
            (lot_id, days, taken, buyers, self._matched.best(i, self._best))
            for i, (lot_id, days, taken, buyers) in enumerate(
                zip(self.ids, self.days_left, self.taken, self.buyers, strict=True)
            )
        ]

    def _build(self, indices: range) -> list[AtRisk]:
        missing = [i for i in indices if i not in self._built]
        if missing:
            by_id = {
                lot.id: lot
                for lot in db.session.scalars(
                    select(Lot)
                    .where(Lot.id.in_([self.ids[i] for i in missing]))
                    .options(
                        selectinload(Lot.cooperative),
                        selectinload(Lot.county),
                        selectinload(Lot.commodity),
                    )
                )
            }
            lots = [by_id[self.ids[i]] for i in missing]
            found = matching.found(lots, [self._matched.matches(i, self._best) for i in missing])
            for i, lot, matches in zip(missing, lots, found, strict=True):
                self._built[i] = AtRisk(
                    lot, self.days_left[i], self.taken[i], matches, self.buyers[i]
                )
        return [self._built[i] for i in indices]


def at_risk_of(lots: list[Lot], *, best: int = 3) -> list[AtRisk]:
    """These open lots, each with whether it is taken and its compatible buyers."""
    taken = _taken_lot_ids([lot.id for lot in lots])
    found = matching.compatible_with(lots, best=best)
    days = matching.lot_days(lots)  # lot.days_left, its today reckoned once for each zone
    return [
        AtRisk(lot, (lot.spoil_by - day).days, lot.id in taken, found.found[lot.id],
               found.buyers[lot.id])
        for lot, day in zip(lots, days, strict=True)
    ]  # fmt: skip


# --- the dashboard ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of a breakdown (by commodity, by township and village)."""

    name: str
    lots_open: int = 0
    g_open: int = 0
    g_ordered: int = 0
    paid_out_fen: int = 0
    #: the commodity of a by-commodity line: pages name it in their own language
    commodity: Commodity | None = None


@dataclass
class Figures:
    """The dashboard of a scope over a period: exact integers (grams, fen)."""

    scope: Scope
    period: Period
    #: open lots (on offer today) and what is left of them
    lots_open: int = 0
    g_open: int = 0
    #: what is left of open lots spoiling within 3 / 7 days (spoil-by today counts as 0 days)
    g_at_risk_3d: int = 0
    g_at_risk_7d: int = 0
    lots_at_risk_7d: list[AtRisk] = field(default_factory=list)
    #: how many open lots spoil within 7 days (`lots_at_risk_7d` may list only the soonest)
    lots_at_risk_7d_count: int = 0
    #: placed in the period and not rejected, cancelled or expired
    g_ordered: int = 0
    #: paid in the period (the ordered quantity of orders whose payment was confirmed then)
    g_paid: int = 0
    #: loaded in the period (shipped quantity)
    g_dispatched: int = 0
    #: delivered in the period (the quantity the buyer accepted)
    g_delivered: int = 0
    #: payouts to the cooperatives in the period (ledger entries of kind payout)
    paid_out_fen: int = 0
    #: mean days from dispatch to the order's first payout, for payouts in the period
    days_to_payout: Decimal | None = None
    #: the median of the same spans (one order's late payout does not pull it)
    days_to_payout_median: Decimal | None = None
    #: orders loaded in the period, and those of them settled on loading (款到发货，装车结算)
    orders_dispatched: int = 0
    orders_on_loading: int = 0
    #: orders paid in the period that have a reference price: what they fetched and what the
    #: same quantities were worth at the local reference price
    achieved_fen: int = 0
    reference_fen: int = 0
    by_commodity: list[Row] = field(default_factory=list)
    by_place: list[Row] = field(default_factory=list)
    problems_open: int = 0
    problems_closed: int = 0
    problems_by_category: list[tuple[ProblemCategory, int, int]] = field(default_factory=list)
    #: mean days from raising to closing, over the closed entries
    days_to_close: Decimal | None = None
    #: what share links brought in the period, one row per channel
    by_channel: list[sharing.ChannelFigures] = field(default_factory=list)

    @property
    def on_loading_percent(self) -> Decimal | None:
        """The share of orders loaded in the period that were settled on loading, in %."""
        if not self.orders_dispatched:
            return None
        ratio = Decimal(self.orders_on_loading) * 100 / Decimal(self.orders_dispatched)
        return ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def premium_fen(self) -> int:
        return self.achieved_fen - self.reference_fen

    @property
    def premium_percent(self) -> Decimal | None:
        if not self.reference_fen:
            return None
        ratio = Decimal(self.premium_fen) * 100 / Decimal(self.reference_fen)
        return ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def as_json(self) -> dict[str, Any]:
        """The figures for the API: grams and fen as integers, kg and yuan as exact strings."""

        def kg(grams: int) -> str:
            return _exact(Decimal(grams) / 1000, 3)

        return {
            "province": self.scope.province_code,
            "county": self.scope.county_code,
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "lots_open": self.lots_open,
            "kg_open": kg(self.g_open),
            "kg_at_risk_3d": kg(self.g_at_risk_3d),
            "kg_at_risk_7d": kg(self.g_at_risk_7d),
            "kg_ordered": kg(self.g_ordered),
            "kg_paid": kg(self.g_paid),
            "kg_dispatched": kg(self.g_dispatched),
            "kg_delivered": kg(self.g_delivered),
            "paid_out_fen": self.paid_out_fen,
            "paid_out_yuan": f"{self.paid_out_fen // 100}.{self.paid_out_fen % 100:02d}",
            "days_dispatch_to_payout": _opt(self.days_to_payout),
            "days_dispatch_to_payout_median": _opt(self.days_to_payout_median),
            "orders_dispatched": self.orders_dispatched,
            "orders_settled_on_loading": self.orders_on_loading,
            "settled_on_loading_percent": _opt(self.on_loading_percent),
            "achieved_fen": self.achieved_fen,
            "reference_fen": self.reference_fen,
            "premium_fen": self.premium_fen,
            "premium_percent": _opt(self.premium_percent),
            "problems_open": self.problems_open,
            "problems_closed": self.problems_closed,
            "days_to_close": _opt(self.days_to_close),
            "at_risk": [
                {
                    "lot_id": r.lot.id,
                    "title": r.lot.title,
                    "days_left": r.days_left,
                    "kg_left": kg(r.lot.remaining_g),
                    "compatible_buyers": r.buyers,
                    "flagged": r.flagged,
                }
                for r in self.lots_at_risk_7d
            ],
            "by_commodity": [_row_json(r) for r in self.by_commodity],
            "by_place": [_row_json(r) for r in self.by_place],
            "by_channel": [r.as_json() for r in self.by_channel],
        }


def _exact(value: Decimal, places: int) -> str:
    text = format(value.quantize(Decimal(1).scaleb(-places)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "name": row.name,
        "lots_open": row.lots_open,
        "kg_open": _exact(Decimal(row.g_open) / 1000, 3),
        "kg_ordered": _exact(Decimal(row.g_ordered) / 1000, 3),
        "paid_out_fen": row.paid_out_fen,
    }


def _mean_days(spans: list[timedelta]) -> Decimal | None:
    if not spans:
        return None
    seconds = sum(int(s.total_seconds()) for s in spans)
    return (Decimal(seconds) / len(spans) / 86400).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _median_days(spans: list[timedelta]) -> Decimal | None:
    if not spans:
        return None
    seconds = sorted(int(s.total_seconds()) for s in spans)
    middle = len(seconds) // 2
    if len(seconds) % 2:
        value = Decimal(seconds[middle])
    else:
        value = Decimal(seconds[middle - 1] + seconds[middle]) / 2
    return (value / 86400).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=ZoneInfo("UTC"))


def place_name(thing: Any) -> str:
    """'梁家子镇 道亭村' (township and village), or the county's name."""
    parts = [p for p in (thing.township, thing.village) if p]
    return " ".join(parts) if parts else (thing.county.name if thing.county else "")


def orders_in(scope: Scope) -> Any:
    """A query of the orders of the scope's lots."""
    return (
        select(Order)
        .join(Order.lot)
        .where(*scope.holds(Lot.province_code, Lot.county_code))
        .options(
            selectinload(Order.lot).selectinload(Lot.commodity),
            selectinload(Order.lot).selectinload(Lot.county),
            selectinload(Order.buyer_org),
            selectinload(Order.cooperative_org),
        )
    )


def payout_entries(scope: Scope, period: Period) -> list[tuple[LedgerEntry, Order]]:
    query = (
        select(LedgerEntry, Order)
        .join(Order, Order.id == LedgerEntry.order_id)
        .join(Lot, Lot.id == Order.lot_id)
        .where(
            LedgerEntry.kind == EntryKind.payout,
            *period.holds(LedgerEntry.created_at),
            *scope.holds(Lot.province_code, Lot.county_code),
        )
        .order_by(LedgerEntry.id)
    )
    return [(e, o) for e, o in db.session.execute(query)]


def problems_in(scope: Scope) -> Any:
    return select(Problem).where(*scope.holds(Problem.province_code, Problem.county_code))


def figures(scope: Scope, period: Period, *, at_risk_limit: int | None = None) -> Figures:
    """Every figure of the dashboard for `scope` over `period`; the open lots' figures are
    counted and summed in the database.

    `lots_at_risk_7d` lists the lots spoiling within 7 days with their compatible buyers: all
    of them, or the soonest `at_risk_limit` (0: none; `lots_at_risk_7d_count` says how many).
    """
    out = Figures(scope=scope, period=period)
    by_commodity: dict[str, Row] = {}
    by_place: dict[str, Row] = {}

    def rows_for(lot: Lot) -> tuple[Row, Row]:
        c = by_commodity.setdefault(
            lot.commodity.name_zh, Row(lot.commodity.name_zh, commodity=lot.commodity)
        )
        name = place_name(lot)
        return c, by_place.setdefault(name, Row(name))

    lots = OpenLots(scope)
    g = Lot.remaining_g
    totals = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(g), 0),
            func.coalesce(func.sum(case((lots.within(3), g), else_=0)), 0),
            func.coalesce(func.sum(case((lots.within(7), g), else_=0)), 0),
            func.coalesce(func.sum(case((lots.within(7), 1), else_=0)), 0),
        ).where(*lots.where)
    ).one()
    out.lots_open, out.g_open, out.g_at_risk_3d, out.g_at_risk_7d = map(int, totals[:4])
    out.lots_at_risk_7d_count = int(totals[4])
    commodity_rows = db.session.execute(
        select(Lot.commodity_id, func.count(), func.sum(g))
        .where(*lots.where)
        .group_by(Lot.commodity_id)
        .order_by(Lot.commodity_id)
    ).all()
    commodities = {
        c.id: c
        for c in db.session.scalars(
            select(Commodity).where(Commodity.id.in_([r[0] for r in commodity_rows]))
        )
    }
    for commodity_id, n, grams in commodity_rows:
        c = commodities[commodity_id]
        row = by_commodity.setdefault(c.name_zh, Row(c.name_zh, commodity=c))
        row.lots_open += int(n)
        row.g_open += int(grams)
    place_rows = db.session.execute(
        select(Lot.township, Lot.village, Lot.county_code, func.count(), func.sum(g))
        .where(*lots.where)
        .group_by(Lot.township, Lot.village, Lot.county_code)
    ).all()
    county_names = dict(
        db.session.execute(
            select(Region.code, Region.name).where(
                Region.code.in_({r.county_code for r in place_rows if not (r[0] or r[1])})
            )
        ).all()
    )
    for township, village, county_code, n, grams in place_rows:
        parts = [p for p in (township, village) if p]
        name = " ".join(parts) if parts else county_names.get(county_code, "")
        row = by_place.setdefault(name, Row(name))
        row.lots_open += int(n)
        row.g_open += int(grams)
    # the buyers of the lots listed only (the soonest `at_risk_limit`): matching every open lot
    # is the at-risk page's work
    if at_risk_limit != 0:
        soon = lots.query(lots.within(7))
        if at_risk_limit is not None:
            soon = soon.limit(at_risk_limit)
        out.lots_at_risk_7d = at_risk_of(list(db.session.scalars(soon)), best=0)

    refs = References(scope)
    for order in db.session.scalars(orders_in(scope)):
        if period.contains(order.created_at) and order.status not in NOT_ORDERED:
            out.g_ordered += order.quantity_g
            for row in rows_for(order.lot):
                row.g_ordered += order.quantity_g
        if period.contains(order.paid_at):
            out.g_paid += order.quantity_g
            ref = refs.for_order(order)
            if ref is not None:
                out.achieved_fen += order.amount_fen
                out.reference_fen += cost_fen(order.quantity_g, ref.price_fen_per_t)
        if period.contains(order.dispatched_at) and order.shipped_g:
            out.g_dispatched += order.shipped_g
            out.orders_dispatched += 1
            out.orders_on_loading += order.on_loading
        if period.contains(order.delivered_at) and order.accepted_g is not None:
            out.g_delivered += order.accepted_g

    spans: list[timedelta] = []
    first_payout: set[int] = set()
    for entry, order in payout_entries(scope, period):
        out.paid_out_fen += entry.amount_fen
        for row in rows_for(order.lot):
            row.paid_out_fen += entry.amount_fen
        if order.id not in first_payout and order.dispatched_at is not None:
            first_payout.add(order.id)
            spans.append(_aware(entry.created_at) - _aware(order.dispatched_at))
    out.days_to_payout = _mean_days(spans)
    out.days_to_payout_median = _median_days(spans)

    counts: dict[ProblemCategory, list[int]] = {c: [0, 0] for c in ProblemCategory}
    closing: list[timedelta] = []
    for problem in db.session.scalars(problems_in(scope)):
        closed = problem.status in SOLVED
        counts[problem.category][1 if closed else 0] += 1
        if closed:
            out.problems_closed += 1
            closing.append(_aware(problem.closed_at) - _aware(problem.raised_at))
        else:
            out.problems_open += 1
    out.problems_by_category = [(c, o, k) for c, (o, k) in counts.items()]
    out.days_to_close = _mean_days(closing)
    out.by_commodity = sorted(by_commodity.values(), key=lambda r: (-r.g_open, r.name))
    out.by_place = sorted(by_place.values(), key=lambda r: (-r.g_open, r.name))
    out.by_channel = sharing.for_place(
        scope.province_code, scope.county_code, period.since, period.until
    )
    return out


# --- lists (pages and exports) ---------------------------------------------------------------


@dataclass(frozen=True)
class DealFilters:
    status: str | None = None
    commodity_id: int | None = None
    place: str | None = None  # township or village, as written
    period: Period | None = None


def deals(scope: Scope, filters: DealFilters) -> list[Order]:
    """The orders of the scope's lots, newest first, filtered."""
    query = orders_in(scope)
    if filters.status and filters.status in OrderStatus.__members__:
        query = query.where(Order.status == OrderStatus(filters.status))
    if filters.commodity_id:
        query = query.where(Lot.commodity_id == filters.commodity_id)
    if filters.place:
        text = f"%{filters.place.strip()}%"
        query = query.where(Lot.township.like(text) | Lot.village.like(text))
    if filters.period is not None:
        query = query.where(*filters.period.holds(Order.created_at))
    return list(db.session.scalars(query.order_by(Order.created_at.desc(), Order.id.desc())))


def ledger_of(order_ids: list[int]) -> dict[int, list[LedgerEntry]]:
    if not order_ids:
        return {}
    out: dict[int, list[LedgerEntry]] = defaultdict(list)
    query = select(LedgerEntry).where(LedgerEntry.order_id.in_(order_ids)).order_by(LedgerEntry.id)
    for entry in db.session.scalars(query):
        out[entry.order_id].append(entry)
    return out


def payments(scope: Scope, period: Period) -> list[tuple[LedgerEntry, Order]]:
    """Every ledger entry (charges, refunds, payouts) of the scope's orders in the period."""
    query = (
        select(LedgerEntry, Order)
        .join(Order, Order.id == LedgerEntry.order_id)
        .join(Lot, Lot.id == Order.lot_id)
        .where(
            *period.holds(LedgerEntry.created_at),
            *scope.holds(Lot.province_code, Lot.county_code),
        )
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    )
    return [(e, o) for e, o in db.session.execute(query)]


def problems(scope: Scope, status: str | None = None, category: str | None = None) -> list[Problem]:
    query = problems_in(scope).options(
        selectinload(Problem.cooperative),
        selectinload(Problem.assignee),
        selectinload(Problem.lot),  # the export writes each entry's lot title and follow-ups
        selectinload(Problem.follow_ups).selectinload(FollowUp.author),
    )
    if status in ProblemStatus.__members__:
        query = query.where(Problem.status == ProblemStatus(status))
    if category in ProblemCategory.__members__:
        query = query.where(Problem.category == ProblemCategory(category))
    return list(db.session.scalars(query.order_by(Problem.raised_at.desc(), Problem.id.desc())))


@dataclass(frozen=True)
class LedgerStep:
    """One step of a ledger entry's history, with the words that went with it."""

    at: datetime
    actor_id: int | None
    #: raised, assigned, followed_up, closed, reopened
    action: str
    from_state: str | None
    to_state: str | None
    #: the outcome of a closing, the reason of a reopening, the note of a follow-up
    text: str | None
    #: a closing whose outcome a later reopening set aside
    superseded: bool = False


def ledger_history(problem: Problem) -> list[LedgerStep]:
    """The entry's history, oldest first, from its audit trail (the page and the API)."""
    notes = {f.id: f.note for f in problem.follow_ups}
    events = history(problem)
    last_reopening = max((i for i, e in enumerate(events) if e.action == "reopened"), default=-1)
    steps = []
    for i, e in enumerate(events):
        changes = e.changes or {}
        text = {
            "closed": changes.get("outcome"),
            "reopened": changes.get("reason"),
            "followed_up": notes.get(changes.get("follow_up_id")),
        }.get(e.action)
        steps.append(
            LedgerStep(
                at=e.at,
                actor_id=e.actor_id,
                action=e.action,
                from_state=e.from_state,
                to_state=e.to_state,
                text=text,
                superseded=e.action == "closed" and i < last_reopening,
            )
        )
    return steps


def problems_of(org_id: int) -> list[Problem]:
    """A cooperative's own ledger entries."""
    query = select(Problem).where(Problem.cooperative_id == org_id)
    return list(db.session.scalars(query.order_by(Problem.raised_at.desc(), Problem.id.desc())))


# --- reliability of the organisations of a place ---------------------------------------------

#: the most organisations the officials' reliability page lists
RELIABILITY_LIMIT = 500
#: how the page may sort them: by name, the highest completion rate first, the lowest first
RELIABILITY_SORTS = ("name", "best", "worst")


@dataclass(frozen=True)
class OrgReliability:
    """An organisation of the place with the figures of the side it trades on."""

    org: Organisation
    #: True for a cooperative (its seller figures), False for a buyer (its buyer figures)
    selling: bool
    side: reliability.Side


def reliability_of_place(scope: Scope, sort: str = "name") -> list[OrgReliability]:
    """The cooperatives and buyers registered in the scope, with their reliability figures
    (computed for all of them at once), sorted by name or by completion rate (those with too
    few orders for a rate come last)."""
    orgs = list(
        db.session.scalars(
            select(Organisation)
            .where(
                Organisation.kind.in_([OrgKind.cooperative, OrgKind.buyer]),
                *scope.holds(Organisation.province_code, Organisation.county_code),
            )
            .order_by(Organisation.name, Organisation.id)
            .limit(RELIABILITY_LIMIT)
        )
    )
    figures = reliability.figures_of(o.id for o in orgs)
    rows = []
    for org in orgs:
        selling = org.kind is OrgKind.cooperative
        fig = figures[org.id]
        rows.append(OrgReliability(org, selling, fig.seller if selling else fig.buyer))
    if sort in ("best", "worst"):
        sign = -1 if sort == "best" else 1
        rows.sort(
            key=lambda r: (
                r.side.completion_rate is None,
                sign * (r.side.completion_rate or 0.0),
                r.org.name,
            )
        )
    return rows
