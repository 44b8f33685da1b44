"""Search for rescue: with the default sort the sooner-spoiling of two equal matches comes
first, suggestions stay in the language typed, and result cards compare prices in one unit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import g

from produce_match.dates import local_today
from produce_match.search.analysis import edit_distance
from produce_match.search.service import service
from tests.conftest import SEARCH_BACKENDS
from tests.factories import make_lot
from tests.search.test_search import search, titles

both = pytest.mark.parametrize("search_backend", SEARCH_BACKENDS)


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def in_days(days: int) -> str:
    return (local_today() + timedelta(days=days)).isoformat()


@pytest.fixture
def produce(app, users):
    """Black beans with a year left (a short title: the better text match) and black beans
    spoiling in 21 days; cherries with a year left and cherry tomatoes spoiling today; oranges,
    soybeans, mung beans and pomegranates."""
    coop, coop2 = users["coop"], users["coop2"]
    lots = {
        "beans_year": make_lot(coop, title="黑豆", spoil_by=in_days(365)),
        "beans_soon": make_lot(
            coop, title="道亭村 黑豆 新粮 急售 品质好 可议价", spoil_by=in_days(21)
        ),
        "cherry_year": make_lot(
            coop2, commodity="樱桃", title="金州大樱桃 冷藏", quantity="4", spoil_by=in_days(300)
        ),
        "tomato_today": make_lot(
            coop2, commodity="樱桃番茄", title="樱桃番茄", quantity="10", spoil_by=in_days(0)
        ),
        "orange": make_lot(coop2, commodity="橙子", title="脐橙 20吨", quantity="20"),
        "soybean": make_lot(coop, commodity="大豆", title="东北大豆 30吨", quantity="30"),
        "mung": make_lot(coop, commodity="绿豆", title="绿豆 5吨", quantity="5"),
        "pomegranate": make_lot(coop2, commodity="石榴", title="石榴 5吨", quantity="5"),
    }
    service().process_queue()
    return lots


@both
def test_of_two_equal_matches_the_one_spoiling_sooner_comes_first(produce):
    assert titles(search("黑豆"))[:2] == [produce["beans_soon"].title, "黑豆"]
    # the urgency sort still puts the sooner first, and the other sorts are left alone
    assert titles(search("黑豆", sort="urgency"))[0] == produce["beans_soon"].title


@both
def test_a_strong_match_still_beats_a_weak_one_however_urgent(produce):
    # cherries with 300 days left (the commodity asked for) before cherry tomatoes spoiling
    # today (which merely carry the word)
    assert titles(search("樱桃"))[:2] == ["金州大樱桃 冷藏", "樱桃番茄"]


@both
def test_suggestions_stay_in_the_language_typed(produce):
    english = search("chery")
    assert english.total == 0
    assert english.suggestion == "cherry" and "橙子" not in english.suggestions
    pinyin = search("hiedou")  # a pinyin slip: the Chinese name
    assert pinyin.suggestion == "黑豆"


@both
def test_a_name_not_in_the_catalogue_gets_the_nearest_catalogue_names(produce):
    durian = search("榴莲")  # durian is not in the catalogue
    assert durian.total == 0 and "石榴" in durian.suggestions
    assert all(re.fullmatch(r"[\u3400-\u9fff]+", s) for s in durian.suggestions)


@both
def test_a_misspelt_english_name_ranks_its_lots_first(produce):
    result = search("blak bean")
    assert result.suggestion == "black bean" and result.corrected
    assert {titles(result)[0], titles(result)[1]} == {"黑豆", produce["beans_soon"].title}
    # two words of the catalogue that match nothing together stay relaxed, uncorrected
    relaxed = search("黑豆 荔枝")
    assert relaxed.relaxed and not relaxed.corrected


def test_edit_distance_counts_a_swap_as_one_slip():
    assert edit_distance("hiedou", "heidou") == 1
    assert edit_distance("chery", "cherry") == 1
    assert edit_distance("chery", "cheng") == 2


def test_result_cards_show_prices_in_one_unit_the_visitor_chooses(client, users):
    make_lot(users["coop"], title="黑豆 40吨", price="6.80", price_unit="kg")
    make_lot(users["coop2"], commodity="樱桃", title="樱桃 4吨", price="15", price_unit="jin")
    make_lot(users["coop2"], commodity="玉米", title="玉米 150吨", price="2400", price_unit="t")
    service().process_queue()

    def prices(**args: str) -> list[str]:
        page = client.get("/lots", query_string=args, headers={"Accept-Language": "zh"}).text
        return re.findall(r"([\d.,]+ 元/\w+)</span>", page.split('class="lot-list"', 1)[1])

    by_default = prices()
    assert sorted(by_default) == ["2.40 元/公斤", "30.00 元/公斤", "6.80 元/公斤"]
    assert sorted(prices(price_in="jin")) == ["1.20 元/斤", "15.00 元/斤", "3.40 元/斤"]
    # a price filter's unit is the unit the cards compare in
    assert sorted(prices(max_price="3000", price_unit="t")) == ["2400.00 元/吨"]
    page = client.get("/lots", query_string={"q": "黑豆"}).text
    assert 'href="/lots?q=%E9%BB%91%E8%B1%86&amp;price_in=jin"' in page


def test_numbers_and_single_characters_are_not_taken_for_names(app):
    analyzer = service().analyzer
    assert analyzer.suggestions("40吨") == []
    assert analyzer.suggestions("chery 40") == ["cherry 40"]
