"""The rule and the score over many pairs at once (matching/vector.py) give exactly what the
per-pair rule gives (matching/rules.py), on random lots and demands full of edge cases."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest

from produce_match.geo import great_circle_km
from produce_match.matching import vector
from produce_match.matching.rules import DemandFacts, Failure, LotFacts, check, rank, score

TODAY = date(2026, 4, 1)
#: county centroids: some far apart, two the same place, some a few km apart
PLACES = [
    (42.39, 122.54),
    (28.68, 115.89),
    (41.80, 123.43),
    (41.80, 123.43),
    (36.86, 118.73),
    (36.90, 118.80),
    (23.13, 113.26),
    (43.82, 87.62),
    (30.57, 104.07),
]
#: grades as people write them: the same grade in several spellings, none, blank
LOT_GRADES = [None, "", "一等", "一 等", "特级", "二等", "A", "a", "统货"]
DEMAND_GRADES = [(), (), ("一等",), ("一等", "特级"), ("Ａ",), ("二等", "统货"), (" ",), ("特级",)]
PRICES = [100_000, 250_000, 400_000, 400_001, 800_000, 1_200_000]
TONNE = 1_000_000


def _lots(rng: random.Random, n: int) -> list[LotFacts]:
    out = []
    for i in range(n):
        left = rng.choice(
            [0, TONNE, 2 * TONNE, 5 * TONNE, 20 * TONNE, rng.randrange(1, 30) * TONNE]
        )
        out.append(
            LotFacts(
                id=i + 1,
                commodity_id=rng.choice([1, 1, 1, 2]),
                grade=rng.choice(LOT_GRADES),
                price_fen_per_t=rng.choice(PRICES),
                remaining_g=left,
                spoil_by=TODAY + timedelta(days=rng.randint(-1, 40)),
                available_from=TODAY + timedelta(days=rng.randint(-20, 5)),
                lat=(place := rng.choice(PLACES))[0],
                lng=place[1],
                open=rng.random() < 0.9,
                min_order_g=rng.choice([None, None, 0, TONNE, 2 * TONNE, 5 * TONNE, left]),
                verified=rng.random() < 0.5,
                org_id=rng.randint(1, 20),
                orders_finished=(sold := rng.choice([0, 0, 1, 3, 7, 40])),
                orders_completed=rng.randint(0, sold),
            )
        )
    return out


def _demands(rng: random.Random, n: int, lots: list[LotFacts]) -> list[DemandFacts]:
    out = []
    for i in range(n):
        lot = rng.choice(lots)
        # bounds equal to a lot's remainder and ceilings equal to a lot's price, often
        most = rng.choice([TONNE, 2 * TONNE, 5 * TONNE, 10 * TONNE, max(1, lot.remaining_g)])
        least = rng.choice([0, TONNE, most, min(most, max(1, lot.remaining_g))])
        lat, lng = rng.choice(PLACES)
        here = great_circle_km(lot.lat, lot.lng, lat, lng)
        finished = rng.choice([0, 0, 1, 3, 10])
        out.append(
            DemandFacts(
                id=i + 1,
                commodity_id=rng.choice([1, 1, 1, 2]),
                grades=rng.choice(DEMAND_GRADES),
                min_g=least,
                max_g=most,
                max_price_fen_per_t=rng.choice([*PRICES, lot.price_fen_per_t]),
                needed_by=TODAY + timedelta(days=rng.randint(0, 45)),
                lat=lat,
                lng=lng,
                max_distance_km=rng.choice([None, None, 0, 300, 1000, int(here), int(here) + 1]),
                active=rng.random() < 0.9,
                verified=rng.random() < 0.6,
                orders_finished=finished,
                orders_completed=rng.randint(0, finished),
                org_id=rng.randint(100, 130),
            )
        )
    return out


@pytest.fixture(params=[1, 2, 3])
def world(request):
    rng = random.Random(request.param)
    lots = _lots(rng, 100)
    demands = _demands(rng, 60, lots)
    # lots in two time zones: some are still on yesterday
    todays = [TODAY - timedelta(days=1) if rng.random() < 0.2 else TODAY for _ in lots]
    return lots, demands, todays


def test_every_pair_checks_and_scores_as_the_rule(world):
    lots, demands, todays = world
    pairs = vector.evaluate(lots, demands, todays, vector.every_pair(lots, demands))
    assert len(pairs.lot) == len(lots) * len(demands)  # 6,000 pairs
    fitting = 0
    seen: set[Failure] = set()
    for k in range(len(pairs.lot)):
        lot, demand = lots[pairs.lot[k]], demands[pairs.demand[k]]
        today = todays[pairs.lot[k]]
        expected = check(lot, demand, today)
        assert pairs.check_at(k) == expected, (lot, demand)
        seen.update(expected.failures)
        if expected.ok:
            fitting += 1
            found = score(lot, demand, expected, today)
            # the unrounded total is the same float as the per-pair sum of the points
            assert float(pairs.total[k]) == sum(r.points for r in found.reasons)
            assert round(float(pairs.total[k]), 1) == found.total
            assert pairs.match_at(k).score == found
    assert fitting > 100
    assert seen == set(Failure)  # every failure happened somewhere


def test_the_candidates_leave_out_only_pairs_the_rule_refuses(world):
    lots, demands, todays = world
    li, di = vector.candidates(lots, demands)
    kept = set(zip(li.tolist(), di.tolist(), strict=True))
    assert len(kept) == len(li)
    narrowing = {Failure.commodity, Failure.price, Failure.too_little}
    for i, lot in enumerate(lots):
        for j, demand in enumerate(demands):
            refused = set(check(lot, demand, todays[i]).failures) & narrowing
            assert ((i, j) in kept) == (not refused)


def test_ranked_matches_are_the_rules_ranking_lot_by_lot(world):
    lots, demands, todays = world
    ranked = vector.rank(vector.evaluate(lots, demands, todays))
    buyers = ranked.distinct(np.array([d.org_id for d in demands]))
    some = 0
    for i, lot in enumerate(lots):
        expected = rank(((lot, d) for d in demands), todays[i])
        assert ranked.matches(i) == expected
        assert ranked.matches(i, 3) == expected[:3]
        assert ranked.count(i) == len(expected)
        assert buyers[i] == len({m.demand.org_id for m in expected})
        some += bool(expected)
    assert some > 10


def test_ties_go_to_the_lower_demand_id():
    lot = LotFacts(1, 1, None, 100_000, 5 * TONNE, TODAY + timedelta(days=9), TODAY, 30.0, 110.0)
    same = [
        DemandFacts(d, 1, (), 0, 5 * TONNE, 200_000, TODAY + timedelta(days=20), 30.0, 110.0)
        for d in (5, 3, 4)
    ]
    ranked = vector.rank(vector.evaluate([lot], same, TODAY))
    assert [m.demand.id for m in ranked.matches(0)] == [3, 4, 5]


def test_nothing_to_match():
    ranked = vector.rank(vector.evaluate([], [], TODAY))
    assert ranked.distinct(np.zeros(0, dtype=np.int64)).tolist() == []


def test_rounding_is_pythons():
    rng = random.Random(7)
    tricky = [0.05, 0.15, 0.25, 0.35, 2.675, 1.25, 12.45, 99.95, 100.0, 0.0, 33.349999999999994]
    tricky += [k / 20 for k in range(2001)]  # every half of a tenth from 0 to 100
    tricky += [k / 20 + d for k in range(2001) for d in (1e-13, -1e-13, 5e-15, -5e-15)]
    tricky += [rng.uniform(0, 100) for _ in range(20_000)]
    values = np.array([x for x in tricky if x >= 0])
    assert vector.rounded(values).tolist() == [round(x, 1) for x in values.tolist()]
