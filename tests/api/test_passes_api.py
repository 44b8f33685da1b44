"""The passes API: every endpoint, who may do what (404 for what one may not see, 403 for a step
one may not take), validation (422), illegal moves (409), and the public verification."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.passes.models import PassScan, PassStatus, TransportPass, WhitelistEntry
from produce_match.passes.queries import public_facts
from tests.factories import PASSWORD, jpeg_bytes
from tests.passes import conftest as pass_fixtures
from tests.passes.conftest import apply

# the pass tests' world (a haulier, checkpoint staff and checkpoints) and their paid order
world = pass_fixtures.world
paid_order = pass_fixtures.paid_order
index_left_to_its_queue = pass_fixtures.index_left_to_its_queue

ROLES = ("haulier", "coop", "buyer", "official", "provincial", "jiangxi", "admin", "gate")


@pytest.fixture
def tokens(client, world) -> dict[str, dict[str, str]]:
    """A bearer token of each login (and the other office's checkpoint staff)."""
    out = {}
    for login in (*ROLES, "other_gate"):
        response = client.post("/api/v1/tokens", json={"login": login, "password": PASSWORD})
        assert response.status_code == 201, response.json
        out[login] = {
            "Authorization": f"Bearer {response.json['token']}",
            "Accept-Language": "en",
        }
    return out


def body(**fields):
    today = local_today()
    data = {
        "plate": "辽A12345",
        "driver_name": "王师傅",
        "driver_phone": "13912345678",
        "origin": {"province": "辽宁", "county": "彰武"},
        "destination": {"province": "江西", "county": "东湖区"},
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=3)).isoformat(),
        "commodity": "黑豆",
        "quantity": "20",
        "unit": "t",
    }
    data.update(fields)
    return data


def test_apply_for_any_shipment_and_read_it_back(client, world, tokens):
    response = client.post("/api/v1/passes", json=body(), headers=tokens["haulier"])
    assert response.status_code == 201, response.json
    item = response.json
    assert response.headers["Location"].endswith(f"/api/v1/passes/{item['id']}")
    assert item["status"] == "pending" and item["verdict"] == "pending"
    assert item["number"].startswith("210922-")
    assert item["plate"] == "辽A12345" and item["driver_phone"] == "13912345678"
    assert item["origin"]["county_code"] == "210922"
    assert item["destination"]["county"] == "东湖区"
    assert item["cargo"] == {
        "commodity": item["cargo"]["commodity"],
        "commodity_name": "黑豆",
        "quantity": "20",
        "unit": "t",
        "quantity_g": 20_000_000,
        "quantity_kg": "20000",
    }
    assert item["valid_from"] == local_today().isoformat()
    assert [s["step"] for s in item["steps"]] == ["loading", "exit", "entry", "delivery"]
    assert item["next_actions"] == ["withdraw"]
    assert item["verify_url"].endswith(f"/api/v1/passes/verify/{item['code']}")
    again = client.get(f"/api/v1/passes/{item['id']}", headers=tokens["haulier"])
    assert again.status_code == 200 and again.json["id"] == item["id"]
    seen = client.get(f"/api/v1/passes/{item['id']}", headers=tokens["official"]).json
    assert set(seen["next_actions"]) == {"approve", "reject"}


def test_apply_for_an_order_prefills_from_it(client, world, tokens, paid_order):
    response = client.post(
        "/api/v1/passes",
        json={"order_id": paid_order.id, "plate": "辽A12345", "driver_name": "王师傅",
              "driver_phone": "13912345678"},
        headers=tokens["coop"],
    )  # fmt: skip
    assert response.status_code == 201, response.json
    item = response.json
    assert item["order_id"] == paid_order.id
    assert item["cargo"]["quantity"] == "10" and item["cargo"]["unit"] == "t"
    assert item["destination"]["county_code"] == paid_order.delivery_county_code
    # the buyer waits for the truck: it sees the pass; another cooperative's order is 404
    assert client.get(f"/api/v1/passes/{item['id']}", headers=tokens["buyer"]).status_code == 200
    other = client.post(
        "/api/v1/passes", json=body(order_id=paid_order.id), headers=tokens["haulier"]
    )
    assert other.status_code == 404


def test_only_applicants_apply(client, world, tokens):
    for who in ("official", "admin", "gate"):
        response = client.post("/api/v1/passes", json=body(), headers=tokens[who])
        assert response.status_code == 403, who
    assert db.session.scalar(select(func.count()).select_from(TransportPass)) == 0


def test_bad_input_is_422_with_the_fields_and_writes_nothing(client, world, tokens):
    response = client.post(
        "/api/v1/passes",
        json=body(plate="ABC", driver_phone="12", quantity="0", valid_until="2000-01-01"),
        headers=tokens["haulier"],
    )
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert {"plate", "driver_phone", "quantity", "valid_until"} <= set(error["fields"])
    schema = client.post(
        "/api/v1/passes", json=body(route="x", plate=["x"]), headers=tokens["haulier"]
    )
    assert schema.status_code == 422 and {"route", "plate"} <= set(schema.json["error"]["fields"])
    assert db.session.scalar(select(func.count()).select_from(TransportPass)) == 0


def test_the_list_is_what_each_may_see_and_paginated(client, world, tokens):
    apply(world["haulier"])
    apply(world["haulier"], plate="辽A54321")
    apply(world["coop"], plate="辽B11111", destination=_place("辽宁", "金州区"))
    listed = client.get("/api/v1/passes?per_page=1", headers=tokens["haulier"]).json
    assert listed["total"] == 2 and listed["pages"] == 2 and len(listed["items"]) == 1
    assert listed["items"][0]["plate"] == "辽A54321"  # newest first
    assert client.get("/api/v1/passes", headers=tokens["official"]).json["total"] == 3
    assert client.get("/api/v1/passes", headers=tokens["provincial"]).json["total"] == 3
    assert client.get("/api/v1/passes", headers=tokens["jiangxi"]).json["total"] == 2
    assert client.get("/api/v1/passes", headers=tokens["buyer"]).json["total"] == 0
    assert client.get("/api/v1/passes", headers=tokens["admin"]).json["total"] == 3
    pending = client.get("/api/v1/passes?status=approved", headers=tokens["official"]).json
    assert pending["total"] == 0
    assert client.get("/api/v1/passes", headers=tokens["gate"]).status_code == 403
    assert client.get("/api/v1/passes?status=nope", headers=tokens["official"]).status_code == 422


def _place(province, county):
    from produce_match.accounts.operations import PlaceInput

    return PlaceInput(province=province, county=county)


def test_who_sees_a_pass(client, world, tokens):
    row = apply(world["haulier"])
    url = f"/api/v1/passes/{row.id}"
    expected = {
        "haulier": 200, "official": 200, "provincial": 200, "jiangxi": 200, "admin": 200,
        "coop": 404, "buyer": 404, "gate": 404, "other_gate": 404,
    }  # fmt: skip
    assert {who: client.get(url, headers=tokens[who]).status_code for who in expected} == expected
    assert client.get("/api/v1/passes/999999", headers=tokens["admin"]).status_code == 404


def test_only_the_origin_office_decides(client, world, tokens):
    row = apply(world["haulier"])
    url = f"/api/v1/passes/{row.id}"
    for who, status in (("jiangxi", 403), ("admin", 403), ("haulier", 403), ("coop", 404),
                        ("gate", 404)):  # fmt: skip
        assert client.post(f"{url}/approve", json={}, headers=tokens[who]).status_code == status
        answer = client.post(f"{url}/reject", json={"reason": "不行"}, headers=tokens[who])
        assert answer.status_code == status, who
    approved = client.post(f"{url}/approve", json={}, headers=tokens["official"])
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["verdict"] == "valid"
    assert approved.json["decided_by_whitelist"] is False
    assert approved.json["wait_minutes"] is not None
    again = client.post(f"{url}/approve", json={}, headers=tokens["official"])
    assert again.status_code == 409
    assert again.json["error"]["code"] in ("illegal_transition", "state_changed")


def test_the_province_office_decides_too_and_a_rejection_needs_its_reason(client, world, tokens):
    row = apply(world["haulier"])
    url = f"/api/v1/passes/{row.id}/reject"
    missing = client.post(url, json={}, headers=tokens["provincial"])
    assert missing.status_code == 422 and "reason" in missing.json["error"]["fields"]
    blank = client.post(url, json={"reason": "  "}, headers=tokens["provincial"])
    assert blank.status_code == 422 and "reason" in blank.json["error"]["fields"]
    done = client.post(url, json={"reason": "货物与申报不符"}, headers=tokens["provincial"])
    assert done.status_code == 200
    assert done.json["status"] == "rejected" and done.json["reject_reason"] == "货物与申报不符"


def test_revoke_by_origin_or_destination_and_withdraw_by_the_applicant(client, world, tokens):
    first, second = apply(world["haulier"]), apply(world["haulier"], plate="辽A54321")
    for row in (first, second):
        assert (
            client.post(
                f"/api/v1/passes/{row.id}/approve", json={}, headers=tokens["official"]
            ).status_code
            == 200
        )
    url = f"/api/v1/passes/{first.id}"
    assert (
        client.post(f"{url}/revoke", json={"reason": "x"}, headers=tokens["haulier"]).status_code
        == 403
    )  # noqa: E501
    assert (
        client.post(f"{url}/revoke", json={"reason": "x"}, headers=tokens["gate"]).status_code
        == 404
    )  # noqa: E501
    revoked = client.post(f"{url}/revoke", json={"reason": "超载"}, headers=tokens["jiangxi"])
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    assert revoked.json["revoke_reason"] == "超载" and revoked.json["verdict"] == "invalid"
    assert client.post(f"{url}/withdraw", json={}, headers=tokens["haulier"]).status_code == 409
    other = f"/api/v1/passes/{second.id}/withdraw"
    assert client.post(other, json={}, headers=tokens["official"]).status_code == 403
    withdrawn = client.post(other, json={}, headers=tokens["haulier"])
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"


def test_a_whitelisted_applicant_is_approved_at_once(client, world, tokens):
    until = (local_today() + timedelta(days=30)).isoformat()
    added = client.post(
        "/api/v1/whitelist",
        json={"organisation": "彰武顺达物流", "valid_until": until, "reason": "保供企业"},
        headers=tokens["official"],
    )
    assert added.status_code == 201, added.json
    assert added.json["in_force"] is True and added.json["organisation"]["kind"] == "haulier"
    item = client.post("/api/v1/passes", json=body(), headers=tokens["haulier"]).json
    assert item["status"] == "approved" and item["decided_by_whitelist"] is True


def test_scans_are_for_checkpoint_staff_at_their_own_checkpoints(client, world, tokens):
    row = apply(world["haulier"])
    url = f"/api/v1/passes/{row.id}/scans"
    exit_point, entry_point = world["exit_point"], world["entry_point"]
    scan = {"checkpoint_id": exit_point.id, "direction": "out"}
    pending = client.post(url, json=scan, headers=tokens["gate"])
    assert pending.status_code == 409 and pending.json["error"]["code"] == "pass_invalid"
    client.post(f"/api/v1/passes/{row.id}/approve", json={}, headers=tokens["official"])
    # those who see the pass but do not scan: 403; those who neither: 404
    assert client.post(url, json=scan, headers=tokens["haulier"]).status_code == 403
    assert client.post(url, json=scan, headers=tokens["admin"]).status_code == 403
    assert client.post(url, json=scan, headers=tokens["coop"]).status_code == 404
    # another office's checkpoint, a checkpoint that does not exist, a bad direction: 422
    wrong = client.post(url, json=scan, headers=tokens["other_gate"])
    assert wrong.status_code == 422 and "checkpoint" in wrong.json["error"]["fields"]
    missing = client.post(
        url, json={"checkpoint_id": 999999, "direction": "out"}, headers=tokens["gate"]
    )
    assert missing.status_code == 422 and "checkpoint_id" in missing.json["error"]["fields"]
    bad = client.post(url, json={"checkpoint_id": exit_point.id, "direction": "up"},
                      headers=tokens["gate"])  # fmt: skip
    assert bad.status_code == 422 and "direction" in bad.json["error"]["fields"]
    assert client.post(url, json={}, headers=tokens["gate"]).status_code == 422
    done = client.post(url, json={**scan, "note": "货物相符"}, headers=tokens["gate"])
    assert done.status_code == 201, done.json
    assert done.json["kind"] == "exit" and done.json["direction"] == "out"
    assert done.json["checkpoint"] == exit_point.name and done.json["note"] == "货物相符"
    db.session.expire_all()
    facts = json.loads(json.dumps(public_facts(db.session.get(TransportPass, row.id))))
    assert done.json["pass"] == {**facts, "reason": "Valid"}  # in the caller's language
    assert "13912345678" not in done.get_data(as_text=True)
    entry = client.post(
        url, data={"checkpoint_id": str(entry_point.id), "direction": "in",
                   "photo": (__import__("io").BytesIO(jpeg_bytes()), "plate.jpg")},
        headers=tokens["other_gate"], content_type="multipart/form-data",
    )  # fmt: skip
    assert entry.status_code == 201, entry.json
    assert entry.json["kind"] == "entry" and entry.json["photo"] is True
    full = client.get(f"/api/v1/passes/{row.id}", headers=tokens["jiangxi"]).json
    assert full["exited_at"] and full["entered_at"] and full["expected_by"]
    assert [s["kind"] for s in full["scans"]] == ["exit", "entry"]
    assert db.session.scalar(select(func.count()).select_from(PassScan)) == 2


def test_verify_is_public_and_tells_only_the_public_facts(client, world, tokens):
    row = apply(world["haulier"])
    response = client.get(f"/api/v1/passes/verify/{row.code}")  # no token
    assert response.status_code == 200
    assert response.json == json.loads(json.dumps(public_facts(row)))
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    for secret in ("13912345678", "王师傅", "辽A12345", "彰武顺达物流", "haulier"):
        assert secret not in text
    assert not {"id", "driver_name", "driver_phone", "applicant"} & set(response.json)
    assert response.json["plate"] == "辽A·***45"
    client.post(f"/api/v1/passes/{row.id}/approve", json={}, headers=tokens["official"])
    assert client.get(f"/api/v1/passes/verify/{row.code}").json["verdict"] == "valid"
    client.post(
        f"/api/v1/passes/{row.id}/revoke", json={"reason": "超载"}, headers=tokens["official"]
    )
    revoked = client.get(f"/api/v1/passes/verify/{row.code}").json
    assert (revoked["verdict"], revoked["status"]) == ("invalid", "revoked")
    assert "超载" not in json.dumps(revoked, ensure_ascii=False)
    assert client.get("/api/v1/passes/verify/nope").status_code == 404
    assert client.get("/api/v1/passes/verify/" + "x" * 40).status_code == 404


def test_whitelist_endpoints(client, world, tokens):
    until = (local_today() + timedelta(days=10)).isoformat()
    entry = {"organisation": world["haulier"].organisation_id, "valid_until": until,
             "reason": "保供"}  # fmt: skip
    for who in ("haulier", "gate", "admin"):
        assert client.post("/api/v1/whitelist", json=entry, headers=tokens[who]).status_code == 403
        assert client.get("/api/v1/whitelist", headers=tokens[who]).status_code == 403
    bad = client.post(
        "/api/v1/whitelist", json={**entry, "organisation": "没有这家"}, headers=tokens["official"]
    )
    assert bad.status_code == 422 and "organisation" in bad.json["error"]["fields"]
    assert client.post("/api/v1/whitelist", json={}, headers=tokens["official"]).status_code == 422
    added = client.post("/api/v1/whitelist", json=entry, headers=tokens["official"]).json
    listed = client.get("/api/v1/whitelist", headers=tokens["official"]).json
    assert [e["id"] for e in listed] == [added["id"]]
    assert client.get("/api/v1/whitelist", headers=tokens["jiangxi"]).json == []
    office = world["official"].organisation_id
    theirs = client.get(f"/api/v1/whitelist?office_id={office}", headers=tokens["jiangxi"]).json
    assert [e["id"] for e in theirs] == [added["id"]]
    url = f"/api/v1/whitelist/{added['id']}"
    assert client.delete(url, headers=tokens["jiangxi"]).status_code == 403
    assert client.delete(url, headers=tokens["haulier"]).status_code == 404
    assert client.delete(url, headers=tokens["official"]).status_code == 204
    assert client.delete(url, headers=tokens["official"]).status_code == 409
    assert client.get("/api/v1/whitelist", headers=tokens["official"]).json == []
    kept = client.get("/api/v1/whitelist?removed=true", headers=tokens["official"]).json
    assert kept[0]["removed_at"] is not None
    assert db.session.get(WhitelistEntry, added["id"]).removed_at is not None


def test_checkpoint_endpoints(client, world, tokens):
    listed = client.get("/api/v1/checkpoints", headers=tokens["gate"]).json
    assert {c["name"] for c in listed} == {"彰武高速出口", "东湖区界卡口"}
    office = world["official"].organisation_id
    own = client.get(f"/api/v1/checkpoints?office_id={office}", headers=tokens["haulier"]).json
    assert [c["name"] for c in own] == ["彰武高速出口"]
    new = {"name": "彰武北收费站", "kind": "expressway_exit"}
    for who in ("gate", "haulier", "admin"):
        assert client.post("/api/v1/checkpoints", json=new, headers=tokens[who]).status_code == 403
    added = client.post("/api/v1/checkpoints", json=new, headers=tokens["official"])
    assert added.status_code == 201, added.json
    assert added.json["place"]["county_code"] == "210922"
    duplicate = client.post("/api/v1/checkpoints", json=new, headers=tokens["official"])
    assert duplicate.status_code == 422 and "name" in duplicate.json["error"]["fields"]
    outside = client.post(
        "/api/v1/checkpoints",
        json={"name": "南昌站", "kind": "other", "province": "江西", "county": "东湖区"},
        headers=tokens["official"],
    )
    assert outside.status_code == 422 and "county" in outside.json["error"]["fields"]
    bad_kind = client.post(
        "/api/v1/checkpoints", json={**new, "kind": "gate"}, headers=tokens["official"]
    )
    assert bad_kind.status_code == 422
    retire = f"/api/v1/checkpoints/{added.json['id']}/retire"
    assert client.post(retire, json={}, headers=tokens["jiangxi"]).status_code == 403
    assert client.post(retire, json={}, headers=tokens["official"]).status_code == 200
    assert client.post(retire, json={}, headers=tokens["official"]).status_code == 409


def test_every_passes_endpoint_needs_a_token_but_verify(client, world):
    row = apply(world["haulier"])
    for method, url in (
        ("get", "/api/v1/passes"), ("post", "/api/v1/passes"), ("get", f"/api/v1/passes/{row.id}"),
        ("post", f"/api/v1/passes/{row.id}/approve"), ("post", f"/api/v1/passes/{row.id}/scans"),
        ("get", "/api/v1/whitelist"), ("get", "/api/v1/checkpoints"),
    ):  # fmt: skip
        assert getattr(client, method)(url, json={}).status_code == 401, url
    assert client.get(f"/api/v1/passes/verify/{row.code}").status_code == 200


def test_the_openapi_document_describes_the_passes(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = set(spec["paths"])
    assert {
        "/api/v1/passes", "/api/v1/passes/{pass_id}", "/api/v1/passes/{pass_id}/approve",
        "/api/v1/passes/{pass_id}/reject", "/api/v1/passes/{pass_id}/revoke",
        "/api/v1/passes/{pass_id}/withdraw", "/api/v1/passes/{pass_id}/scans",
        "/api/v1/passes/verify/{code}", "/api/v1/whitelist", "/api/v1/whitelist/{entry_id}",
        "/api/v1/checkpoints",
    } <= paths  # fmt: skip
    assert "security" not in spec["paths"]["/api/v1/passes/verify/{code}"]["get"]
    assert spec["paths"]["/api/v1/passes"]["post"]["security"] == [{"bearerAuth": []}]


def test_stats_gain_the_passes(client, world, tokens):
    apply(world["haulier"])
    stats = client.get("/api/v1/stats", headers=tokens["official"])
    assert stats.status_code == 200
    passes = stats.json["passes"]
    assert passes["asked"] == 1 and passes["pending"] == 1
    assert passes["by_county"][0]["county"] == "210922"
    assert client.get("/api/v1/stats", headers=tokens["jiangxi"]).json["passes"]["asked"] == 0
    assert client.get("/api/v1/stats", headers=tokens["haulier"]).status_code == 404


def test_status_words_are_the_states(client, world, tokens):
    row = apply(world["haulier"])
    item = client.get(f"/api/v1/passes/{row.id}", headers=tokens["admin"]).json
    assert item["status"] in {s.value for s in PassStatus}
    assert item["next_actions"] == []
