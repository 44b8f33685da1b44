"""Ratings after completion: one per side per order, within the window, sealed until both sides
rated, averages only from the floor on; the order's and the organisation's pages; the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import func, select

from produce_match.accounts.models import Role
from produce_match.audit.models import AuditEvent
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.notifications.models import Notification
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from produce_match.trust import ratings
from produce_match.trust.models import Rating
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_lot, make_user

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


@pytest.fixture
def lot(users):
    return make_lot(users["coop"], quantity="40", unit="t", price="6.80", price_unit="kg")


def delivered(users, lot, buyer=None) -> Order:
    buyer = buyer or users["buyer"]
    order = orders.place_order(buyer, lot, "1", "t")
    orders.accept(users["coop"], order)
    orders.mark_paid(order)
    orders.dispatch(users["coop"], order, "辽A 12345", "139 1234 5678", "1", "t")
    orders.confirm_delivery(buyer, order, "1", "t")
    db.session.commit()
    return order


def completed(users, lot, buyer=None) -> Order:
    order = delivered(users, lot, buyer)
    orders.complete(order, now=order.dispute_until)
    db.session.commit()
    return order


def rate(user, order, stars=5, tags=(), comment=None, *, now=None):
    rating = ratings.rate(user, order, stars, list(tags), comment, now=now)
    db.session.commit()
    return rating


# --- the operation ---------------------------------------------------------------------------


def test_each_side_rates_the_other_once(users, lot):
    order = completed(users, lot)
    now = order.dispute_until + DAY
    given = rate(
        users["buyer"], order, 4, ["as_described", "shipped_on_time"], " 豆子很好 ", now=now
    )
    assert (given.rater_org_id, given.ratee_org_id) == (
        order.buyer_org_id,
        order.cooperative_org_id,
    )
    assert given.tags == ["as_described", "shipped_on_time"] and given.comment == "豆子很好"
    with pytest.raises(Conflict) as refused:
        ratings.rate(users["buyer"], order, 1, [], None, now=now)
    assert refused.value.code == "already_rated"
    db.session.rollback()
    back = rate(users["coop"], order, 5, ["paid_promptly"], now=now)
    assert back.ratee_org_id == order.buyer_org_id
    assert db.session.scalar(select(func.count()).select_from(Rating)) == 2
    # audited
    audited = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "ratings", AuditEvent.action == "rated")
    ).all()
    assert sorted(e.changes["stars"] for e in audited) == [4, 5]


def test_the_rated_organisation_is_told_without_the_stars(users, lot):
    order = completed(users, lot)
    rate(users["buyer"], order, 2, now=order.dispute_until)
    told = db.session.scalars(
        select(Notification).where(Notification.kind == "rating.received")
    ).all()
    assert [n.user_id for n in told] == [users["coop"].id]
    assert told[0].params["revealed"] is False and "stars" not in told[0].params


def test_only_completed_or_resolved_orders_are_rated(users, lot):
    order = delivered(users, lot)
    with pytest.raises(Conflict) as refused:
        ratings.rate(
            users["buyer"], order, 5, [], None, now=order.delivered_at + timedelta(hours=1)
        )
    assert refused.value.code == "order_not_completed"
    db.session.rollback()
    # a dispute settled by an official counts as complete
    disputed = delivered(users, lot)
    orders.dispute(users["buyer"], disputed, "短了 50 公斤")
    orders.resolve(users["official"], disputed, "退 200 元", "200")
    db.session.commit()
    assert rate(users["coop"], disputed, 3).stars == 3


def test_a_delivery_past_its_dispute_window_is_completed_and_rated(users, lot):
    order = delivered(users, lot)  # the timer has not run: rating records the completion first
    rating = rate(users["buyer"], order, 5, now=order.dispute_until + DAY)
    assert rating.id and db.session.get(Order, order.id).status is OrderStatus.completed


def test_the_window_closes_after_the_configured_days(app, users, lot):
    order = completed(users, lot)
    done = order.dispute_until
    assert ratings.rating_until(order) == done + 14 * DAY
    assert ratings.can_rate(users["buyer"], order, done + 14 * DAY - timedelta(minutes=1))
    assert not ratings.can_rate(users["buyer"], order, done + 14 * DAY)
    with pytest.raises(Conflict) as refused:
        ratings.rate(users["buyer"], order, 5, [], None, now=done + 15 * DAY)
    assert refused.value.code == "rating_window_closed"
    db.session.rollback()
    app.config["RATING_WINDOW_DAYS"] = 30
    assert rate(users["buyer"], order, 5, now=done + 15 * DAY).stars == 5


@pytest.mark.parametrize("who", ["official", "admin", "coop2", "province_official"])
def test_officials_administrators_and_outsiders_never_rate(users, lot, who):
    order = completed(users, lot)
    assert not ratings.can_rate(users[who], order)
    with pytest.raises(ratings.NotAllowed):
        ratings.rate(users[who], order, 5, [], None)


@pytest.mark.parametrize(
    ("side", "stars", "tags", "comment", "field"),
    [
        ("buyer", 0, [], None, "stars"),
        ("buyer", 6, [], None, "stars"),
        ("buyer", "4.5", [], None, "stars"),
        ("buyer", True, [], None, "stars"),
        ("buyer", 5, ["paid_promptly"], None, "tags"),  # the cooperative's tag
        ("coop", 5, ["as_described"], None, "tags"),  # the buyer's tag
        ("coop", 5, ["nonsense"], None, "tags"),
        ("buyer", 5, [], "长" * 501, "comment"),
    ],
)
def test_bad_input_is_refused_with_its_field(users, lot, side, stars, tags, comment, field):
    order = completed(users, lot)
    with pytest.raises(ValidationFailed) as refused:
        ratings.rate(users[side], order, stars, tags, comment)
    assert field in refused.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Rating)) == 0


def test_a_race_on_the_same_side_is_a_conflict_not_an_error(users, lot, monkeypatch):
    order = completed(users, lot)
    rate(users["buyer"], order, 5)
    # the second request read "not rated yet" before the first committed
    monkeypatch.setattr(ratings, "_refusal", lambda *args: None)
    with pytest.raises(Conflict) as refused:
        ratings.rate(users["buyer"], order, 1, [], None)
    assert refused.value.code == "already_rated"
    db.session.rollback()
    assert [r.stars for r in db.session.scalars(select(Rating))] == [5]


# --- what each side sees -----------------------------------------------------------------------


def test_the_rating_received_is_sealed_until_both_rated_or_the_window_closed(users, lot):
    order = completed(users, lot)
    done = order.dispute_until
    rate(users["buyer"], order, 2, now=done + DAY)
    coop_view = ratings.order_ratings(users["coop"], order, done + 2 * DAY)
    assert coop_view.sealed and coop_view.received is None and coop_view.may_rate
    buyer_view = ratings.order_ratings(users["buyer"], order, done + 2 * DAY)
    assert buyer_view.given.stars == 2 and not buyer_view.may_rate
    official_view = ratings.order_ratings(users["official"], order, done + 2 * DAY)
    assert [r.stars for r in official_view.all] == [2] and not official_view.may_rate
    closed = ratings.order_ratings(users["coop"], order, done + 14 * DAY)
    assert closed.received.stars == 2 and not closed.sealed and not closed.may_rate
    rate(users["coop"], order, 4, now=done + 3 * DAY)
    assert ratings.order_ratings(users["coop"], order, done + 3 * DAY).received.stars == 2
    assert ratings.order_ratings(users["buyer"], order, done + 3 * DAY).received.stars == 4


# --- summaries -----------------------------------------------------------------------------


def test_no_average_below_three_ratings_and_the_right_average_from_three(users, lot):
    buyers = [users["buyer"]] + [
        make_user(f"buyer{i}", Role.buyer, f"买家{i}", province="江西", county="东湖区")
        for i in (2, 3)
    ]
    coop = users["coop"].organisation_id
    given = [(5, ["as_described", "responsive"]), (4, ["as_described"]), (4, [])]
    for buyer, (stars, tags) in zip(buyers[:2], given, strict=False):
        order = completed(users, lot, buyer)
        rate(buyer, order, stars, tags, "好" if stars == 5 else None)
        rate(users["coop"], order, 5)  # both rated: revealed
    two = ratings.summary_of(coop)
    assert (two.count, two.average, two.tags, two.shown) == (2, None, (), False)
    assert ratings.recent_comments(coop) == []
    order = completed(users, lot, buyers[2])
    rate(buyers[2], order, 4, [], now=order.dispute_until)
    # sealed: the cooperative has not rated and the window is open
    assert ratings.summary_of(coop, now=order.dispute_until + DAY).count == 2
    # revealed once older than the window
    three = ratings.summary_of(coop, now=order.dispute_until + 14 * DAY)
    assert three.count == 3 and three.average == pytest.approx(13 / 3)
    assert three.tags == (("as_described", 2), ("responsive", 1))
    assert [
        r.comment for r in ratings.recent_comments(coop, now=order.dispute_until + 14 * DAY)
    ] == ["好"]
    # the batch variant: every id asked for, the same figures
    both = ratings.summaries_of(
        [coop, users["buyer"].organisation_id], now=order.dispute_until + 14 * DAY
    )
    assert both[coop] == three and both[users["buyer"].organisation_id].count == 1


def test_the_floor_is_configurable(app, users, lot):
    order = completed(users, lot)
    rate(users["buyer"], order, 3, now=order.dispute_until)
    rate(users["coop"], order, 5, now=order.dispute_until)
    app.config["RATINGS_SHOWN_FROM"] = 1
    assert ratings.summary_of(order.cooperative_org_id).average == 3


# --- pages ---------------------------------------------------------------------------------


def test_the_order_page_rates_and_then_shows_what_was_given(client, users, lot):
    order = completed(users, lot)
    login(client, "buyer", PASSWORD)
    page = client.get(f"/orders/{order.id}", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert 'name="rating-stars"' in page and 'value="shipped_on_time"' in page
    assert 'value="paid_promptly"' not in page and "货品与描述一致" in page
    bad = post_form(
        client, f"/orders/{order.id}/rating", {"rating-stars": "9"}, page=f"/orders/{order.id}"
    )
    assert bad.status_code == 422 and "请选择 1 至 5 星。" in bad.get_data(as_text=True)
    sent = post_form(
        client,
        f"/orders/{order.id}/rating",
        {"rating-stars": "4", "rating-tags": ["as_described"], "rating-comment": "准时到货"},
        page=f"/orders/{order.id}",
    )
    assert sent.status_code == 302
    page = client.get(f"/orders/{order.id}", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert 'name="rating-stars"' not in page and "准时到货" in page
    again = post_form(
        client, f"/orders/{order.id}/rating", {"rating-stars": "1"}, page=f"/orders/{order.id}"
    )
    assert again.status_code == 409
    assert [r.stars for r in db.session.scalars(select(Rating))] == [4]


def test_an_official_sees_no_rating_form(client, users, lot):
    order = completed(users, lot)
    login(client, "official", PASSWORD)
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'name="rating-stars"' not in page
    refused = post_form(client, f"/orders/{order.id}/rating", {"rating-stars": "5"}, page="/")
    assert refused.status_code == 403


def test_the_organisation_page_shows_the_floor_then_the_score(client, users, lot):
    coop = users["coop"].organisation_id
    zh = {"Accept-Language": "zh-CN"}
    page = client.get(f"/organisations/{coop}", headers=zh).get_data(as_text=True)
    assert "评价不足 3 条，暂不显示评分" in page
    for i in range(3):
        buyer = make_user(f"buyerb{i}", Role.buyer, f"买家{i}", province="江西", county="东湖区")
        order = completed(users, lot, buyer)
        rate(buyer, order, 5 if i else 4, ["as_described"], "很好" if i == 0 else None)
        rate(users["coop"], order, 5)
    page = client.get(f"/organisations/{coop}", headers=zh).get_data(as_text=True)
    assert "4.7 分（3 条评价）" in page and "货品与描述一致" in page and "很好" in page


# --- the API -------------------------------------------------------------------------------


def auth(client, who: str) -> dict[str, str]:
    token = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


def test_the_api_rates_once_and_shows_what_each_may_see(client, users, lot):
    order = completed(users, lot)
    buyer, coop = auth(client, "buyer"), auth(client, "coop")
    url = f"/api/v1/orders/{order.id}/rating"
    wrong = client.post(url, json={"stars": 5, "tags": ["paid_promptly"]}, headers=buyer)
    assert wrong.status_code == 422 and "tags" in wrong.json["error"]["fields"]
    assert client.post(url, json={"stars": "5"}, headers=buyer).status_code == 422
    made = client.post(
        url, json={"stars": 5, "tags": ["as_described"], "comment": "好"}, headers=buyer
    )
    assert made.status_code == 201, made.json
    assert made.json["by"] == "buyer" and made.json["tags"] == ["as_described"]
    again = client.post(url, json={"stars": 1}, headers=buyer)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_rated"
    seen = client.get(f"/api/v1/orders/{order.id}/ratings", headers=coop).json
    assert seen["may_rate"] and seen["sealed"] and seen["received"] is None
    assert seen["tags"] == ["paid_promptly", "fair_inspection", "received_on_time", "responsive"]
    official = auth(client, "official")
    assert client.post(url, json={"stars": 5}, headers=official).status_code == 403
    assert client.post(url, json={"stars": 5}, headers=auth(client, "coop2")).status_code == 404
    summary = client.get(f"/api/v1/organisations/{order.cooperative_org_id}/ratings", headers=coop)
    assert summary.status_code == 200
    assert summary.json["average"] is None and summary.json["comments"] == []


def test_the_api_refuses_orders_not_completed(client, users, lot):
    order = delivered(users, lot)
    answer = client.post(
        f"/api/v1/orders/{order.id}/rating", json={"stars": 5}, headers=auth(client, "buyer")
    )
    assert answer.status_code == 409 and answer.json["error"]["code"] == "order_not_completed"
