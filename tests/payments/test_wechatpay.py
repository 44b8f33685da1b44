"""WeChat Pay API v3 through the emulator (its own process): our signatures and the emulator's
checked with the community SDK's own code (wechatpayv3), callbacks built and signed with it,
every callback counted once, and the ledger always what the emulator says."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, g
from sqlalchemy import func, select
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, build_authorization, rsa_sign
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devtools.wechatpay_server import WECHATPAY_KEY
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.orders.models import DISPUTE_WINDOW, Order, OrderStatus
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
from produce_match.payments.providers import get_provider
from produce_match.payments.providers import wechatpay as wx
from tests.conftest import make_app
from tests.e2e.conftest import LiveServer
from tests.factories import make_lot
from tests.payments.conftest import eventually
from tests.wechatpay_emulator import (  # noqa: F401 (fixture)
    APPID,
    KEY_ID,
    MCHID,
    SERIAL_NO,
    Emulator,
    wechat_emulator,
)

pytestmark = pytest.mark.slow
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture
def app(database_url: str, tmp_path: Path, wechat_emulator: Emulator) -> Iterator[Flask]:  # noqa: F811
    """The app, served on a free loopback port, paying through the emulator process."""
    app = make_app(
        database_url,
        tmp_path / "instance",
        PAYMENTS_HTTP_TIMEOUT=10.0,
        **wechat_emulator.settings(),
    )
    wechat_emulator.reset()
    with LiveServer(app) as server:
        app.config["PAYMENTS_PUBLIC_URL"] = server.url
        with app.app_context():
            yield app
            g.pop("search_pending", None)
            db.session.remove()
        with app.app_context():
            db.engine.dispose()
    wechat_emulator.reset()


@pytest.fixture
def order(users) -> Order:
    """100 kg of black beans at 6.80 元/kg, accepted: awaiting payment (680 元)."""
    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    return order


def start(users, order: Order) -> SimpleNamespace:
    """The buyer starts paying by WeChat Native; the payment's facts (no transaction is left
    open: on SQLite it would hold the lock the server's writers need)."""
    started = service.create_payment(users["buyer"], order, "wechatpay")
    assert started.pay_url.startswith("weixin://wxpay/bizpayurl?pr=")
    payment = db.session.get(Payment, started.id)
    facts = SimpleNamespace(
        id=payment.id,
        reference=payment.reference,
        amount_fen=payment.amount_fen,
        pay_url=payment.pay_url,
    )
    db.session.rollback()
    return facts


def fresh(order_id: int) -> Order:
    db.session.rollback()
    return db.session.get(Order, order_id)


def paid(order_id: int) -> bool:
    """Whether the order is paid (read in a transaction of its own, closed at once)."""
    db.session.rollback()
    try:
        return db.session.get(Order, order_id).status is OrderStatus.paid
    finally:
        db.session.rollback()


def count(model: Any, **where: Any) -> int:
    query = select(func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db.session.scalar(query)


def ledger_matches_emulator(emulator: Emulator, order_id: int) -> None:
    """What our ledger says for the order is what the emulator holds, fen for fen."""
    db.session.rollback()
    sums = ledger_sums(order_id)
    state = emulator.state()
    references = set(
        db.session.scalars(select(Payment.reference).where(Payment.order_id == order_id))
    )
    keys = set(
        db.session.scalars(
            select(PaymentInstruction.idempotency_key).where(
                PaymentInstruction.order_id == order_id
            )
        )
    )
    charged = sum(
        o["total"]
        for o in state["orders"]
        if o["out_trade_no"] in references and o["trade_state"] in ("SUCCESS", "REFUND")
    )
    refunded = sum(r["refund"] for r in state["refunds"] if r["out_refund_no"] in keys)
    paid_out = sum(b["amount"] for b in state["bills"] if b["out_bill_no"] in keys)
    assert (sums["charge"], sums["refund"], sums["payout"]) == (charged, refunded, paid_out)
    db.session.rollback()


# --- callbacks as WeChat Pay builds them (signed with the SDK's rsa_sign) -------------------


class Callbacks:
    """Builds WeChat Pay callbacks for the app: the resource encrypted under the APIv3 key,
    the body signed with WeChat Pay's key (the emulator's) by the SDK's own `rsa_sign`."""

    def __init__(self, emulator: Emulator, url: str) -> None:
        from wechatpayv3.utils import load_private_key

        self.emulator = emulator
        self.url = url
        self.signing_key = load_private_key((emulator.keys / WECHATPAY_KEY).read_text())

    def body(self, event_type: str, resource: dict[str, Any], event_id: str | None = None) -> str:
        nonce = secrets.token_hex(6)
        plain = json.dumps(resource, ensure_ascii=False)
        sealed = AESGCM(self.emulator.apiv3_key.encode()).encrypt(
            nonce.encode(), plain.encode(), b"transaction"
        )
        ciphertext = base64.b64encode(sealed).decode()
        # the SDK's own decryption reads it back: the resource is sealed as WeChat Pay's is
        assert aes_decrypt(nonce, ciphertext, "transaction", self.emulator.apiv3_key) == plain
        return json.dumps(
            {
                "id": event_id or f"EV-{secrets.token_hex(8)}",
                "create_time": "2026-12-07T10:00:00+08:00",
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": ciphertext,
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
        )

    def headers(
        self, body: str, *, timestamp: int | None = None, key: Any = None, serial: str = KEY_ID
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        signature = rsa_sign(key or self.signing_key, f"{ts}\n{nonce}\n{body}\n")
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Content-Type": "application/json",
        }

    def send(self, body: str, **kwargs: Any) -> requests.Response:
        return requests.post(
            self.url, data=body.encode(), headers=self.headers(body, **kwargs), timeout=10
        )


def success(payment: Any, **changes: Any) -> dict[str, Any]:
    resource = {
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": payment.reference,
        "transaction_id": "4200000000000000000000000001",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-12-07T10:00:00+08:00",
        "payer": {"openid": "oBuyer000000000000000000000"},
        "amount": {
            "total": payment.amount_fen,
            "payer_total": payment.amount_fen,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    resource.update(changes)
    return resource


@pytest.fixture
def callbacks(app: Flask, wechat_emulator: Emulator) -> Callbacks:  # noqa: F811
    return Callbacks(
        wechat_emulator, app.config["PAYMENTS_PUBLIC_URL"] + "/payments/notify/wechatpay"
    )


# --- the emulator speaks as the SDK expects WeChat Pay to ------------------------------------


class Catcher:
    """A merchant's callback address on loopback: keeps what arrives, answers 204."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], str]] = []

        @Request.application
        def receive(request: Request) -> Response:
            self.received.append((dict(request.headers), request.get_data(as_text=True)))
            return Response(status=204)

        self.server = make_server("127.0.0.1", 0, receive, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Catcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def sdk_client(emulator: Emulator, notify_url: str) -> WeChatPay:
    client = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=MCHID,
        private_key=(emulator.keys / "apiclient_key.pem").read_text(),
        cert_serial_no=SERIAL_NO,
        appid=APPID,
        apiv3_key=emulator.apiv3_key,
        notify_url=notify_url,
        public_key=(emulator.keys / "pub_key.pem").read_text(),
        public_key_id=KEY_ID,
        timeout=(3, 10),
    )
    # the SDK knows only the real host: its one gateway attribute, pointed at the emulator
    client._core._gate_way = emulator.url
    return client


def test_the_sdk_pays_refunds_and_reads_callbacks_at_the_emulator(wechat_emulator):  # noqa: F811
    emulator = wechat_emulator
    emulator.reset()
    with Catcher() as catcher:
        client = sdk_client(emulator, catcher.url)
        no = "SDK" + secrets.token_hex(8)
        # the SDK signs the order and checks the signed answer itself (it raises otherwise)
        code, message = client.pay(description="测试", out_trade_no=no, amount={"total": 123})
        assert code == 200, message
        code_url = json.loads(message)["code_url"]
        assert emulator.scan_and(code_url, "pay").status_code == 200
        code, message = client.query(out_trade_no=no)
        assert code == 200 and json.loads(message)["trade_state"] == "SUCCESS"
        code, message = client.refund(
            out_refund_no="R" + secrets.token_hex(8),
            amount={"refund": 23, "total": 123, "currency": "CNY"},
            out_trade_no=no,
        )
        assert code == 200 and json.loads(message)["status"] == "PROCESSING"
        deadline = time.monotonic() + 20
        while len(catcher.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # each callback verifies and decrypts with the SDK's own callback reader
        read = [client.callback(headers, body) for headers, body in catcher.received]
        assert all(read), "the SDK refused a callback of the emulator"
        kinds = {r["event_type"]: r["resource"] for r in read}
        assert kinds["TRANSACTION.SUCCESS"]["out_trade_no"] == no
        assert kinds["TRANSACTION.SUCCESS"]["amount"]["total"] == 123
        assert kinds["REFUND.SUCCESS"]["amount"]["refund"] == 23


def test_the_emulator_refuses_a_call_not_signed_by_the_merchant(wechat_emulator):  # noqa: F811
    emulator = wechat_emulator
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = f"/v3/pay/transactions/out-trade-no/NOSUCH123?mchid={MCHID}"
    forged = build_authorization(path, "GET", MCHID, SERIAL_NO, stranger)
    answer = requests.get(emulator.url + path, headers={"Authorization": forged}, timeout=10)
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"
    emulator.check_signed(answer)  # refusals are signed too
    signed = emulator.call("GET", path)  # the merchant's own: the order does not exist
    assert signed.status_code == 404 and signed.json()["code"] == "ORDER_NOT_EXIST"


def test_our_authorization_is_the_sdks(app, wechat_emulator, monkeypatch):  # noqa: F811
    """The same request, timestamp and nonce: our header is the SDK's, byte for byte."""
    provider = get_provider("wechatpay")
    monkeypatch.setattr("wechatpayv3.utils.time.time", lambda: 1_765_000_000)
    body = json.dumps({"out_trade_no": "PMABC123", "amount": {"total": 100}})
    theirs = build_authorization(
        "/v3/pay/transactions/native",
        "POST",
        MCHID,
        SERIAL_NO,
        provider._private_key,
        data=body,
        nonce_str="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )
    ours = wx.authorization(
        "POST",
        "/v3/pay/transactions/native",
        body,
        mchid=MCHID,
        serial_no=SERIAL_NO,
        private_key=provider._private_key,
        timestamp=1_765_000_000,
        nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )
    assert ours == theirs


# --- the ledger and WeChat Pay ---------------------------------------------------------------


def test_paid_by_scanning_the_code_counts_once_with_duplicates(users, order, wechat_emulator):  # noqa: F811
    order_id = order.id
    wechat_emulator.control(copies=3)  # every callback three times, the same event id
    payment = start(users, order)
    code_url, payment_id = payment.pay_url, payment.id
    db.session.rollback()
    assert wechat_emulator.scan_and(code_url, "pay").status_code == 200
    assert eventually(lambda: paid(order_id)), "the callback should mark the order paid"
    assert eventually(lambda: wechat_emulator.state()["outbox"]["pending"] == 0)
    db.session.rollback()
    assert count(LedgerEntry, order_id=order_id, kind=EntryKind.charge) == 1
    assert count(PaymentEvent, provider="wechatpay") == 1
    assert db.session.get(Payment, payment_id).status.value == "succeeded"
    ledger_matches_emulator(wechat_emulator, order_id)


def test_genuine_callback_accepted_once_then_replay_changes_nothing(users, order, callbacks):
    order_id = order.id
    payment = start(users, order)
    body = callbacks.body("TRANSACTION.SUCCESS", success(payment), "EV-genuine-0001")
    first = callbacks.send(body)
    assert first.status_code == 204 and first.content == b""
    assert paid(order_id)
    again = callbacks.send(body)  # the same callback, signed anew (as WeChat Pay's retry)
    assert again.status_code == 204
    db.session.rollback()
    assert count(LedgerEntry, order_id=order_id, kind=EntryKind.charge) == 1
    assert count(PaymentEvent, provider="wechatpay") == 1


def _refused(answer: requests.Response, status: int = 400) -> str:
    assert answer.status_code == status, answer.text
    data = answer.json()
    assert data["code"] == "FAIL" and data["message"]
    return data["message"]


def _nothing_changed(order_id: int) -> None:
    db.session.rollback()
    assert fresh(order_id).status is OrderStatus.awaiting_payment
    assert count(LedgerEntry, order_id=order_id) == 0
    assert count(PaymentEvent, provider="wechatpay") == 0


def test_forged_stale_and_foreign_callbacks_are_refused(users, order, callbacks):
    order_id = order.id
    payment = start(users, order)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    genuine = callbacks.body("TRANSACTION.SUCCESS", success(payment))
    assert "signature" in _refused(callbacks.send(genuine, key=stranger))
    assert "unknown key" in _refused(callbacks.send(genuine, serial="PUB_KEY_ID_0000OTHER"))
    # six minutes old, correctly signed: refused
    assert "stale" in _refused(callbacks.send(genuine, timestamp=int(time.time()) - 360))
    # a body changed after signing
    signed = callbacks.headers(genuine)
    changed = genuine.replace('"summary": "支付成功"', '"summary": "支付成功 "')
    answer = requests.post(callbacks.url, data=changed.encode(), headers=signed, timeout=10)
    assert "signature" in _refused(answer)
    # correctly signed, about another merchant or another app
    other_mch = callbacks.body("TRANSACTION.SUCCESS", success(payment, mchid="1900000999"))
    assert "mchid" in _refused(callbacks.send(other_mch))
    other_app = callbacks.body("TRANSACTION.SUCCESS", success(payment, appid="wx0000000000000000"))
    assert "appid" in _refused(callbacks.send(other_app))
    # correctly signed, but an amount that is not the payment's
    tampered = success(payment)
    tampered["amount"] = {**tampered["amount"], "total": payment.amount_fen - 100}
    _refused(callbacks.send(callbacks.body("TRANSACTION.SUCCESS", tampered)), 422)
    # a resource sealed with another APIv3 key
    foreign = json.loads(genuine)
    foreign["resource"]["ciphertext"] = base64.b64encode(
        AESGCM(b"k" * 32).encrypt(b"abcdefabcdef", b"{}", b"transaction")
    ).decode()
    foreign["resource"]["nonce"] = "abcdefabcdef"
    assert "decrypt" in _refused(callbacks.send(json.dumps(foreign)))
    _nothing_changed(order_id)
    assert db.session.get(Payment, payment.id).status.value == "pending"


def test_lost_callback_completed_by_reconciliation(users, order, wechat_emulator):  # noqa: F811
    order_id = order.id
    wechat_emulator.control(drop=True)  # WeChat Pay's callbacks never arrive
    payment = start(users, order)
    code_url, payment_id = payment.pay_url, payment.id
    db.session.rollback()
    assert wechat_emulator.scan_and(code_url, "pay").status_code == 200
    time.sleep(0.5)
    assert fresh(order_id).status is not OrderStatus.paid
    result = service.reconcile(min_age_seconds=0)
    assert result.payments_changed == 1
    assert paid(order_id)
    assert db.session.get(Payment, payment_id).status.value == "succeeded"
    ledger_matches_emulator(wechat_emulator, order_id)


def test_abandoned_and_declined_at_the_emulator(users, order, wechat_emulator):  # noqa: F811
    order_id = order.id
    payment = start(users, order)
    code_url, payment_id = payment.pay_url, payment.id
    db.session.rollback()
    wechat_emulator.scan_and(code_url, "fail")  # a declined attempt: still open
    assert not service.reconcile_payment(payment_id)
    assert db.session.get(Payment, payment_id).status.value == "pending"
    wechat_emulator.scan_and(code_url, "abandon")  # closed: it can no longer be paid
    assert service.reconcile_payment(payment_id)
    assert db.session.get(Payment, payment_id).status.value == "failed"
    assert fresh(order_id).status is OrderStatus.awaiting_payment


def _pay(users, order: Order, emulator: Emulator) -> int:
    order_id = order.id
    payment = start(users, order)
    code_url = payment.pay_url
    db.session.rollback()
    emulator.scan_and(code_url, "pay")
    assert eventually(lambda: paid(order_id))
    return order_id


def test_partial_refunds_reordered_and_the_payout_to_the_openid(users, order, wechat_emulator):  # noqa: F811
    emulator = wechat_emulator
    coop = users["coop"]
    payments.save_payout_account(
        coop,
        coop.organisation_id,
        "道亭村合作社",
        "彰武农商行",
        "6228000011112222",
        wechat_openid=OPENID,
        wechat_name="张三",
    )
    db.session.commit()
    order_id = _pay(users, order, emulator)
    emulator.control(hold=True)  # the refund's and payout's callbacks wait, then come newest first
    order = fresh(order_id)
    orders.dispatch(coop, order, "辽A12345", "13912345678", "100", "kg")
    db.session.commit()
    # each commit sends its instruction at once (the queue runs tasks immediately in tests)
    orders.confirm_delivery(users["buyer"], order, "97.5", "kg")  # 2.5 kg short: 17 元 back
    db.session.commit()
    order = fresh(order_id)
    orders.complete(order, now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1))
    db.session.commit()
    db.session.rollback()
    # accepted by WeChat Pay (PROCESSING / ACCEPTED), not yet done: nothing counted yet
    assert emulator.state()["outbox"]["held"] == 2
    assert ledger_sums(order_id)["refund"] == 0 and ledger_sums(order_id)["payout"] == 0
    assert emulator.flush() >= 2
    assert eventually(lambda: ledger_sums(order_id)["payout"] > 0)
    assert eventually(lambda: ledger_sums(order_id)["refund"] == 1700)
    sums = ledger_sums(order_id)
    assert sums["payout"] == 68000 - 1700 and sums["held"] == 0
    bills = emulator.state()["bills"]
    assert [(b["openid"], b["user_name"]) for b in bills if b["amount"] == sums["payout"]] == [
        (OPENID, "张三")
    ]
    ledger_matches_emulator(emulator, order_id)
    # asking again with the same keys (a reconciliation) changes nothing
    service.reconcile(min_age_seconds=0)
    db.session.rollback()
    assert ledger_sums(order_id) == sums
    ledger_matches_emulator(emulator, order_id)


def test_a_lost_refund_callback_is_completed_by_asking_again(users, order, wechat_emulator):  # noqa: F811
    emulator = wechat_emulator
    order_id = _pay(users, order, emulator)
    emulator.control(drop=True)
    order = fresh(order_id)
    orders.dispatch(users["coop"], order, "辽A12345", "13912345678", "100", "kg")
    db.session.commit()
    # sent at the commit: accepted (PROCESSING), and its callback lost
    orders.confirm_delivery(users["buyer"], order, "90", "kg")  # 10 kg short: 68 元 back
    db.session.commit()
    db.session.rollback()
    refund = db.session.scalar(
        select(PaymentInstruction).where(
            PaymentInstruction.order_id == order_id, PaymentInstruction.kind == "refund"
        )
    )
    assert refund.status is InstructionState.queued and ledger_sums(order_id)["refund"] == 0
    service.reconcile(min_age_seconds=0)  # the same out_refund_no again: now SUCCESS
    db.session.rollback()
    assert ledger_sums(order_id)["refund"] == 6800
    assert (
        len(
            [r for r in emulator.state()["refunds"] if r["out_refund_no"] == refund.idempotency_key]
        )
        == 1
    )
    ledger_matches_emulator(emulator, order_id)


def test_a_payout_without_a_wechat_payee_is_not_sent(users, order, wechat_emulator):  # noqa: F811
    emulator = wechat_emulator
    order_id = _pay(users, order, emulator)
    order = fresh(order_id)
    orders.dispatch(users["coop"], order, "辽A12345", "13912345678", "100", "kg")
    db.session.commit()
    orders.confirm_delivery(users["buyer"], order, "100", "kg")
    db.session.commit()
    order = fresh(order_id)
    orders.complete(order, now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1))
    db.session.commit()
    service.run_outbox()
    db.session.rollback()
    payout = db.session.scalar(
        select(PaymentInstruction).where(
            PaymentInstruction.order_id == order_id, PaymentInstruction.kind == "payout"
        )
    )
    assert payout.status is InstructionState.failed
    assert "openid" in payout.last_error
    assert ledger_sums(order_id)["payout"] == 0
    ledger_matches_emulator(emulator, order_id)


def test_an_answer_not_signed_by_wechat_pay_is_not_believed(app, users, order, tmp_path):
    """A man in the middle answering for WeChat Pay: its code_url is never used."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "other_pub.pem"
    path.write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    app.config["WECHATPAY_PUBLIC_KEY_FILE"] = str(path)
    with pytest.raises(service.Unavailable):
        service.create_payment(users["buyer"], order, "wechatpay")
    db.session.rollback()
    assert db.session.scalar(select(Payment.pay_url).where(Payment.order_id == order.id)) is None


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_on_a_phone_the_buyer_pays_on_the_h5_page_and_comes_back(
    app,
    users,
    order,
    wechat_emulator,  # noqa: F811
):
    order_id = order.id
    with app.test_request_context(
        "/", method="POST", headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    ):
        started = service.create_payment(users["buyer"], order, "wechatpay")
    db.session.rollback()
    assert started.pay_url.startswith(
        wechat_emulator.url + "/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx"
    )
    assert "&redirect_url=" in started.pay_url
    assert requests.get(started.pay_url, timeout=10).status_code == 200
    back = requests.post(started.pay_url, data={"action": "pay"}, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    assert back.headers["Location"].endswith(f"/payments/{started.id}/return")
    assert eventually(lambda: paid(order_id))
    ledger_matches_emulator(wechat_emulator, order_id)


def test_the_cooperative_records_its_wechat_payee(users):
    coop = users["coop"]
    account = payments.save_payout_account(
        coop,
        coop.organisation_id,
        "道亭村合作社",
        "彰武农商行",
        "6228000011112222",
        wechat_openid=f" {OPENID} ",
        wechat_name="张三",
    )
    assert (account.wechat_openid, account.wechat_name) == (OPENID, "张三")
    # saved again without the WeChat fields (as the demo and older callers do): kept
    payments.save_payout_account(coop, coop.organisation_id, "道亭村合作社", "彰武农商行", "6228")
    assert account.wechat_openid == OPENID
    with pytest.raises(payments.ValidationFailed) as refused:
        payments.save_payout_account(
            coop,
            coop.organisation_id,
            "道亭村合作社",
            "彰武农商行",
            "6228",
            wechat_openid="o'; drop",
            wechat_name="",
        )
    assert set(refused.value.fields) == {"wechat_openid", "wechat_name"}
    db.session.rollback()


def test_the_pay_button_leads_to_our_code_page_and_it_to_the_receipt(
    app,
    users,
    order,
    wechat_emulator,  # noqa: F811
):
    from tests.conftest import login, post_form
    from tests.factories import PASSWORD

    order_id = order.id
    client = app.test_client()
    login(client, "buyer", PASSWORD)
    page = f"/payments/orders/{order_id}"
    answer = post_form(client, f"{page}/pay", {"method": "wechatpay"}, page=page)
    assert answer.status_code == 302
    db.session.rollback()
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order_id))
    payment_id, code_url = payment.id, payment.pay_url
    db.session.rollback()
    assert answer.headers["Location"].endswith(f"/payments/{payment_id}/wechat")
    shown = client.get(f"/payments/{payment_id}/wechat")
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "<svg" in text and "680.00" in text
    assert 'http-equiv="refresh"' in text
    assert code_url not in text, "the code is drawn, never a link a browser cannot open"
    # the order's panel continues there, never to weixin://
    panel = client.get(page).get_data(as_text=True)
    assert f"/payments/{payment_id}/wechat" in panel and "weixin://" not in panel
    # the cooperative sees the page, but no code to pay with
    other = app.test_client()
    login(other, "coop", PASSWORD)
    assert "<svg" not in other.get(f"/payments/{payment_id}/wechat").get_data(as_text=True)
    # someone else's payment: not found
    stranger = app.test_client()
    login(stranger, "coop2", PASSWORD)
    assert stranger.get(f"/payments/{payment_id}/wechat").status_code == 404
    # paid (the buyer scanned and paid; WeChat Pay's callback said so): the receipt
    wechat_emulator.scan_and(code_url, "pay")
    assert eventually(lambda: paid(order_id))
    done = client.get(f"/payments/{payment_id}/wechat")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/payments/{payment_id}")
