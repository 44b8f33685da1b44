"""Settlement terms: the lot's offer, the buyer's choice, and an order settled on loading
(款到发货，装车结算) paid to the village when the truck is loaded.

Paid by bank transfer here (nothing remote: payouts are recorded at once, refunds wait for the
cooperative), so that every amount is checked without a gateway; tests/payments/
test_settlement.py runs the same story through the sandbox gateway.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from produce_match.audit.operations import history
from produce_match.database import utcnow
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot, Settlement
from produce_match.orders import operations as orders
from produce_match.orders.models import DISPUTE_WINDOW, Order, OrderStatus
from produce_match.payments import operations as payments
from produce_match.payments import service
from produce_match.payments.models import (
    InstructionKind,
    InstructionState,
    Payment,
    PaymentInstruction,
    Reason,
)
from produce_match.payments.operations import ledger_sums
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes, make_lot

BOTH = "on_delivery,on_loading"


def _pay_by_transfer(users, order: Order) -> None:
    if payments.payout_account(users["coop"].organisation_id) is None:
        payments.save_payout_account(
            users["coop"], users["coop"].organisation_id, "道亭村合作社", "彰武农商行", "62284800"
        )
    orders.accept(users["coop"], order)
    started = service.create_payment(users["buyer"], order, "transfer")
    payment = db.session.get(Payment, started.id)
    payments.record_transfer(users["buyer"], payment, "南昌粮油 工商银行")
    payments.confirm_transfer(users["coop"], payment)
    db.session.commit()


def _instructions(order_id: int) -> list[tuple[str, str, int]]:
    db.session.rollback()
    rows = db.session.scalars(
        select(PaymentInstruction)
        .where(PaymentInstruction.order_id == order_id)
        .order_by(PaymentInstruction.id)
    )
    return [(i.kind.value, i.reason.value, i.amount_fen) for i in rows]


def _settle_refunds(users, order_id: int) -> None:
    """The cooperative sends back by bank what it was asked to (transfers refund by hand)."""
    service.run_outbox()
    for instruction in db.session.scalars(
        select(PaymentInstruction).where(
            PaymentInstruction.order_id == order_id,
            PaymentInstruction.status == InstructionState.manual,
        )
    ).all():
        payments.confirm_manual_refund(users["coop"], instruction)
    db.session.commit()


@pytest.fixture
def loading_order(users) -> Order:
    """10 t of black beans at 6.80 元/kg (68,000 元), settled on loading with 5% held, paid."""
    lot = make_lot(users["coop"], settlement_terms=BOTH, holdback_percent="5")
    order = orders.place_order(users["buyer"], lot, "10", "t", settlement="on_loading")
    db.session.commit()
    _pay_by_transfer(users, order)
    return db.session.get(Order, order.id)


def _dispatch(users, order: Order, loaded_t: str = "9.5", **more) -> None:
    orders.dispatch(
        users["coop"],
        order,
        "辽A12345",
        "13912345678",
        loaded_t,
        "t",
        photos=[jpeg_bytes()],
        weighbridge_ticket="BD-20261207-0042",
        **more,
    )
    db.session.commit()


# --- the offer and the choice ---------------------------------------------------------------


def test_a_new_lot_is_settled_on_delivery_only_and_orders_follow(users):
    lot = make_lot(users["coop"])
    assert lot.settlements == (Settlement.on_delivery,)
    assert (lot.settle_on_loading, lot.holdback_pct) == (False, 0)
    order = orders.place_order(users["buyer"], lot, "1", "t")
    assert (order.settlement, order.holdback_pct) == (Settlement.on_delivery, 0)


def test_offering_settlement_on_loading_defaults_to_a_five_percent_holdback(users):
    lot = make_lot(users["coop"], settlement_terms=["on_loading"])
    assert lot.settlements == (Settlement.on_loading,)
    assert lot.holdback_pct == 5
    # the only term offered is the default choice
    order = orders.place_order(users["buyer"], lot, "1", "t")
    assert (order.settlement, order.holdback_pct) == (Settlement.on_loading, 5)
    # when both are offered, on delivery is the default (the buyer's money is safest)
    both = make_lot(users["coop"], settlement_terms=BOTH, holdback_percent="8")
    assert orders.place_order(users["buyer"], both, "1", "t").settlement is Settlement.on_delivery
    chosen = orders.place_order(users["buyer"], both, "1", "t", settlement="on_loading")
    assert chosen.holdback_pct == 8


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"settlement_terms": BOTH, "holdback_percent": "11"}, "holdback_percent"),
        ({"settlement_terms": BOTH, "holdback_percent": "2.5"}, "holdback_percent"),
        ({"settlement_terms": BOTH, "holdback_percent": "-1"}, "holdback_percent"),
        ({"settlement_terms": "on_credit"}, "settlement_terms"),
        ({"settlement_terms": []}, "settlement_terms"),
    ],
)
def test_bad_settlement_offers_are_refused_and_nothing_changes(users, fields, field):
    with pytest.raises(ValidationFailed) as refused:
        make_lot(users["coop"], **fields)
    assert field in refused.value.fields
    db.session.rollback()
    lot = make_lot(users["coop"])
    with pytest.raises(ValidationFailed) as refused:
        lots.update_lot(users["coop"], lot, lots.LotInput(**fields))
    assert field in refused.value.fields
    db.session.rollback()
    lot = db.session.get(Lot, lot.id)
    assert (lot.settle_on_delivery, lot.settle_on_loading, lot.holdback_pct) == (True, False, 0)


def test_terms_the_lot_does_not_offer_are_refused_with_nothing_reserved(users):
    lot = make_lot(users["coop"])
    remaining = lot.remaining_g
    for wanted in ("on_loading", "cash"):
        with pytest.raises(ValidationFailed) as refused:
            orders.place_order(users["buyer"], lot, "1", "t", settlement=wanted)
        assert "settlement" in refused.value.fields
        db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert db.session.get(Lot, lot.id).remaining_g == remaining


def test_the_api_offers_and_refuses_terms_with_a_translated_message(client, users):
    token = client.post(
        "/api/v1/tokens", json={"login": "coop", "password": PASSWORD, "name": "t"}
    ).json["token"]
    coop = {"Authorization": f"Bearer {token}"}
    body = {"commodity": "黑豆", "quantity": "20", "unit": "t", "price": "6.8", "price_unit": "kg"}
    refused = client.post(
        "/api/v1/lots",
        json={**body, "settlement_terms": ["on_loading"], "holdback_percent": 11},
        headers={**coop, "Accept-Language": "zh"},
    )
    assert refused.status_code == 422
    assert "0 到 10" in str(refused.json)
    assert db.session.scalar(select(func.count(Lot.id))) == 0
    made = client.post("/api/v1/lots", json=body, headers=coop)
    assert made.status_code == 201, made.json
    assert (made.json["settlement_terms"], made.json["holdback_percent"]) == (["on_delivery"], 0)
    lot_id = made.json["id"]

    token = client.post(
        "/api/v1/tokens", json={"login": "buyer", "password": PASSWORD, "name": "t"}
    ).json["token"]
    buyer = {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}
    order = {"lot_id": lot_id, "quantity": "1", "unit": "t", "settlement": "on_loading"}
    refused = client.post("/api/v1/orders", json=order, headers=buyer)
    assert refused.status_code == 422
    assert "收货后结算" in str(refused.json)  # what the lot does offer, in Chinese
    assert db.session.scalar(select(func.count(Order.id))) == 0

    changed = client.patch(
        f"/api/v1/lots/{lot_id}",
        json={"settlement_terms": ["on_delivery", "on_loading"], "holdback_percent": 3},
        headers=coop,
    )
    assert changed.status_code == 200, changed.json
    placed = client.post("/api/v1/orders", json=order, headers=buyer)
    assert placed.status_code == 201, placed.json
    assert (placed.json["settlement"], placed.json["holdback_percent"]) == ("on_loading", 3)


def test_the_lot_form_and_the_order_form_offer_the_terms(client, users):
    login(client, "coop", PASSWORD)
    form = {
        "commodity": "黑豆",
        "quantity": "20",
        "unit": "t",
        "price": "6.80",
        "price_unit": "kg",
        "province": "",
        "settlement_terms": BOTH,
        "holdback_percent": "12",
    }
    refused = post_form(client, "/lots/new", form, page="/lots/new")
    assert refused.status_code == 422
    assert "0 到 10" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Lot.id))) == 0
    posted = post_form(client, "/lots/new", {**form, "holdback_percent": "4"}, page="/lots/new")
    assert posted.status_code == 302
    lot = db.session.scalars(select(Lot)).one()
    assert (lot.settlements, lot.holdback_pct) == (
        (Settlement.on_delivery, Settlement.on_loading),
        4,
    )
    page = client.get(f"/lots/{lot.id}").get_data(as_text=True)
    assert "装车结算" in page and "4%" in page

    buyer = type(client)(client.application)
    login(buyer, "buyer", PASSWORD)
    order_page = f"/lots/{lot.id}/order"
    assert 'value="on_loading"' in buyer.get(order_page).get_data(as_text=True)
    placed = post_form(
        buyer,
        order_page,
        {"quantity": "2", "unit": "t", "settlement": "on_loading"},
        page=order_page,
    )
    assert placed.status_code == 302
    assert db.session.scalars(select(Order)).one().settlement is Settlement.on_loading


# --- settled on loading -----------------------------------------------------------------------


def test_loading_needs_a_photo_and_a_sane_ticket_and_nothing_moves_without(users, loading_order):
    for more in ({"photos": []}, {"weighbridge_ticket": "x" * 41}):
        args = {"photos": [jpeg_bytes()], "weighbridge_ticket": "BD-1", **more}
        with pytest.raises(ValidationFailed) as refused:
            orders.dispatch(
                users["coop"], loading_order, "辽A12345", "13912345678", "9.5", "t", **args
            )
        assert set(refused.value.fields) & {"photos", "weighbridge_ticket"}
        db.session.rollback()
    assert db.session.get(Order, loading_order.id).status is OrderStatus.paid
    assert _instructions(loading_order.id) == []


def test_loading_refunds_the_shortfall_and_pays_the_village_the_same_day(users, loading_order):
    order_id = loading_order.id
    _dispatch(users, loading_order, "9.5")  # the weighbridge says 9.5 t of the 10 t ordered
    loaded = 9_500 * 680 * 100 // 100  # 9.5 t at 6,800 元/t = 64,600 元, in fen
    assert loaded == 64_600_00
    holdback = 3_230_00  # 5% of what was loaded
    assert _instructions(order_id) == [
        ("refund", "loading_shortfall", 3_400_00),  # 0.5 t back to the buyer at once
        ("payout", "loading_settlement", loaded - holdback),
    ]
    _settle_refunds(users, order_id)
    order = db.session.get(Order, order_id)
    assert order.status is OrderStatus.dispatched  # nothing delivered yet
    assert order.weighbridge_ticket == "BD-20261207-0042"
    sums = ledger_sums(order_id)
    assert (sums["payout"], sums["refund"]) == (loaded - holdback, 3_400_00)
    assert payments.available_fen(order_id) == holdback
    payout = db.session.scalars(
        select(PaymentInstruction).where(PaymentInstruction.kind == InstructionKind.payout)
    ).one()
    assert payout.status is InstructionState.succeeded
    assert payout.done_at.date() == order.dispatched_at.date()  # the day of loading
    assert "dispatched" in [e.action for e in history(order)]
    # the cooperative is told it was paid on loading
    from produce_match.notifications.models import Notification

    kinds = db.session.scalars(select(Notification.kind)).all()
    assert "payment.paid_on_loading" in kinds


def test_confirmed_delivery_refunds_a_short_delivery_from_the_holdback_then_releases_it(
    users, loading_order
):
    order_id = loading_order.id
    _dispatch(users, loading_order, "9.5")
    _settle_refunds(users, order_id)
    orders.confirm_delivery(users["buyer"], db.session.get(Order, order_id), "9.2", "t")
    db.session.commit()
    short = 300 * 680  # 0.3 t short at 6.80 元/kg, in fen
    assert _instructions(order_id)[2:] == [
        ("refund", "short_delivery", short),
        ("payout", "holdback_release", 3_230_00 - short),
    ]
    _settle_refunds(users, order_id)
    sums = ledger_sums(order_id)
    assert sums["charge"] == 68_000_00
    assert sums["refund"] == 3_400_00 + short
    assert sums["payout"] == 62_560_00  # 9.2 t at 6,800 元/t: what the buyer kept
    assert sums["held"] + sums["direct"] == 0
    # closing the dispute window pays nothing more
    orders.complete(
        db.session.get(Order, order_id), now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1)
    )
    db.session.commit()
    assert len(_instructions(order_id)) == 4
    assert db.session.get(Order, order_id).claim_fen is None


def test_a_short_delivery_beyond_the_holdback_becomes_a_claim_on_the_cooperative(
    users, loading_order
):
    order_id = loading_order.id
    _dispatch(users, loading_order, "10")
    _settle_refunds(users, order_id)
    orders.confirm_delivery(users["buyer"], db.session.get(Order, order_id), "9", "t")
    db.session.commit()
    # 1 t short is 6,800 元; only the holdback, 3,400 元, was still held
    assert _instructions(order_id)[1:] == [("refund", "short_delivery", 3_400_00)]
    order = db.session.get(Order, order_id)
    assert order.claim_fen == 3_400_00
    assert "claim_recorded" in [e.action for e in history(order)]
    assert payments.available_fen(order_id) == 0


def test_an_auto_confirmed_delivery_keeps_the_holdback_for_disputes_until_the_window_closes(
    users, loading_order
):
    order_id = loading_order.id
    _dispatch(users, loading_order, "10")
    order = db.session.get(Order, order_id)
    orders.apply_expiry(order, order.auto_confirm_at + timedelta(minutes=1))
    db.session.commit()
    assert db.session.get(Order, order_id).status is OrderStatus.delivered
    assert [r for _k, r, _a in _instructions(order_id)] == ["loading_settlement"]
    order = db.session.get(Order, order_id)
    orders.dispute(users["buyer"], order, "一成是瘪豆", now=order.delivered_at + timedelta(days=1))
    db.session.commit()
    orders.resolve(users["official"], db.session.get(Order, order_id), "退一千元", "1000")
    db.session.commit()
    assert _instructions(order_id)[1:] == [
        ("refund", "dispute", 1_000_00),
        ("payout", "holdback_release", 3_400_00 - 1_000_00),
    ]
    assert db.session.get(Order, order_id).claim_fen is None


def test_a_resolution_larger_than_the_holdback_is_capped_and_the_rest_is_a_claim(
    client, users, loading_order
):
    order_id = loading_order.id
    _dispatch(users, loading_order, "10")
    order = db.session.get(Order, order_id)
    orders.apply_expiry(order, order.auto_confirm_at + timedelta(minutes=1))
    db.session.commit()
    order = db.session.get(Order, order_id)
    orders.dispute(users["buyer"], order, "全部霉变", now=order.delivered_at + timedelta(days=1))
    db.session.commit()
    orders.resolve(users["official"], db.session.get(Order, order_id), "全额退款", "68000")
    db.session.commit()
    assert _instructions(order_id)[1:] == [("refund", "dispute", 3_400_00)]
    order = db.session.get(Order, order_id)
    assert order.claim_fen == 68_000_00 - 3_400_00
    login(client, "official", PASSWORD)
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "64,600.00" in page or "64600.00" in page


def test_orders_settled_on_delivery_are_unchanged(users):
    lot = make_lot(users["coop"], settlement_terms=BOTH, holdback_percent="5")
    order = orders.place_order(users["buyer"], lot, "10", "t")
    db.session.commit()
    _pay_by_transfer(users, order)
    order = db.session.get(Order, order.id)
    orders.dispatch(users["coop"], order, "辽A12345", "13912345678", "9.5", "t")  # no photo
    db.session.commit()
    assert _instructions(order.id) == []  # nothing moves on loading
    orders.confirm_delivery(users["buyer"], db.session.get(Order, order.id), "9.2", "t")
    db.session.commit()
    assert _instructions(order.id) == [("refund", "short_delivery", 800 * 680)]
    orders.complete(
        db.session.get(Order, order.id), now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1)
    )
    db.session.commit()
    assert _instructions(order.id)[1:] == [("payout", "settlement", 62_560_00)]
    assert Reason.settlement.value == "settlement"


# --- the officials' figures ------------------------------------------------------------------


def test_officials_see_days_from_loading_to_payout_and_the_share_settled_on_loading(
    client, users, loading_order
):
    from produce_match.monitor import queries as monitor

    _dispatch(users, loading_order, "10")  # paid out at once: 0 days
    service.run_outbox()
    lot = make_lot(users["coop"])
    escrow = orders.place_order(users["buyer"], lot, "1", "t")
    db.session.commit()
    _pay_by_transfer(users, escrow)
    orders.dispatch(
        users["coop"], db.session.get(Order, escrow.id), "辽A12345", "13912345678", "1", "t"
    )
    db.session.commit()
    scope = monitor.resolve_scope(users["official"])
    f = monitor.figures(scope, monitor.parse_period(None, None))
    assert (f.orders_dispatched, f.orders_on_loading) == (2, 1)
    assert str(f.on_loading_percent) == "50.0"
    assert str(f.days_to_payout_median) == "0.0"  # the escrowed order is not paid out yet

    token = client.post(
        "/api/v1/tokens", json={"login": "official", "password": PASSWORD, "name": "t"}
    ).json["token"]
    stats = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"}).json
    assert stats["settled_on_loading_percent"] == "50.0"
    assert (stats["orders_dispatched"], stats["orders_settled_on_loading"]) == (2, 1)
    assert stats["days_dispatch_to_payout_median"] == "0.0"
    # elsewhere nothing was loaded
    other = monitor.resolve_scope(users["other_official"])
    assert monitor.figures(other, monitor.parse_period(None, None)).on_loading_percent is None
    login(client, "official", PASSWORD)
    page = client.get("/monitor/").get_data(as_text=True)
    assert 'id="on-loading-share">50.0%' in page


def test_the_api_records_a_loading_with_its_photos_and_pays_the_village(
    client, users, loading_order
):
    import base64

    token = client.post(
        "/api/v1/tokens", json={"login": "coop", "password": PASSWORD, "name": "t"}
    ).json["token"]
    coop = {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}
    url = f"/api/v1/orders/{loading_order.id}/dispatch"
    body = {
        "vehicle_plate": "辽A12345",
        "driver_phone": "13912345678",
        "shipped_quantity": "9.5",
        "unit": "t",
        "weighbridge_ticket": "BD-7",
    }
    refused = client.post(url, json=body, headers=coop)
    assert refused.status_code == 422
    assert "装车照片" in str(refused.json)
    bad = client.post(url, json={**body, "photos": ["not base64!"]}, headers=coop)
    assert bad.status_code == 422
    assert db.session.get(Order, loading_order.id).status is OrderStatus.paid
    assert _instructions(loading_order.id) == []
    photo = base64.b64encode(jpeg_bytes()).decode()
    done = client.post(url, json={**body, "photos": [photo]}, headers=coop)
    assert done.status_code == 200, done.json
    assert (done.json["settlement"], done.json["weighbridge_ticket"]) == ("on_loading", "BD-7")
    assert [p["purpose"] for p in done.json["photos"]] == ["loading"]
    assert [r for _k, r, _a in _instructions(loading_order.id)] == [
        "loading_shortfall",
        "loading_settlement",
    ]
