"""Fixtures shared by the pass tests: the make_world users, a haulier, checkpoint staff of the
origin and the destination counties with a checkpoint each, and a paid order from Zhangwu."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import g

from produce_match.accounts.models import Role
from produce_match.accounts.operations import PlaceInput
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.passes import operations as passes
from produce_match.passes.models import TransportPass
from tests.factories import make_lot, make_user


@pytest.fixture
def index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


@pytest.fixture
def world(users) -> dict[str, Any]:
    """`users` and: a haulier in Zhangwu, checkpoint staff of the Zhangwu and the Donghu
    offices, a checkpoint of each."""
    users = dict(users)
    users["haulier"] = make_user(
        "haulier", Role.haulier, "彰武顺达物流", province="辽宁", county="彰武"
    )
    users["gate"] = make_user("gate", Role.checkpoint, "彰武县电商办")
    users["other_gate"] = make_user("other_gate", Role.checkpoint, "东湖区商务局")
    users["exit_point"] = passes.add_checkpoint(
        users["official"], "彰武高速出口", "expressway_exit", PlaceInput()
    )
    users["entry_point"] = passes.add_checkpoint(
        users["other_official"], "东湖区界卡口", "county_border", PlaceInput()
    )
    db.session.commit()
    return users


def shipment(**fields: Any) -> passes.PassInput:
    """A pass for any shipment: 20 t of black beans from Zhangwu to Donghu, today on."""
    today = local_today()
    data = {
        "plate": "辽A12345",
        "driver_name": "王师傅",
        "driver_phone": "13912345678",
        "origin": PlaceInput(province="辽宁", county="彰武"),
        "destination": PlaceInput(province="江西", county="东湖区"),
        "valid_from": today,
        "valid_until": today + timedelta(days=3),
        "commodity": "黑豆",
        "quantity": "20",
        "unit": "吨",
    }
    data.update(fields)
    return passes.PassInput(**data)


def apply(user, **fields: Any) -> TransportPass:
    row = passes.apply(user, shipment(**fields))
    db.session.commit()
    return row


@pytest.fixture
def paid_order(world, index_left_to_its_queue):
    lot = make_lot(world["coop"], quantity="40", unit="t", price="6.80", price_unit="kg")
    order = orders.place_order(world["buyer"], lot, "10", "t")
    orders.accept(world["coop"], order)
    orders.mark_paid(order)
    db.session.commit()
    return order
