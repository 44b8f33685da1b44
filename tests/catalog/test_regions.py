"""Regions of China: lookups by what people type, and distances."""

from __future__ import annotations

import random

import pytest

from produce_match.catalog import regions
from produce_match.catalog.models import Region, RegionLevel
from produce_match.extensions import db


@pytest.mark.parametrize("text", ["辽宁", "辽宁省", "210000"])
def test_find_province(app, text):
    assert regions.find_province(text).code == "210000"


def test_find_county_by_short_name_within_its_province(app):
    [zhangwu] = regions.find_counties("彰武", "210000")
    assert zhangwu.name == "彰武县" and zhangwu.province_code == "210000"


def test_names_shared_by_several_counties_are_all_returned(app):
    assert len(regions.find_counties("城关区")) > 1


def test_every_province_has_counties(app):
    provinces = regions.provinces()
    assert len(provinces) >= 31
    mainland = [p for p in provinces if p.code not in ("710000", "810000", "820000")]
    assert all(regions.counties(p.code) for p in mainland)


def test_great_circle_distance(app):
    [zhangwu] = regions.find_counties("彰武县")
    [jinzhou] = regions.find_counties("金州区")
    beijing = regions.find_province("北京")
    assert 330 < regions.distance_km(zhangwu, jinzhou) < 420
    assert regions.distance_km(zhangwu, zhangwu) == 0
    assert 500 < regions.distance_km(zhangwu, beijing) < 600
    # Beijing to Shanghai is about 1,070 km
    assert 1000 < regions.great_circle_km(39.9042, 116.4074, 31.2304, 121.4737) < 1100


def test_find_place_is_find_province_then_find_counties_on_random_input(app):
    """The one-query lookup gives exactly what the two lookups give, on typed names, short
    names, codes (spaces around), another province's counties, shared names, blanks, nonsense."""
    rng = random.Random(15)
    every = list(db.session.scalars(db.select(Region)))
    counties = [r for r in every if r.level is RegionLevel.county]

    def typed(region: Region) -> str:
        text = rng.choice([region.code, region.name, region.short_name or region.name])
        return rng.choice([text, f" {text} "])

    odd = [None, "", "  ", "火星", "城关区", "新华区", "辽宁", "000000"]
    pairs = 0
    for _ in range(600):
        county = rng.choice(counties)
        province = db.session.get(Region, county.province_code)
        given = (
            typed(province) if rng.random() < 0.8 else rng.choice(odd + [typed(rng.choice(every))]),
            typed(county) if rng.random() < 0.8 else rng.choice(odd + [typed(rng.choice(every))]),
        )
        old_province = regions.find_province(given[0])
        old_counties = regions.find_counties(given[1], old_province.code) if old_province else []
        new_province, new_counties = regions.find_place(*given)
        assert new_province is old_province
        assert new_counties == (old_counties if (given[1] or "").strip() else [])
        pairs += len(new_counties) == 1
    assert pairs > 300  # most draws were a province typed with one of its own counties


def test_find_place_by_codes_uses_the_regions_the_session_holds(app):
    """A place given by codes whose regions the session already read is found without a query
    (the buyer's own place, read with its token), and it is what the query finds."""
    from sqlalchemy import event

    county = db.session.scalars(
        db.select(Region).where(Region.level == RegionLevel.county).order_by(Region.code)
    ).first()
    other = db.session.scalars(
        db.select(Region).where(
            Region.level == RegionLevel.county, Region.province_code != county.province_code
        )
    ).first()
    province_code, county_code, other_code = county.province_code, county.code, other.code
    db.session.expunge_all()
    queried = regions.find_place(province_code, county_code)
    held_too = db.session.get(Region, other_code)  # a reference: the session holds it weakly
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        held = regions.find_place(province_code, f" {county_code} ")
        elsewhere = regions.find_place(province_code, other_code)
        assert statements == []  # both in the session: no query
        assert regions.find_place(province_code, "彰武") is not None
        assert len(statements) == 1  # a name: the query
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert held == queried and held[1][0].code == county_code
    assert elsewhere == (queried[0], [])  # another province's county is not in this one
    assert held_too.code == other_code
