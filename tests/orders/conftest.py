"""Fixtures shared by the order tests."""

from __future__ import annotations

import pytest
from flask import g

from produce_match.lots.models import Lot
from tests.factories import make_lot


@pytest.fixture
def index_left_to_its_queue(app):
    """The search index is not under test here: leave the queue in the database (where it is
    durable) instead of loading an analyzer and writing an index after every test."""
    yield
    g.pop("search_pending", None)


@pytest.fixture
def lot(users) -> Lot:
    """40 t of black beans at 6.80 元/kg from the Zhangwu cooperative."""
    return make_lot(users["coop"], quantity="40", unit="t", price="6.80", price_unit="kg")
