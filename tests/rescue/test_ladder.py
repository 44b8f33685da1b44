"""The ladder's pure rules: which step is due, and what repricing proposes (no app)."""

from datetime import date, timedelta

from produce_match.matching.rules import DemandFacts, LotFacts
from produce_match.rescue.ladder import clean_price, due_step, price_floor, reprice, widen_fits
from produce_match.rescue.models import RescueStep

TODAY = date(2026, 12, 7)


def test_the_step_due_by_days_left():
    assert due_step(8) is None
    assert due_step(7) is RescueStep.reprice
    assert due_step(6) is RescueStep.reprice
    assert due_step(5) is RescueStep.widen
    assert due_step(4) is RescueStep.widen
    assert due_step(3) is RescueStep.aid
    assert due_step(0) is RescueStep.aid
    assert due_step(-1) is None  # spoiled: nothing to rescue
    assert due_step(3, open_with_stock=False) is None
    assert due_step(9, (10, 6, 2)) is RescueStep.reprice
    assert due_step(2, (10, 6, 2)) is RescueStep.aid


def _lot(price: int, grade: str = "二级") -> LotFacts:
    return LotFacts(1, 1, grade, price, 40_000_000, TODAY + timedelta(days=7), TODAY, 42.4, 122.5)


def _demand(ident: int, max_price: int, **kw) -> DemandFacts:
    values = dict(
        id=ident,
        commodity_id=1,
        grades=(),
        min_g=10_000_000,
        max_g=40_000_000,
        max_price_fen_per_t=max_price,
        needed_by=TODAY + timedelta(days=25),
        lat=42.4,
        lng=122.6,
    )
    values.update(kw)
    return DemandFacts(**values)


def test_reprice_proposes_the_highest_clean_price_that_fits_the_most_demands():
    lot = _lot(680_000)  # 6.80 元/公斤
    demands = [
        _demand(1, 750_000),  # fits already
        _demand(2, 600_000),  # price only
        _demand(3, 525_000),  # price only: 5.25 -> 5.20
        _demand(4, 300_000),  # below the floor (3.40)
        _demand(5, 600_000, grades=("一级",)),  # grade too: a lower price does not help
    ]
    found = reprice(lot, demands, TODAY)
    assert found.price_fen_per_t == 520_000
    assert (found.demands_before, found.demands_after) == (1, 3)


def test_reprice_without_a_price_within_reach():
    found = reprice(_lot(680_000), [_demand(1, 750_000), _demand(2, 300_000)], TODAY)
    assert found.price_fen_per_t is None
    assert (found.demands_before, found.demands_after) == (1, 1)


def test_the_floor_and_clean_figures():
    assert price_floor(680_000) == 340_000
    assert clean_price(525_999) == 520_000
    assert clean_price(520_000) == 520_000


def test_widen_reaches_far_buyers_and_processors_of_any_grade():
    lot = _lot(680_000)
    far = _demand(1, 750_000, lat=28.7, lng=115.9, max_distance_km=100)
    grade = _demand(2, 750_000, grades=("一级",))
    assert widen_fits(lot, far, TODAY, processor=False)
    assert not widen_fits(lot, grade, TODAY, processor=False)
    assert widen_fits(lot, grade, TODAY, processor=True)
    assert not widen_fits(lot, _demand(3, 750_000), TODAY, processor=True)  # fits: told already
    assert not widen_fits(lot, _demand(4, 500_000), TODAY, processor=True)  # price


def test_the_step_days_setting(tmp_path):
    import pytest

    from produce_match.config import ConfigError, build_config

    assert build_config(str(tmp_path), environ={})["RESCUE_STEP_DAYS"] == (7, 5, 3)
    assert build_config(str(tmp_path), environ={"RESCUE_STEP_DAYS": "10, 6,2"})[
        "RESCUE_STEP_DAYS"
    ] == (10, 6, 2)
    for bad in ("7,5", "5,7,3", "7,5,5", "7,5,-1", "a,b,c"):
        with pytest.raises(ConfigError, match="^RESCUE_STEP_DAYS must be "):
            build_config(str(tmp_path), environ={"RESCUE_STEP_DAYS": bad})
