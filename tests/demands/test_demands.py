"""Demands: the rules, the states, who may see or change one, the pages, the API, the import."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import func, select

from produce_match import policy
from produce_match.accounts.models import Organisation, OrgKind, Role
from produce_match.audit.operations import history
from produce_match.dates import local_today
from produce_match.demands import operations as demands
from produce_match.demands.models import Demand, DemandStatus
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from tests import factories
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_user

TODAY = local_today()


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def make_demand(user, **fields):
    """The shared factory's demand, naming the grades it accepts."""
    return factories.make_demand(user, **{"grades": "一等、二等", **fields})


def test_create_converts_units_exactly(users):
    d = make_demand(
        users["buyer"],
        min_quantity="2000",
        max_quantity="80000",
        unit="斤",
        max_price="3.75",
        price_unit="元/斤",
        max_distance_km="2000",
    )
    assert d.min_quantity_g == 1_000_000 and d.max_quantity_g == 40_000_000
    assert d.max_price_fen_per_t == 750_000  # 3.75 元/斤 = 7,500 元/吨
    assert d.grades == ["一等", "二等"] and d.status is DemandStatus.active
    assert d.county.name == "东湖区" and d.max_distance_km == 2000
    assert [e.action for e in history(d)] == ["posted"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"commodity": "火星果"}, "commodity"),
        ({"min_quantity": "50"}, "min_quantity"),
        ({"max_quantity": "0"}, "max_quantity"),
        ({"max_price": "abc"}, "max_price"),
        ({"unit": "箱"}, "unit"),
        ({"county": "彰武"}, "county"),  # not a county of Jiangxi
        ({"needed_by": (TODAY - timedelta(days=1)).isoformat()}, "needed_by"),
        ({"needed_by": "tomorrow"}, "needed_by"),
        ({"max_distance_km": "-5"}, "max_distance_km"),
        ({"grades": "、".join(f"g{i}" for i in range(20))}, "grades"),
    ],
)
def test_bad_input_is_refused_by_field(users, fields, field):
    with pytest.raises(ValidationFailed) as exc:
        make_demand(users["buyer"], **fields)
    assert field in exc.value.fields


def test_place_defaults_to_the_buyers_own(users):
    d = make_demand(users["buyer"], province="", county="")
    assert d.county.name == "东湖区"


def test_edit_keeps_what_is_not_given_and_records_changes(users):
    d = make_demand(users["buyer"])
    changes = demands.update_demand(
        users["buyer"], d, demands.DemandInput(max_price="8", grades="二等、 一等")
    )
    db.session.commit()
    assert changes == {"max_price_fen": [750, 800], "max_price_fen_per_t": [750_000, 800_000]}
    assert d.max_quantity_g == 40_000_000 and d.grades == ["一等", "二等"]
    assert [e.action for e in history(d)] == ["posted", "edited"]


def test_pause_resume_close(users):
    d = make_demand(users["buyer"])
    buyer = users["buyer"]
    demands.move(buyer, d, "pause")
    assert d.status is DemandStatus.paused
    demands.move(buyer, d, "pause")  # a second click changes nothing and records nothing
    demands.move(buyer, d, "resume")
    demands.move(buyer, d, "close")
    assert d.status is DemandStatus.closed
    with pytest.raises(Conflict):
        demands.move(buyer, d, "resume")
    with pytest.raises(Conflict):
        demands.update_demand(buyer, d, demands.DemandInput(max_price="9"))
    db.session.commit()
    assert [e.action for e in history(d)] == ["posted", "paused", "resumed", "closed"]


def test_permissions_on_every_demand_action(users):
    d = make_demand(users["buyer"])
    colleague = make_user("buyer-colleague", Role.buyer, "南昌粮油公司")
    other_buyer = make_user("other-buyer", Role.buyer, "别的公司", province="北京", county="丰台区")
    # the delivery place is in Jiangxi's 东湖区: its official reads; Zhangwu's does not
    readers = [users["buyer"], colleague, users["admin"], users["other_official"]]
    strangers = [other_buyer, users["coop"], users["official"], users["province_official"]]
    for user in readers:
        assert policy.can(user, policy.VIEW, d), user.login
        assert policy.can(user, "view_matches", d), user.login
    for user in strangers:
        assert not policy.can(user, policy.VIEW, d), user.login
    for action in ("edit", "pause", "resume", "close"):
        assert policy.can(users["buyer"], action, d) and policy.can(colleague, action, d)
        for user in [users["admin"], users["other_official"], *strangers]:
            assert not policy.can(user, action, d), (user.login, action)
    assert policy.can(users["buyer"], "create", Demand)
    for user in (users["coop"], users["official"], users["admin"], None):
        assert not policy.can(user, "create", Demand)


def test_pages_answer_404_to_strangers_and_403_to_readers(client, users):
    d = make_demand(users["buyer"])
    make_user("other-buyer", Role.buyer, "别的公司", province="北京", county="丰台区")
    login(client, "other-buyer", PASSWORD)
    assert client.get(f"/demands/{d.id}").status_code == 404
    assert client.get(f"/demands/{d.id}/edit").status_code == 404
    client.post("/logout")
    login(client, "jiangxi", PASSWORD)  # the official of the delivery place reads
    assert client.get(f"/demands/{d.id}").status_code == 200
    assert client.get(f"/demands/{d.id}/edit").status_code == 403
    assert post_form(client, f"/demands/{d.id}/close", {}, page="/").status_code == 403


def test_buyer_registers_pauses_and_closes_on_the_pages(client, users):
    login(client, "buyer", PASSWORD)
    assert client.get("/demands/new").status_code == 200
    response = post_form(
        client,
        "/demands/new",
        {
            "commodity": "heidou",
            "grades": "一等",
            "min_quantity": "5",
            "max_quantity": "20",
            "unit": "t",
            "max_price": "7",
            "price_unit": "kg",
            "province": "360000",
            "county": "东湖区",
            "needed_by": (TODAY + timedelta(days=10)).isoformat(),
            "max_distance_km": "",
            "notes": "",
        },
        page="/demands/new",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    d = db.session.scalar(select(Demand))
    assert d.commodity.code == "black_bean" and d.max_quantity_g == 20_000_000
    page = client.get(f"/demands/{d.id}").get_data(as_text=True)
    assert "7.00" in page
    assert post_form(client, f"/demands/{d.id}/pause", {}, page="/demands").status_code == 302
    assert post_form(client, f"/demands/{d.id}/close", {}, page="/demands").status_code == 302
    db.session.refresh(d)
    assert d.status is DemandStatus.closed
    listing = client.get("/demands").get_data(as_text=True)
    assert f"/demands/{d.id}" in listing


def _token(client, login_name):
    body = client.post(
        "/api/v1/tokens", json={"login": login_name, "password": PASSWORD, "name": "t"}
    ).json
    return {"Authorization": f"Bearer {body['token']}"}


def test_api_crud_for_the_owner_only(client, users):
    headers = _token(client, "buyer")
    body = {
        "commodity": "black bean",
        "grades": ["一等", "二等"],
        "min_quantity": 10,
        "max_quantity": "40",
        "unit": "t",
        "max_price": 7.5,
        "price_unit": "kg",
        "province": "江西",
        "county": "东湖区",
        "needed_by": (TODAY + timedelta(days=20)).isoformat(),
        "max_distance_km": 2500,
    }
    created = client.post("/api/v1/demands", json=body, headers=headers)
    assert created.status_code == 201, created.json
    d = created.json
    for key in (
        "id",
        "commodity",
        "grades",
        "min_quantity_kg",
        "max_quantity_kg",
        "max_price_yuan_per_kg",
        "province",
        "county",
        "needed_by",
        "status",
    ):
        assert key in d
    assert d["min_quantity_kg"] == 10000 and d["max_price_yuan_per_kg"] == 7.5
    assert d["commodity"] == "black_bean" and d["status"] == "active"
    listed = client.get("/api/v1/demands", headers=headers).json
    assert [x["id"] for x in listed] == [d["id"]]
    patched = client.patch(
        f"/api/v1/demands/{d['id']}", json={"max_price": "8", "status": "paused"}, headers=headers
    )
    assert patched.status_code == 200 and patched.json["status"] == "paused"
    assert patched.json["max_price_yuan_per_kg"] == 8.0
    bad = client.patch(f"/api/v1/demands/{d['id']}", json={"max_quantity": "1"}, headers=headers)
    assert bad.status_code == 422 and "min_quantity" in bad.json["error"]["fields"]

    coop = _token(client, "coop")
    assert client.get(f"/api/v1/demands/{d['id']}", headers=coop).status_code == 404
    assert client.post("/api/v1/demands", json=body, headers=coop).status_code == 403
    assert client.get("/api/v1/demands", headers=coop).json == []
    official = _token(client, "jiangxi")
    assert client.get(f"/api/v1/demands/{d['id']}", headers=official).status_code == 200
    assert [x["id"] for x in client.get("/api/v1/demands", headers=official).json] == [d["id"]]
    assert client.delete(f"/api/v1/demands/{d['id']}", headers=official).status_code == 403
    assert client.get("/api/v1/demands").status_code == 401

    closed = client.delete(f"/api/v1/demands/{d['id']}", headers=headers)
    assert closed.status_code == 200 and closed.json["status"] == "closed"


# --- import -------------------------------------------------------------------------------

HEADER_ZH = (
    "采购商,品类,等级,最少数量,最多数量,单位,最高价格,计价单位,省,县,最迟到货日期,最远距离,备注\n"
)
HEADER_EN = (
    "buyer,commodity,grades,min_quantity,max_quantity,unit,max_price,price_unit,province,"
    "county,needed_by,max_distance_km,notes\n"
)


def _file(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_import_creates_demands_and_unverified_buyers(users, runner, tmp_path):
    soon = (TODAY + timedelta(days=30)).isoformat()
    rows = (
        f'南昌粮油公司,黑豆,"一等、二等",10,40,吨,7.5,元/公斤,江西,东湖区,{soon},,\n'
        f"新来的豆制品厂,乌豆,,1000,5000,斤,3.6,斤,天津,西青区,{soon},800,要新豆\n"
    )
    result = runner.invoke(
        args=["demands", "import", _file(tmp_path, "d.csv", HEADER_ZH + rows, "gb18030")]
    )
    assert result.exit_code == 0, result.output
    assert "2" in result.output
    made = db.session.scalars(select(Demand).order_by(Demand.id)).all()
    assert [d.buyer.name for d in made] == ["南昌粮油公司", "新来的豆制品厂"]
    assert made[0].grades == ["一等", "二等"] and made[1].max_quantity_g == 2_500_000
    new = made[1].buyer
    assert new.kind is OrgKind.buyer and not new.verified and new.county.name == "西青区"


def test_import_with_errors_imports_nothing_and_lists_them(users, runner, tmp_path):
    soon = (TODAY + timedelta(days=30)).isoformat()
    rows = (
        f"南昌粮油公司,黑豆,,10,40,t,7.5,kg,江西,东湖区,{soon},,\n"
        f"道亭村合作社,黑豆,,10,40,t,7.5,kg,江西,东湖区,{soon},,\n"
        f"南昌粮油公司,火星果,,50,40,t,7.5,kg,江西,东湖区,2020-01-01,,\n"
    )
    path = _file(tmp_path, "d.csv", HEADER_EN + rows)
    result = runner.invoke(args=["demands", "import", path, "--lang", "en"])
    assert result.exit_code == 1
    assert "line 3, buyer: 道亭村合作社 is registered, but not as a buyer." in result.output
    assert "line 4, commodity: Unknown commodity: 火星果" in result.output
    assert "line 4, min_quantity:" in result.output and "line 4, needed_by:" in result.output
    assert db.session.scalar(select(func.count(Demand.id))) == 0
    skipped = runner.invoke(args=["demands", "import", path, "--skip-invalid"])
    assert skipped.exit_code == 0 and db.session.scalar(select(func.count(Demand.id))) == 1


def test_import_reads_jsonl_and_refuses_unknown_columns(users, runner, tmp_path):
    soon = (TODAY + timedelta(days=30)).isoformat()
    line = {
        "buyer": "南昌粮油公司",
        "commodity": "黑豆",
        "grades": "一等",
        "max_quantity": 40,
        "min_quantity": 10,
        "unit": "t",
        "max_price": 7.5,
        "price_unit": "kg",
        "province": "江西",
        "county": "东湖区",
        "needed_by": soon,
    }
    good = _file(tmp_path, "d.jsonl", json.dumps(line, ensure_ascii=False) + "\n")
    assert runner.invoke(args=["demands", "import", good]).exit_code == 0
    bad = _file(tmp_path, "bad.csv", "buyer,commodity,colour\n南昌粮油公司,黑豆,red\n")
    result = runner.invoke(args=["demands", "import", bad, "--lang", "en"])
    assert result.exit_code == 1 and "colour: Unknown column" in result.output
    assert "max_quantity: This column is required." in result.output
    assert (
        db.session.scalar(
            select(func.count(Organisation.id)).where(Organisation.kind == OrgKind.buyer)
        )
        == 1
    )
