"""Bank transfers, who sees payments (404 for everyone else), the API, and the pages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from produce_match.audit.operations import history
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus, PaymentStatus
from produce_match.payments import operations as payments
from produce_match.payments import service
from produce_match.payments.models import (
    EntryKind,
    InstructionState,
    LedgerEntry,
    Payment,
    PaymentState,
)
from produce_match.payments.operations import NotAllowed, ledger_sums
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_lot


@pytest.fixture
def order(users) -> Order:
    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    return order


@pytest.fixture
def bank(users):
    account = payments.save_payout_account(
        users["coop"],
        users["coop"].organisation_id,
        "道亭村黑豆合作社",
        "彰武农商行",
        "6228 4800 1234",
    )
    db.session.commit()
    return account


def token(client, login_name: str) -> str:
    response = client.post(
        "/api/v1/tokens", json={"login": login_name, "password": PASSWORD, "name": "test"}
    )
    assert response.status_code == 201, response.json
    return response.json["token"]


def test_transfer_recorded_by_the_buyer_confirmed_by_the_cooperative_then_refunded(
    users, order, bank
):
    order_id = order.id
    started = service.create_payment(users["buyer"], order, "transfer")
    assert started.pay_url == f"/payments/{started.id}/transfer"
    payment = db.session.get(Payment, started.id)
    with pytest.raises(NotAllowed):
        payments.record_transfer(users["coop"], payment, "x")
    payments.record_transfer(users["buyer"], payment, "南昌粮油 工商银行", "11月22日")
    db.session.commit()
    assert payment.status is PaymentState.recorded
    assert db.session.get(Order, order_id).status is OrderStatus.awaiting_payment  # not yet
    with pytest.raises(NotAllowed):
        payments.confirm_transfer(users["buyer"], payment)  # the buyer's word is not enough
    payments.confirm_transfer(users["coop"], payment)
    db.session.commit()
    order = db.session.get(Order, order_id)
    assert order.status is OrderStatus.paid
    assert [a.action for a in history(payment)] == ["created", "transfer_recorded", "succeeded"]

    orders.cancel(users["coop"], order, "the beans were sold locally")
    db.session.commit()
    service.run_outbox()
    instruction = db.session.scalars(select(payments.PaymentInstruction)).one()
    assert instruction.status is InstructionState.manual  # the cooperative sends it back
    with pytest.raises(NotAllowed):
        payments.confirm_manual_refund(users["buyer"], instruction)
    payments.confirm_manual_refund(users["coop"], instruction)
    db.session.commit()
    assert ledger_sums(order_id) == {
        "charge": 680_00,
        "refund": 680_00,
        "payout": 0,
        "held": 0,
        "direct": 0,
    }
    assert db.session.get(Order, order_id).payment_status is PaymentStatus.refunded


def test_a_transfer_needs_the_cooperatives_account(users, order):
    with pytest.raises(payments.Conflict):
        service.create_payment(users["buyer"], order, "transfer")


def test_an_official_may_confirm_a_transfer_for_the_cooperative(users, order, bank):
    started = service.create_payment(users["buyer"], order, "transfer")
    payment = db.session.get(Payment, started.id)
    with pytest.raises(NotAllowed):
        payments.confirm_transfer(users["other_official"], payment)  # not their county
    payments.confirm_transfer(users["official"], payment)
    db.session.commit()
    assert db.session.get(Order, order.id).status is OrderStatus.paid


def test_transfer_pages_record_and_confirm(client, users, order, bank):
    order_id = order.id
    login(client, "buyer", PASSWORD)
    page = f"/payments/orders/{order_id}"
    html = client.get(page).get_data(as_text=True)
    assert "Pay by bank transfer" in html or "银行转账" in html
    response = post_form(
        client, f"/payments/orders/{order_id}/pay", {"method": "transfer"}, page=page
    )
    assert response.status_code == 302
    transfer_page = response.headers["Location"]
    html = client.get(transfer_page).get_data(as_text=True)
    assert "6228 4800 1234".replace(" ", "") in html
    reference = db.session.scalars(select(Payment)).one().reference
    assert reference in html
    response = post_form(
        client, transfer_page, {"payer_account": "南昌粮油 工商银行"}, page=transfer_page
    )
    assert response.status_code == 302
    coop = type(client)(client.application)
    login(coop, "coop", PASSWORD)
    payment_id = db.session.scalars(select(Payment)).one().id
    response = post_form(
        coop, f"/payments/{payment_id}/transfer/confirm", {"answer": "received"}, page=transfer_page
    )
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Order, order_id).status is OrderStatus.paid
    money = coop.get("/payments/money").get_data(as_text=True)
    assert "680.00" in money


def test_only_the_parties_and_oversight_see_a_payment(client, users, order, bank):
    started = service.create_payment(users["buyer"], order, "transfer")
    for login_name, expected in [
        ("buyer", 200),
        ("coop", 200),
        ("official", 200),
        ("provincial", 200),
        ("admin", 200),
        ("coop2", 404),
        ("jiangxi", 404),
    ]:
        headers = {"Authorization": f"Bearer {token(client, login_name)}"}
        response = client.get(f"/api/v1/payments/{started.id}", headers=headers)
        assert response.status_code == expected, login_name
        if expected == 200:
            assert response.json["amount_fen"] == 680_00
            assert response.json["ledger"]["charge"] == 0


def test_api_only_the_buyer_starts_a_payment(client, users, order):
    headers = {"Authorization": f"Bearer {token(client, 'coop')}"}
    response = client.post(
        f"/api/v1/orders/{order.id}/payments", json={"method": "sandbox"}, headers=headers
    )
    assert response.status_code == 403
    headers = {"Authorization": f"Bearer {token(client, 'coop2')}"}
    response = client.post(
        f"/api/v1/orders/{order.id}/payments", json={"method": "sandbox"}, headers=headers
    )
    assert response.status_code == 404
    headers = {"Authorization": f"Bearer {token(client, 'buyer')}"}
    response = client.post(
        f"/api/v1/orders/{order.id}/payments", json={"method": "cash"}, headers=headers
    )
    assert response.status_code == 422


def test_api_start_and_a_pending_payment_shown_as_known_until_reconciled(
    app, client, users, order, gateway
):
    order_id = order.id
    gateway.control(drop=True)  # no notification will come
    headers = {"Authorization": f"Bearer {token(client, 'buyer')}"}
    response = client.post(
        f"/api/v1/orders/{order_id}/payments", json={"method": "sandbox"}, headers=headers
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"id", "status", "pay_url"} and body["status"] == "pending"
    again = client.post(
        f"/api/v1/orders/{order_id}/payments", json={"method": "sandbox"}, headers=headers
    )
    assert again.json == body  # the same payment, not a second one
    gateway.checkout(body["pay_url"], "pay")
    db.session.rollback()
    assert db.session.get(Order, order_id).status is OrderStatus.awaiting_payment

    login(client, "buyer", PASSWORD)
    # back from the checkout: a GET never asks the provider nor writes; the page shows the
    # payment as known and refreshes itself
    back = client.get(f"/payments/{body['id']}/return")
    assert back.status_code == 302 and back.headers["Location"] == f"/payments/{body['id']}"
    html = client.get(f"/payments/{body['id']}").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in html and body["pay_url"] in html
    db.session.rollback()
    assert db.session.get(Order, order_id).status is OrderStatus.awaiting_payment
    assert db.session.scalars(select(LedgerEntry)).all() == []
    # the periodic reconciliation records the provider's answer (the notification was lost)
    service.reconcile_payment(body["id"])
    db.session.commit()
    html = client.get(f"/payments/{body['id']}").get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Order, order_id).status is OrderStatus.paid
    assert 'class="payment-status">' in html and body["pay_url"] not in html
    assert '<meta http-equiv="refresh"' not in html
    assert len(db.session.scalars(select(LedgerEntry)).all()) == 1
    assert db.session.scalars(select(LedgerEntry)).one().kind is EntryKind.charge


def test_the_order_panel_is_hidden_from_strangers(app, client, users, order):
    from flask import render_template_string

    login(client, "coop2", PASSWORD)
    assert client.get(f"/payments/orders/{order.id}").status_code == 404
    with app.test_request_context():
        from flask_login import login_user

        login_user(users["coop2"])
        html = render_template_string(
            '{% include "payments/_order_panel.html" %}', order=db.session.get(Order, order.id)
        )
        assert "payments-panel" not in html
        login_user(users["buyer"])
        html = render_template_string(
            '{% include "payments/_order_panel.html" %}', order=db.session.get(Order, order.id)
        )
        assert "payments-panel" in html


def test_refunds_and_payouts_are_told_in_both_languages(app, users, order, bank):
    from flask_babel import force_locale

    from produce_match.notifications.messages import kinds, render
    from produce_match.notifications.models import Notification

    started = service.create_payment(users["buyer"], order, "transfer")
    payments.confirm_transfer(users["coop"], db.session.get(Payment, started.id))
    db.session.commit()
    orders.cancel(users["buyer"], db.session.get(Order, order.id), "changed plans")
    db.session.commit()
    service.run_outbox()
    instruction = db.session.scalars(select(payments.PaymentInstruction)).one()
    payments.confirm_manual_refund(users["coop"], instruction)
    db.session.commit()
    told = db.session.scalars(
        select(Notification).where(Notification.kind == "payment.refunded")
    ).all()
    assert [n.user_id for n in told] == [users["buyer"].id]

    params = {"order": 7, "lot": "黑豆", "amount_fen": 680_00, "ref": "x", "buyer": "南昌粮油"}
    payment_kinds = [k for k in kinds() if k.startswith("payment.")]
    assert payment_kinds == [
        "payment.paid_on_loading",
        "payment.paid_out",
        "payment.refunded",
        "payment.transfer_recorded",
    ]
    for lang, money in (("zh", "680.00 元"), ("en", "680.00 yuan")):
        with force_locale(lang):
            for kind in payment_kinds:
                text = render(kind, params)
                assert money in text and "7" in text, (kind, text)


def test_refunds_never_exceed_what_was_paid(client, users, order, bank):
    """Half delivered (half refunded), then a dispute settled with the whole amount back: only
    what is still held goes back, and nothing is left to pay out."""
    order_id = order.id
    started = service.create_payment(users["buyer"], order, "transfer")
    payments.confirm_transfer(users["coop"], db.session.get(Payment, started.id))
    order = db.session.get(Order, order_id)
    orders.dispatch(users["coop"], order, "辽A12345", "13912345678", "100", "kg")
    orders.confirm_delivery(users["buyer"], order, "50", "kg")
    orders.dispute(users["buyer"], order, "the rest is mouldy too")
    orders.resolve(users["official"], order, "everything back", "680")
    db.session.commit()
    service.run_outbox()
    refunds = db.session.scalars(
        select(payments.PaymentInstruction).order_by(payments.PaymentInstruction.id)
    ).all()
    assert [(i.reason.value, i.amount_fen) for i in refunds] == [
        ("short_delivery", 340_00),
        ("dispute", 340_00),
    ]
    for instruction in refunds:
        payments.confirm_manual_refund(users["coop"], instruction)
    db.session.commit()
    assert ledger_sums(order_id) == {
        "charge": 680_00,
        "refund": 680_00,
        "payout": 0,
        "held": 0,
        "direct": 0,
    }
    assert db.session.get(Order, order_id).payment_status is PaymentStatus.refunded

    login(client, "buyer", PASSWORD)
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)  # the order's own page
    assert "payments-panel" in page and "680.00" in page


def test_the_order_page_is_shown_when_the_gateway_is_down(app, client, users, order):
    from tests.gateway import free_port

    order_id = order.id
    started = service.create_payment(users["buyer"], order, "sandbox")
    app.config["PAYMENTS_SANDBOX_URL"] = f"http://127.0.0.1:{free_port()}"  # nobody there
    login(client, "buyer", PASSWORD)
    response = client.get(f"/orders/{order_id}")
    assert response.status_code == 200
    assert "payments-panel" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Payment, started.id).status is PaymentState.pending
    # the button asks again and says the service did not answer
    response = post_form(
        client,
        f"/payments/{started.id}/check",
        {"next": "//evil.example"},
        page=f"/orders/{order_id}",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/payments/orders/{order_id}"


def test_money_overviews_for_each_side(client, users, order, bank):
    started = service.create_payment(users["buyer"], order, "transfer")
    payments.confirm_transfer(users["coop"], db.session.get(Payment, started.id))
    db.session.commit()
    expected = {"buyer": 200, "coop": 200, "official": 200, "provincial": 200, "jiangxi": 200}
    for login_name, status in {**expected, "admin": 404}.items():
        viewer = type(client)(client.application)
        login(viewer, login_name, PASSWORD)
        response = viewer.get("/payments/money", headers={"Accept-Language": "en"})
        assert response.status_code == status, login_name
        if status == 200:
            text = response.get_data(as_text=True)
            sees = "680.00" in text
            # the Jiangxi office's district holds no lot of this order; coop2 is not a party
            assert sees is (login_name != "jiangxi"), login_name


def test_the_gateway_checkout_is_an_allowed_form_target(client, gateway):
    """The pay button's POST is redirected to the gateway: form-action must allow it."""
    policy_header = client.get("/login").headers["Content-Security-Policy"]
    form_action = next(p for p in policy_header.split(";") if "form-action" in p)
    assert gateway.url in form_action.split()


def _overdue(order_id: int) -> None:
    """Time passes: the order's payment deadline is behind us, and nobody recorded the expiry."""
    from datetime import timedelta

    from sqlalchemy import update

    from produce_match.database import utcnow

    db.session.execute(
        update(Order).where(Order.id == order_id).values(pay_by=utcnow() - timedelta(hours=1))
    )
    db.session.commit()


def _payment_steps(order_id: int) -> list[tuple[str | None, str | None]]:
    order = db.session.get(Order, order_id)
    return [
        (a.from_state, a.to_state) for a in history(order) if a.action == "payment_status_changed"
    ]


def test_a_transfer_confirmed_after_the_order_expired_ends_refunded(users, order, bank):
    """The money came after the order expired: it goes back, and the order says so; it is
    never left `pending`."""
    order_id = order.id
    started = service.create_payment(users["buyer"], order, "transfer")
    payment = db.session.get(Payment, started.id)
    payments.record_transfer(users["buyer"], payment, "南昌粮油 工商银行")
    db.session.commit()
    assert db.session.get(Order, order_id).payment_status is PaymentStatus.pending
    _overdue(order_id)
    payments.confirm_transfer(users["coop"], db.session.get(Payment, started.id))
    db.session.commit()
    order = db.session.get(Order, order_id)
    assert order.status is OrderStatus.expired
    assert db.session.get(Payment, started.id).late
    # the money is in (with the cooperative) and on its way back
    assert order.payment_status is PaymentStatus.paid
    service.run_outbox()
    instruction = db.session.scalars(select(payments.PaymentInstruction)).one()
    assert instruction.reason.value == "late_payment"
    payments.confirm_manual_refund(users["coop"], instruction)
    db.session.commit()
    order = db.session.get(Order, order_id)
    assert order.payment_status is PaymentStatus.refunded
    assert ledger_sums(order_id)["charge"] == ledger_sums(order_id)["refund"] == 680_00
    assert _payment_steps(order_id)[-2:] == [("pending", "paid"), ("paid", "refunded")]


def test_money_after_a_recorded_expiry_ends_refunded(users, order, bank):
    """The order's expiry was already recorded (cron) while the transfer was on its way."""
    order_id = order.id
    started = service.create_payment(users["buyer"], order, "transfer")
    _overdue(order_id)
    orders.expire_due()
    db.session.commit()
    order = db.session.get(Order, order_id)
    assert order.status is OrderStatus.expired
    assert order.payment_status is PaymentStatus.unpaid  # nothing came, nothing is expected
    payments.confirm_transfer(users["official"], db.session.get(Payment, started.id))
    db.session.commit()
    assert db.session.get(Order, order_id).payment_status is PaymentStatus.paid
    service.run_outbox()
    payments.confirm_manual_refund(
        users["coop"], db.session.scalars(select(payments.PaymentInstruction)).one()
    )
    db.session.commit()
    assert db.session.get(Order, order_id).payment_status is PaymentStatus.refunded


def test_the_cooperative_is_told_when_the_buyer_records_a_transfer(app, users, order, bank):
    from flask_babel import force_locale

    from produce_match.notifications.messages import render
    from produce_match.notifications.models import Notification

    started = service.create_payment(users["buyer"], order, "transfer")
    payment = db.session.get(Payment, started.id)
    payments.record_transfer(users["buyer"], payment, "南昌粮油 工商银行", "11月22日")
    db.session.commit()
    told = db.session.scalars(
        select(Notification).where(Notification.kind == "payment.transfer_recorded")
    ).all()
    assert [n.user_id for n in told] == [users["coop"].id]
    assert told[0].url == f"/payments/{payment.id}/transfer"
    with force_locale("zh"):
        text = render("payment.transfer_recorded", told[0].params)
        assert "680.00 元" in text and payment.reference in text and "确认" in text, text
        assert "平台" not in text
    with force_locale("en"):
        text = render("payment.transfer_recorded", told[0].params)
        assert "680.00 yuan" in text and payment.reference in text and "confirm" in text, text


def _panel(client, login_name: str, order_id: int, lang: str) -> str:
    viewer = type(client)(client.application)
    login(viewer, login_name, PASSWORD)
    return viewer.get(f"/payments/orders/{order_id}", headers={"Accept-Language": lang}).get_data(
        as_text=True
    )


def test_money_paid_straight_to_the_cooperative_is_never_held_by_the_platform(
    client, users, order, bank
):
    """A confirmed transfer is in the cooperative's account: each side reads it so, in its own
    words, and nobody reads 平台代管 (held by the platform)."""
    order_id = order.id
    html = _panel(client, "buyer", order_id, "zh")
    assert "直接转入合作社账户" in html  # before paying: where a transfer goes
    started = service.create_payment(users["buyer"], order, "transfer")
    payments.confirm_transfer(users["coop"], db.session.get(Payment, started.id))
    db.session.commit()
    assert ledger_sums(order_id) == {
        "charge": 680_00,
        "refund": 0,
        "payout": 0,
        "held": 0,
        "direct": 680_00,
    }
    words = {
        ("buyer", "zh"): "已直接转入合作社账户",
        ("coop", "zh"): "已直接转入本社账户",
        ("official", "zh"): "买方已直接转给合作社",
        ("buyer", "en"): "Paid straight into the cooperative's account",
        ("coop", "en"): "Paid straight into your account",
        ("official", "en"): "Paid by the buyer straight to the cooperative",
    }
    for (login_name, lang), expected in words.items():
        html = _panel(client, login_name, order_id, lang)
        assert expected in html, (login_name, lang)
        assert "平台代管" not in html and "Held by the platform" not in html, (login_name, lang)
    for login_name in ("coop", "official"):
        viewer = type(client)(client.application)
        login(viewer, login_name, PASSWORD)
        html = viewer.get("/payments/money", headers={"Accept-Language": "zh"}).get_data(
            as_text=True
        )
        assert "平台代管" not in html and "待交付后结算" not in html, login_name
        assert "680.00" in html, login_name
    # the transfer page speaks to each side
    page = f"/payments/{started.id}/transfer"
    assert "请向合作社账户转账" in _panel_page(client, "buyer", page)
    coop_page = _panel_page(client, "coop", page)
    assert "请向合作社账户转账" not in coop_page and "转入本社账户" in coop_page


def _panel_page(client, login_name: str, page: str) -> str:
    viewer = type(client)(client.application)
    login(viewer, login_name, PASSWORD)
    return viewer.get(page, headers={"Accept-Language": "zh"}).get_data(as_text=True)


def test_online_money_is_held_by_the_platform_in_each_sides_words(client, users, order):
    order_id = order.id
    started = service.create_payment(users["buyer"], order, "sandbox")
    payment = db.session.get(Payment, started.id)
    payments.succeed(payment, provider_ref="pay_test")
    db.session.commit()
    assert ledger_sums(order_id)["held"] == 680_00 and ledger_sums(order_id)["direct"] == 0
    words = {
        "buyer": "平台代管，您确认收货后付给合作社",
        "coop": "平台代管，交货后付给本社",
        "official": "平台代管",
    }
    for login_name, expected in words.items():
        html = _panel(client, login_name, order_id, "zh")
        assert expected in html and "直接转入" not in html, login_name


def test_the_order_history_names_each_payment_status(client, users, order, bank):
    order_id = order.id
    service.create_payment(users["buyer"], order, "transfer")
    login(client, "buyer", PASSWORD)
    html = client.get(f"/orders/{order_id}", headers={"Accept-Language": "zh"}).get_data(
        as_text=True
    )
    assert "未付款 → 付款中" in html and "pending" not in html
