"""A buyer's exact maximum price is told only to those who may read its demand: a lot's
cooperative and the officials of the lot's place see the buyers that fit, but no figure from
which the maximum could be worked out (not the price reason's headroom or points, nor the
total, which minus the other parts' points would give the price part)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g

from produce_match.dates import local_today
from produce_match.matching.rules import ReasonKind
from tests.conftest import login
from tests.factories import PASSWORD, make_demand, make_lot

TODAY = local_today()
#: 6.80 元/公斤 asked against 7.50 元/公斤 at most: the headroom 0.0933... gives 7.50 away
HEADROOM = 1 - 680 / 750


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


@pytest.fixture
def pair(users):
    demand = make_demand(users["buyer"])  # delivered to 东湖区, Jiangxi: up to 7.50 元/公斤
    lot = make_lot(users["coop"], spoil_by=(TODAY + timedelta(days=21)).isoformat())
    return lot, demand


def _headers(client, name):
    token = client.post(
        "/api/v1/tokens", json={"login": name, "password": PASSWORD, "name": "t"}
    ).json["token"]
    return {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}


def _price_reason(match):
    [reason] = [r for r in match["reasons"] if r["kind"] == ReasonKind.price.value]
    return reason


@pytest.mark.parametrize("name", ["coop", "official", "provincial"])
def test_the_lots_side_gets_no_figure_of_the_maximum_through_the_api(client, users, pair, name):
    lot, _demand = pair
    got = client.get(f"/api/v1/lots/{lot.id}/matches", headers=_headers(client, name))
    assert got.status_code == 200
    [match] = got.json
    price = _price_reason(match)
    assert price["value"] is None and price["points"] is None
    assert price["text"] == "价格在买家上限之内"
    assert match["score"] is None
    # the other reasons keep their figures: they are the lot's, the distance, the buyer's record
    assert all(r["points"] is not None for r in match["reasons"] if r is not price)
    assert f"{HEADROOM:.4f}"[:5] not in got.get_data(as_text=True)


@pytest.mark.parametrize("name", ["admin"])
def test_those_who_may_read_the_demand_still_see_every_figure(client, users, pair, name):
    lot, demand = pair
    got = client.get(f"/api/v1/lots/{lot.id}/matches", headers=_headers(client, name))
    [match] = got.json
    assert _price_reason(match)["value"] == pytest.approx(HEADROOM)
    assert 0 < match["score"] <= 100
    back = client.get(f"/api/v1/demands/{demand.id}/matches", headers=_headers(client, "buyer"))
    assert _price_reason(back.json[0])["value"] == pytest.approx(HEADROOM)
    assert back.json[0]["score"] == match["score"]


def test_the_lot_page_shows_no_headroom_and_no_score_to_its_cooperative(client, users, pair):
    lot, _demand = pair
    login(client, "coop", PASSWORD)
    page = client.get(f"/lots/{lot.id}").get_data(as_text=True)
    assert "南昌粮油公司" in page
    assert "价格在买家上限之内" in page
    assert "低于上限" not in page and 'class="score"' not in page
    client.post("/logout")
    login(client, "admin", PASSWORD)
    page = client.get(f"/lots/{lot.id}").get_data(as_text=True)
    assert "价格低于上限 9%" in page and 'class="score"' in page


def test_the_plan_tells_the_lots_office_no_figure_of_a_faraway_demand(client, users, pair):
    login(client, "official", PASSWORD)  # Zhangwu's office; the demand is delivered to Jiangxi
    page = client.get("/match/plan").get_data(as_text=True)
    assert "南昌粮油公司" in page
    assert "价格在买家上限之内" in page and "低于上限" not in page
