from __future__ import annotations

import pytest
from flask import g

from produce_match.lots.models import Lot
from tests.factories import make_lot


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    """The search index is not under test here."""
    yield
    g.pop("search_pending", None)


@pytest.fixture
def lot(users) -> Lot:
    """40 t of black beans at 6.80 元/kg from the Zhangwu cooperative, in 道亭村."""
    return make_lot(
        users["coop"],
        quantity="40",
        unit="t",
        price="3.40",
        price_unit="jin",
        township="梁家子镇",
        village="道亭村",
    )
