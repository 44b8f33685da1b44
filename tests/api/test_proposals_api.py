"""API: the officials' plan and proposals, answered by both parties until an order exists."""

from __future__ import annotations

import pytest
from flask import g

from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.matching.models import Proposal
from produce_match.orders.models import Order, OrderStatus
from tests.api.test_orders_api import auth
from tests.factories import make_demand, make_lot


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


@pytest.fixture
def pair(users):
    return make_lot(users["coop"]), make_demand(users["buyer"])  # 40 t; 10-40 t


def test_plan_for_the_officials_jurisdiction(client, users, pair):
    lot, demand = pair
    response = client.get("/api/v1/plan", headers=auth(client, "official"))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["allocations"] == [
        {"lot_id": lot.id, "demand_id": demand.id, "quantity_kg": 40_000}
    ]
    assert body["total_kg"] == 40_000 and body["bound_kg"] == 40_000
    assert body["total_value_yuan"] == 272_000  # 40 t at 6.80 yuan/kg
    # another county's office plans its own lots: none of these
    other = client.get("/api/v1/plan", headers=auth(client, "jiangxi")).json
    assert other["allocations"] == [] and other["total_kg"] == 0
    value = client.get("/api/v1/plan?objective=value", headers=auth(client, "admin")).json
    assert value["total_kg"] == 40_000
    assert client.get("/api/v1/plan?objective=x", headers=auth(client, "admin")).status_code == 422


def test_plan_is_for_oversight_only(client, users, pair):
    for who in ("buyer", "coop"):
        assert client.get("/api/v1/plan", headers=auth(client, who)).status_code == 403
    assert client.get("/api/v1/plan").status_code == 401


def test_proposal_answered_by_both_becomes_an_order(client, users, pair):
    lot, demand = pair
    official = auth(client, "official")
    sent = client.post(
        "/api/v1/proposals",
        json={"lot_id": lot.id, "demand_id": demand.id, "quantity_kg": 20_000},
        headers=official,
    )
    assert sent.status_code == 201, sent.json
    proposal = sent.json
    assert proposal["status"] == "proposed" and proposal["quantity_g"] == 20_000_000
    assert proposal["quantity_kg"] == "20000"
    assert proposal["buyer"]["id"] == users["buyer"].organisation_id
    url = f"/api/v1/proposals/{proposal['id']}"

    buyer, coop = auth(client, "buyer"), auth(client, "coop")
    assert [p["id"] for p in client.get("/api/v1/proposals", headers=buyer).json] == [
        proposal["id"]
    ]
    assert client.get("/api/v1/proposals", headers=auth(client, "coop2")).json == []
    assert client.get(url, headers=auth(client, "coop2")).status_code == 404
    assert client.post(url + "/accept", headers=official).status_code == 403  # sees, not a party

    first = client.post(url + "/accept", headers=coop)
    assert first.status_code == 200 and first.json["cooperative_answer"] == "accepted"
    again = client.post(url + "/accept", headers=coop)
    assert again.status_code == 409 and again.json["error"]["code"] == "answered"
    done = client.post(url + "/accept", headers=buyer).json
    assert done["status"] == "ordered" and done["order_id"]
    db.session.expire_all()
    order = db.session.get(Order, done["order_id"])
    assert order.status is OrderStatus.awaiting_payment and order.quantity_g == 20_000_000
    assert db.session.get(Lot, lot.id).remaining_g == 20_000_000


def test_a_decline_ends_it_and_bad_proposals_change_nothing(client, users, pair):
    lot, demand = pair
    official = auth(client, "official")

    def send(**body):
        return client.post(
            "/api/v1/proposals",
            json={"lot_id": lot.id, "demand_id": demand.id, "quantity_kg": 20_000, **body},
            headers=official,
        )

    too_much = send(quantity_kg=41_000)
    assert too_much.status_code == 422 and "quantity_kg" in too_much.json["error"]["fields"]
    assert send(demand_id=999_999).status_code == 404
    assert send(quantity_kg=0).status_code == 422
    assert send(quantity_kg="lots").status_code == 422
    outside = client.post(
        "/api/v1/proposals",
        json={"lot_id": lot.id, "demand_id": demand.id, "quantity_kg": 20_000},
        headers=auth(client, "jiangxi"),
    )
    assert outside.status_code in (403, 404)
    by_buyer = client.post(
        "/api/v1/proposals",
        json={"lot_id": lot.id, "demand_id": demand.id, "quantity_kg": 20_000},
        headers=auth(client, "buyer"),
    )
    assert by_buyer.status_code == 403  # parties answer proposals; they do not send them
    assert db.session.query(Proposal).count() == 0

    proposal = send().json
    declined = client.post(
        f"/api/v1/proposals/{proposal['id']}/decline", headers=auth(client, "buyer")
    ).json
    assert declined["status"] == "declined" and declined["buyer_answer"] == "declined"
    late = client.post(f"/api/v1/proposals/{proposal['id']}/accept", headers=auth(client, "coop"))
    assert late.status_code == 409
    assert db.session.query(Order).count() == 0
