"""Who sees what: an office its jurisdiction (a province office its counties), administrators
everywhere; cooperatives and buyers never (404), except a cooperative's own ledger entries."""

from __future__ import annotations

import pytest

from tests.conftest import export_file, login
from tests.factories import PASSWORD

PAGES = [
    "/monitor/",
    "/monitor/at-risk",
    "/monitor/deals",
    "/monitor/problems",
    "/monitor/prices",
    "export:lots.xlsx",
    "export:deals.csv",
    "export:payments.csv",
    "export:problems.csv",
    "export:report.xlsx",
]


def _as(app, login_name):
    client = app.test_client()
    login(client, login_name, PASSWORD)
    return client


def _token(client, login_name):
    return client.post(
        "/api/v1/tokens", json={"login": login_name, "password": PASSWORD, "name": "t"}
    ).json["token"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_by_role_and_place(app, users, world, page):
    sep = "&" if "?" in page else "?"
    expected = {
        ("official", ""): 200,
        ("official", "county=彰武县"): 200,
        ("official", "county=金州区"): 404,  # a neighbour county of the same province
        ("official", "province=辽宁省"): 404,  # a county office does not see its province
        ("provincial", ""): 200,
        ("provincial", "county=金州区"): 200,
        ("provincial", "county=东湖区"): 404,
        ("jiangxi", ""): 200,
        ("jiangxi", "county=彰武县"): 404,
        ("admin", ""): 200,
        ("admin", "county=彰武县"): 200,
        ("buyer", ""): 404,
        # a cooperative sees its own ledger entries (and nothing else of the area)
        ("coop", ""): 200 if page == "/monitor/problems" else 404,
    }
    for (who, query), status in expected.items():
        client, url = _as(app, who), page + (sep + query if query else "")
        if url.startswith("export:"):  # asked for with the export button, then downloaded
            response = export_file(client, url.removeprefix("export:"))
        else:
            response = client.get(url)
        assert response.status_code == status, (who, query, response.status_code)


def test_what_each_sees_on_the_dashboard(app, users, world):
    assert "道亭村黑豆" in _as(app, "official").get("/monitor/at-risk").get_data(as_text=True)
    assert "樱桃" not in _as(app, "official").get("/monitor/at-risk").get_data(as_text=True)
    provincial = _as(app, "provincial").get("/monitor/at-risk").get_data(as_text=True)
    assert "樱桃" in provincial and "道亭村黑豆" in provincial
    assert "道亭村黑豆" not in _as(app, "jiangxi").get("/monitor/at-risk").get_data(as_text=True)


def test_deals_and_their_history_stay_in_the_jurisdiction(app, users, world):
    order_id = world["paid"].id
    assert _as(app, "official").get(f"/monitor/deals/{order_id}").status_code == 200
    assert _as(app, "provincial").get(f"/monitor/deals/{order_id}").status_code == 200
    assert _as(app, "jiangxi").get(f"/monitor/deals/{order_id}").status_code == 404
    assert _as(app, "buyer").get(f"/monitor/deals/{order_id}").status_code == 404  # its own page
    assert _as(app, "coop").get(f"/monitor/deals/{order_id}").status_code == 404  # is /orders
    assert f"#{order_id}" not in _as(app, "jiangxi").get("/monitor/deals").get_data(as_text=True)


def test_ledger_entries_are_seen_by_their_cooperative_and_its_offices(app, users, world):
    own, for_coop, other = world["problems"]
    coop = _as(app, "coop")
    assert coop.get(f"/monitor/problems/{own.id}").status_code == 200
    assert coop.get(f"/monitor/problems/{for_coop.id}").status_code == 200  # raised for it
    assert coop.get(f"/monitor/problems/{other.id}").status_code == 404  # Jinzhou's
    listed = coop.get("/monitor/problems").get_data(as_text=True)
    assert f"#{own.id}" in listed and f"#{other.id}<" not in listed
    assert _as(app, "buyer").get(f"/monitor/problems/{own.id}").status_code == 404
    assert _as(app, "jiangxi").get(f"/monitor/problems/{own.id}").status_code == 404
    assert _as(app, "official").get(f"/monitor/problems/{other.id}").status_code == 404
    assert _as(app, "provincial").get(f"/monitor/problems/{other.id}").status_code == 200


def test_the_api_is_scoped_like_the_pages(client, users, world):
    def get(who, url):
        token = _token(client, who)
        return client.get(url, headers={"Authorization": f"Bearer {token}"})

    assert get("official", "/api/v1/stats").status_code == 200
    assert get("official", "/api/v1/stats?county=彰武县").status_code == 200
    assert get("official", "/api/v1/stats?county=金州区").status_code == 404
    assert get("provincial", "/api/v1/stats?province=辽宁").json["lots_open"] == 4
    assert get("provincial", "/api/v1/stats?county=金州区").json["lots_open"] == 1
    assert get("jiangxi", "/api/v1/stats?county=彰武县").status_code == 404
    assert get("buyer", "/api/v1/stats").status_code == 404
    assert get("coop", "/api/v1/stats").status_code == 404
    assert get("admin", "/api/v1/stats").json["lots_open"] == 4
    own, for_coop, other = world["problems"]
    assert {p["id"] for p in get("coop", "/api/v1/problems").json} == {own.id, for_coop.id}
    assert {p["id"] for p in get("official", "/api/v1/problems").json} == {own.id, for_coop.id}
    assert len(get("provincial", "/api/v1/problems").json) == 3
    assert get("jiangxi", "/api/v1/problems").json == []
    assert get("buyer", "/api/v1/problems").status_code == 404
    assert get("jiangxi", f"/api/v1/problems/{own.id}").status_code == 404


def test_officials_still_cannot_trade_or_change_lots(app, users, world):
    from produce_match import policy
    from produce_match.orders.models import Order

    official = users["official"]
    assert not policy.can(official, "create", Order)
    assert not policy.can(official, "edit", world["beans"])
    assert not policy.can(official, "withdraw", world["beans"])
    assert policy.can(official, "propose", world["beans"])


def test_lots_at_risk_come_a_page_at_a_time_soonest_first(app, users, world, monkeypatch):
    from produce_match.monitor import queries
    from produce_match.web import monitor as views

    monkeypatch.setattr(views, "AT_RISK_PER_PAGE", 1)
    client = _as(app, "provincial")
    scope = queries.resolve_scope(users["province_official"])
    titles = [lot.title for lot in queries.open_lots(scope)]
    assert len(titles) >= 2
    first = client.get("/monitor/at-risk", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert titles[0] in first and titles[1] not in first
    assert f"Page 1 of {len(titles)} ({len(titles)} lots)" in first
    second = client.get("/monitor/at-risk?page=2").get_data(as_text=True)
    assert titles[1] in second and titles[0] not in second
    beyond = client.get("/monitor/at-risk?page=999").get_data(as_text=True)
    assert titles[-1] in beyond  # the last page, not an empty one
