"""Reading what the rule needs from the database, and the ranked matches both ways."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from produce_match import policy
from produce_match.dates import local_today
from produce_match.demands.models import MATCHED, Demand
from produce_match.extensions import db
from produce_match.lots.models import Lot, can_sell, sellable
from produce_match.matching.rules import DemandFacts, LotFacts, Match, rank, undisclosed
from produce_match.orders.models import (
    BUYER_ACCOUNTABLE,
    SUCCEEDED,
    Order,
    in_table_order,
)

if TYPE_CHECKING:
    from produce_match.accounts.models import User

#: how a buyer's finished orders count for reliability (declared beside the orders' table)
SUCCESS = in_table_order(SUCCEEDED)
FINISHED = in_table_order(BUYER_ACCOUNTABLE)


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
    """{buyer organisation: (completed orders, finished orders)}, in one query."""
    ids = list(set(org_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            Order.buyer_org_id,
            func.sum(case((Order.status.in_(SUCCESS), 1), else_=0)),
            func.count(Order.id),
        )
        .where(Order.buyer_org_id.in_(ids), Order.status.in_(FINISHED))
        .group_by(Order.buyer_org_id)
    )
    return {org: (int(done or 0), int(total)) for org, done, total in rows}


def lot_facts(lot: Lot) -> LotFacts:
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
        open=can_sell(lot),
        min_order_g=lot.min_order_g,
        verified=lot.cooperative.verified,
        org_id=lot.cooperative_id,
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
    return _ranked_for_lots([lot], candidate_demands(lot), limit)[lot.id]


def matches_for_lots(lots: list[Lot], *, limit: int | None = 20) -> dict[int, list[Found]]:
    """The demands each lot fits, best first, by lot id: two queries for any number of lots
    (pages that list many lots, such as the officials' lots at risk)."""
    commodity_ids = {lot.commodity_id for lot in lots}
    demands = (
        list(
            db.session.scalars(
                select(Demand)
                .where(
                    Demand.status.in_(sorted(MATCHED)),
                    Demand.commodity_id.in_(commodity_ids),
                )
                .options(*DEMAND_LOADS)
                .order_by(Demand.id)
            )
        )
        if commodity_ids
        else []
    )
    return _ranked_for_lots(lots, demands, limit)


def _ranked_for_lots(
    lots: list[Lot], demands: list[Demand], limit: int | None
) -> dict[int, list[Found]]:
    records = buyer_records(d.buyer_org_id for d in demands)
    by_id = {d.id: d for d in demands}
    facts_by_commodity: dict[int, list[DemandFacts]] = defaultdict(list)
    for d in demands:
        facts_by_commodity[d.commodity_id].append(demand_facts(d, records))
    found = {}
    for lot in lots:
        facts = lot_facts(lot)
        # narrowed as candidate_demands narrows in SQL (the rule refuses these pairs anyway):
        # most of a commodity's demands pay less than one lot asks or want more than it holds
        pairs = (
            (facts, d)
            for d in facts_by_commodity[lot.commodity_id]
            if d.max_price_fen_per_t >= facts.price_fen_per_t and d.min_g <= facts.remaining_g
        )
        ranked = rank(pairs, lot.today(), limit=limit)
        found[lot.id] = [Found(m, lot, by_id[m.demand.id]) for m in ranked]
    return found


def matches_for_demand(demand: Demand, *, limit: int | None = 20) -> list[Found]:
    """The lots that fit this demand, best first."""
    today = local_today()
    lots = candidate_lots(demand, today)
    records = buyer_records([demand.buyer_org_id])
    facts = demand_facts(demand, records)
    by_id = {lot.id: lot for lot in lots}
    ranked = rank(((lot_facts(lot), facts) for lot in lots), today, limit=limit)
    return [Found(m, by_id[m.lot.id], demand) for m in ranked]
