"""The planner on the database: which lots and demands, the compatible pairs, the plan."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from produce_match.accounts.models import User
from produce_match.catalog import regions
from produce_match.dates import local_today
from produce_match.demands.models import MATCHED, Demand
from produce_match.extensions import db
from produce_match.lots.models import Lot, sellable
from produce_match.matching import planner, queries
from produce_match.matching.rules import Match, check, score


@dataclass
class Allocation:
    lot: Lot
    demand: Demand
    quantity_kg: int
    match: Match


@dataclass
class PlanResult:
    plan: planner.Plan
    allocations: list[Allocation]
    lots: list[Lot]
    #: lot id -> its allocations, best score first
    by_lot: dict[int, list[Allocation]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The shape `flask match plan --json` prints."""
        return {
            "allocations": [
                {"lot_id": a.lot.id, "demand_id": a.demand.id, "quantity_kg": a.quantity_kg}
                for a in self.allocations
            ],
            "total_kg": self.plan.total_kg,
            "total_value_yuan": self.plan.total_value_fen / 100,
            "bound_kg": self.plan.bound_kg,
            "seconds": round(self.plan.seconds, 3),
        }


def open_lots(
    province_code: str | None = None, county_code: str | None = None, today: date | None = None
) -> list[Lot]:
    """Open lots with something left and time before spoiling, in a place (or everywhere)."""
    today = today or local_today()
    query = (
        select(Lot)
        .where(sellable(today, at_least_g=1000))
        .options(selectinload(Lot.cooperative), selectinload(Lot.county))
        .order_by(Lot.spoil_by, Lot.id)
    )
    if province_code:
        query = query.where(Lot.province_code == province_code)
    if county_code:
        query = query.where(Lot.county_code == county_code)
    return list(db.session.scalars(query))


def active_demands(commodity_ids: set[int]) -> list[Demand]:
    if not commodity_ids:
        return []
    return list(
        db.session.scalars(
            select(Demand)
            .where(Demand.status.in_(sorted(MATCHED)), Demand.commodity_id.in_(commodity_ids))
            .options(selectinload(Demand.buyer), selectinload(Demand.county))
            .order_by(Demand.id)
        )
    )


def lot_offer(lot: Lot) -> tuple[int, int]:
    """(kg the lot offers the planner, its minimum order in kg, 0 without one).

    What is left is rounded down and the minimum up, so that an allocation of at least the
    minimum in kilograms is at least the minimum in grams. The planner also lets an allocation
    take all the lot offers when that is less than its minimum: that is the order of everything
    left (which the order system accepts below the minimum) only if what is left is whole
    kilograms. Otherwise no order in whole kilograms can be placed on the lot, and it offers
    nothing.
    """
    kg = lot.remaining_g // 1000
    if not lot.min_order_g:
        return kg, 0
    min_kg = -(-lot.min_order_g // 1000)
    if min_kg > kg and lot.remaining_g % 1000:
        return 0, 0
    return kg, min_kg


@dataclass(frozen=True)
class Jurisdiction:
    """Where an official plans: a county, a province, or everywhere (administrators)."""

    province_code: str | None
    county_code: str | None
    name: str | None  #: the county's or province's name; None: everywhere


def jurisdiction_of(user: User, county: str | None = None) -> Jurisdiction:
    """Where `user` plans: an office's jurisdiction; an administrator anywhere, or in `county`
    (a name or code). PermissionError for a user without a jurisdiction."""
    if user.is_admin:
        found = regions.find_counties(county) if county else []
        if len(found) == 1:
            return Jurisdiction(found[0].province_code, found[0].code, found[0].name)
        return Jurisdiction(None, None, None)
    office = user.organisation
    if office is None or office.province_code is None:
        raise PermissionError("no jurisdiction")
    if office.county_code:
        return Jurisdiction(office.province_code, office.county_code, office.county.name)
    return Jurisdiction(office.province_code, None, office.province.name)


def make_plan(
    *,
    province_code: str | None = None,
    county_code: str | None = None,
    objective: str = "tonnage",
) -> PlanResult:
    """Plan the open lots of a place (or everywhere) against every active demand.

    The lots are those of the jurisdiction; the demands come from anywhere (buyers are rarely
    in the county whose produce is stranded). Whole kilograms: a lot offers what is left
    rounded down, a demand takes its minimum rounded up and its maximum rounded down, and a
    lot's minimum order is rounded up (`lot_offer`).
    """
    today = local_today()
    lots = open_lots(province_code, county_code, today)
    demands = active_demands({lot.commodity_id for lot in lots})
    records = queries.buyer_records(d.buyer_org_id for d in demands)
    demand_facts = {d.id: queries.demand_facts(d, records) for d in demands}
    by_commodity: dict[int, list[Demand]] = defaultdict(list)
    for d in demands:
        by_commodity[d.commodity_id].append(d)
    edges: list[planner.Edge] = []
    matches: dict[tuple[int, int], Match] = {}
    sellers = queries.seller_records(lot.cooperative_id for lot in lots)
    for lot in lots:
        facts = queries.lot_facts(lot, None, sellers)
        for d in by_commodity[lot.commodity_id]:
            fit = check(facts, demand_facts[d.id], today)
            if fit.ok:
                edges.append(planner.Edge(lot.id, d.id, lot.price_fen_per_t))
                matches[(lot.id, d.id)] = Match(
                    facts, demand_facts[d.id], fit, score(facts, demand_facts[d.id], fit, today)
                )
    offers = {lot.id: lot_offer(lot) for lot in lots}
    instance = planner.Instance(
        lots={lot_id: kg for lot_id, (kg, _) in offers.items()},
        demands={d.id: (-(-d.min_quantity_g // 1000), d.max_quantity_g // 1000) for d in demands},
        edges=edges,
        lot_min={lot_id: min_kg for lot_id, (_, min_kg) in offers.items() if min_kg},
    )
    result = planner.plan(instance, objective)
    lot_by_id = {lot.id: lot for lot in lots}
    demand_by_id = {d.id: d for d in demands}
    allocations = [
        Allocation(lot_by_id[lot_id], demand_by_id[d_id], kg, matches[(lot_id, d_id)])
        for (lot_id, d_id), kg in sorted(result.allocations.items())
    ]
    by_lot: dict[int, list[Allocation]] = defaultdict(list)
    for a in allocations:
        by_lot[a.lot.id].append(a)
    for items in by_lot.values():
        items.sort(key=lambda a: -a.match.score.total)
    return PlanResult(result, allocations, lots, dict(by_lot))
