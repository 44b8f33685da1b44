"""The webhooks and robots API: the same rules as the pages, documented in OpenAPI."""

from __future__ import annotations

import pytest
from flask import g

from produce_match.messaging import webhooks
from tests.api.test_orders_api import auth
from tests.factories import make_lot
from tests.partners.receiver import Receiver


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def test_register_see_deliveries_replay_rotate(client, users):
    coop = auth(client, "coop")
    with Receiver() as receiver:
        made = client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url(), "events": ["lot.posted"], "description": "ERP"},
            headers=coop,
        )
        assert made.status_code == 201, made.json
        endpoint = made.json
        assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "active"
        assert "secret" not in client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=coop).json
        make_lot(users["coop"])
        log = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=coop).json
        assert len(log) == 1 and log[0]["status"] == "delivered"
        assert log[0]["attempt_log"][0]["status_code"] == 200
        replayed = client.post(f"/api/v1/deliveries/{log[0]['id']}/replay", headers=coop)
        assert replayed.status_code == 202
        rotated = client.post(f"/api/v1/webhooks/{endpoint['id']}/secret", headers=coop).json
        assert rotated["secret"] != endpoint["secret"]
        off = client.patch(
            f"/api/v1/webhooks/{endpoint['id']}", json={"status": "disabled"}, headers=coop
        )
        assert off.json["status"] == "disabled"
    first, second = receiver.received
    assert first.body == second.body
    assert webhooks.verify(
        endpoint["secret"], second.headers["Produce-Match-Signature"], second.body
    )


def test_the_api_refuses_what_the_pages_refuse(client, users):
    coop, buyer, official = auth(client, "coop"), auth(client, "buyer"), auth(client, "official")
    refused = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["lot.posted"]},
        headers=buyer,
    )
    assert refused.status_code == 422 and "events" in refused.json["error"]["fields"]
    made = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["order.placed"]},
        headers=coop,
    ).json
    assert client.get(f"/api/v1/webhooks/{made['id']}", headers=buyer).status_code == 404
    assert client.get(f"/api/v1/webhooks/{made['id']}", headers=official).status_code == 404
    assert client.get("/api/v1/webhooks", headers=buyer).json == []
    assert client.get("/api/v1/robots", headers=coop).status_code == 403
    robot = client.post(
        "/api/v1/robots",
        json={
            "name": "群",
            "kind": "dingtalk",
            "url": "http://127.0.0.1:9/robot/send?access_token=t",
        },
        headers=official,
    )
    assert robot.status_code == 201, robot.json
    assert robot.json["url"].endswith("?…en=t") and robot.json["summary_hour"] == 8
    patched = client.patch(
        f"/api/v1/robots/{robot.json['id']}", json={"summary_hour": 18}, headers=official
    )
    assert patched.json["summary_hour"] == 18 and patched.json["name"] == "群"
    other = auth(client, "jiangxi")
    assert client.get(f"/api/v1/robots/{robot.json['id']}", headers=other).status_code == 404


def test_openapi_documents_them(client):
    spec = client.get("/api/v1/openapi.json").json
    for path in (
        "/api/v1/webhooks",
        "/api/v1/webhooks/{endpoint_id}",
        "/api/v1/webhooks/{endpoint_id}/secret",
        "/api/v1/webhooks/{endpoint_id}/deliveries",
        "/api/v1/deliveries/{delivery_id}/replay",
        "/api/v1/robots",
        "/api/v1/robots/{robot_id}/deliveries",
    ):
        assert path in spec["paths"], path
