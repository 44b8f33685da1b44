"""Reliability figures from the record: each figure on a hand-made history, the minimum counts,
the pages, the officials' page and its jurisdiction, the API, and the match's reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, update

from produce_match.audit.models import AuditEvent
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.matching import queries as matching
from produce_match.matching.rules import ReasonKind
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from produce_match.trust import reliability
from produce_match.trust.reliability import figures_of
from tests.conftest import login
from tests.factories import PASSWORD, make_demand, make_lot

S = OrderStatus
H = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def lot(users):
    return make_lot(users["coop"], quantity="40", unit="t", price="6.80", price_unit="kg")


def _placed(users, lot):
    order = orders.place_order(users["buyer"], lot, "100", "kg")  # 680.00 元
    db.session.commit()
    return order


def _stamp(order, requested, paid=None, dispatched=None):
    """Give the order's moments exact values: the payment request (its audit record), the
    payment and the dispatch."""
    db.session.execute(
        update(AuditEvent)
        .where(
            AuditEvent.subject_type == "orders",
            AuditEvent.subject_id == order.id,
            AuditEvent.action.in_(["accepted", "payment_requested"]),
        )
        .values(at=requested)
    )
    values = {}
    if paid is not None:
        values["paid_at"] = paid
    if dispatched is not None:
        values["dispatched_at"] = dispatched
    if values:
        db.session.execute(update(Order).where(Order.id == order.id).values(**values))
    db.session.commit()


def _delivered(users, lot):
    order = _placed(users, lot)
    orders.accept(users["coop"], order)
    orders.mark_paid(order)
    orders.dispatch(users["coop"], order, "辽A 12345", "139 1234 5678", "100", "kg")
    orders.confirm_delivery(users["buyer"], order, "100", "kg")
    db.session.commit()
    return order


def _completed(users, lot):
    order = _delivered(users, lot)
    orders.complete(order, now=utcnow() + timedelta(days=4))
    db.session.commit()
    return order


def _history(users, lot):
    """Five orders: three completed, one disputed and resolved with a partial refund, one
    rejected; paid 1, 2, 0.5 and 3 days after payment was requested; dispatched 10, 60, 47
    and 24 hours after payment."""
    base = utcnow() - timedelta(days=30)
    made = []
    for pay_days, ship_hours in ((1, 10), (2, 60), (0.5, 47)):
        order = _completed(users, lot)
        paid = base + pay_days * DAY
        _stamp(order, base, paid, paid + ship_hours * H)
        made.append(order)
    disputed = _delivered(users, lot)
    orders.dispute(users["buyer"], disputed, "短斤少两")
    orders.resolve(users["official"], disputed, "退还部分货款", "100")
    db.session.commit()
    _stamp(disputed, base, base + 3 * DAY, base + 3 * DAY + 24 * H)
    rejected = _placed(users, lot)
    orders.reject(users["coop"], rejected, "已售完")
    db.session.commit()
    return [*made, disputed, rejected]


def test_each_figure_on_a_hand_made_history(users, lot):
    made = _history(users, lot)
    assert [o.status for o in made] == [S.completed] * 3 + [S.resolved, S.rejected]
    coop, buyer = users["coop"].organisation_id, users["buyer"].organisation_id
    figures = figures_of([coop, buyer])

    seller = figures[coop].seller
    # the rejection counts against the cooperative; a partial refund is not a clean completion
    assert (seller.completed, seller.finished) == (3, 5)
    assert seller.completion_rate == 3 / 5
    assert (seller.on_time, seller.dispatched) == (3, 4)  # 60 hours is later than 48
    assert seller.on_time_rate == 3 / 4
    assert (seller.disputed, seller.delivered) == (1, 4)
    assert seller.disputed_share == 1 / 4
    assert seller.disputes == reliability.Disputes(full_refund=0, partial_refund=1)
    assert seller.days_to_pay is None  # a seller does not pay

    buyer_side = figures[buyer].buyer
    # the rejection does not count against the buyer; the upheld dispute ended well for it
    assert (buyer_side.completed, buyer_side.finished) == (4, 4)
    assert buyer_side.completion_rate == 1.0
    assert buyer_side.paid == 4
    assert buyer_side.days_to_pay == 1.5  # median of 0.5, 1, 2, 3
    assert buyer_side.disputes.partial_refund == 1
    assert figures[coop].buyer == reliability.Side()  # the cooperative never bought
    # the match score smooths the same counts
    assert reliability.records([coop, buyer]) == {coop: ((3, 5), (0, 0)), buyer: ((0, 0), (4, 4))}


def test_cancellations_and_expiries_count_against_the_side_that_caused_them(users, lot):
    by_buyer = _placed(users, lot)
    orders.cancel(users["buyer"], by_buyer, "不要了")
    by_coop = _placed(users, lot)
    orders.cancel(users["coop"], by_coop, "货不够")
    unpaid = _placed(users, lot)
    orders.accept(users["coop"], unpaid)
    unanswered = _placed(users, lot)
    db.session.commit()
    later = utcnow() + timedelta(days=3)  # past both the 24-hour hold and the 48-hour window
    orders.apply_expiry(unpaid, later)
    orders.apply_expiry(unanswered, later)
    db.session.commit()
    assert unpaid.status is S.expired and unanswered.status is S.expired
    coop, buyer = users["coop"].organisation_id, users["buyer"].organisation_id
    figures = figures_of([coop, buyer])
    assert (figures[coop].seller.completed, figures[coop].seller.finished) == (0, 2)
    assert (figures[buyer].buyer.completed, figures[buyer].buyer.finished) == (0, 2)


def test_a_rate_needs_three_orders_behind_it(users, lot):
    coop = users["coop"].organisation_id
    for _ in range(2):
        _completed(users, lot)
    side = figures_of([coop])[coop].seller
    assert (side.completed, side.finished, side.delivered) == (2, 2, 2)
    assert side.completion_rate is None and side.disputed_share is None
    assert side.on_time_rate is None
    _completed(users, lot)
    side = figures_of([coop])[coop].seller
    assert side.completion_rate == 1.0 and side.disputed_share == 0.0
    assert side.on_time_rate == 1.0
    assert figures_of([]) == {}


def test_figures_of_many_organisations_take_two_queries(users, lot):
    _history(users, lot)
    ids = [u.organisation_id for u in users.values() if u.organisation_id]
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        figures_of(ids)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert len([s for s in statements if s.lstrip().startswith("SELECT")]) == 2


def test_the_pages_show_the_figures(app, client, users, lot):
    _history(users, lot)
    coop, buyer = users["coop"].organisation_id, users["buyer"].organisation_id
    headers = {"Accept-Language": "zh-CN"}
    page = client.get(f"/organisations/{coop}", headers=headers).get_data(as_text=True)
    assert "可靠性" in page and 'id="rel-completion">60%' in page
    assert 'id="rel-on-time">75%' in page and 'id="rel-disputed">25%' in page
    page = client.get(f"/organisations/{buyer}", headers=headers).get_data(as_text=True)
    assert 'id="rel-days-to-pay">1.5' in page
    page = client.get(f"/lots/{lot.id}", headers=headers).get_data(as_text=True)
    assert 'id="seller-reliability"' in page and "60%" in page


def test_a_newcomer_has_too_few_orders(client, users, lot):
    coop = users["coop"].organisation_id
    page = client.get(f"/organisations/{coop}", headers={"Accept-Language": "en"})
    assert "No finished orders yet." in page.get_data(as_text=True)
    page = client.get(f"/lots/{lot.id}", headers={"Accept-Language": "en"})
    assert "too few orders" in page.get_data(as_text=True)


def test_officials_see_their_place_sorted_and_other_counties_get_nothing(client, users, lot):
    _history(users, lot)
    login(client, "official", PASSWORD)
    page = client.get("/monitor/reliability?sort=worst").get_data(as_text=True)
    assert "道亭村合作社" in page and "60%" in page
    assert "南昌粮油公司" not in page  # the buyer is in Jiangxi
    other = client.application.test_client()
    login(other, "jiangxi", PASSWORD)
    assert other.get("/monitor/reliability?county=彰武&province=辽宁").status_code == 404
    page = other.get("/monitor/reliability").get_data(as_text=True)
    assert "道亭村合作社" not in page and "南昌粮油公司" in page
    buyers = client.application.test_client()
    login(buyers, "buyer", PASSWORD)
    assert buyers.get("/monitor/reliability").status_code == 404


def _bearer(client, login_name):
    response = client.post("/api/v1/tokens", json={"login": login_name, "password": PASSWORD})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def test_the_api_gives_the_figures_and_the_officials_list(client, users, lot):
    _history(users, lot)
    coop = users["coop"].organisation_id
    answer = client.get(
        f"/api/v1/organisations/{coop}/reliability", headers=_bearer(client, "buyer")
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["seller"]["completion_rate"] == 0.6
    assert answer.json["seller"]["disputes"]["partial_refund"] == 1
    assert answer.json["min_orders"] == 3
    assert client.get(f"/api/v1/organisations/{coop}/reliability").status_code == 401
    official = client.get("/api/v1/stats/reliability", headers=_bearer(client, "official"))
    assert official.status_code == 200, official.json
    rows = {r["name"]: r for r in official.json}
    assert set(rows) == {"道亭村合作社"}  # Zhangwu's cooperative; the buyer is in Jiangxi
    assert rows["道亭村合作社"]["side"] == "seller"
    assert rows["道亭村合作社"]["figures"]["completion_rate"] == 0.6
    other = _bearer(client, "jiangxi")
    far = client.get("/api/v1/stats/reliability?province=辽宁&county=彰武", headers=other)
    assert far.status_code == 404
    buyer = _bearer(client, "buyer")
    assert client.get("/api/v1/stats/reliability", headers=buyer).status_code == 404


def test_the_match_counts_both_sides(users, lot):
    _history(users, lot)
    demand = make_demand(users["buyer"])
    found = matching.matches_for_lot(lot)
    assert [f.demand.id for f in found] == [demand.id]
    reasons = {r.kind: r for r in found[0].match.score.reasons}
    buyer, seller = reasons[ReasonKind.reliability], reasons[ReasonKind.seller_reliability]
    assert buyer.extra == (4, 4, 5) and buyer.points == 5 * (4 + 2) / (4 + 4)
    assert seller.extra == (3, 5, 5) and seller.points == 5 * (3 + 2) / (5 + 4)
    # the vectorised path gives the same
    together = matching.matches_for_lots([lot])[lot.id]
    assert [f.match.score for f in together] == [found[0].match.score]
