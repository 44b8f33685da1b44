"""Prices for everyone (行情): the weekly medians paid and the reference price in force."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.market import queries
from produce_match.market.queries import Source, median, reference_in_force
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from tests.factories import make_lot
from tests.market.conftest import (
    DONGHU,
    JIANGXI,
    JINZHOU,
    LIAONING,
    XINMIN,
    ZHANGWU,
    set_reference,
)

CHINA = ZoneInfo("Asia/Shanghai")


def test_median_of_whole_numbers_is_exact_and_rounds_down():
    assert median([5]) == 5
    assert median([9, 1, 5]) == 5
    assert median([4, 1, 3, 2]) == 2  # (2 + 3) // 2
    assert median([600_000, 700_001]) == 650_000
    with pytest.raises(ValueError):
        median([])


def _china(day, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CHINA).astimezone(UTC)


def _paid(users, lot, price_fen_per_t: int, paid_at: datetime, grams: int = 1_000_000) -> Order:
    """An order of `grams` of the lot, accepted and paid; then its price and its payment's
    instant set by hand (a hand-made history)."""
    order = orders.place_order(users["buyer"], lot, str(grams // 1000), "kg")
    seller = next(
        u for u in (users["coop"], users["coop2"]) if u.organisation_id == lot.cooperative_id
    )
    orders.accept(seller, order)
    orders.mark_paid(order)
    db.session.flush()
    db.session.execute(
        update(Order)
        .where(Order.id == order.id)
        .values(price_fen_per_t=price_fen_per_t, paid_at=paid_at)
    )
    db.session.commit()
    return order


def test_weekly_medians_of_paid_orders(app, users, beans):
    today = local_today()
    monday = today - timedelta(days=today.weekday())
    last, before = monday - timedelta(weeks=1), monday - timedelta(weeks=2)
    lot = make_lot(users["coop"], quantity="40", unit="t")  # Zhangwu
    other = make_lot(users["coop2"], quantity="40", unit="t")  # Jinzhou, same province
    # this week: 4 orders, the median is the mean of the two middle ones, rounded down
    for price in (400_000, 900_000, 600_001, 500_000):
        _paid(users, lot, price, _china(monday, 0, 30) if price == 400_000 else _china(monday))
    # last week: 3 orders (one paid on its Monday at 00:30 China time, Sunday in UTC)
    _paid(users, lot, 700_000, _china(last, 0, 30), grams=2_000_000)
    _paid(users, lot, 500_000, _china(last + timedelta(days=6), 23, 59))
    _paid(users, lot, 600_000, _china(last + timedelta(days=3)))
    # the week before: 2 orders only, too few to show a price
    _paid(users, lot, 100_000, _china(before))
    _paid(users, lot, 200_000, _china(before + timedelta(days=1)))
    # not counted: an order paid and then cancelled, one never paid, one in another county
    cancelled = _paid(users, lot, 1, _china(last + timedelta(days=1)))
    db.session.execute(
        update(Order).where(Order.id == cancelled.id).values(status=OrderStatus.cancelled)
    )
    orders.place_order(users["buyer"], lot, "1000", "kg")
    _paid(users, other, 10_000_000, _china(last + timedelta(days=1)))
    db.session.commit()

    weeks = queries.weekly_medians(beans.id, queries.place_of(LIAONING, ZHANGWU))
    assert len(weeks) == queries.DEFAULT_WEEKS
    assert [w.monday for w in weeks[-3:]] == [before, last, monday]
    assert weeks[-1].week == monday.isocalendar()[1]
    this, prev, early = weeks[-1], weeks[-2], weeks[-3]
    assert (this.orders, this.grams, this.median_fen_per_t) == (4, 4_000_000, 550_000)
    assert (prev.orders, prev.grams, prev.median_fen_per_t) == (3, 4_000_000, 600_000)
    assert (early.orders, early.median_fen_per_t, early.too_few) == (2, None, True)
    assert all(w.orders == 0 and w.median_fen_per_t is None for w in weeks[:-3])
    assert not weeks[0].too_few  # no order at all is not "too few"

    # the province counts Jinzhou's order too: last week has 4 orders
    province = queries.weekly_medians(beans.id, queries.place_of(LIAONING, None), weeks=2)
    assert [(w.orders, w.median_fen_per_t) for w in province] == [(4, 650_000), (4, 550_000)]
    nationwide = queries.weekly_medians(beans.id, queries.place_of(None, None), weeks=1)
    assert nationwide[0].orders == 4
    # another commodity has nothing
    assert queries.weekly_medians(beans.id + 1, queries.place_of(None, None))[-1].orders == 0


def test_the_county_reference_comes_before_the_province(app, users, beans):
    today = local_today()
    province = users["province_official"]
    set_reference(province, ZHANGWU, "5.00", today - timedelta(days=30))
    set_reference(province, ZHANGWU, "6.00", today - timedelta(days=3))  # in force
    set_reference(province, ZHANGWU, "9.00", today + timedelta(days=3))  # not yet
    set_reference(province, JINZHOU, "5.00", today - timedelta(days=10))
    set_reference(users["other_official"], DONGHU, "8.00", today - timedelta(days=1))

    own = reference_in_force(beans.id, LIAONING, ZHANGWU)
    assert (own.price_fen_per_t, own.source, own.valid_from) == (
        600_000,
        Source.county,
        today - timedelta(days=3),
    )
    # a week ago, the older price was in force
    assert reference_in_force(beans.id, LIAONING, ZHANGWU, today - timedelta(days=7)) == (
        queries.Reference(500_000, Source.county, today - timedelta(days=30))
    )
    # a county of the province without its own: the median of its province's counties
    fallback = reference_in_force(beans.id, None, XINMIN)
    assert (fallback.price_fen_per_t, fallback.source, fallback.counties) == (
        550_000,
        Source.province,
        2,
    )
    assert reference_in_force(beans.id, LIAONING, None) == fallback
    national = reference_in_force(beans.id, None, None)
    assert (national.price_fen_per_t, national.source, national.counties) == (
        600_000,
        Source.national,
        3,
    )
    # no reference for the commodity, or in the province
    assert reference_in_force(beans.id + 1, LIAONING, ZHANGWU) is None
    assert reference_in_force(beans.id, "110000", None) is None
    # the history of Zhangwu, newest first, and the week's reference on the chart
    market = queries.market(beans, queries.place_of(LIAONING, ZHANGWU))
    assert [r.price_fen_per_t for r in market.history] == [900_000, 600_000, 500_000]
    assert market.weeks[-1].reference.price_fen_per_t == 600_000
    assert market.weeks[-3].reference.price_fen_per_t == 500_000
    assert reference_in_force(beans.id, JIANGXI, None).price_fen_per_t == 800_000
