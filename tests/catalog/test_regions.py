"""Regions of China: lookups by what people type, and distances."""

from __future__ import annotations

import pytest

from produce_match.catalog import regions


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
