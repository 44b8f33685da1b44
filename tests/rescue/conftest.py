"""A lot eight days from spoiling, the demands around it, and buyers of every kind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from produce_match.accounts.models import BuyerKind, Role
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.extensions import db
from tests.factories import make_demand, make_lot, make_user


def days_on(days: int) -> Any:
    """An instant `days` days from now (the tests move time; they never wait)."""
    return utcnow() + timedelta(days=days)


@pytest.fixture
def rescue_world(users: dict[str, Any]) -> dict[str, Any]:
    """The Zhangwu cooperative's 40 t of grade-2 black beans at 6.80 元/公斤, spoiling in 8 days.

    Demands: one fits (7.50), two fail on price alone (6.00, 5.25), one is out of reach (3.00,
    below half the price); a wholesaler nearby-only (fails on distance), a processor that wants
    grade 1 (fails on grade); a canteen, a school and a food bank on the platform.
    """
    lot = make_lot(
        users["coop"], grade="二级", spoil_by=(local_today() + timedelta(days=8)).isoformat()
    )
    buyer = users["buyer"]
    fits = make_demand(buyer)
    make_demand(buyer, max_price="6.00")
    make_demand(buyer, max_price="5.25")
    make_demand(buyer, max_price="3.00")
    far = make_user("far", Role.buyer, "九江批发市场", province="江西", county="东湖区")
    make_demand(far, max_distance_km="100")
    processor = make_user("proc", Role.buyer, "赣州食品加工厂", province="江西", county="东湖区")
    make_demand(processor, grades="一级")
    canteen = make_user("canteen", Role.buyer, "省直机关食堂", province="辽宁", county="彰武")
    school = make_user("school", Role.buyer, "彰武一中食堂", province="辽宁", county="彰武")
    bank = make_user("bank", Role.buyer, "沈阳食物银行", province="辽宁", county="彰武")
    processor.organisation.buyer_kind = BuyerKind.processor
    canteen.organisation.buyer_kind = BuyerKind.canteen
    school.organisation.buyer_kind = BuyerKind.school
    bank.organisation.buyer_kind = BuyerKind.food_bank
    buyer.organisation.buyer_kind = BuyerKind.wholesaler
    db.session.commit()
    return {
        **users,
        "lot": lot,
        "fits": fits,
        "far": far,
        "processor": processor,
        "canteen": canteen,
        "school": school,
        "bank": bank,
    }
