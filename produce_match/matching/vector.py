"""The compatibility rule and the score over many pairs at once, with numpy arrays.

`rules.check` and `rules.score` are the rule; this module computes the same answers for every
pair of many lots and many demands in a few array operations, for the pages and exports that
match thousands of lots at a time (the officials' lots at risk). It gives exactly what the
per-pair rule gives, pair by pair (tests/matching/test_vector.py compares them on random data):

- the same failures (a bit per `Failure`, in the order `check` lists them), the same distance
  (`geo.great_circle_km` itself, once per pair of places, remembered for the process), days
  on the road, arrival and supply;
- the same score: each part is the same IEEE operation on the same operands as in `score`,
  added in the same order, so the total is the same float, and `round(total, 1)` is Python's.

Quantities are integer grams, prices integer fen per tonne, days ordinals (`date.toordinal`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, overload

import numpy as np

from produce_match.catalog.grades import grade_key
from produce_match.geo import KM_PER_DAY, great_circle_km
from produce_match.matching.rules import (
    FAR_KM,
    FULL_HEADROOM,
    PRIOR_COMPLETED,
    PRIOR_ORDERS,
    URGENCY_HALF_DAYS,
    WEIGHTS,
    Check,
    DemandFacts,
    Failure,
    LotFacts,
    Match,
    score,
)

#: the bit of each failure, in the order `check` lists them
BITS = {failure: 1 << i for i, failure in enumerate(Failure)}
_ORDER = list(Failure)


def failures_of(mask: int) -> tuple[Failure, ...]:
    """The failures of a bit mask, in the order `check` lists them."""
    return tuple(f for f in _ORDER if mask & BITS[f])


@dataclass
class Pairs:
    """Pairs of `lots[lot]` and `demands[demand]`, with what the rule says of each."""

    lots: Sequence[LotFacts]
    demands: DemandTable
    #: the day of each lot (`today` where the lot is)
    todays: list[date]
    lot: np.ndarray  # index into lots
    demand: np.ndarray  # index into demands
    failures: np.ndarray  # bit mask (BITS)
    distance_km: np.ndarray
    transit_days: np.ndarray
    arrives: np.ndarray  # ordinal
    supply_g: np.ndarray
    #: the score before rounding (meaningful where the pair fits)
    total: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.failures == 0

    def check_at(self, k: int) -> Check:
        """`rules.check` of pair `k`, from the arrays."""
        return Check(
            failures_of(int(self.failures[k])),
            float(self.distance_km[k]),
            int(self.transit_days[k]),
            date.fromordinal(int(self.arrives[k])),
            int(self.supply_g[k]),
        )

    def match_at(self, k: int) -> Match:
        """The `Match` of fitting pair `k`: its check from the arrays, its score (and reasons)
        from `rules.score`, the one place that words them."""
        lot, demand = self.lots[int(self.lot[k])], self.demands[int(self.demand[k])]
        fit = self.check_at(k)
        return Match(lot, demand, fit, score(lot, demand, fit, self.todays[int(self.lot[k])]))


#: `great_circle_km` itself, remembered for each pair of places for the life of the process
#: (places are county seats: a few thousand pairs at most are ever asked)
_km = lru_cache(maxsize=1 << 16)(great_circle_km)


#: the integer columns of lots and of demands, read in one pass over each (dates as ordinals,
#: booleans as 0/1, no minimum order as 0, no maximum distance as -1)
LOT_COLUMNS = (
    "commodity", "price", "left", "spoil", "from", "min", "open", "verified", "finished",
    "completed",
)  # fmt: skip
DEMAND_COLUMNS = (
    "commodity", "price", "min", "max", "needed", "far", "active", "verified", "finished",
    "completed", "id", "org",
)  # fmt: skip


def _lot_columns(lots: Sequence[LotFacts]) -> dict[str, np.ndarray]:
    table = np.array(
        [
            (
                x.commodity_id,
                x.price_fen_per_t,
                x.remaining_g,
                x.spoil_by.toordinal(),
                x.available_from.toordinal(),
                x.min_order_g or 0,
                x.open,
                x.verified,
                x.orders_finished,
                x.orders_completed,
            )  # fmt: skip
            for x in lots
        ],
        dtype=np.int64,
    ).reshape(len(lots), len(LOT_COLUMNS))
    return {name: table[:, i] for i, name in enumerate(LOT_COLUMNS)}


def _demand_columns(demands: Sequence[DemandFacts]) -> dict[str, np.ndarray]:
    return DemandTable.of(demands).columns


class DemandTable(Sequence[DemandFacts]):
    """Demands with what `evaluate` reads of them already in arrays: their integer columns
    (`DEMAND_COLUMNS`), their places (an index into `places`) and the grades each accepts (a
    column of `accepts` for each grade as `grade_key` compares them). Made once, it can be
    matched against any lots many times, or narrowed to some of its demands (`take`), without
    going over the demands one by one again.

    Item `i` is the `DemandFacts` of demand `i`, made from its row by `make` when first read
    (only the few matches a page words need them): `of(facts)` for facts at hand, `build` for
    rows read from the database."""

    def __init__(
        self,
        rows: Sequence[Any],
        make: Callable[[Any], DemandFacts],
        columns: dict[str, np.ndarray],
        place: np.ndarray,
        places: list[tuple[float, float]],
        grade_ids: dict[str, int],
        accepts: np.ndarray,
    ) -> None:
        self.rows = rows
        self.make = make
        self.columns = columns
        self.place = place
        self.places = places
        self.grade_ids = grade_ids
        #: (demand, grade id) -> the demand takes a lot of that grade (every grade, for a
        #: demand that names none); a last column for grades no demand names
        self.accepts = accepts
        self._facts: dict[int, DemandFacts] = {}

    @classmethod
    def build(
        cls,
        rows: Sequence[Any],
        make: Callable[[Any], DemandFacts],
        columns: np.ndarray,
        places: Iterable[tuple[float, float]],
        grades: Iterable[Sequence[str]],
    ) -> DemandTable:
        """The table of `rows`: `columns` their values of `DEMAND_COLUMNS` (a row each, in
        that order), `places` their (lat, lng), `grades` the grades each names."""
        seen: dict[tuple[float, float], int] = {}
        place = np.fromiter((seen.setdefault(p, len(seen)) for p in places), np.int64, len(rows))
        # demands name grades in a few ways: each way's grade ids once, then its rows at once
        by_grades: dict[tuple[str, ...], list[int]] = {}
        for row, named in enumerate(grades):
            by_grades.setdefault(tuple(named), []).append(row)
        grade_ids: dict[str, int] = {}
        ids_of = {
            named: sorted({grade_ids.setdefault(grade_key(g), len(grade_ids)) for g in named})
            for named in by_grades
        }
        accepts = np.zeros((len(rows), len(grade_ids) + 1), dtype=bool)
        for named, at in by_grades.items():
            if named:
                accepts[np.ix_(at, ids_of[named])] = True
            else:
                accepts[at, :] = True  # a demand that names no grade takes any
        table = np.asarray(columns, dtype=np.int64).reshape(len(rows), len(DEMAND_COLUMNS))
        named_columns = {name: table[:, i] for i, name in enumerate(DEMAND_COLUMNS)}
        return cls(rows, make, named_columns, place, list(seen), grade_ids, accepts)

    @classmethod
    def of(cls, demands: Sequence[DemandFacts]) -> DemandTable:
        """The table of these facts."""
        if isinstance(demands, DemandTable):
            return demands
        facts = list(demands)
        return cls.build(
            facts,
            _same,
            [_demand_row(x) for x in facts],
            ((x.lat, x.lng) for x in facts),
            (x.grades for x in facts),
        )

    def take(self, indices: np.ndarray) -> DemandTable:
        """The demands at `indices` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        columns = {name: column[indices] for name, column in self.columns.items()}
        rows = [self.rows[i] for i in indices.tolist()]
        return DemandTable(
            rows, self.make, columns, self.place[indices], self.places, self.grade_ids,
            self.accepts[indices],
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> DemandFacts: ...

    @overload
    def __getitem__(self, index: slice) -> list[DemandFacts]: ...

    def __getitem__(self, index: int | slice) -> DemandFacts | list[DemandFacts]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        found = self._facts.get(index)
        if found is None:
            found = self._facts[index] = self.make(self.rows[index])
        return found


def _same(facts: DemandFacts) -> DemandFacts:
    return facts


def _demand_row(x: DemandFacts) -> tuple[int, ...]:
    """A demand's values of `DEMAND_COLUMNS`."""
    return (
        x.commodity_id,
        x.max_price_fen_per_t,
        x.min_g,
        x.max_g,
        x.needed_by.toordinal(),
        -1 if x.max_distance_km is None else x.max_distance_km,
        x.active,
        x.verified,
        x.orders_finished,
        x.orders_completed,
        x.id,
        x.org_id or 0,
    )


def candidates(
    lots: Sequence[LotFacts], demands: Sequence[DemandFacts]
) -> tuple[np.ndarray, np.ndarray]:
    """(lot index, demand index) of the pairs worth asking the rule about: the same commodity,
    the demand's maximum price at least the lot's price and its minimum at most what is left
    (the rule refuses every other pair). Commodity by commodity."""
    if not lots or not demands:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return _candidates(_lot_columns(lots), _demand_columns(demands))


def _candidates(
    lot: dict[str, np.ndarray], demand: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    l_commodity, l_price, l_left = lot["commodity"], lot["price"], lot["left"]
    d_commodity, d_price, d_min = demand["commodity"], demand["price"], demand["min"]
    d_order = np.argsort(d_commodity, kind="stable")
    d_sorted = d_commodity[d_order]
    starts = np.searchsorted(d_sorted, l_commodity, side="left")
    ends = np.searchsorted(d_sorted, l_commodity, side="right")
    lot_parts, demand_parts = [], []
    # one block per commodity: its lots against its demands
    for commodity in np.unique(l_commodity):
        mine = np.nonzero(l_commodity == commodity)[0]
        start, end = starts[mine[0]], ends[mine[0]]
        if start == end:
            continue
        theirs = d_order[start:end]
        fits = (d_price[theirs][None, :] >= l_price[mine][:, None]) & (
            d_min[theirs][None, :] <= l_left[mine][:, None]
        )
        rows, cols = np.nonzero(fits)
        lot_parts.append(mine[rows])
        demand_parts.append(theirs[cols])
    if not lot_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(lot_parts), np.concatenate(demand_parts)


def every_pair(lots: Sequence[LotFacts], demands: Sequence[DemandFacts]) -> tuple[np.ndarray, ...]:
    """(lot index, demand index) of every pair, unnarrowed (for tests and small sets)."""
    li, di = np.meshgrid(np.arange(len(lots)), np.arange(len(demands)), indexing="ij")
    return li.ravel().astype(np.int64), di.ravel().astype(np.int64)


def _distances(lots: Sequence[LotFacts], demands: DemandTable, li: np.ndarray, di: np.ndarray
               ) -> np.ndarray:  # fmt: skip
    """`great_circle_km` of each pair, computed once for each pair of places."""
    l_places: dict[tuple[float, float], int] = {}
    l_place = np.fromiter(
        (l_places.setdefault((x.lat, x.lng), len(l_places)) for x in lots), np.int64, len(lots)
    )
    width = max(1, len(demands.places))
    keys = l_place[li] * width + demands.place[di]
    unique, inverse = np.unique(keys, return_inverse=True)
    l_at, d_at = list(l_places), demands.places
    km = np.fromiter(
        (_km(*l_at[k // width], *d_at[k % width]) for k in unique.tolist()),
        np.float64,
        len(unique),
    )
    return km[inverse.ravel()]


def _grades_ok(lots: Sequence[LotFacts], demands: DemandTable, li: np.ndarray, di: np.ndarray
               ) -> np.ndarray:  # fmt: skip
    """Whether each pair passes the grade part of the rule."""
    unnamed = demands.accepts.shape[1] - 1  # a grade no demand names: only "any grade" takes it
    ids = demands.grade_ids
    l_grade = np.fromiter((ids.get(grade_key(x.grade), unnamed) for x in lots), np.int64,
                          len(lots))  # fmt: skip
    return demands.accepts[di, l_grade[li]]


def evaluate(
    lots: Sequence[LotFacts],
    demands: Sequence[DemandFacts],
    today: date | Sequence[date],
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> Pairs:
    """`rules.check` and the score of `rules.score` for each pair (default: `candidates`).

    `today` is one day for every lot, or each lot's own day (lots in several time zones).
    """
    todays = [today] * len(lots) if isinstance(today, date) else list(today)
    demands = DemandTable.of(demands)
    if not lots or not demands:
        pairs = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    lot = _lot_columns(lots) if lots else {}
    demand = _demand_columns(demands) if demands else {}
    li, di = _candidates(lot, demand) if pairs is None else pairs
    li, di = np.asarray(li, dtype=np.int64), np.asarray(di, dtype=np.int64)
    n = len(li)
    if n == 0:
        z_int, z_float = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return Pairs(lots, demands, todays, li, di, z_int, z_float, z_int, z_int, z_int, z_float)

    # each pair's columns
    l_today = np.fromiter((d.toordinal() for d in todays), np.int64, len(lots))[li]
    l_spoil, l_from, l_min = lot["spoil"][li], lot["from"][li], lot["min"][li]
    l_price, l_left = lot["price"][li], lot["left"][li]
    l_open, l_verified = lot["open"][li] != 0, lot["verified"][li]
    d_price, d_min_g, d_max_g = demand["price"][di], demand["min"][di], demand["max"][di]
    d_needed, d_far = demand["needed"][di], demand["far"][di]
    d_active, d_verified = demand["active"][di] != 0, demand["verified"][di]
    d_finished, d_completed = demand["finished"][di], demand["completed"][di]
    l_finished, l_completed = lot["finished"][li], lot["completed"][li]

    # --- check ---
    fails = np.zeros(n, dtype=np.int64)

    def fail(failure: Failure, where: np.ndarray) -> None:
        fails[where] |= BITS[failure]

    fail(Failure.commodity, lot["commodity"][li] != demand["commodity"][di])
    fail(Failure.grade, ~_grades_ok(lots, demands, li, di))
    fail(Failure.price, l_price > d_price)
    distance = _distances(lots, demands, li, di)
    fail(Failure.distance, (d_far >= 0) & (distance > d_far))
    days = np.maximum(1, np.ceil(distance / KM_PER_DAY)).astype(np.int64)
    arrives = np.maximum(l_today, l_from) + days
    fail(Failure.spoils, arrives > l_spoil)
    fail(Failure.late, arrives > d_needed)
    fail(Failure.lot_closed, ~l_open | (l_left <= 0))
    fail(Failure.demand_closed, ~d_active)
    fail(Failure.too_little, l_left < d_min_g)
    most = np.minimum(d_max_g, l_left)  # the most it would take
    fail(Failure.lot_minimum, (l_min != 0) & (most < l_min) & (most != l_left))
    supply = np.where(fails == 0, np.minimum(l_left, d_max_g), 0)

    # --- score: the same operations, in the same order, as rules.score ---
    w = WEIGHTS
    with np.errstate(divide="ignore", invalid="ignore"):
        biggest = np.maximum(l_left, d_max_g)
        q = np.where(biggest != 0, supply / np.where(biggest != 0, biggest, 1), 0.0)
        total = w["quantity"] * q
        headroom = 1 - l_price / d_price
        total = total + w["price"] * np.minimum(1.0, np.maximum(0.0, headroom) / FULL_HEADROOM)
        total = total + w["distance"] * np.maximum(0.0, 1 - distance / FAR_KM)
        days_left = np.maximum(0, l_spoil - l_today)
        total = total + (w["urgency"] * URGENCY_HALF_DAYS) / (URGENCY_HALF_DAYS + days_left)
        share = (d_completed + PRIOR_COMPLETED) / (d_finished + PRIOR_ORDERS)
        total = total + w["buyer_reliability"] * share
        share = (l_completed + PRIOR_COMPLETED) / (l_finished + PRIOR_ORDERS)
        total = total + w["seller_reliability"] * share
        verified = l_verified + d_verified
        total = total + (w["verified"] * verified) / 2
    return Pairs(lots, demands, todays, li, di, fails, distance, days, arrives, supply, total)


def rounded(totals: np.ndarray) -> np.ndarray:
    """`round(total, 1)` of each total, exactly as Python rounds it.

    Python gives the double nearest to the decimal with one place nearest to the total; that
    is `n / 10` (an exact integer over ten, correctly rounded by IEEE division) for the same
    integer `n`. `rint(total * 10)` finds that `n` except where `total * 10` lies within a hair
    of a half, where the multiplication's own rounding could tip it: those few go to Python.
    """
    tenfold = np.asarray(totals, dtype=np.float64) * 10
    n = np.rint(tenfold)
    out = n / 10
    near_half = np.abs(np.abs(tenfold - np.floor(tenfold)) - 0.5) < 1e-6
    for k in np.nonzero(near_half | ~np.isfinite(tenfold))[0].tolist():
        out[k] = round(float(totals[k]), 1)
    return out


@dataclass
class Ranked:
    """The fitting pairs of `pairs`, grouped by lot and best first within each lot (ties: the
    lower demand id, as `rules.rank` orders one lot's matches)."""

    pairs: Pairs
    #: indices into pairs' arrays: the fitting pairs, lot by lot (in lot order), best first
    order: np.ndarray
    #: the shown score (rounded) of each of `order`
    shown: np.ndarray
    #: where each lot's pairs start and end in `order`
    start: np.ndarray
    end: np.ndarray

    def matches(self, lot_index: int, limit: int | None = None) -> list[Match]:
        """The lot's matches, best first, as `rules.rank` gives them."""
        a, b = int(self.start[lot_index]), int(self.end[lot_index])
        if limit is not None:
            b = min(b, a + limit)
        return [self.pairs.match_at(int(k)) for k in self.order[a:b]]

    def count(self, lot_index: int) -> int:
        return int(self.end[lot_index] - self.start[lot_index])

    def distinct(self, key: np.ndarray) -> np.ndarray:
        """How many distinct `key[demand]` values each lot's fitting pairs have (e.g. key: the
        demands' buyer organisations -> the number of compatible buyers of each lot)."""
        n_lots = len(self.pairs.lots)
        if not len(self.order):
            return np.zeros(n_lots, dtype=np.int64)
        lots = self.pairs.lot[self.order]
        values = np.asarray(key, dtype=np.int64)[self.pairs.demand[self.order]]
        values = np.unique(values, return_inverse=True)[1].ravel()  # 0 .. distinct - 1
        unique = np.unique(lots * (int(values.max()) + 1) + values)
        return np.bincount(unique // (int(values.max()) + 1), minlength=n_lots)


def rank(pairs: Pairs) -> Ranked:
    """The fitting pairs of each lot, best first (see `Ranked`)."""
    fit = np.nonzero(pairs.ok)[0]
    shown = rounded(pairs.total[fit])
    demand_ids = pairs.demands.columns["id"][pairs.demand[fit]]
    lots = pairs.lot[fit]
    order = np.lexsort((demand_ids, -shown, lots))
    lots_sorted = lots[order]
    n_lots = len(pairs.lots)
    start = np.searchsorted(lots_sorted, np.arange(n_lots), side="left")
    end = np.searchsorted(lots_sorted, np.arange(n_lots), side="right")
    return Ranked(pairs, fit[order], shown[order], start, end)
