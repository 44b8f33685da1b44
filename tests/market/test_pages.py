"""The market page (行情) and its API: Chinese, a chart, logged-in only."""

from __future__ import annotations

import re
from datetime import timedelta

from produce_match.dates import local_today
from tests.conftest import login
from tests.factories import PASSWORD, make_lot
from tests.market.conftest import LIAONING, ZHANGWU, set_reference
from tests.market.test_queries import _china, _paid

ZH = {"Accept-Language": "zh-CN"}


def _history(users):
    """A reference in Zhangwu and three orders paid this week at 5.00, 6.00, 7.00 元/公斤."""
    set_reference(users["official"], ZHANGWU, "6.50", local_today() - timedelta(days=20))
    lot = make_lot(users["coop"], quantity="40", unit="t")
    today = local_today()
    monday = today - timedelta(days=today.weekday())
    for price in (500_000, 600_000, 700_000):
        _paid(users, lot, price, _china(monday, 8))
    # last week: one order only (its price must not show)
    _paid(users, lot, 123_400, _china(monday - timedelta(days=3)))
    return lot


def test_the_page_shows_reference_medians_and_a_chart_in_chinese(client, users, beans):
    lot = _history(users)
    login(client, "buyer", PASSWORD)
    url = f"/market?commodity={beans.id}&province={LIAONING}&county={ZHANGWU}"
    response = client.get(url, headers=ZH)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>行情：黑豆 · 彰武县</h1>" in html
    assert "6.50 元/公斤" in html and "本县参考价" in html
    assert "6.00 元/公斤" in html  # this week's median
    assert "1.234" not in html and "1.23 元" not in html  # one order's price is never shown
    assert "订单太少" in html
    assert re.search(r'<svg class="chart chart-lines"[^>]*role="img"', html)
    assert html.count('class="chart-line-reference"') >= 1
    assert 'class="chart-line-median chart-point"' in html
    assert " style=" not in html and "<script>" not in html
    # in jin (斤) on asking
    jin = client.get(url + "&unit=jin", headers=ZH).get_data(as_text=True)
    assert "3.00 元/斤" in jin
    # the main menu links the page; the lot's page links to its commodity and county
    assert 'href="/market"' in html
    detail = client.get(f"/lots/{lot.id}", headers=ZH).get_data(as_text=True)
    link = re.search(r'<a href="(/market\?[^"]+)">看行情</a>', detail)
    assert link is not None
    target = link.group(1).replace("&amp;", "&")
    assert f"commodity={beans.id}" in target and f"county={ZHANGWU}" in target
    assert client.get(target, headers=ZH).status_code == 200


def test_the_page_asks_for_a_commodity_and_defaults_to_the_own_province(client, users):
    login(client, "coop", PASSWORD)
    html = client.get("/market", headers=ZH).get_data(as_text=True)
    assert "选择品类" in html or "请选择" in html
    assert f'<option value="{LIAONING}" selected>' in html
    assert "<svg" not in html


def test_visitors_are_sent_to_log_in(client, users, beans):
    response = client.get(f"/market?commodity={beans.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(f"/api/v1/market?commodity={beans.id}").status_code == 401


def test_the_api_returns_reference_and_weekly_medians(client, users, beans):
    _history(users)
    token = client.post("/api/v1/tokens", json={"login": "official", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json['token']}"}
    body = client.get(f"/api/v1/market?commodity=黑豆&county={ZHANGWU}", headers=headers).json
    assert body["commodity"] == "black_bean"
    assert body["province"]["code"] == LIAONING and body["county"]["code"] == ZHANGWU
    assert body["reference"]["price_fen_per_t"] == 650_000
    assert body["reference"]["source"] == "county"
    assert body["min_orders"] == 3 and len(body["weeks"]) == 12
    this, last = body["weeks"][-1], body["weeks"][-2]
    assert (this["orders"], this["median_fen_per_t"], this["median_yuan_per_kg"]) == (
        3,
        600_000,
        "6",
    )
    assert this["quantity_kg"] == "3000" and this["reference_fen_per_t"] == 650_000
    assert (last["orders"], last["median_fen_per_t"], last["too_few_orders"]) == (1, None, True)
    assert [h["price_fen_per_t"] for h in body["history"]] == [650_000]
    unknown = client.get("/api/v1/market?commodity=unobtainium", headers=headers)
    assert unknown.status_code == 422
    bad_place = client.get(f"/api/v1/market?commodity=黑豆&county={LIAONING}", headers=headers)
    assert bad_place.status_code == 422
