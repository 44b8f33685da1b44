from __future__ import annotations

from datetime import date

import pytest
from flask import g

from produce_match.catalog import commodities
from produce_match.catalog.models import Region
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.monitor import operations as monitor

LIAONING, ZHANGWU, JINZHOU, XINMIN = "210000", "210922", "210213", "210181"
JIANGXI, DONGHU = "360000", "360102"


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    """The search index is not under test here."""
    yield
    g.pop("search_pending", None)


def set_reference(
    official, county_code: str, price: str, valid_from: date | None = None, commodity: str = "黑豆"
) -> None:
    """Record a reference price (yuan per kg) through the officials' operation, committed."""
    monitor.set_reference_price(
        official,
        monitor.PriceInput(
            commodities.resolve(commodity),
            db.session.get(Region, county_code),
            price,
            "kg",
            valid_from or local_today(),
        ),
    )
    db.session.commit()


@pytest.fixture
def beans():
    return commodities.resolve("黑豆")
