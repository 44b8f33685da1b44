"""Units and money: exact both ways, no floats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from produce_match.units import (
    MassUnit,
    UnitError,
    cost_fen,
    fen_per_tonne,
    format_mass,
    format_money,
    format_price,
    grams_in,
    parse_unit,
    price_in,
    to_fen,
    to_grams,
)


@pytest.mark.parametrize(
    ("amount", "unit", "grams"),
    [
        ("40", "吨", 40_000_000),
        ("40", "t", 40_000_000),
        ("1", "斤", 500),
        ("1", "jin", 500),
        ("1", "公斤", 1000),
        ("2.5", "kg", 2500),
        ("0.001", "kg", 1),
        ("0.5", "斤", 250),
        ("9.8", "t", 9_800_000),
        ("1,000", "斤", 500_000),
        (3, "千克", 3000),
        ("0.000001", "吨", 1),
    ],
)
def test_quantities_become_exact_grams(amount, unit, grams):
    assert to_grams(amount, unit) == grams
    assert isinstance(to_grams(amount, unit), int)


@pytest.mark.parametrize("grams", [1, 250, 500, 9_800_000, 40_000_000, 123_456_789])
@pytest.mark.parametrize("unit", list(MassUnit))
def test_grams_round_trip_through_every_unit(grams, unit):
    assert to_grams(grams_in(grams, unit), unit) == grams


@pytest.mark.parametrize(
    ("amount", "unit"),
    [
        ("0", "kg"),
        ("-1", "kg"),
        ("abc", "kg"),
        ("0.0001", "kg"),
        ("1e400", "t"),
        ("NaN", "kg"),
        ("Infinity", "t"),
        ("", "kg"),
        ("2000000", "t"),
    ],
)
def test_bad_quantities_are_refused(amount, unit):
    with pytest.raises(UnitError):
        to_grams(amount, unit)


@pytest.mark.parametrize(
    "text",
    [
        "斤",
        "jin",
        "市斤",
        "公斤",
        "kg",
        "KG",
        "千克",
        "吨",
        "t",
        "ton",
        "元/斤",
        "元/公斤",
        "yuan/kg",
        "元 / 吨",
        "¥/kg",
    ],
)
def test_unit_spellings(text):
    assert isinstance(parse_unit(text), MassUnit)


def test_unknown_unit():
    with pytest.raises(UnitError):
        parse_unit("箱")


def test_prices_are_exact_fen():
    assert to_fen("6.80") == 680
    assert to_fen("6.8") == 680
    assert to_fen(15) == 1500
    with pytest.raises(UnitError):
        to_fen("6.805")
    with pytest.raises(UnitError):
        to_fen("-1")


@pytest.mark.parametrize(
    ("fen", "unit", "per_t"),
    [
        (680, "kg", 680_000),
        (340, "jin", 680_000),
        (680_000, "t", 680_000),
        (1, "jin", 2000),
    ],
)
def test_prices_compare_exactly_per_tonne(fen, unit, per_t):
    assert fen_per_tonne(fen, unit) == per_t


def test_price_conversion_both_ways():
    per_t = fen_per_tonne(680, "kg")  # 6.80 元/公斤
    assert price_in(per_t, "kg") == Decimal("6.8")
    assert price_in(per_t, "jin") == Decimal("3.4")
    assert price_in(per_t, "t") == Decimal("6800")
    # a price per jin with an odd fen stays exact per kg and per tonne
    per_t = fen_per_tonne(333, "jin")
    assert price_in(per_t, "kg") == Decimal("6.66") and price_in(per_t, "jin") == Decimal("3.33")
    # and a price per tonne that is not a whole fen per kg is shown with its real precision
    assert format_price(fen_per_tonne(680_100, "t"), "kg") == "6.801 元/公斤"


def test_formatting_as_people_write():
    assert format_mass(40_000_000) == "40 吨"
    assert format_mass(40_000_000, lang="en") == "40 t"
    assert format_mass(750, "jin") == "1.5 斤"
    assert format_mass(9_800_000, "t") == "9.8 吨"
    assert format_price(680_000, "kg") == "6.80 元/公斤"
    assert format_price(680_000, "jin", "en") == "3.40 yuan/jin"
    assert format_money(29_800_000) == "298,000.00 元"
    assert format_money(-5, "en") == "-0.05 yuan"


def test_cost_is_exact_to_the_fen():
    # 10 t at 6.80 元/公斤 = 68,000 元
    assert cost_fen(10_000_000, fen_per_tonne(680, "kg")) == 6_800_000
    # 1 g at 3.33 元/斤 = 0.666 fen, rounded half up to 1 fen
    assert cost_fen(1, fen_per_tonne(333, "jin")) == 1


def test_large_amounts_read_naturally():
    assert format_mass(100_000_000, "jin") == "20万斤"
    assert format_mass(7_500_000, "jin") == "1.5万斤"
    assert format_mass(100_000_000, "jin", lang="en") == "200,000 jin"
    assert format_mass(20_000_000, "kg") == "20 吨"
    assert format_mass(4_000, "jin") == "8 斤"
