"""Paying through the sandbox gateway, a separate process: only the server side is trusted,
every notification counts once, and the ledger always matches what the gateway says."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.orders.models import DISPUTE_WINDOW, Order, OrderStatus, PaymentStatus
from produce_match.payments import service
from produce_match.payments.models import (
    EntryKind,
    LedgerEntry,
    Payment,
    PaymentEvent,
    PaymentInstruction,
)
from produce_match.payments.operations import ledger_sums
from produce_match.payments.providers.sandbox import signed_headers
from produce_match.queue import get_queue
from produce_match.units import cost_fen
from tests.factories import make_lot
from tests.gateway import SECRET, Gateway
from tests.payments.conftest import eventually

pytestmark = pytest.mark.slow
KG = 1000


@pytest.fixture
def order(users) -> Order:
    """100 kg of black beans at 6.80 元/kg, accepted: awaiting payment (680 元)."""
    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    return order


def fresh(order_id: int) -> Order:
    db.session.rollback()
    return db.session.get(Order, order_id)


def entries(order_id: int, kind: EntryKind) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.order_id == order_id, LedgerEntry.kind == kind)
        )
    )


def start(users, order: Order) -> Payment:
    started = service.create_payment(users["buyer"], order, "sandbox")
    assert started.pay_url.startswith("http://127.0.0.1:")
    return db.session.get(Payment, started.id)


def paid(order_id: int) -> bool:
    return db.session.get(Order, order_id).status is OrderStatus.paid


def ledger_matches_gateway(gateway: Gateway, order_id: int) -> None:
    """What our ledger says for the order is what the gateway says, fen for fen."""
    db.session.rollback()
    sums = ledger_sums(order_id)
    payments = db.session.scalars(select(Payment).where(Payment.order_id == order_id)).all()
    charged = refunded = 0
    for payment in payments:
        for remote in gateway.payments(payment.reference):
            if remote["status"] == "succeeded":
                charged += remote["amount_fen"]
            refunded += remote["refunded_fen"]
    payouts = db.session.scalars(
        select(PaymentInstruction).where(
            PaymentInstruction.order_id == order_id, PaymentInstruction.kind == "payout"
        )
    ).all()
    paid_out = sum(p["amount_fen"] for i in payouts for p in gateway.payouts(i.idempotency_key))
    assert (sums["charge"], sums["refund"], sums["payout"]) == (charged, refunded, paid_out)
    assert sums["held"] >= 0
    db.session.rollback()


def deliver_and_complete(users, order_id: int, accepted_kg: str = "100") -> None:
    order = fresh(order_id)
    orders.dispatch(users["coop"], order, "辽A12345", "13912345678", "100", "kg")
    db.session.commit()
    orders.confirm_delivery(users["buyer"], order, accepted_kg, "kg")
    db.session.commit()
    service.run_outbox()
    order = fresh(order_id)
    orders.complete(order, now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1))
    db.session.commit()
    service.run_outbox()


def test_happy_path_from_checkout_to_payout(users, order, gateway):
    order_id = order.id
    payment = start(users, order)
    assert fresh(order_id).payment_status is PaymentStatus.pending
    payment = db.session.get(Payment, payment.id)
    pay_url, payment_id = payment.pay_url, payment.id
    db.session.rollback()

    back = gateway.checkout(pay_url, "pay")
    assert back.status_code == 302
    assert f"/payments/{payment_id}/return" in back.headers["Location"]
    assert eventually(lambda: paid(order_id)), "the notification should mark the order paid"
    order = fresh(order_id)
    assert order.payment_status is PaymentStatus.paid
    assert [e.amount_fen for e in entries(order_id, EntryKind.charge)] == [680_00]

    deliver_and_complete(users, order_id)
    order = fresh(order_id)
    assert order.status is OrderStatus.completed
    payouts = entries(order_id, EntryKind.payout)
    assert [p.amount_fen for p in payouts] == [680_00]
    assert payouts[0].provider_ref.startswith("po_")  # the gateway's reference is kept
    assert ledger_sums(order_id)["held"] == 0
    eventually(lambda: gateway.undelivered()["pending"] == 0)
    ledger_matches_gateway(gateway, order_id)


def _event(payment: Payment, **data: Any) -> bytes:
    body = {
        "id": f"evt_test_{time.monotonic_ns()}",
        "type": "payment.succeeded",
        "created": int(time.time()),
        "data": {
            "payment_id": payment.provider_ref,
            "reference": payment.reference,
            "amount_fen": payment.amount_fen,
            "currency": "CNY",
            "status": "succeeded",
            "paid_at": time.time(),
            **data,
        },
    }
    return json.dumps(body).encode()


def _post(app, body: bytes, headers: dict[str, str]) -> requests.Response:
    db.session.rollback()  # hold no lock while the server writes
    return requests.post(
        app.config["PAYMENTS_PUBLIC_URL"] + "/payments/notify/sandbox",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def test_forged_tampered_stale_and_wrong_amount_notifications_change_nothing(
    app, users, order, gateway
):
    order_id = order.id
    payment = start(users, order)
    good = _event(payment)
    tampered = good.replace(b'"amount_fen": 68000', b'"amount_fen": 1')
    assert tampered != good
    wrong_amount = _event(payment, amount_fen=payment.amount_fen + 100)
    db.session.rollback()

    attempts = {
        "forged": (good, signed_headers("not-the-secret", good)),
        "tampered": (tampered, signed_headers(SECRET, good)),
        "stale": (good, signed_headers(SECRET, good, int(time.time()) - 6 * 60)),
        "unsigned": (good, {}),
        "wrong amount": (wrong_amount, signed_headers(SECRET, wrong_amount)),
    }
    for name, (body, headers) in attempts.items():
        response = _post(app, body, headers)
        assert response.status_code in (400, 422), name
        order = fresh(order_id)
        assert order.status is OrderStatus.awaiting_payment, name
        assert order.payment_status is PaymentStatus.pending, name
        assert db.session.scalar(select(func.count(LedgerEntry.id))) == 0, name
        assert db.session.scalar(select(func.count(PaymentEvent.id))) == 0, name

    # the same message, signed with the secret and fresh, is believed (and only once)
    for _ in range(2):
        assert _post(app, good, signed_headers(SECRET, good)).status_code == 200
    assert paid(order_id)
    assert len(entries(order_id, EntryKind.charge)) == 1
    assert db.session.scalar(select(func.count(PaymentEvent.id))) == 1


def test_every_notification_three_times_in_reverse_order(users, order, gateway):
    gateway.control(copies=3, hold=True)
    order_id = order.id
    payment = start(users, order)
    pay_url = payment.pay_url
    db.session.rollback()
    assert gateway.checkout(pay_url, "fail").status_code == 302  # a declined attempt first
    gateway.checkout(pay_url, "pay")
    assert gateway.flush() == 6  # two events, three copies each, the newest first
    assert eventually(lambda: gateway.undelivered()["pending"] == 0)
    assert paid(order_id)
    assert len(entries(order_id, EntryKind.charge)) == 1

    deliver_and_complete(users, order_id, accepted_kg="90")
    assert gateway.flush() == 6  # the refund's and the payout's notifications, three times
    assert eventually(lambda: gateway.undelivered()["pending"] == 0)
    db.session.rollback()
    refunds = entries(order_id, EntryKind.refund)
    payouts = entries(order_id, EntryKind.payout)
    short = cost_fen(10 * KG, fresh(order_id).price_fen_per_t)
    assert [r.amount_fen for r in refunds] == [short]
    assert [p.amount_fen for p in payouts] == [680_00 - short]
    assert fresh(order_id).payment_status is PaymentStatus.partially_refunded
    ledger_matches_gateway(gateway, order_id)


def test_all_notifications_dropped_reconcile_completes_it(app, users, order, gateway, runner):
    gateway.control(drop=True)
    order_id = order.id
    payment = start(users, order)
    pay_url = payment.pay_url
    db.session.rollback()
    gateway.checkout(pay_url, "pay")
    assert gateway.undelivered()["pending"] == 0  # nothing is on its way
    assert fresh(order_id).status is OrderStatus.awaiting_payment
    db.session.rollback()

    result = runner.invoke(args=["payments", "reconcile", "--min-age", "0"])
    assert result.exit_code == 0, result.output
    assert paid(order_id)
    assert len(entries(order_id, EntryKind.charge)) == 1
    # again: nothing more happens
    runner.invoke(args=["payments", "reconcile", "--min-age", "0"])
    assert len(entries(fresh(order_id).id, EntryKind.charge)) == 1
    ledger_matches_gateway(gateway, order_id)


def test_a_timed_out_create_is_retried_without_paying_twice(app, users, order, gateway, caplog):
    app.config["PAYMENTS_HTTP_TIMEOUT"] = 1.0
    gateway.control(slow_create=1, slow_seconds=4)  # longer than the app waits
    order_id = order.id
    with caplog.at_level(logging.INFO, logger="produce_match.payments"):
        payment = start(users, order)
    assert "Read timed out" in caplog.text and "(attempt 1)" in caplog.text  # no answer
    assert gateway.control()["slow_create"] == 0
    reference, pay_url = payment.reference, payment.pay_url
    db.session.rollback()
    made = gateway.payments(reference)
    assert len(made) == 1  # the retry got the payment the first call made
    assert made[0]["id"] in pay_url
    # asking again (the buyer clicks twice) gives the same payment
    again = service.create_payment(users["buyer"], fresh(order_id), "sandbox")
    assert again.pay_url == pay_url
    gateway.checkout(pay_url, "pay")
    assert eventually(lambda: paid(order_id))
    assert len(gateway.payments(reference)) == 1
    assert len(entries(order_id, EntryKind.charge)) == 1
    ledger_matches_gateway(gateway, order_id)


def test_partial_delivery_refunds_the_difference(users, order, gateway):
    order_id = order.id
    payment = start(users, order)
    gateway.checkout(payment.pay_url, "pay")
    assert eventually(lambda: paid(order_id))
    deliver_and_complete(users, order_id, accepted_kg="62.5")
    order = fresh(order_id)
    short = cost_fen(100 * KG - 62_500, order.price_fen_per_t)
    assert short == 255_00
    assert [r.amount_fen for r in entries(order_id, EntryKind.refund)] == [short]
    assert [p.amount_fen for p in entries(order_id, EntryKind.payout)] == [680_00 - short]
    assert order.payment_status is PaymentStatus.partially_refunded
    assert ledger_sums(order_id)["held"] == 0
    ledger_matches_gateway(gateway, order_id)


def test_cancelling_a_paid_order_refunds_it(users, order, gateway, monkeypatch):
    order_id = order.id
    payment = start(users, order)
    gateway.checkout(payment.pay_url, "pay")
    assert eventually(lambda: paid(order_id))
    queue = get_queue()
    run, asked = queue.enqueue, []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args: asked.append((name, args)))
    orders.cancel(users["buyer"], fresh(order_id), "no trucks this week")
    db.session.commit()
    (instruction_id,) = [args[0] for name, args in asked if name == "payments.send_instruction"]
    assert fresh(order_id).payment_status is PaymentStatus.paid  # not before the gateway says
    db.session.rollback()
    run("payments.send_instruction", instruction_id)  # the task the commit enqueued
    order = fresh(order_id)
    assert order.payment_status is PaymentStatus.refunded
    assert [r.amount_fen for r in entries(order_id, EntryKind.refund)] == [680_00]
    assert entries(order_id, EntryKind.payout) == []
    service.run_outbox()  # sending again sends nothing
    assert len(entries(order_id, EntryKind.refund)) == 1
    ledger_matches_gateway(gateway, order_id)


def test_a_payment_after_the_order_was_cancelled_goes_back(users, order, gateway):
    order_id = order.id
    payment = start(users, order)
    pay_url = payment.pay_url
    orders.cancel(users["buyer"], fresh(order_id), "found beans nearer")
    db.session.commit()
    gateway.checkout(pay_url, "pay")  # the buyer paid anyway, in another tab
    assert eventually(lambda: entries(order_id, EntryKind.charge))
    service.run_outbox()
    order = fresh(order_id)
    assert order.status is OrderStatus.cancelled
    assert order.payment_status is PaymentStatus.refunded  # the money came, and went back
    assert [r.amount_fen for r in entries(order_id, EntryKind.refund)] == [680_00]
    assert ledger_sums(order_id)["held"] == 0
    ledger_matches_gateway(gateway, order_id)


def test_a_payment_after_the_order_expired_goes_back_and_says_so(users, order, gateway):
    """Paid at the checkout after the deadline, before anyone recorded the expiry: the order
    expires, the money goes back, and its payment_status follows (never left `pending`)."""
    from sqlalchemy import update

    order_id = order.id
    payment = start(users, order)
    pay_url = payment.pay_url
    assert fresh(order_id).payment_status is PaymentStatus.pending
    db.session.execute(
        update(Order).where(Order.id == order_id).values(pay_by=utcnow() - timedelta(hours=1))
    )
    db.session.commit()
    gateway.checkout(pay_url, "pay")
    assert eventually(lambda: entries(order_id, EntryKind.charge))
    order = fresh(order_id)
    assert order.status is OrderStatus.expired
    # in, and on its way back: the refund may already be done (it is sent after the commit that
    # recorded the charge), but the status never stays pending
    assert order.payment_status in (PaymentStatus.paid, PaymentStatus.refunded)
    service.run_outbox()
    assert eventually(lambda: fresh(order_id).payment_status is PaymentStatus.refunded)
    assert [r.amount_fen for r in entries(order_id, EntryKind.refund)] == [680_00]
    ledger_matches_gateway(gateway, order_id)


def test_a_dispute_refund_then_the_rest_is_paid_out(users, order, gateway):
    order_id = order.id
    payment = start(users, order)
    gateway.checkout(payment.pay_url, "pay")
    assert eventually(lambda: paid(order_id))
    order = fresh(order_id)
    orders.dispatch(users["coop"], order, "辽A12345", "13912345678", "100", "kg")
    orders.confirm_delivery(users["buyer"], order, "100", "kg")
    orders.dispute(users["buyer"], order, "a third of the sacks are mouldy")
    orders.resolve(users["official"], order, "the cooperative gives back 100 元", "100")
    db.session.commit()
    service.run_outbox()
    assert [r.amount_fen for r in entries(order_id, EntryKind.refund)] == [100_00]
    assert [p.amount_fen for p in entries(order_id, EntryKind.payout)] == [580_00]
    ledger_matches_gateway(gateway, order_id)


def test_the_same_payment_confirmed_many_times_at_once_counts_once(app, users, order, gateway):
    """Duplicates of one event and distinct events about the same payment, all at the same
    moment, with a reconciliation among them: one charge, one step to `paid`."""
    from concurrent.futures import ThreadPoolExecutor

    from produce_match.audit.models import AuditEvent

    gateway.control(drop=True)  # only what this test sends arrives
    order_id = order.id
    payment = start(users, order)
    pay_url, payment_id = payment.pay_url, payment.id
    db.session.rollback()
    gateway.checkout(pay_url, "pay")
    payment = db.session.get(Payment, payment_id)
    same = _event(payment)
    bodies = [same] * 6 + [_event(payment) for _ in range(4)]
    db.session.rollback()

    url = app.config["PAYMENTS_PUBLIC_URL"] + "/payments/notify/sandbox"

    def send(body: bytes) -> int:
        headers = {"Content-Type": "application/json", **signed_headers(SECRET, body)}
        return requests.post(url, data=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        statuses = list(pool.map(send, bodies))
    assert statuses == [200] * len(bodies)
    service.reconcile_payment(payment_id)
    db.session.rollback()
    assert len(entries(order_id, EntryKind.charge)) == 1
    paid_steps = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.subject_type == "orders",
            AuditEvent.subject_id == order_id,
            AuditEvent.action == "paid",
        )
    ).all()
    assert len(paid_steps) == 1
    assert db.session.scalar(select(func.count(PaymentEvent.id))) == 5  # 1 + 4 distinct ids
    ledger_matches_gateway(gateway, order_id)


def test_an_abandoned_checkout_leaves_the_order_to_pay_again(users, order, gateway):
    order_id = order.id
    first = start(users, order)
    first_id, pay_url = first.id, first.pay_url
    db.session.rollback()
    gateway.checkout(pay_url, "abandon")
    assert eventually(lambda: db.session.get(Payment, first_id).status.value == "failed"), (
        "the gateway's payment.closed should close ours"
    )
    order = fresh(order_id)
    assert order.status is OrderStatus.awaiting_payment
    assert order.payment_status is PaymentStatus.unpaid
    second = start(users, order)
    assert second.id != first_id
    gateway.checkout(second.pay_url, "pay")
    assert eventually(lambda: paid(order_id))
    assert [e.payment_id for e in entries(order_id, EntryKind.charge)] == [second.id]
    ledger_matches_gateway(gateway, order_id)
