"""The compatibility rule and the score of a match: pure functions, no app, no database.

Everything that decides whether a lot can serve a demand is `check()`, the one rule used by the
lot and demand pages, the API, the alerts and the planner. `score()` ranks the compatible pairs
and says why, as `Reason`s (a kind and its numbers; words come at display time, in words.py).

Quantities are integer grams and prices integer fen per tonne, as everywhere else (units.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from produce_match.catalog.grades import grade_key
from produce_match.geo import great_circle_km, transit_days
from produce_match.lots.rules import meets_minimum

#: the prior of each side's reliability: an organisation without finished orders counts as
#: PRIOR_COMPLETED completed out of PRIOR_ORDERS (one half: neither best nor worst)
PRIOR_COMPLETED = 2
PRIOR_ORDERS = 4

#: the most each part of the score gives (they add up to 100)
WEIGHTS = {
    "quantity": 25,
    "price": 25,
    "distance": 20,
    "urgency": 15,
    "buyer_reliability": 5,
    "seller_reliability": 5,
    "verified": 5,
}
#: price headroom that earns the whole price part (30% below the buyer's maximum)
FULL_HEADROOM = 0.30
#: distance that earns nothing of the distance part
FAR_KM = 2500
#: days before spoiling at which urgency is one half
URGENCY_HALF_DAYS = 14


class Failure(enum.StrEnum):
    """Why a lot cannot serve a demand (the first that applies is enough; all are listed)."""

    commodity = "commodity"  #: not the commodity asked for
    grade = "grade"  #: the lot's grade is not among those the demand accepts
    price = "price"  #: the asking price is above the demand's maximum
    distance = "distance"  #: farther than the demand's maximum distance
    spoils = "spoils"  #: it would spoil before it arrives
    late = "late"  #: it would arrive after the demand's needed-by date
    lot_closed = "lot_closed"  #: the lot is not on offer, or nothing is left
    demand_closed = "demand_closed"  #: the demand is paused or closed
    too_little = "too_little"  #: less is left than the demand's minimum
    lot_minimum = "lot_minimum"  #: the lot's minimum order is more than the demand's maximum


@dataclass(frozen=True)
class LotFacts:
    """What the rule needs of a lot."""

    id: int
    commodity_id: int
    grade: str | None
    price_fen_per_t: int
    remaining_g: int
    spoil_by: date
    available_from: date
    lat: float
    lng: float
    open: bool = True
    min_order_g: int | None = None
    verified: bool = False
    org_id: int | None = None
    #: the cooperative's finished orders, and how many of them completed (trust.reliability)
    orders_finished: int = 0
    orders_completed: int = 0


@dataclass(frozen=True)
class DemandFacts:
    """What the rule needs of a demand and its buyer."""

    id: int
    commodity_id: int
    grades: tuple[str, ...]
    min_g: int
    max_g: int
    max_price_fen_per_t: int
    needed_by: date
    lat: float
    lng: float
    max_distance_km: int | None = None
    active: bool = True
    verified: bool = False
    #: the buyer's finished orders, and how many of them completed (trust.reliability)
    orders_finished: int = 0
    orders_completed: int = 0
    org_id: int | None = None


@dataclass(frozen=True)
class Check:
    """The answer of the rule for one pair."""

    failures: tuple[Failure, ...]
    distance_km: float
    transit_days: int
    arrives: date
    #: the most this lot can give this demand (0 when incompatible)
    supply_g: int

    @property
    def ok(self) -> bool:
        return not self.failures


def check(lot: LotFacts, demand: DemandFacts, today: date) -> Check:
    """THE compatibility rule: can `lot` serve `demand`, as of `today`?

    1. the same commodity;
    2. the lot's grade is one the demand accepts (any grade, if the demand names none);
    3. the asking price, per tonne, is at most the demand's maximum, per tonne;
    4. the great-circle distance between the lot's county and the delivery county is at most
       the demand's maximum distance, if it has one;
    5. leaving on the later of today and the lot's available-from date, and taking
       `transit_days(distance)`, it arrives on or before both the lot's spoil-by date and the
       demand's needed-by date;
    6. the lot is open with quantity left and the demand is active;
    7. at least the demand's minimum is left, and the lot's own minimum order (if any) fits
       within the demand's maximum (or the demand can take all that is left).
    """
    failures: list[Failure] = []
    if lot.commodity_id != demand.commodity_id:
        failures.append(Failure.commodity)
    if demand.grades and grade_key(lot.grade) not in {grade_key(g) for g in demand.grades}:
        failures.append(Failure.grade)
    if lot.price_fen_per_t > demand.max_price_fen_per_t:
        failures.append(Failure.price)
    distance = great_circle_km(lot.lat, lot.lng, demand.lat, demand.lng)
    if demand.max_distance_km is not None and distance > demand.max_distance_km:
        failures.append(Failure.distance)
    days = transit_days(distance)
    arrives = max(today, lot.available_from) + timedelta(days=days)
    if arrives > lot.spoil_by:
        failures.append(Failure.spoils)
    if arrives > demand.needed_by:
        failures.append(Failure.late)
    if not lot.open or lot.remaining_g <= 0:
        failures.append(Failure.lot_closed)
    if not demand.active:
        failures.append(Failure.demand_closed)
    if lot.remaining_g < demand.min_g:
        failures.append(Failure.too_little)
    if not meets_minimum(lot, min(demand.max_g, lot.remaining_g)):  # the most it would take
        failures.append(Failure.lot_minimum)
    supply = 0 if failures else min(lot.remaining_g, demand.max_g)
    return Check(tuple(failures), distance, days, arrives, supply)


# --- the score ------------------------------------------------------------------------------


class ReasonKind(enum.StrEnum):
    quantity = "quantity"  #: value: the share of the demand's maximum this lot covers (0-1)
    lot_share = "lot_share"  #: value: the share of what is left of the lot it would take
    #: value: how far below the buyer's maximum the asking price is (0-1); None where the
    #: maximum may not be known (`undisclosed`)
    price = "price"
    distance = "distance"  #: value: kilometres
    urgency = "urgency"  #: value: days before it spoils
    #: the buyer's record; value: smoothed share; extra: (completed, finished, weight)
    reliability = "reliability"
    new_buyer = "new_buyer"  #: the buyer has no finished orders yet; extra: (weight,)
    #: the cooperative's record; value: smoothed share; extra: (completed, finished, weight)
    seller_reliability = "seller_reliability"
    new_seller = "new_seller"  #: the cooperative has no finished orders yet; extra: (weight,)
    verified = "verified"  #: value: how many of the two organisations are verified


@dataclass(frozen=True)
class Reason:
    kind: ReasonKind
    #: None where it is not told (`undisclosed`)
    value: float | None
    #: what this reason adds to the score (None where it is not told)
    points: float | None
    extra: tuple[int, ...] = ()


@dataclass(frozen=True)
class Score:
    #: None where it is not told (`undisclosed`)
    total: float | None
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


def reliability(completed: int, finished: int) -> float:
    """A smoothed share of completed orders: (completed + 2) / (finished + 4); a newcomer 0.5."""
    return (completed + PRIOR_COMPLETED) / (finished + PRIOR_ORDERS)


def score(lot: LotFacts, demand: DemandFacts, fit: Check, today: date) -> Score:
    """How good a compatible pair is, 0-100, with the reasons that make it up.

    - quantity (25): supply / the larger of the lot's remainder and the demand's maximum: 1
      when the lot and the demand are the same size, less the more one outweighs the other;
    - price (25): headroom below the buyer's maximum, full at 30%;
    - distance (20): 1 - km / 2,500, not below 0;
    - urgency (15): 14 / (14 + days before spoiling): the sooner it spoils, the more it counts;
    - buyer reliability (5) and seller reliability (5): each side's smoothed share of completed
      orders (trust.reliability says which count; a newcomer: one half);
    - verified (5): half for each of the two organisations that is verified.
    """
    reasons: list[Reason] = []
    w = WEIGHTS

    biggest = max(lot.remaining_g, demand.max_g)
    q = fit.supply_g / biggest if biggest else 0.0
    covers = min(1.0, fit.supply_g / demand.max_g)
    reasons.append(Reason(ReasonKind.quantity, covers, w["quantity"] * q))
    if lot.remaining_g:
        reasons.append(Reason(ReasonKind.lot_share, fit.supply_g / lot.remaining_g, 0.0))

    headroom = 1 - lot.price_fen_per_t / demand.max_price_fen_per_t
    reasons.append(
        Reason(
            ReasonKind.price, headroom, w["price"] * min(1.0, max(0.0, headroom) / FULL_HEADROOM)
        )
    )
    reasons.append(
        Reason(
            ReasonKind.distance,
            fit.distance_km,
            w["distance"] * max(0.0, 1 - fit.distance_km / FAR_KM),
        )
    )
    days_left = max(0, (lot.spoil_by - today).days)
    reasons.append(
        Reason(
            ReasonKind.urgency,
            days_left,
            w["urgency"] * URGENCY_HALF_DAYS / (URGENCY_HALF_DAYS + days_left),
        )
    )
    for completed, finished, weight, known, new in (
        (demand.orders_completed, demand.orders_finished, w["buyer_reliability"],
         ReasonKind.reliability, ReasonKind.new_buyer),
        (lot.orders_completed, lot.orders_finished, w["seller_reliability"],
         ReasonKind.seller_reliability, ReasonKind.new_seller),
    ):  # fmt: skip
        share = reliability(completed, finished)
        if finished:
            reasons.append(Reason(known, share, weight * share, (completed, finished, weight)))
        else:
            reasons.append(Reason(new, share, weight * share, (weight,)))
    verified = int(lot.verified) + int(demand.verified)
    reasons.append(Reason(ReasonKind.verified, verified, w["verified"] * verified / 2))
    total = round(sum(r.points for r in reasons), 1)
    return Score(total, tuple(reasons))


def undisclosed(found: Score) -> Score:
    """The score as told to someone who may not read the demand: no figure of the buyer's
    maximum price.

    The price reason keeps its kind (the price is within the maximum) but neither its headroom
    nor its points, and the total goes too: every other part is shown with its points, so the
    total minus them would give the price part, and with the lot's own price, the maximum.
    """
    reasons = tuple(
        Reason(r.kind, None, None, r.extra) if r.kind is ReasonKind.price else r
        for r in found.reasons
    )
    return Score(None, reasons)


@dataclass(frozen=True)
class Match:
    lot: LotFacts
    demand: DemandFacts
    fit: Check
    score: Score


def rank(
    pairs: Iterable[tuple[LotFacts, DemandFacts]], today: date, *, limit: int | None = None
) -> list[Match]:
    """The compatible pairs, best first (ties: the sooner-spoiling lot, then the lower ids)."""
    matches = []
    for lot, demand in pairs:
        fit = check(lot, demand, today)
        if fit.ok:
            matches.append(Match(lot, demand, fit, score(lot, demand, fit, today)))
    matches.sort(key=lambda m: (-m.score.total, m.lot.spoil_by, m.lot.id, m.demand.id))
    return matches[:limit] if limit is not None else matches
