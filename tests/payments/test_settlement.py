"""Settled on loading, through the sandbox gateway (its own process): the buyer pays before
loading; the loading refunds the shortfall and pays the village at once, before delivery; the
confirmed delivery refunds a short delivery from the holdback and pays out the rest; the ledger
always equals what the gateway says."""

from __future__ import annotations

import pytest

from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from produce_match.payments import service
from produce_match.payments.models import EntryKind, PaymentInstruction
from produce_match.payments.operations import available_fen, ledger_sums
from tests.factories import jpeg_bytes, make_lot
from tests.payments.conftest import eventually
from tests.payments.test_sandbox import entries, fresh, ledger_matches_gateway, paid, start

pytestmark = pytest.mark.slow


@pytest.fixture
def order(users) -> Order:
    """10 t of black beans at 6.80 元/kg (68,000 元), settled on loading, 10% held; accepted."""
    lot = make_lot(users["coop"], settlement_terms="on_delivery,on_loading", holdback_percent="10")
    order = orders.place_order(users["buyer"], lot, "10", "t", settlement="on_loading")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    return order


def test_paid_before_loading_paid_out_on_loading_short_delivery_from_the_holdback(
    users, order, gateway
):
    order_id = order.id
    payment = start(users, order)
    pay_url = payment.pay_url
    db.session.rollback()
    assert gateway.checkout(pay_url, "pay").status_code == 302
    assert eventually(lambda: paid(order_id))
    assert fresh(order_id).status is OrderStatus.paid  # paid before loading

    orders.dispatch(
        users["coop"],
        fresh(order_id),
        "辽A12345",
        "13912345678",
        "9.8",
        "t",
        photos=[jpeg_bytes()],
        weighbridge_ticket="ZW-0042",
    )
    db.session.commit()
    service.run_outbox()
    # 9.8 t loaded = 66,640 元: 0.2 t (1,360 元) back at once, 90% of 66,640 paid out
    assert [e.amount_fen for e in entries(order_id, EntryKind.refund)] == [1_360_00]
    payouts = entries(order_id, EntryKind.payout)
    assert [p.amount_fen for p in payouts] == [59_976_00]
    assert payouts[0].provider_ref.startswith("po_")
    assert fresh(order_id).status is OrderStatus.dispatched  # before any delivery
    assert available_fen(order_id) == 6_664_00
    ledger_matches_gateway(gateway, order_id)

    orders.confirm_delivery(users["buyer"], fresh(order_id), "9.5", "t")
    db.session.commit()
    service.run_outbox()
    # 0.3 t short (2,040 元) from the 6,664 元 held; the other 4,624 元 to the village
    assert [e.amount_fen for e in entries(order_id, EntryKind.refund)] == [1_360_00, 2_040_00]
    assert [e.amount_fen for e in entries(order_id, EntryKind.payout)] == [59_976_00, 4_624_00]
    sums = ledger_sums(order_id)
    assert sums["payout"] == 64_600_00  # 9.5 t at 6,800 元/t
    assert sums["held"] == 0
    reasons = [
        i.reason.value
        for i in db.session.scalars(
            db.select(PaymentInstruction)
            .where(PaymentInstruction.order_id == order_id)
            .order_by(PaymentInstruction.id)
        )
    ]
    assert reasons == [
        "loading_shortfall",
        "loading_settlement",
        "short_delivery",
        "holdback_release",
    ]
    ledger_matches_gateway(gateway, order_id)
