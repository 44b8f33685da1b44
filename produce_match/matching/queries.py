"""Reading what the rule needs from the database, and the ranked matches both ways."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import aliased, selectinload

from produce_match import cache, policy
from produce_match.accounts.models import Organisation
from produce_match.catalog.models import Region
from produce_match.dates import local_today
from produce_match.demands.models import MATCHED, Demand
from produce_match.extensions import db
from produce_match.lots.models import SELLABLE, Lot, can_sell, sellable
from produce_match.matching import vector
from produce_match.matching.rules import DemandFacts, LotFacts, Match, rank, undisclosed
from produce_match.trust import reliability

if TYPE_CHECKING:
    from produce_match.accounts.models import User


#: what the active demands' facts are made of (`kept_demands`): a commit writing one of these
#: moves the generation on
cache.watch("demands", "organisations", "orders", "regions")

#: what the rule and the pages read of a found demand: its buyer and its delivery place (the
#: pages show `Demand.place`, its province and county: one query for all, not one per province)
DEMAND_LOADS = (
    selectinload(Demand.buyer),
    selectinload(Demand.county),
    selectinload(Demand.province),
)


@dataclass(frozen=True)
class Found:
    """A ranked match with the lot and the demand it is about."""

    match: Match
    lot: Lot
    demand: Demand


def as_seen_by(user: User | None, demand: Demand, match: Match) -> Match:
    """`match` as `user` may be told it: with no figure of the buyer's maximum price unless the
    user may read the demand (its buyer, officials of its delivery place, administrators).

    Every page and API answer that shows a match's score to someone other than the demand's
    reader (a lot's cooperative, officials of the lot's place) goes through here.
    """
    if policy.can(user, policy.VIEW, demand):
        return match
    return replace(match, score=undisclosed(match.score))


def seen_by(user: User | None, found: list[Found]) -> list[Found]:
    """Ranked matches as `user` may be told them (`as_seen_by`), in the same order."""
    return [replace(f, match=as_seen_by(user, f.demand, f.match)) for f in found]


def buyer_records(org_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """{buyer organisation: (completed orders, finished orders) as a buyer} (trust.reliability:
    the same counts as its figures), in a few queries."""
    return {org: sides[1] for org, sides in reliability.records(org_ids).items() if sides[1][1]}


def seller_records(org_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """{cooperative: (completed orders, finished orders) as a seller}, in a few queries."""
    return {org: sides[0] for org, sides in reliability.records(org_ids).items() if sides[0][1]}


def lot_facts(
    lot: Lot, today: date | None = None, records: dict[int, tuple[int, int]] | None = None
) -> LotFacts:
    """What the rule needs of `lot` (`today`: the lot's `today()`, if the caller has it;
    `records`: `seller_records` of many lots' cooperatives, read once by a caller with many)."""
    if records is None:
        records = seller_records([lot.cooperative_id])
    done, finished = records.get(lot.cooperative_id, (0, 0))
    return LotFacts(
        id=lot.id,
        commodity_id=lot.commodity_id,
        grade=lot.grade,
        price_fen_per_t=lot.price_fen_per_t,
        remaining_g=lot.remaining_g,
        spoil_by=lot.spoil_by,
        available_from=lot.available_from,
        lat=lot.county.lat,
        lng=lot.county.lng,
        open=can_sell(lot, today=today),
        min_order_g=lot.min_order_g,
        verified=lot.cooperative.verified,
        org_id=lot.cooperative_id,
        orders_finished=finished,
        orders_completed=done,
    )


def demand_facts(demand: Demand, records: dict[int, tuple[int, int]]) -> DemandFacts:
    done, finished = records.get(demand.buyer_org_id, (0, 0))
    return DemandFacts(
        id=demand.id,
        commodity_id=demand.commodity_id,
        grades=tuple(demand.grades or ()),
        min_g=demand.min_quantity_g,
        max_g=demand.max_quantity_g,
        max_price_fen_per_t=demand.max_price_fen_per_t,
        needed_by=demand.needed_by,
        lat=demand.county.lat,
        lng=demand.county.lng,
        max_distance_km=demand.max_distance_km,
        active=demand.status in MATCHED,
        verified=demand.buyer.verified,
        orders_finished=finished,
        orders_completed=done,
        org_id=demand.buyer_org_id,
    )


def candidate_demands(lot: Lot) -> list[Demand]:
    """Active demands that could take this lot (the rule decides; this only narrows)."""
    return list(
        db.session.scalars(
            select(Demand)
            .where(
                Demand.status.in_(sorted(MATCHED)),
                Demand.commodity_id == lot.commodity_id,
                Demand.max_price_fen_per_t >= lot.price_fen_per_t,
                Demand.min_quantity_g <= lot.remaining_g,
            )
            .options(*DEMAND_LOADS)
            .order_by(Demand.id)
        )
    )


def candidate_lots(demand: Demand, today: date | None = None) -> list[Lot]:
    """Open lots that could serve this demand (the rule decides; this only narrows)."""
    today = today or local_today()
    return list(
        db.session.scalars(
            select(Lot)
            .where(
                sellable(today, at_least_g=demand.min_quantity_g),
                Lot.commodity_id == demand.commodity_id,
                Lot.price_fen_per_t <= demand.max_price_fen_per_t,
            )
            .options(selectinload(Lot.cooperative), selectinload(Lot.county))
            .order_by(Lot.id)
        )
    )


def matches_for_lot(lot: Lot, *, limit: int | None = 20) -> list[Found]:
    """The demands this lot fits, best first."""
    demands = candidate_demands(lot)
    records = buyer_records(d.buyer_org_id for d in demands)
    by_id = {d.id: d for d in demands}
    facts = lot_facts(lot)
    ranked = rank(((facts, demand_facts(d, records)) for d in demands), lot.today(), limit=limit)
    return [Found(m, lot, by_id[m.demand.id]) for m in ranked]


def matches_for_lots(lots: list[Lot], *, limit: int | None = 20) -> dict[int, list[Found]]:
    """The demands each lot fits, best first, by lot id: a few queries for any number of lots
    (pages that list many lots, such as the officials' lots at risk)."""
    return compatible_with(lots, best=limit).found


@dataclass(frozen=True)
class Compatible:
    """What many lots fit: each lot's best matches and its number of compatible buyers."""

    #: {lot id: its best matches, best first}
    found: dict[int, list[Found]]
    #: {lot id: distinct buyers with a demand it fits}
    buyers: dict[int, int]


#: {version: every active demand's table}: one version, that of the latest read
_KEPT: dict[str, vector.DemandTable] = {}


def active_demands(commodity_ids: Iterable[int]) -> vector.DemandTable:
    """The active demands of these commodities, by id, as `vector.DemandTable` (what
    `vector.evaluate` reads in arrays, each demand's `DemandFacts` made when read): for
    matching many lots at once.

    Every active demand's table is kept in the process for the generation of the data it was
    read in (`cache.version`: the demands, their buyers, the buyers' orders and the places),
    and narrowed to the commodities asked for; a request that reads a newer generation, or
    whose own transaction has written one of those tables, reads them again."""
    ids = sorted(set(commodity_ids))
    if not ids:
        return read_active_demands([])
    version = cache.version()
    if version is None:
        return read_active_demands(ids)
    table = _KEPT.get(version)
    if table is None:
        table = read_active_demands(None)
        _KEPT.clear()
        _KEPT[version] = table
    return table.take(np.nonzero(np.isin(table.columns["commodity"], ids))[0])


def read_active_demands(commodity_ids: Iterable[int] | None) -> vector.DemandTable:
    """The active demands of these commodities (None: of every commodity), by id, read from
    the database as plain columns (no objects)."""
    ids = None if commodity_ids is None else sorted(set(commodity_ids))
    if ids == []:
        return vector.DemandTable.of([])
    of_commodities = [] if ids is None else [Demand.commodity_id.in_(ids)]
    buyer = aliased(Organisation)
    place = aliased(Region)
    rows = db.session.execute(
        select(
            Demand.id,
            Demand.commodity_id,
            Demand.grades,
            Demand.min_quantity_g,
            Demand.max_quantity_g,
            Demand.max_price_fen_per_t,
            Demand.needed_by,
            place.lat,
            place.lng,
            Demand.max_distance_km,
            buyer.verified_at.is_not(None).label("verified"),
            Demand.buyer_org_id,
        )
        .join(place, place.code == Demand.county_code)
        .join(buyer, buyer.id == Demand.buyer_org_id)
        .where(Demand.status.in_(sorted(MATCHED)), *of_commodities)
        .order_by(Demand.id)
    ).all()
    records = buyer_records(r.buyer_org_id for r in rows)

    def make(r: Any) -> DemandFacts:
        done, finished = records.get(r.buyer_org_id, (0, 0))
        return DemandFacts(
            id=r.id,
            commodity_id=r.commodity_id,
            grades=tuple(r.grades or ()),
            min_g=r.min_quantity_g,
            max_g=r.max_quantity_g,
            max_price_fen_per_t=r.max_price_fen_per_t,
            needed_by=r.needed_by,
            lat=r.lat,
            lng=r.lng,
            max_distance_km=r.max_distance_km,
            active=True,
            verified=bool(r.verified),
            orders_finished=finished,
            orders_completed=done,
            org_id=r.buyer_org_id,
        )

    none = (0, 0)
    columns = [
        (
            commodity, price, least, most, needed.toordinal(), -1 if far is None else far, 1,
            1 if verified else 0, (record := records.get(org, none))[1], record[0], id_, org,
        )  # the order of vector.DEMAND_COLUMNS
        for id_, commodity, _, least, most, price, needed, _, _, far, verified, org in rows
    ]  # fmt: skip
    return vector.DemandTable.build(
        rows, make, columns, (row[7:9] for row in rows), (row[2] or () for row in rows)
    )


@dataclass
class Matched:
    """Many lots' facts against every active demand of their commodities, in arrays: each
    lot's fitting pairs ranked (`vector.Ranked`) and its number of compatible buyers. Nothing
    here is an ORM object; `matches` words the few a page shows as `Match` objects."""

    facts: list[LotFacts]
    ranked: vector.Ranked
    #: distinct buyers with a demand each lot fits, in the order of `facts`
    buyers: np.ndarray

    def matches(self, index: int, best: int | None) -> list[Match]:
        """The best `best` matches (None: all) of lot `index`, best first."""
        return self.ranked.matches(index, best) if best != 0 else []

    def best(self, index: int, best: int | None) -> tuple[tuple[int, float], ...]:
        """(demand id, shown score) of the same matches, as plain tuples (no `Match` built)."""
        if best == 0:
            return ()
        ranked, pairs = self.ranked, self.ranked.pairs
        a, b = int(ranked.start[index]), int(ranked.end[index])
        if best is not None:
            b = min(b, a + best)
        demand_ids = pairs.demands.columns["id"]
        return tuple(
            (int(demand_ids[pairs.demand[k]]), float(shown))
            for k, shown in zip(ranked.order[a:b].tolist(), ranked.shown[a:b].tolist(),
                                strict=True)
        )  # fmt: skip


def match_all(facts: list[LotFacts], days: list[date]) -> Matched:
    """Every lot (`facts`, each with its own today in `days`) against every active demand of
    its commodity at once (`vector`: the rule and the score over all pairs in arrays)."""
    demands = active_demands(f.commodity_id for f in facts)
    ranked = vector.rank(vector.evaluate(facts, demands, days))
    org_ids = demands.columns["org"]
    return Matched(facts, ranked, ranked.distinct(org_ids))


def found(lots: list[Lot], matches: list[list[Match]]) -> list[list[Found]]:
    """The matches of each of `lots` with their demands (loaded in a few queries)."""
    wanted = sorted({m.demand.id for ms in matches for m in ms})
    by_id = {
        d.id: d
        for part in _chunks(wanted, 2000)
        for d in db.session.scalars(
            select(Demand).where(Demand.id.in_(part)).options(*DEMAND_LOADS)
        )
    }
    return [
        [Found(m, lot, by_id[m.demand.id]) for m in ms]
        for lot, ms in zip(lots, matches, strict=True)
    ]


def compatible_with(lots: list[Lot], *, best: int | None = 20) -> Compatible:
    """Every lot against every active demand of its commodity at once (`match_all`), keeping
    each lot's `best` matches (None: all) and its number of compatible buyers. The same
    matches, in the same order, as `matches_for_lot`."""
    days = lot_days(lots)
    sellers = seller_records(lot.cooperative_id for lot in lots)
    facts = [lot_facts(lot, day, sellers) for lot, day in zip(lots, days, strict=True)]
    matched = match_all(facts, days)
    chosen = found(lots, [matched.matches(i, best) for i in range(len(lots))])
    return Compatible(
        {lot.id: chosen[i] for i, lot in enumerate(lots)},
        {lot.id: int(matched.buyers[i]) for i, lot in enumerate(lots)},
    )


def lot_facts_where(*conditions: Any) -> tuple[list[LotFacts], list[date]]:
    """The facts of the lots meeting `conditions`, soonest to spoil first (spoil-by, id), read
    as plain columns (no objects), with each lot's `today()` (reckoned once for each time
    zone): what the rule needs, for matching many lots at once. `open` is `can_sell`'s."""
    coop = aliased(Organisation)
    place = aliased(Region)
    rows = db.session.execute(
        select(
            Lot.id,
            Lot.commodity_id,
            Lot.grade,
            Lot.price_fen_per_t,
            Lot.remaining_g,
            Lot.spoil_by,
            Lot.available_from,
            place.lat,
            place.lng,
            Lot.status,
            Lot.min_order_g,
            coop.verified_at.is_not(None).label("verified"),
            Lot.cooperative_id,
            Lot.timezone,
        )
        .join(place, place.code == Lot.county_code)
        .join(coop, coop.id == Lot.cooperative_id)
        .where(*conditions)
        .order_by(Lot.spoil_by, Lot.id)
    ).all()
    sellers = seller_records(r.cooperative_id for r in rows)
    zones: dict[str | None, date] = {}
    days, facts = [], []
    for r in rows:
        if r.timezone not in zones:
            zones[r.timezone] = local_today(r.timezone)
        day = zones[r.timezone]
        days.append(day)
        facts.append(
            LotFacts(
                id=r.id,
                commodity_id=r.commodity_id,
                grade=r.grade,
                price_fen_per_t=r.price_fen_per_t,
                remaining_g=r.remaining_g,
                spoil_by=r.spoil_by,
                available_from=r.available_from,
                lat=r.lat,
                lng=r.lng,
                # can_sell, from the columns
                open=r.status in SELLABLE and r.spoil_by >= day and r.remaining_g > 0,
                min_order_g=r.min_order_g,
                verified=bool(r.verified),
                org_id=r.cooperative_id,
                orders_finished=(seller := sellers.get(r.cooperative_id, (0, 0)))[1],
                orders_completed=seller[0],
            )
        )
    return facts, days


def lot_days(lots: list[Lot]) -> list[date]:
    """Each lot's `today()`, reckoned once for each time zone."""
    days: dict[str, date] = {}
    return [
        days[lot.timezone] if lot.timezone in days else days.setdefault(lot.timezone, lot.today())
        for lot in lots
    ]


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def matches_for_demand(demand: Demand, *, limit: int | None = 20) -> list[Found]:
    """The lots that fit this demand, best first."""
    today = local_today()
    lots = candidate_lots(demand, today)
    records = buyer_records([demand.buyer_org_id])
    facts = demand_facts(demand, records)
    by_id = {lot.id: lot for lot in lots}
    sellers = seller_records(lot.cooperative_id for lot in lots)
    ranked = rank(((lot_facts(lot, None, sellers), facts) for lot in lots), today, limit=limit)
    return [Found(m, by_id[m.lot.id], demand) for m in ranked]
