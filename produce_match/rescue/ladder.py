"""Which step of the ladder is due, and what repricing proposes: pure functions, no database.

Thresholds are days before the spoil-by date (RESCUE_STEP_DAYS, default 7, 5, 3): reprice at
7 days or fewer, widen at 5 or fewer, aid at 3 or fewer, for lots still open with quantity left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

from produce_match.matching.rules import DemandFacts, Failure, LotFacts, check
from produce_match.rescue.models import LADDER, RescueStep

DEFAULT_STEP_DAYS = (7, 5, 3)
#: a proposed price is never below this share of the asking price (percent)
PRICE_FLOOR_PCT = 50
#: proposed prices are whole 0.10 元 per kilogram (10,000 fen per tonne): exact in 斤 too
PRICE_STEP_FEN_PER_T = 10_000


def due_step(
    days_left: int, step_days: tuple[int, ...] = DEFAULT_STEP_DAYS, *, open_with_stock: bool = True
) -> RescueStep | None:
    """The highest step whose time has come `days_left` days before spoiling (None: none yet,
    or the lot is closed, empty or past its date)."""
    if not open_with_stock or days_left < 0:
        return None
    due = None
    for step, days in zip(LADDER, step_days, strict=True):
        if days_left <= days:
            due = step
    return due


def price_floor(price_fen_per_t: int) -> int:
    """The lowest price repricing may propose: PRICE_FLOOR_PCT of the asking price."""
    return -(-price_fen_per_t * PRICE_FLOOR_PCT // 100)


def clean_price(fen_per_t: int) -> int:
    """Down to a whole 0.10 元/公斤."""
    return fen_per_t // PRICE_STEP_FEN_PER_T * PRICE_STEP_FEN_PER_T


@dataclass(frozen=True)
class Reprice:
    """What repricing proposes: a price (None: no price within reach fits more demands), and
    how many active demands the lot fits at its own price and at the proposed one."""

    price_fen_per_t: int | None
    demands_before: int
    demands_after: int


def reprice(lot: LotFacts, demands: Iterable[DemandFacts], today: date) -> Reprice:
    """The highest clean price, not below the floor, that makes the most further demands fit.

    A demand counts if the lot fits it already, or fails THE rule (`matching.rules.check`) on
    price alone. Each of the latter fits from its buyer's maximum down; the lowest such maximum
    at or above the floor (rounded down to a clean figure) lets them all in, and it is the
    highest price that does. The counts are checked again with the rule at the new price.
    """
    demands = list(demands)
    fitting = 0
    price_only: list[DemandFacts] = []
    for demand in demands:
        fit = check(lot, demand, today)
        if fit.ok:
            fitting += 1
        elif fit.failures == (Failure.price,):
            price_only.append(demand)
    floor = price_floor(lot.price_fen_per_t)
    reachable = [
        clean_price(d.max_price_fen_per_t)
        for d in price_only
        if clean_price(d.max_price_fen_per_t) >= floor
    ]
    if not reachable:
        return Reprice(None, fitting, fitting)
    price = min(reachable)
    cheaper = replace(lot, price_fen_per_t=price)
    after = sum(1 for d in demands if check(cheaper, d, today).ok)
    return Reprice(price, fitting, after)


def widen_fits(lot: LotFacts, demand: DemandFacts, today: date, *, processor: bool) -> bool:
    """Would widening reach this demand: it fails THE rule on distance alone (a buyer further
    away than it asked), or, for a processor, on grade and distance alone (any grade)?"""
    failures = set(check(lot, demand, today).failures)
    if not failures:
        return False  # it fits: its buyer was alerted already
    allowed = {Failure.distance, Failure.grade} if processor else {Failure.distance}
    return failures <= allowed
