"""A fixed data set for the officials' area, built through the real operations; only the
instants that the figures depend on (dispatch, payout, closing) are then set by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import g
from sqlalchemy import update

from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.monitor import operations as monitor
from produce_match.monitor.models import Problem
from produce_match.orders import operations as orders
from produce_match.orders.models import Order
from produce_match.payments import operations as payments
from produce_match.payments import service
from produce_match.payments.models import EntryKind, LedgerEntry
from tests.factories import make_demand, make_lot

T = 1_000_000  # grams in a tonne


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


@pytest.fixture
def world(users) -> dict[str, Any]:
    """Zhangwu: beans 40 t (2 days left), corn 10 t (6 days), peanuts 5 t (30 days) with three
    orders; Jinzhou (same province): cherries 2 t (3 days). See test_figures for the sums."""
    coop, coop2, buyer = users["coop"], users["coop2"], users["buyer"]
    today = local_today()
    place = {"township": "梁家子镇", "village": "道亭村"}
    beans = make_lot(coop, title="道亭村黑豆", spoil_by=today + timedelta(days=2), **place)
    corn = make_lot(
        coop,
        commodity="玉米",
        title="玉米",
        quantity="10",
        price="2.40",
        spoil_by=today + timedelta(days=6),
        township="梁家子镇",
        village="新村",
    )
    peanuts = make_lot(
        coop,
        commodity="花生",
        title="花生",
        quantity="5",
        price="8.00",
        spoil_by=today + timedelta(days=30),
        **place,
    )
    cherries = make_lot(
        coop2, commodity="樱桃", title="樱桃", quantity="2", price="20.00",
        spoil_by=today + timedelta(days=3),
    )  # fmt: skip
    demand = make_demand(
        buyer, province="辽宁", county="于洪区", needed_by=(today + timedelta(days=25)).isoformat()
    )  # delivered to Shenyang: a day on the road

    payments.save_payout_account(coop, coop.organisation_id, "道亭村", "彰武农商行", "6228")
    db.session.commit()
    paid = orders.place_order(buyer, peanuts, "1", "t")
    rejected = orders.place_order(buyer, peanuts, "2", "t")
    reserved = orders.place_order(buyer, peanuts, "0.5", "t")
    db.session.commit()
    orders.reject(coop, rejected, "sold elsewhere")
    orders.accept(coop, paid)
    db.session.commit()
    started = service.create_payment(buyer, paid, "transfer")
    payment = db.session.get(__import__("produce_match.payments.models").payments.models.Payment,
                             started.id)  # fmt: skip
    payments.record_transfer(buyer, payment, "南昌粮油 工商银行")
    payments.confirm_transfer(coop, payment)
    db.session.commit()
    paid = db.session.get(Order, paid.id)
    orders.dispatch(coop, paid, "辽J35721", "13941800123", "1", "t")
    db.session.commit()
    orders.confirm_delivery(buyer, paid, "0.9", "t")
    db.session.commit()

    now = utcnow()
    db.session.execute(
        update(Order).where(Order.id == paid.id).values(dispatched_at=now - timedelta(days=4))
    )
    db.session.add(
        LedgerEntry(
            order_id=paid.id,
            kind=EntryKind.payout,
            amount_fen=720_000,
            provider="transfer",
            key=f"payout:test:{paid.id}",
            created_at=now - timedelta(days=1),
        )
    )
    # a payout outside the period (40 days ago) is not counted
    db.session.add(
        LedgerEntry(
            order_id=paid.id,
            kind=EntryKind.payout,
            amount_fen=1,
            provider="transfer",
            key=f"payout:old:{paid.id}",
            created_at=now - timedelta(days=40),
        )
    )
    monitor.set_reference_price(
        users["official"],
        monitor.PriceInput(
            peanuts.commodity, peanuts.county, "6.40", "kg", today - timedelta(days=60)
        ),
    )
    db.session.commit()

    official = users["official"]
    p1 = monitor.raise_problem(coop, coop.organisation, "no_buyer", "黑豆没人要", lot=beans)
    p2 = monitor.raise_problem(official, coop.organisation, "transport", "通行证")
    p3 = monitor.raise_problem(coop2, coop2.organisation, "storage", "冷库")
    db.session.commit()
    monitor.assign(official, p1, official)
    monitor.close(official, p1, "卖给了南昌粮油")
    monitor.assign(official, p2, official)
    db.session.commit()
    db.session.execute(
        update(Problem)
        .where(Problem.id == p1.id)
        .values(raised_at=now - timedelta(days=3), closed_at=now - timedelta(days=1))
    )
    db.session.commit()
    return {
        "beans": beans,
        "corn": corn,
        "peanuts": peanuts,
        "cherries": cherries,
        "demand": demand,
        "paid": paid,
        "rejected": rejected,
        "reserved": reserved,
        "problems": (p1, p2, p3),
    }
