"""API: orders and their steps: status codes, error codes, permissions, exact amounts."""

from __future__ import annotations

import pytest
from flask import g

from produce_match.accounts.models import Role
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.orders import operations as orders
from produce_match.orders.models import Order
from tests.factories import PASSWORD, make_lot, make_user


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def auth(client, who: str) -> dict[str, str]:
    token = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


@pytest.fixture
def lot(users) -> Lot:
    return make_lot(users["coop"], quantity="40", unit="t", price="6.80", price_unit="kg")


@pytest.fixture
def tokens(client, users) -> dict[str, dict[str, str]]:
    return {
        who: auth(client, login)
        for who, login in {
            "buyer": "buyer",
            "coop": "coop",
            "coop2": "coop2",
            "official": "official",
            "other_official": "jiangxi",
            "admin": "admin",
        }.items()
    }


def place(client, headers, lot_id, quantity="10", unit="t"):
    return client.post(
        "/api/v1/orders",
        json={"lot_id": lot_id, "quantity": quantity, "unit": unit},
        headers=headers,
    )


def test_place_order_reserves_and_prices_exactly(client, tokens, lot):
    response = place(client, tokens["buyer"], lot.id, "10", "t")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "reserved" and body["payment_status"] == "unpaid"
    assert body["quantity_g"] == 10_000_000 and body["quantity_kg"] == "10000"
    assert body["amount_fen"] == 6_800_000 and body["amount_yuan"] == "68000.00"
    assert body["price_yuan_per_kg"] == "6.8"
    assert body["next_actions"] == ["cancel"]
    assert body["tracking_url"].startswith("http://localhost/track/")
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).remaining_g == 30_000_000
    # in jin: 斤 is 500 g
    jin = place(client, tokens["buyer"], lot.id, "3", "斤").json
    assert jin["quantity_g"] == 1500 and jin["amount_fen"] == 1020 and jin["unit"] == "jin"


def test_insufficient_quantity_is_409_and_reserves_nothing(client, tokens, lot):
    response = place(client, tokens["buyer"], lot.id, "41", "t")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "insufficient_quantity"
    assert "40" in response.json["error"]["message"]
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).remaining_g == 40_000_000
    assert db.session.query(Order).count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": "-3", "unit": "t"}, "quantity"),
        ({"quantity": "0", "unit": "t"}, "quantity"),
        ({"quantity": "1e400", "unit": "t"}, "quantity"),
        ({"quantity": "abc", "unit": "t"}, "quantity"),
        ({"quantity": "1", "unit": "pound"}, "unit"),
        ({"quantity": "1"}, "unit"),
        ({"quantity": True, "unit": "t"}, "quantity"),
    ],
)
def test_bad_quantities_are_422_with_the_field(client, tokens, lot, body, field):
    response = client.post(
        "/api/v1/orders", json={"lot_id": lot.id, **body}, headers=tokens["buyer"]
    )
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert db.session.query(Order).count() == 0


def test_an_order_that_would_cost_0_fen_is_422(client, tokens, users):
    cheap = make_lot(users["coop"], quantity="1", unit="t", price="0.30", price_unit="kg")
    response = place(client, tokens["buyer"], cheap.id, "1", "kg")
    assert response.status_code == 201  # 1 kg: 30 fen
    response = place(client, tokens["buyer"], cheap.id, "0.001", "kg")
    assert response.status_code == 422, response.json
    assert response.json["error"]["fields"] == {"quantity": [response.json["error"]["message"]]}
    assert "0.01" in response.json["error"]["message"]
    assert db.session.query(Order).count() == 1


def test_only_buyers_order_and_unknown_lots_are_404(client, tokens, lot):
    for who in ("coop", "official", "admin"):
        assert place(client, tokens[who], lot.id).status_code == 403
    assert place(client, tokens["buyer"], 999_999).status_code == 404
    assert (
        client.post(
            "/api/v1/orders", json={"lot_id": lot.id, "quantity": "1", "unit": "t"}
        ).status_code
        == 401
    )


def test_whole_life_through_the_api(client, tokens, lot, users):
    order_id = place(client, tokens["buyer"], lot.id, "10", "t").json["id"]
    url = f"/api/v1/orders/{order_id}"
    accepted = client.post(f"{url}/accept", json={}, headers=tokens["coop"])
    assert accepted.status_code == 200 and accepted.json["status"] == "awaiting_payment"
    assert accepted.json["pay_by"]
    # dispatch before payment: refused with the table's code, nothing changes
    early = client.post(
        f"{url}/dispatch",
        json={
            "vehicle_plate": "辽A12345",
            "driver_phone": "13800000000",
            "shipped_quantity": "10",
            "unit": "t",
        },
        headers=tokens["coop"],
    )
    assert early.status_code == 409 and early.json["error"]["code"] == "illegal_transition"
    orders.mark_paid(db.session.get(Order, order_id))  # the payment side's confirmation
    db.session.commit()
    shipped = client.post(
        f"{url}/dispatch",
        json={
            "vehicle_plate": "辽A 12345",
            "driver_phone": "138-0000-0000",
            "shipped_quantity": "10",
            "unit": "t",
            "place": "道亭村",
        },
        headers=tokens["coop"],
    )
    assert shipped.status_code == 200, shipped.json
    assert shipped.json["vehicle_plate"] == "辽A12345" and shipped.json["status"] == "dispatched"
    too_much = client.post(
        f"{url}/confirm-delivery",
        json={"accepted_quantity": "10.1", "unit": "t"},
        headers=tokens["buyer"],
    )
    assert too_much.status_code == 422 and "accepted_quantity" in too_much.json["error"]["fields"]
    delivered = client.post(
        f"{url}/confirm-delivery",
        json={"accepted_quantity": "9.8", "unit": "t"},
        headers=tokens["buyer"],
    )
    assert delivered.status_code == 200
    assert delivered.json["accepted_kg"] == "9800" and delivered.json["status"] == "delivered"
    disputed = client.post(
        f"{url}/dispute", json={"reason": "少了 200 公斤"}, headers=tokens["buyer"]
    )
    assert disputed.status_code == 200 and disputed.json["status"] == "disputed"
    # the county's official settles; another county's official may not even see it
    assert (
        client.post(
            f"{url}/resolve", json={"resolution": "x"}, headers=tokens["other_official"]
        ).status_code
        == 404
    )
    over = client.post(
        f"{url}/resolve",
        json={"resolution": "退款", "refund_yuan": "68000.01"},
        headers=tokens["official"],
    )
    assert over.status_code == 422 and "refund" in over.json["error"]["fields"]
    resolved = client.post(
        f"{url}/resolve",
        json={"resolution": "按实收 9.8 吨结算，退 1360 元", "refund_yuan": "1360"},
        headers=tokens["official"],
    )
    assert resolved.status_code == 200, resolved.json
    assert (
        resolved.json["status"] == "resolved" and resolved.json["resolution_refund_fen"] == 136_000
    )
    again = client.post(f"{url}/resolve", json={"resolution": "again"}, headers=tokens["admin"])
    assert again.status_code == 409 and again.json["error"]["code"] == "illegal_transition"


def test_reject_and_cancel_give_the_quantity_back(client, tokens, lot):
    first = place(client, tokens["buyer"], lot.id, "10", "t").json["id"]
    second = place(client, tokens["buyer"], lot.id, "5", "t").json["id"]
    assert (
        client.post(f"/api/v1/orders/{first}/reject", json={}, headers=tokens["coop"]).status_code
        == 422
    )
    assert (
        client.post(
            f"/api/v1/orders/{first}/reject", json={"reason": "已售"}, headers=tokens["coop"]
        ).json["status"]
        == "rejected"
    )
    assert (
        client.post(
            f"/api/v1/orders/{second}/cancel", json={"reason": "不要了"}, headers=tokens["buyer"]
        ).json["status"]
        == "cancelled"
    )
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).remaining_g == 40_000_000
    # a cancelled order stays cancelled
    response = client.post(f"/api/v1/orders/{second}/accept", json={}, headers=tokens["coop"])
    assert response.status_code == 409 and response.json["error"]["code"] == "illegal_transition"


def test_who_sees_and_who_may_act(client, tokens, lot, users):
    order_id = place(client, tokens["buyer"], lot.id, "1", "t").json["id"]
    url = f"/api/v1/orders/{order_id}"
    for who in ("buyer", "coop", "official", "admin"):
        assert client.get(url, headers=tokens[who]).status_code == 200, who
    for who in ("coop2", "other_official"):
        assert client.get(url, headers=tokens[who]).status_code == 404, who
        assert client.post(f"{url}/accept", json={}, headers=tokens[who]).status_code == 404, who
    # another buyer, even with the same role, may not know the order exists
    make_user("buyer2", Role.buyer, "另一家公司", province="江西", county="东湖区")
    assert client.get(url, headers=auth(client, "buyer2")).status_code == 404
    # parties may not take the other side's steps; officials read, they do not trade
    assert client.post(f"{url}/accept", json={}, headers=tokens["buyer"]).status_code == 403
    assert client.post(f"{url}/accept", json={}, headers=tokens["official"]).status_code == 403
    assert (
        client.post(f"{url}/cancel", json={"reason": "x"}, headers=tokens["official"]).status_code
        == 403
    )
    assert client.get(url, headers=tokens["official"]).json["next_actions"] == []
    assert client.get(url, headers=tokens["coop"]).json["next_actions"] == [
        "accept",
        "reject",
        "cancel",
    ]
    listed = client.get("/api/v1/orders", headers=tokens["coop2"]).json
    assert listed["total"] == 0
    assert [
        o["id"] for o in client.get("/api/v1/orders", headers=tokens["official"]).json["items"]
    ] == [order_id]
    assert client.get("/api/v1/orders?status=reserved", headers=tokens["buyer"]).json["total"] == 1
    assert client.get("/api/v1/orders?status=paid", headers=tokens["buyer"]).json["total"] == 0
    assert client.get("/api/v1/orders?status=nonsense", headers=tokens["buyer"]).status_code == 422


def test_messages_follow_the_callers_language(client, tokens, lot):
    headers = {**tokens["buyer"], "Accept-Language": "zh-CN"}
    response = place(client, headers, lot.id, "50", "t")
    assert response.status_code == 409
    assert "剩" in response.json["error"]["message"]


def test_expiry_shows_on_read(client, tokens, lot, monkeypatch):
    from datetime import timedelta

    from produce_match.database import utcnow
    from produce_match.orders import models as order_models

    order_id = place(client, tokens["buyer"], lot.id, "10", "t").json["id"]
    later = utcnow() + order_models.RESERVATION_HOLD + timedelta(minutes=1)
    monkeypatch.setattr("produce_match.orders.queries.utcnow", lambda: later)
    monkeypatch.setattr("produce_match.orders.operations.utcnow", lambda: later)
    monkeypatch.setattr("produce_match.orders.models.utcnow", lambda: later)
    body = client.get(f"/api/v1/orders/{order_id}", headers=tokens["buyer"]).json
    assert body["status"] == "expired"
    db.session.expire_all()
    # shown, not recorded: a GET never writes; the timer records it
    assert db.session.get(Order, order_id).status.value == "reserved"
    assert db.session.get(Lot, lot.id).remaining_g == 30_000_000
    orders.expire_due()
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Order, order_id).status.value == "expired"
    assert db.session.get(Lot, lot.id).remaining_g == 40_000_000


def test_placing_an_order_runs_only_what_it_needs(client, tokens, lot):
    """Reading: the token's user (with its organisation's place), the lot, the buyer's demand
    for the commodity, the lot's lapsed orders; writing: the order, its audit record, the
    cooperative's notices, then the two sides' webhook endpoints are looked up (one indexed
    read: none here, so nothing more is written), the search queue, and last the guarded
    UPDATE of the lot. (The
    tasks enqueued on commit run at once in tests: they come after the commit.)"""
    from sqlalchemy import event

    lot_id = lot.id
    assert place(client, tokens["buyer"], lot_id, "1", "t").status_code == 201
    statements: list[str] = []
    committed: list[int] = []

    def seen(_conn, _cursor, statement, *_args):
        if not committed and not statement.startswith(("PRAGMA", "BEGIN")):  # SQLite's own
            statements.append(" ".join(statement.split()[:3]))

    def commit(_conn):
        committed.append(len(statements))

    event.listen(db.engine, "before_cursor_execute", seen)
    event.listen(db.engine, "commit", commit)
    try:
        response = place(client, tokens["buyer"], lot_id, "1", "t")
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
        event.remove(db.engine, "commit", commit)
    assert response.status_code == 201, response.json
    assert response.json["delivery"]["county"] == "东湖区"
    assert [s.split()[0] for s in statements] == (
        ["SELECT"] * 4 + ["INSERT"] * 3 + ["SELECT"] + ["INSERT", "UPDATE"]
    )
    assert "webhook_endpoints" in statements[7]
    written = [s.split()[2 if s.startswith("INSERT") else 1] for s in statements[4:] if s[0] != "S"]
    assert written == ["orders", "audit_events", "notifications", "search_outbox", "lots"]
