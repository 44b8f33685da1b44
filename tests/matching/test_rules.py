"""The compatibility rule and the score: pure functions, no app."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from produce_match.catalog.grades import split_grades
from produce_match.geo import KM_PER_DAY, great_circle_km, transit_days
from produce_match.matching.rules import (
    WEIGHTS,
    DemandFacts,
    Failure,
    LotFacts,
    ReasonKind,
    check,
    rank,
    reliability,
    score,
)
from produce_match.units import fen_per_tonne, to_fen, to_grams

TODAY = date(2026, 4, 1)
ZHANGWU = (42.39, 122.54)
NANCHANG = (28.68, 115.89)
SHENYANG = (41.80, 123.43)

LOT = LotFacts(
    id=1,
    commodity_id=7,
    grade="一等",
    price_fen_per_t=fen_per_tonne(to_fen("6.80"), "kg"),
    remaining_g=to_grams("40", "t"),
    spoil_by=TODAY + timedelta(days=21),
    available_from=TODAY - timedelta(days=30),
    lat=ZHANGWU[0],
    lng=ZHANGWU[1],
    verified=True,
)
DEMAND = DemandFacts(
    id=1,
    commodity_id=7,
    grades=("一等", "二等"),
    min_g=to_grams("10", "t"),
    max_g=to_grams("50", "t"),
    max_price_fen_per_t=fen_per_tonne(to_fen("7.50"), "kg"),
    needed_by=TODAY + timedelta(days=30),
    lat=NANCHANG[0],
    lng=NANCHANG[1],
    verified=True,
)


def test_the_beans_fit_the_nanchang_demand():
    fit = check(LOT, DEMAND, TODAY)
    assert fit.ok, fit.failures
    assert 1500 < fit.distance_km < 1800
    assert fit.transit_days == 4  # ceil(~1,650 / 500)
    assert fit.arrives == TODAY + timedelta(days=4)
    assert fit.supply_g == LOT.remaining_g


def test_a_price_per_jin_is_compared_per_tonne():
    # 3.75 元/斤 is exactly 7.50 元/公斤: at the maximum, not above it
    at_max = replace(DEMAND, max_price_fen_per_t=fen_per_tonne(to_fen("3.75"), "jin"))
    lot = replace(LOT, price_fen_per_t=fen_per_tonne(to_fen("7500"), "t"))
    assert check(lot, at_max, TODAY).ok
    dearer = replace(lot, price_fen_per_t=fen_per_tonne(to_fen("7500.01"), "t"))
    assert check(dearer, at_max, TODAY).failures == (Failure.price,)


def test_grades_are_compared_loosely_and_none_named_accepts_any():
    assert check(replace(LOT, grade=" 一 等 "), DEMAND, TODAY).ok
    assert check(replace(LOT, grade="统货"), DEMAND, TODAY).failures == (Failure.grade,)
    assert check(replace(LOT, grade=None), DEMAND, TODAY).failures == (Failure.grade,)
    assert check(replace(LOT, grade="统货"), replace(DEMAND, grades=()), TODAY).ok
    assert check(replace(LOT, grade="a"), replace(DEMAND, grades=("A",)), TODAY).ok


def test_split_grades_takes_chinese_and_western_separators():
    assert split_grades("一等、二等, 特级，一等") == ("一等", "二等", "特级")
    assert split_grades(["A", " a ", "B"]) == ("A", "B")
    assert split_grades("") == ()


def test_distance_limit():
    km = great_circle_km(*ZHANGWU, *NANCHANG)
    assert check(LOT, replace(DEMAND, max_distance_km=int(km) + 1), TODAY).ok
    near_only = replace(DEMAND, max_distance_km=int(km) - 1)
    assert check(LOT, near_only, TODAY).failures == (Failure.distance,)


def test_transit_days_at_the_documented_speed():
    assert transit_days(0) == 1
    assert transit_days(KM_PER_DAY) == 1
    assert transit_days(KM_PER_DAY + 1) == 2
    assert transit_days(1650) == 4


def test_it_must_arrive_before_it_spoils_and_before_it_is_needed():
    # four days on the road: spoiling on day 4 is just in time, on day 3 too late
    assert check(replace(LOT, spoil_by=TODAY + timedelta(days=4)), DEMAND, TODAY).ok
    spoils = check(replace(LOT, spoil_by=TODAY + timedelta(days=3)), DEMAND, TODAY)
    assert spoils.failures == (Failure.spoils,)
    late = check(LOT, replace(DEMAND, needed_by=TODAY + timedelta(days=3)), TODAY)
    assert late.failures == (Failure.late,)
    # a lot available only later leaves later
    later = replace(LOT, available_from=TODAY + timedelta(days=20))
    assert Failure.spoils in check(later, DEMAND, TODAY).failures
    # a lot in the buyer's own county still needs a day
    here = replace(LOT, lat=NANCHANG[0], lng=NANCHANG[1])
    assert check(here, replace(DEMAND, needed_by=TODAY), TODAY).failures == (Failure.late,)
    assert check(here, replace(DEMAND, needed_by=TODAY + timedelta(days=1)), TODAY).ok


def test_minimums_and_what_is_left():
    assert check(replace(LOT, remaining_g=to_grams("10", "t")), DEMAND, TODAY).ok
    short = check(replace(LOT, remaining_g=to_grams("9999.999", "kg")), DEMAND, TODAY)
    assert short.failures == (Failure.too_little,)
    assert check(replace(LOT, remaining_g=0), DEMAND, TODAY).failures == (
        Failure.lot_closed,
        Failure.too_little,
    )
    assert Failure.lot_closed in check(replace(LOT, open=False), DEMAND, TODAY).failures
    assert check(LOT, replace(DEMAND, active=False), TODAY).failures == (Failure.demand_closed,)
    # supply is capped by the demand's maximum
    small = replace(DEMAND, min_g=to_grams("1", "t"), max_g=to_grams("5", "t"))
    assert check(LOT, small, TODAY).supply_g == to_grams("5", "t")
    # the lot's own minimum order must fit within the demand's maximum
    assert check(replace(LOT, min_order_g=to_grams("6", "t")), small, TODAY).failures == (
        Failure.lot_minimum,
    )
    assert check(replace(LOT, min_order_g=to_grams("5", "t")), small, TODAY).ok


def test_other_commodity_never_fits():
    assert check(replace(LOT, commodity_id=8), DEMAND, TODAY).failures == (Failure.commodity,)


def test_reliability_is_smoothed_so_a_new_buyer_is_in_the_middle():
    assert reliability(0, 0) == 0.5
    assert reliability(10, 10) > reliability(1, 1) > reliability(0, 0) > reliability(0, 1)
    assert reliability(0, 10) > 0


def _score(lot=LOT, demand=DEMAND):
    fit = check(lot, demand, TODAY)
    assert fit.ok
    return score(lot, demand, fit, TODAY)


def test_score_reasons_explain_the_total():
    s = _score()
    assert 0 < s.total <= 100
    assert s.total == round(sum(r.points for r in s.reasons), 1)
    kinds = {r.kind: r for r in s.reasons}
    assert round(kinds[ReasonKind.price].value, 2) == round(1 - 6.8 / 7.5, 2)
    assert kinds[ReasonKind.urgency].value == 21
    assert ReasonKind.new_buyer in kinds


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        # cheaper against the same maximum
        (LOT, replace(LOT, price_fen_per_t=fen_per_tonne(to_fen("7.40"), "kg"))),
        # nearer
        (replace(LOT, lat=SHENYANG[0], lng=SHENYANG[1]), LOT),
        # sooner to spoil
        (replace(LOT, spoil_by=TODAY + timedelta(days=7)), LOT),
        # verified
        (LOT, replace(LOT, verified=False)),
        # the lot's size closer to what the buyer takes
        (
            replace(LOT, remaining_g=to_grams("50", "t")),
            replace(LOT, remaining_g=to_grams("12", "t")),
        ),
    ],
)
def test_score_orders_lots_for_a_demand(better, worse):
    near = replace(DEMAND, lat=SHENYANG[0] + 0.5, lng=SHENYANG[1])
    assert _score(better, near).total > _score(worse, near).total


def test_reliable_buyers_rank_above_new_ones_above_unreliable_ones():
    good = replace(DEMAND, id=2, orders_finished=10, orders_completed=10)
    new = replace(DEMAND, id=3)
    bad = replace(DEMAND, id=4, orders_finished=10, orders_completed=1)
    ranked = rank([(LOT, bad), (LOT, new), (LOT, good)], TODAY)
    assert [m.demand.id for m in ranked] == [2, 3, 4]


def test_reliable_cooperatives_rank_above_new_ones_above_unreliable_ones():
    good = replace(LOT, id=2, orders_finished=10, orders_completed=10)
    new = replace(LOT, id=3)
    bad = replace(LOT, id=4, orders_finished=10, orders_completed=1)
    ranked = rank([(bad, DEMAND), (new, DEMAND), (good, DEMAND)], TODAY)
    assert [m.lot.id for m in ranked] == [2, 3, 4]


def test_reliability_counts_both_sides_with_half_the_weight_each():
    assert WEIGHTS["buyer_reliability"] == WEIGHTS["seller_reliability"] == 5
    assert sum(WEIGHTS.values()) == 100
    lot = replace(LOT, orders_finished=6, orders_completed=4)
    demand = replace(DEMAND, orders_finished=8, orders_completed=8)
    kinds = {r.kind: r for r in _score(lot, demand).reasons}
    buyer, seller = kinds[ReasonKind.reliability], kinds[ReasonKind.seller_reliability]
    assert buyer.extra == (8, 8, 5) and buyer.points == 5 * (8 + 2) / (8 + 4)
    assert seller.extra == (4, 6, 5) and seller.points == 5 * (4 + 2) / (6 + 4)
    new = {r.kind: r for r in _score().reasons}
    assert new[ReasonKind.new_buyer].points == new[ReasonKind.new_seller].points == 2.5


def test_rank_leaves_out_what_does_not_fit():
    far = replace(DEMAND, id=9, max_distance_km=100)
    ranked = rank([(LOT, DEMAND), (LOT, far)], TODAY)
    assert [m.demand.id for m in ranked] == [1]
