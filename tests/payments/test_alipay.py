"""Paying by Alipay through the Alipay emulator (devtools/alipay_gateway), a process of its own
speaking Alipay's wire format: what it signs verifies with python-alipay-sdk's own code, the
notifications the tests forge are signed with that code too, every notification counts once
and only when genuine and ours, and the ledger always equals what the emulator says."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from Cryptodome.PublicKey import RSA
from flask import Flask, g
from sqlalchemy import func, select

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
    PaymentEvent,
    PaymentInstruction,
)
from produce_match.payments.operations import ledger_sums
from produce_match.payments.providers import ProviderUnavailable, get_provider
from produce_match.payments.providers.alipay import (
    AlipayProvider,
    beijing_now,
    fen,
    is_phone,
    yuan,
)
from produce_match.units import cost_fen
from tests.alipay_emulator import APP_ID, SELLER_ID, Emulator
from tests.conftest import make_app
from tests.e2e.conftest import LiveServer
from tests.factories import make_lot
from tests.payments.conftest import eventually
from tests.payments.test_sandbox import deliver_and_complete, entries, fresh, paid

pytestmark = pytest.mark.slow
KG = 1000
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
FORM = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture
def app(database_url: str, tmp_path: Path, alipay_emulator: Emulator) -> Iterator[Flask]:
    """The app, served on a free loopback port, paying through the emulator process."""
    app = make_app(
        database_url,
        tmp_path / "instance",
        PAYMENTS_HTTP_TIMEOUT=10.0,
        PAYMENTS_METHODS=("alipay", "transfer"),
        **alipay_emulator.settings(),
    )
    alipay_emulator.reset()
    with LiveServer(app) as server:
        app.config["PAYMENTS_PUBLIC_URL"] = server.url
        with app.app_context():
            yield app
            g.pop("search_pending", None)
            db.session.remove()
        with app.app_context():
            db.engine.dispose()
    alipay_emulator.reset()


@pytest.fixture
def order(users) -> Order:
    """100 kg of black beans at 6.80 元/kg, accepted: awaiting payment (680 元); the
    cooperative has an Alipay account for its payouts."""
    payments.save_payout_account(
        users["coop"],
        users["coop"].organisation_id,
        "道亭黑豆合作社",
        "中国农业银行道亭支行",
        "6228480000000001",
        "13800001234",
        "道亭黑豆专业合作社",
    )
    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    return order


def start(app: Flask, users, order: Order) -> Payment:
    with app.test_request_context("/", method="POST"):
        started = service.create_payment(users["buyer"], order, "alipay")
    return db.session.get(Payment, started.id)


def link(app: Flask, payment: Payment, user_agent: str = PHONE_UA) -> str:
    """The browser opens the payment's checkout link: sent on to the gateway, signed now."""
    response = app.test_client().get(payment.pay_url, headers={"User-Agent": user_agent})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def query(pay_url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(pay_url).query, keep_blank_values=True))


def ledger_matches_emulator(emulator: Emulator, order_id: int) -> None:
    """Our ledger for the order is what the emulator holds, fen for fen."""
    db.session.rollback()
    sums = ledger_sums(order_id)
    charged = refunded = 0
    for payment in db.session.scalars(select(Payment).where(Payment.order_id == order_id)):
        trade = emulator.trade(payment.reference)
        if trade and trade["paid_at"]:
            charged += trade["total_fen"]
            refunded += sum(r["amount_fen"] for r in trade["refunds"])
    keys = db.session.scalars(
        select(PaymentInstruction.idempotency_key).where(
            PaymentInstruction.order_id == order_id, PaymentInstruction.kind == "payout"
        )
    ).all()
    paid_out = sum(t["amount_fen"] for key in keys for t in emulator.transfers(key))
    assert (sums["charge"], sums["refund"], sums["payout"]) == (charged, refunded, paid_out)
    db.session.rollback()


def events() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(PaymentEvent))


def notify(app: Flask, body: bytes) -> tuple[int, str]:
    response = app.test_client().post(
        "/payments/notify/alipay",
        data=body,
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )
    return response.status_code, response.get_data(as_text=True)


def trade_success(payment: Payment, **changes: str) -> dict[str, str]:
    params = {
        "notify_time": "2026-12-07 18:00:00",
        "notify_type": "trade_status_sync",
        "notify_id": f"test{time.monotonic_ns()}",
        "charset": "utf-8",
        "version": "1.0",
        "app_id": APP_ID,
        "seller_id": SELLER_ID,
        "trade_no": "2026120722001400000000000001",
        "out_trade_no": payment.reference,
        "total_amount": yuan(payment.amount_fen),
        "trade_status": "TRADE_SUCCESS",
        "gmt_payment": "2026-12-07 17:59:58",
    }
    params.update(changes)
    return params


# --- the signatures, as Alipay's SDK makes and checks them -----------------------------------


def test_amounts_and_phones():
    assert yuan(680_00) == "680.00" and yuan(5) == "0.05" and yuan(1234_50) == "1234.50"
    assert fen("680.00") == 680_00 and fen("0.5") == 50 and fen("12") == 1200
    for bad in ("-1.00", "1.001", "1e3", "", None, "１.00"):
        with pytest.raises(ValueError):
            fen(bad)
    assert is_phone(PHONE_UA) and is_phone("… iPhone OS 17_0 … MicroMessenger/8.0")
    assert not is_phone(DESKTOP_UA) and not is_phone(None)


def test_the_pay_url_is_signed_rsa2_wap_on_a_phone_page_on_a_computer(
    app, users, order, alipay_emulator
):
    payment = start(app, users, order)
    # the link kept with the payment is our own checkout address; opening it signs now
    assert payment.pay_url.startswith(app.config["PAYMENTS_PUBLIC_URL"] + "/payments/")
    gateway = link(app, payment)
    params = query(gateway)
    assert gateway.startswith(alipay_emulator.gateway_url + "?")
    assert params["method"] == "alipay.trade.wap.pay"
    assert params["sign_type"] == "RSA2" and params["app_id"] == APP_ID
    assert params["notify_url"].endswith("/payments/notify/alipay")
    assert f"/payments/{payment.id}/return" in params["return_url"]
    biz = json.loads(params["biz_content"])
    assert biz["out_trade_no"] == payment.reference
    assert biz["total_amount"] == "680.00"
    assert biz["product_code"] == "QUICK_WAP_WAY"
    # SHA256withRSA over the sorted pairs but `sign`, with the app's key: the SDK holding the
    # app's public key verifies it, and not once one value is changed
    checker = alipay_emulator.as_alipay()
    signature = params.pop("sign")
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    assert checker._verify(text, signature)
    assert not checker._verify(text.replace("680.00", "6.80"), signature)
    db.session.rollback()

    other = orders.place_order(
        users["buyer"], make_lot(users["coop"], quantity="1", unit="t"), "100", "kg"
    )
    db.session.commit()
    orders.accept(users["coop"], other)
    db.session.commit()
    computer = query(link(app, start(app, users, other), DESKTOP_UA))
    assert computer["method"] == "alipay.trade.page.pay"
    assert '"product_code":"FAST_INSTANT_TRADE_PAY"' in computer["biz_content"]


def test_the_checkout_link_signs_afresh_and_opens_only_its_payment(
    app, users, order, alipay_emulator
):
    payment = start(app, users, order)
    client = app.test_client()
    # another token, or none: not this payment's link
    for wrong in (payment.pay_url.split("?")[0], payment.pay_url[:-1] + "x"):
        assert client.get(wrong).status_code == 404
    # a request signed two hours ago is refused by Alipay (timestamp): each opening signs now
    sdk = alipay_emulator.as_app()
    biz = {
        "out_trade_no": payment.reference,
        "total_amount": "680.00",
        "subject": "x",
        "product_code": "FAST_INSTANT_TRADE_PAY",
    }
    stale = sdk.client_api("alipay.trade.page.pay", biz, timestamp="2026-01-01 08:00:00")
    old = requests.get(f"{alipay_emulator.gateway_url}?{stale}", timeout=10)
    assert old.status_code == 400 and "isv.invalid-timestamp" in old.text
    fresh_link = link(app, payment)
    assert requests.get(fresh_link, timeout=10).status_code == 200
    # once paid, the link leads to the receipt
    order_id, payment_id = order.id, payment.id
    alipay_emulator.checkout(fresh_link, "pay")
    assert eventually(lambda: paid(order_id))
    done = client.get(db.session.get(Payment, payment_id).pay_url)
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/payments/{payment_id}")


def test_the_emulator_checks_the_app_signature_and_signs_as_alipay(
    app, users, order, alipay_emulator
):
    payment = start(app, users, order)
    pay_url = link(app, payment)
    db.session.rollback()
    # a changed amount breaks the app's signature: the emulator shows no checkout
    tampered = pay_url.replace("680.00", "6.80")
    assert tampered != pay_url
    refused = requests.get(tampered, timeout=10)
    assert refused.status_code == 400 and "isv.invalid-signature" in refused.text
    assert alipay_emulator.trade(payment.reference) is None

    # an API call signed by the SDK with the app's key; the answer verifies with the SDK's own
    # check of a synchronous answer (Alipay's public key), and not once a byte is changed
    sdk = alipay_emulator.as_app()
    # (the SDK's own timestamp is the machine's local time: Alipay's is Beijing time)
    body = sdk.client_api(
        "alipay.trade.query", {"out_trade_no": payment.reference}, timestamp=beijing_now()
    )
    raw = requests.post(alipay_emulator.gateway_url, data=body, headers=FORM, timeout=10).text
    answer = sdk._verify_and_return_sync_response(raw, "alipay_trade_query_response")
    assert answer["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    from alipay.exceptions import AliPayValidationError

    with pytest.raises(AliPayValidationError):
        sdk._verify_and_return_sync_response(
            raw.replace("TRADE_NOT_EXIST", "TRADE_NOT_EXISTS"), "alipay_trade_query_response"
        )
    # a call signed with a key that is not the app's is refused, unsigned, as Alipay does
    stranger = alipay_emulator.as_alipay()
    forged = stranger.client_api(
        "alipay.trade.query", {"out_trade_no": payment.reference}, timestamp=beijing_now()
    )
    error = requests.post(alipay_emulator.gateway_url, data=forged, headers=FORM, timeout=10).json()
    assert error["error_response"]["sub_code"] == "isv.invalid-signature"


def test_a_notification_from_the_emulator_verifies_with_the_sdk(app, users, order, alipay_emulator):
    """Catch the emulator's notification on the way (hold), and check it with the SDK."""
    alipay_emulator.control(hold=True)
    payment = start(app, users, order)
    pay_url, order_id = link(app, payment), order.id
    db.session.rollback()
    alipay_emulator.checkout(pay_url, "pay")
    held = sqlite3.connect(alipay_emulator.folder / "trades.sqlite3")  # the emulator's outbox
    try:
        (body,) = held.execute(
            "SELECT body FROM outbox WHERE held = 1 ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        held.close()
    params = dict(parse_qsl(bytes(body).decode()))
    signature = params.pop("sign")
    assert params["trade_status"] == "TRADE_SUCCESS" and params["sign_type"] == "RSA2"
    assert alipay_emulator.as_app().verify(dict(params), signature)
    params["total_amount"] = "1.00"
    assert not alipay_emulator.as_app().verify(dict(params), signature)
    assert alipay_emulator.flush() == 1
    assert eventually(lambda: paid(order_id))


# --- paying, refunding, paying out ---------------------------------------------------------


def test_wap_pay_refund_and_payout_the_ledger_equals_the_emulator(
    app, users, order, alipay_emulator
):
    order_id = order.id
    payment = start(app, users, order)
    pay_url, payment_id = link(app, payment), payment.id
    assert fresh(order_id).payment_status is PaymentStatus.pending
    db.session.rollback()

    back = alipay_emulator.checkout(pay_url, "pay")
    assert back.status_code == 302
    assert f"/payments/{payment_id}/return?" in back.headers["Location"]
    assert eventually(lambda: paid(order_id)), "the notification should mark the order paid"
    assert [e.amount_fen for e in entries(order_id, EntryKind.charge)] == [680_00]
    assert eventually(lambda: alipay_emulator.outbox()["pending"] == 0)

    deliver_and_complete(users, order_id, accepted_kg="90")  # 10 kg short: a partial refund
    order = fresh(order_id)
    short = cost_fen(10 * KG, order.price_fen_per_t)
    assert [r.amount_fen for r in entries(order_id, EntryKind.refund)] == [short]
    payouts = entries(order_id, EntryKind.payout)
    assert [p.amount_fen for p in payouts] == [680_00 - short]
    assert order.payment_status is PaymentStatus.partially_refunded
    assert ledger_sums(order_id)["held"] == 0

    trade = alipay_emulator.trade(payment.reference)
    assert trade["status"] == "TRADE_SUCCESS" and trade["refunded_fen"] == short
    (transfer,) = alipay_emulator.transfers(
        db.session.scalar(
            select(PaymentInstruction.idempotency_key).where(
                PaymentInstruction.order_id == order_id, PaymentInstruction.kind == "payout"
            )
        )
    )
    assert (transfer["identity"], transfer["identity_type"]) == ("13800001234", "ALIPAY_LOGON_ID")
    assert transfer["name"] == "道亭黑豆专业合作社"
    assert payouts[0].provider_ref == transfer["order_id"]
    # the refund's notification (TRADE_SUCCESS with refund_fee) is recorded, changes nothing
    assert eventually(lambda: alipay_emulator.outbox()["pending"] == 0)
    ledger_matches_emulator(alipay_emulator, order_id)

    # the same refund and payout sent again (a lost answer) are the same at Alipay
    provider = get_provider("alipay")
    refund = db.session.scalar(
        select(PaymentInstruction).where(
            PaymentInstruction.order_id == order_id, PaymentInstruction.kind == "refund"
        )
    )
    again = provider.refund(
        provider_ref=payment.reference,
        amount_fen=refund.amount_fen,
        reference=refund.idempotency_key,
        idempotency_key=refund.idempotency_key,
    )
    assert again.status == "succeeded"
    assert alipay_emulator.trade(payment.reference)["refunded_fen"] == short
    ledger_matches_emulator(alipay_emulator, order_id)


def test_payout_without_an_alipay_account_is_refused_not_sent(app, users, alipay_emulator):
    provider = get_provider("alipay")
    with pytest.raises(Exception, match="no Alipay account"):
        provider.payout(
            account="", account_name="", amount_fen=100, reference="k1", idempotency_key="k1"
        )
    # a user id needs no name; a login does (Alipay checks the real name)
    moved = provider.payout(
        account="2088123412341234",
        account_name="",
        amount_fen=1_00,
        reference="k-user-id",
        idempotency_key="k-user-id",
    )
    assert moved.status == "succeeded"
    assert alipay_emulator.transfers("k-user-id")[0]["identity_type"] == "ALIPAY_USER_ID"
    from produce_match.payments.providers import ProviderRefused

    with pytest.raises(ProviderRefused) as refused:
        provider.payout(
            account="coop@example.cn",
            account_name="",
            amount_fen=1_00,
            reference="k-login",
            idempotency_key="k-login",
        )
    assert refused.value.code == "PAYEE_USERINFO_ERROR"
    assert alipay_emulator.transfers("k-login") == []


# --- notifications: genuine once; forged, tampered, not ours: nothing changes --------------


def test_genuine_once_forged_tampered_and_not_ours_change_nothing(
    app, users, order, alipay_emulator
):
    order_id = order.id
    payment = start(app, users, order)
    db.session.rollback()
    before = events()

    # signed by someone else's key
    forger = alipay_emulator.as_app()  # the app's own key, not Alipay's
    body = forger.sign_data(trade_success(payment)).encode() + b"&sign_type=RSA2"
    assert notify(app, body) == (400, "failure")
    # signed by Alipay, then the amount changed on the way
    genuine = alipay_emulator.notification(**trade_success(payment))
    assert notify(app, genuine.replace(b"total_amount=680.00", b"total_amount=6.80"))[1] == (
        "failure"
    )
    # signed by Alipay, but a different amount than our payment's
    assert (
        notify(app, alipay_emulator.notification(**trade_success(payment, total_amount="6.80")))[1]
        == "failure"
    )
    # another app's, another seller's, an unknown trade's
    for changes in (
        {"app_id": "2021000000000777"},
        {"seller_id": "2088000000000777"},
        {"out_trade_no": "not-ours"},
        {"sign_type": "RSA"},
    ):
        status, text = notify(
            app, alipay_emulator.notification(**trade_success(payment, **changes))
        )
        assert text == "failure", changes
    # unsigned, empty, not a form
    for junk in (b"", b"out_trade_no=x&total_amount=1.00", b"\xff\xfe", b"a=1&a=2&sign=x"):
        assert notify(app, junk)[1] == "failure"
    assert events() == before
    assert fresh(order_id).status is OrderStatus.awaiting_payment
    assert entries(order_id, EntryKind.charge) == []

    # a TRADE_CLOSED before the payment (reordered), then the genuine TRADE_SUCCESS: paid once
    assert notify(app, genuine) == (200, "success")
    assert paid(order_id)
    assert notify(app, genuine) == (200, "success")  # Alipay's retry: a duplicate
    closed = alipay_emulator.notification(
        **trade_success(payment, trade_status="TRADE_CLOSED", notify_id="late-close")
    )
    assert notify(app, closed) == (200, "success")  # recorded, and a paid order stays paid
    assert paid(order_id)
    assert [e.amount_fen for e in entries(order_id, EntryKind.charge)] == [680_00]
    assert events() == before + 2


def test_notifications_duplicated_and_reordered(app, users, order, alipay_emulator):
    alipay_emulator.control(copies=3, hold=True)
    order_id = order.id
    payment = start(app, users, order)
    pay_url = link(app, payment)
    db.session.rollback()
    alipay_emulator.checkout(pay_url, "fail")  # a declined attempt: no notification
    alipay_emulator.checkout(pay_url, "pay")
    assert alipay_emulator.flush() == 3  # one event, three copies
    assert eventually(lambda: alipay_emulator.outbox()["pending"] == 0)
    assert paid(order_id)
    assert len(entries(order_id, EntryKind.charge)) == 1
    assert events() == 1
    ledger_matches_emulator(alipay_emulator, order_id)


def test_a_notification_answered_failure_is_retried_on_the_schedule(app, alipay_emulator):
    """A trade we never made (our answer: failure) is sent again, on Alipay's schedule."""
    sdk = alipay_emulator.as_app()
    notify_url = app.config["PAYMENTS_PUBLIC_URL"] + "/payments/notify/alipay"
    query_string = sdk.client_api(
        "alipay.trade.page.pay",
        {
            "out_trade_no": "someone-elses",
            "total_amount": "1.00",
            "subject": "x",
            "product_code": "FAST_INSTANT_TRADE_PAY",
        },
        notify_url=notify_url,
        timestamp=beijing_now(),
    )
    alipay_emulator.control(time_scale=0.02)  # 4 min → 0.08 s, 10 min → 0.2 s, …
    alipay_emulator.checkout(f"{alipay_emulator.gateway_url}?{query_string}", "pay")
    assert eventually(lambda: alipay_emulator.outbox()["attempts"] >= 4, timeout=20)
    assert events() == 0


def test_a_lost_notification_is_completed_by_reconciliation(app, users, order, alipay_emulator):
    alipay_emulator.control(drop=True)
    order_id = order.id
    payment = start(app, users, order)
    pay_url = link(app, payment)
    db.session.rollback()
    assert service.reconcile(min_age_seconds=0).payments_changed == 0  # not opened yet
    alipay_emulator.checkout(pay_url, "pay")
    assert alipay_emulator.outbox()["pending"] == 0  # nothing is on its way
    assert fresh(order_id).status is OrderStatus.awaiting_payment
    db.session.rollback()

    # Alipay does not answer for a while: nothing changes, and no error escapes
    alipay_emulator.control(api_down=8)
    assert service.reconcile(min_age_seconds=0).payments_changed == 0
    assert not paid(order_id)
    alipay_emulator.control(api_down=0)

    assert service.reconcile(min_age_seconds=0).payments_changed == 1
    assert paid(order_id)
    assert service.reconcile(min_age_seconds=0).payments_changed == 0
    assert len(entries(order_id, EntryKind.charge)) == 1
    ledger_matches_emulator(alipay_emulator, order_id)


def test_an_abandoned_checkout_closes_the_payment(app, users, order, alipay_emulator):
    order_id = order.id
    payment = start(app, users, order)
    payment_id = payment.id
    db.session.rollback()
    alipay_emulator.checkout(link(app, payment), "abandon")

    def closed() -> bool:
        return db.session.get(Payment, payment_id).status.value != "pending"

    assert eventually(closed)
    assert fresh(order_id).status is OrderStatus.awaiting_payment  # the buyer may pay again


def test_a_refund_while_alipay_is_down_waits_in_the_queue(app, users, order, alipay_emulator):
    order_id = order.id
    payment = start(app, users, order)
    alipay_emulator.checkout(link(app, payment), "pay")
    assert eventually(lambda: paid(order_id))
    alipay_emulator.control(api_down=100)
    AlipayProvider.BACKOFF = (0.0, 0.0, 0.0)
    try:
        deliver_and_complete(users, order_id, accepted_kg="90")
        db.session.rollback()
        waiting = db.session.scalars(
            select(PaymentInstruction).where(PaymentInstruction.order_id == order_id)
        ).all()
        assert {i.status for i in waiting} == {InstructionState.queued}
        assert entries(order_id, EntryKind.refund) == []
        alipay_emulator.control(api_down=0)
        service.run_outbox()
    finally:
        AlipayProvider.BACKOFF = (0.3, 1.0, 2.0)
    assert len(entries(order_id, EntryKind.refund)) == 1
    ledger_matches_emulator(alipay_emulator, order_id)


def test_an_unreadable_answer_is_not_trusted(app, alipay_emulator, monkeypatch):
    provider = get_provider("alipay")
    provider.BACKOFF = ()
    real = requests.post

    def tampered(*args: Any, **kwargs: Any) -> Any:
        answer = real(*args, **kwargs)
        answer._content = answer.content.replace(b"TRADE_NOT_EXIST", b"TRADE_NOT_EXISTS")
        return answer

    monkeypatch.setattr(requests, "post", tampered)
    with pytest.raises(ProviderUnavailable, match="not signed by Alipay"):
        provider.query_payment("nothing-here")


# --- configuration ---------------------------------------------------------------------------


def test_production_refuses_emulator_http_and_readable_keys(tmp_path):
    private = tmp_path / "app_private_key.pem"
    public = tmp_path / "alipay_public_key.pem"
    key = RSA.generate(2048)
    private.write_bytes(key.export_key())
    public.write_bytes(key.public_key().export_key())
    os.chmod(private, 0o644)
    config = {
        "ALIPAY_APP_ID": "2021001",
        "ALIPAY_SELLER_ID": "2088001",
        "ALIPAY_GATEWAY_URL": "http://127.0.0.1:5002/gateway.do",
        "ALIPAY_APP_PRIVATE_KEY_FILE": str(private),
        "ALIPAY_PUBLIC_KEY_FILE": str(public),
    }
    problems = " ".join(AlipayProvider.deploy_problems(config))
    assert "not an https:// URL" in problems
    assert "emulator" in problems
    assert "can be read by others" in problems
    assert "BEGIN" not in problems  # never a key's text

    os.chmod(private, stat.S_IRUSR | stat.S_IWUSR)
    config["ALIPAY_GATEWAY_URL"] = "https://openapi.alipay.com/gateway.do"
    assert AlipayProvider.deploy_problems(config) == []
    # the files swapped (a public key where the private one belongs), or not a key at all
    os.chmod(public, 0o600)
    swapped = {**config, "ALIPAY_APP_PRIVATE_KEY_FILE": str(public)}
    assert "holds a public key" in " ".join(AlipayProvider.deploy_problems(swapped))
    private.write_text("-----BEGIN RSA PRIVATE KEY-----\nnonsense\n")
    assert "not an RSA key" in " ".join(AlipayProvider.deploy_problems(config))
    assert AlipayProvider.deploy_problems({}) != []
    config["ALIPAY_GATEWAY_URL"] = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
    assert "sandbox" in " ".join(AlipayProvider.deploy_problems(config))


def test_the_cooperative_records_its_alipay_account(app, users):
    coop = users["coop"]
    org = coop.organisation_id
    from produce_match.errors import ValidationFailed

    for account, name, field in (
        ("not an account", "道亭合作社", "alipay_account"),
        ("13800001234", "", "alipay_name"),
        ("", "道亭合作社", "alipay_account"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            payments.save_payout_account(coop, org, "合作社", "农行", "6228", account, name)
        assert field in refused.value.fields
        db.session.rollback()
    payments.save_payout_account(coop, org, "合作社", "农行", "6228", "2088123412341234", "道亭")
    db.session.commit()
    order = SimpleNamespace(cooperative_org_id=org, cooperative_org=coop.organisation)
    assert payments.payout_destination(order, "alipay") == ("2088123412341234", "道亭")
    assert payments.payout_destination(order, "sandbox") == ("6228", "合作社")
    payments.save_payout_account(coop, org, "合作社", "农行", "6228")
    db.session.commit()
    assert payments.payout_destination(order, "alipay") == ("", "")
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_a_production_app_offering_alipay_needs_its_real_settings(tmp_path, database_url):
    from produce_match import ConfigError, create_app
    from tests.payments.test_gateway_serving import _production

    with pytest.raises(ConfigError, match="ALIPAY_APP_PRIVATE_KEY_FILE is not set"):
        create_app({**_production(tmp_path, database_url), "PAYMENTS_METHODS": ("alipay",)})
    with pytest.raises(ConfigError, match="emulator"):
        create_app(
            {
                **_production(tmp_path, database_url),
                "PAYMENTS_METHODS": ("alipay",),
                "ALIPAY_GATEWAY_URL": "https://localhost:5002/gateway.do",
            }
        )


def test_the_emulator_refuses_to_run_in_production(tmp_path):
    from tests.gateway import ROOT, gateway_environment

    env = gateway_environment(
        tmp_path, PRODUCE_MATCH_ENV="production", SECRET_KEY="x" * 40, PAYMENTS_METHODS="transfer"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "devtools.alipay_gateway", "--port", "1", "--dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "does not run in production" in result.stderr
    assert not (tmp_path / "app_private_key.pem").exists()  # no key written either


def test_the_account_page_takes_an_alipay_account_in_chinese(app, users):
    from tests.conftest import login, post_form
    from tests.factories import PASSWORD

    client = app.test_client()
    client.set_cookie("pm_lang", "zh")
    login(client, users["coop"].login, PASSWORD)
    page = client.get("/payments/account").get_data(as_text=True)
    assert "支付宝（选填）" in page and "支付宝账号实名" in page
    form = {"account_name": "合作社", "bank_name": "农行道亭支行", "account_number": "6228 4800"}
    refused = post_form(
        client, "/payments/account", {**form, "alipay_account": "13800001234"}, "/payments/account"
    )
    assert refused.status_code == 200
    assert "请填写支付宝账号的实名。" in refused.get_data(as_text=True)
    assert payments.payout_account(users["coop"].organisation_id) is None
    saved = post_form(
        client,
        "/payments/account",
        {**form, "alipay_account": "13800001234", "alipay_name": "道亭黑豆专业合作社"},
        "/payments/account",
    )
    assert saved.status_code == 302
    db.session.rollback()
    coop = users["coop"]
    order = SimpleNamespace(
        cooperative_org_id=coop.organisation_id, cooperative_org=coop.organisation
    )
    assert payments.payout_destination(order, "alipay") == (
        "13800001234",
        "道亭黑豆专业合作社",
    )
