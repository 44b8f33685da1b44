"""The payment providers behind their registry: each one a class registered by name, each
reading its own notifications into a verified event in the ledger's terms, and the ledger
applying that event once, or refusing it when it does not fit a payment of ours."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from produce_match import config
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus, PaymentStatus
from produce_match.payments import operations as payments
from produce_match.payments import providers, service
from produce_match.payments.models import EntryKind, LedgerEntry, Payment, PaymentEvent
from produce_match.payments.providers import (
    BadNotification,
    Notification,
    Provider,
    get_provider,
)
from produce_match.payments.providers.alipay import AlipayProvider
from produce_match.payments.providers.sandbox import SandboxProvider, signed_headers
from produce_match.payments.providers.transfer import TransferProvider
from produce_match.payments.providers.wechatpay import WechatPayProvider
from tests.factories import make_lot
from tests.gateway import SECRET

# --- the registry ------------------------------------------------------------------------------


def test_every_provider_is_registered_by_its_name():
    assert providers.names() == ("alipay", "sandbox", "transfer", "wechatpay")
    assert {
        "alipay": AlipayProvider,
        "sandbox": SandboxProvider,
        "transfer": TransferProvider,
        "wechatpay": WechatPayProvider,
    } == providers.REGISTRY
    assert providers.paid_direct() == frozenset({"transfer"})
    # the configuration (read before any domain is imported) accepts exactly these names
    assert sorted(config.PAYMENT_METHODS) == list(providers.names())


@pytest.mark.parametrize(
    "cls", [AlipayProvider, SandboxProvider, TransferProvider, WechatPayProvider]
)
def test_every_provider_does_the_four_things(cls):
    for method in ("create_payment", "query_payment", "refund", "payout"):
        assert getattr(cls, method) is not getattr(Provider, method), (cls.name, method)


@pytest.fixture
def registry_restored():
    before = dict(providers.REGISTRY)
    yield
    providers.REGISTRY.clear()
    providers.REGISTRY.update(before)


def test_a_new_provider_is_one_class_that_registers_itself(app, registry_restored):
    class Abacus(Provider):
        name = "abacus"

    assert providers.REGISTRY["abacus"] is Abacus
    assert isinstance(get_provider("abacus"), Abacus)
    assert "abacus" in providers.names()
    # not offered until the configuration says so
    assert "abacus" not in providers.methods()
    # one that sends no notifications refuses any, clearly
    with pytest.raises(BadNotification, match="sends no notifications"):
        get_provider("abacus").parse_notification({}, b"{}")


def test_two_providers_cannot_share_a_name(registry_restored):
    with pytest.raises(ValueError, match="two payment providers are called 'sandbox'"):

        class Impostor(Provider):
            name = "sandbox"

    assert providers.REGISTRY["sandbox"] is SandboxProvider


def test_an_unknown_provider_is_a_lookup_error_and_its_notification_refused(app):
    with pytest.raises(LookupError):
        get_provider("cash")
    with pytest.raises(service.Refused, match="unknown provider"):
        service.receive_notification("cash", {}, b"{}")


# --- the sandbox's notifications ---------------------------------------------------------------

PAY_ID = "pay_0123456789abcdef0123"
SANDBOX = SandboxProvider("http://127.0.0.1:9", SECRET, 1.0)


def _body(kind: str = "payment.succeeded", **data: Any) -> bytes:
    fields = {
        "payment_id": "pay_0123456789abcdef0123",
        "reference": "PMREF123",
        "amount_fen": 680_00,
        "currency": "CNY",
        "status": "succeeded",
        "paid_at": 1_700_000_000.5,
    }
    fields.update(data)
    event = {"id": "evt_1", "type": kind, "created": int(time.time()), "data": fields}
    return json.dumps(event, sort_keys=True).encode()


def test_a_signed_payment_notification_reads_as_a_verified_event():
    body = _body()
    note = SANDBOX.parse_notification(signed_headers(SECRET, body), body)
    assert note == Notification(
        provider="sandbox",
        event_id="evt_1",
        subject="payment",
        outcome="succeeded",
        reference="PMREF123",
        amount_fen=680_00,
        currency="CNY",
        provider_ref="pay_0123456789abcdef0123",
        paid_at=1_700_000_000.5,
        payload=json.loads(body),
    )
    assert note.kind == "payment.succeeded"


@pytest.mark.parametrize(
    ("kind", "data", "subject", "outcome", "provider_ref"),
    [
        ("payment.closed", {"status": "closed"}, "payment", "closed", PAY_ID),
        ("payment.failed", {"status": "pending"}, "payment", "declined", PAY_ID),
        ("refund.succeeded", {"id": "re_1", "reference": "key-1"}, "refund", "succeeded", "re_1"),
        ("payout.succeeded", {"id": "po_1", "reference": "key-2"}, "payout", "succeeded", "po_1"),
    ],
)
def test_each_kind_of_sandbox_event_in_the_ledgers_terms(
    kind, data, subject, outcome, provider_ref
):
    body = _body(kind, **data)
    note = SANDBOX.parse_notification(signed_headers(SECRET, body), body)
    assert (note.subject, note.outcome, note.provider_ref) == (subject, outcome, provider_ref)
    assert note.amount_fen == 680_00 and note.currency == "CNY"


def test_an_event_the_ledger_has_no_use_for_is_other():
    body = _body("payment.created")
    note = SANDBOX.parse_notification(signed_headers(SECRET, body), body)
    assert (note.subject, note.outcome, note.event_id) == ("other", "payment.created", "evt_1")


GOOD = _body()


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (GOOD, lambda: signed_headers("not-the-secret", GOOD), "signature mismatch"),
        (GOOD, dict, "missing signature"),
        (
            GOOD,
            lambda: {"X-Sandbox-Timestamp": "soon", "X-Sandbox-Signature": "v1=0"},
            "bad timestamp",
        ),
        # the amount changed after it was signed
        (
            GOOD.replace(b'"amount_fen": 68000', b'"amount_fen": 1'),
            lambda: signed_headers(SECRET, GOOD),
            "signature mismatch",
        ),
        # a genuine message sent again later, under its old signature: a replay
        (
            GOOD,
            lambda: signed_headers(SECRET, GOOD, int(time.time()) - 6 * 60),
            "stale timestamp",
        ),
    ],
    ids=["bad signature", "unsigned", "bad timestamp", "tampered amount", "replayed late"],
)
def test_a_notification_not_from_the_gateway_is_refused(body, headers, reason):
    # signed when the test runs, not when the suite is collected (minutes may pass between)
    with pytest.raises(BadNotification, match=reason):
        SANDBOX.parse_notification(headers(), body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"id": "evt_1", "type": "payment.succeeded"}', "not an event"),
        (_body(amount_fen="68000"), "amount_fen"),
        (_body(amount_fen=True), "amount_fen"),
        (_body(amount_fen=-5), "amount_fen"),
        (_body(currency=None), "currency"),
        (_body(reference=""), "reference"),
        (_body(status="pending"), "status 'pending'"),
        (_body(paid_at="yesterday"), "paid_at"),
        (_body(payment_id=None), "payment_id"),
    ],
)
def test_a_signed_notification_that_cannot_be_read_is_refused(body, reason):
    with pytest.raises(BadNotification, match=reason):
        SANDBOX.parse_notification(signed_headers(SECRET, body), body)


def test_the_transfer_provider_accepts_no_notification():
    with pytest.raises(BadNotification, match="transfer provider sends no notifications"):
        TransferProvider().parse_notification(signed_headers(SECRET, GOOD), GOOD)


# --- the ledger applies the verified event ----------------------------------------------------


@pytest.fixture
def payment(users) -> Payment:
    """A sandbox payment, pending, for an accepted order of 680 元 (no gateway call)."""
    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    payment = payments.start_payment(users["buyer"], order, "sandbox")
    db.session.commit()
    return payment


def _event_for(payment: Payment, event_id: str = "evt_ledger_1", **data: Any) -> bytes:
    fields = {
        "payment_id": "pay_ledger",
        "reference": payment.reference,
        "amount_fen": payment.amount_fen,
        "currency": "CNY",
        "status": "succeeded",
        "paid_at": time.time(),
        **data,
    }
    event = {"id": event_id, "type": "payment.succeeded", "created": 0, "data": fields}
    return json.dumps(event).encode()


def _nothing_recorded(order_id: int) -> None:
    db.session.rollback()
    order = db.session.get(Order, order_id)
    assert order.status is OrderStatus.awaiting_payment
    assert order.payment_status is PaymentStatus.pending
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 0
    assert db.session.scalar(select(func.count(PaymentEvent.id))) == 0


def test_a_verified_payment_event_is_applied_once_and_a_replay_is_a_duplicate(payment):
    order_id = payment.order_id
    body = _event_for(payment)
    assert (
        service.receive_notification("sandbox", signed_headers(SECRET, body), body).outcome
        == "applied"
    )
    # the same event again (the gateway retries; or someone replays it, freshly signed)
    assert (
        service.receive_notification("sandbox", signed_headers(SECRET, body), body).outcome
        == "duplicate"
    )
    db.session.rollback()
    assert db.session.get(Order, order_id).status is OrderStatus.paid
    charges = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.kind == EntryKind.charge)
    ).all()
    assert [(c.amount_fen, c.provider_ref) for c in charges] == [(680_00, "pay_ledger")]
    assert db.session.scalar(select(func.count(PaymentEvent.id))) == 1


@pytest.mark.parametrize(
    "data",
    [
        {"reference": "PMNOSUCHPAYMENT"},  # an unknown payment
        {"amount_fen": 1},  # signed by the gateway, but not this payment's amount
        {"currency": "USD"},
    ],
    ids=["unknown payment", "wrong amount", "wrong currency"],
)
def test_a_verified_event_that_fits_no_payment_of_ours_changes_nothing(payment, data):
    order_id = payment.order_id
    body = _event_for(payment, **data)
    with pytest.raises(service.Refused) as refused:
        service.receive_notification("sandbox", signed_headers(SECRET, body), body)
    assert refused.value.answer.status == 422  # the gateway is told it does not match
    _nothing_recorded(order_id)


def test_a_refund_event_for_no_instruction_of_ours_changes_nothing(payment):
    order_id = payment.order_id
    note = Notification(
        "sandbox", "evt_r", "refund", "succeeded", "no-such-key", 100, "CNY", "re_1"
    )
    with pytest.raises(payments.Mismatch):
        payments.apply_notification(note)
    _nothing_recorded(order_id)
