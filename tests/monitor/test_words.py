"""The officials' pages in the reader's words: commodity names in the page's language, and one
English word read as the Chinese word its place needs."""

from __future__ import annotations

import re

import pytest

from tests.conftest import export_file, login
from tests.factories import PASSWORD

ZH_NAMES = ("黑豆", "玉米", "花生")
EN_NAMES = ("Black bean", "Corn", "Peanut")


def visible(html: str) -> str:
    """The text a reader sees (SVG labels included), without tags, scripts or styles."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dashboard_and_charts_name_commodities_in_the_page_language(client, users, world, lang):
    login(client, "official", PASSWORD)
    page = client.get("/monitor/", headers={"Accept-Language": lang}).get_data(as_text=True)
    table = page.split('id="by-commodity"', 1)[1].split("</table>", 1)[0]
    chart = page.split('id="by-commodity"', 1)[0].rsplit("<svg", 1)[1]
    wanted, other = (ZH_NAMES, EN_NAMES) if lang == "zh" else (EN_NAMES, ZH_NAMES)
    for part in (visible(table), visible(chart)):
        assert all(name in part for name in wanted), part
        assert not any(name in part for name in other), part


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_exports_name_commodities_in_the_reader_language(client, users, world, lang):
    login(client, "official", PASSWORD)
    text = export_file(client, "lots.csv", headers={"Accept-Language": lang}).data
    text = text.decode("utf-8-sig")
    if lang == "en":
        assert "Black bean" in text and ",黑豆," not in text
    else:
        assert ",黑豆," in text and "Black bean" not in text


def test_accepted_quantity_and_closed_problems_have_their_own_words(client, users, world):
    login(client, "official", PASSWORD)
    deal = visible(client.get(f"/monitor/deals/{world['paid'].id}").get_data(as_text=True))
    # the 0.9 t the buyer accepted on delivery is checked in (验收), not an accepted order
    assert "验收 0.9 吨" in " ".join(deal.split())
    dashboard = client.get("/monitor/").get_data(as_text=True)
    ledger = dashboard.split("<h2>问题台账</h2>", 1)[1].split("</thead>", 1)[0]
    assert "已销号" in ledger and "已结束" not in ledger


def test_problem_categories_are_not_the_lot_fields_of_the_same_english_word(client, users, world):
    login(client, "provincial", PASSWORD)
    storage = world["problems"][2]
    page = visible(client.get(f"/monitor/problems/{storage.id}").get_data(as_text=True))
    # a storage problem (a cold store, a warehouse), not a lot's "storage conditions"
    assert "储存条件" not in page and "仓储" in page
