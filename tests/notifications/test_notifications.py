"""Notifications: who is told about an order's steps, the inbox, and other channels."""

from __future__ import annotations

import logging

import pytest
from flask import g
from sqlalchemy import select

from produce_match.extensions import db
from produce_match.notifications import operations as notifications
from produce_match.notifications.messages import kinds, render
from produce_match.notifications.models import Notification
from produce_match.orders import operations as orders
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_lot


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def inbox_of(user) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    )


def test_each_step_tells_the_other_side_not_the_actor(users):
    coop, buyer, official = users["coop"], users["buyer"], users["official"]
    lot = make_lot(coop, quantity="2", unit="t")
    order = orders.place_order(buyer, lot, "1", "t")
    db.session.commit()
    assert [n.kind for n in inbox_of(coop)] == ["order.placed"]
    assert inbox_of(buyer) == []
    orders.accept(coop, order)
    db.session.commit()
    # the buyer hears of the acceptance once (the payment request is the same breath)
    assert [n.kind for n in inbox_of(buyer)] == ["order.accepted"]
    orders.mark_paid(order)
    db.session.commit()
    assert [n.kind for n in inbox_of(buyer)][-1] == "order.paid"
    assert [n.kind for n in inbox_of(coop)][-1] == "order.paid"
    orders.dispatch(coop, order, "辽A12345", "13800000000", "1", "t")
    orders.confirm_delivery(buyer, order, "0.9", "t")
    orders.dispute(buyer, order, "短斤少两")
    db.session.commit()
    # disputes reach the officials of the lot's county, who settle them; not other counties'
    assert [n.kind for n in inbox_of(official)] == ["order.disputed"]
    assert inbox_of(users["other_official"]) == []
    assert inbox_of(users["coop2"]) == []
    assert inbox_of(coop)[-1].url == f"/orders/{order.id}"


def test_every_kind_has_words_in_both_languages(app, users):
    params = {
        "order": 7,
        "lot": "黑豆",
        "buyer": "B",
        "cooperative": "C",
        "quantity_g": 10**6,
        "unit": "t",
        "amount_fen": 680_000_00,
        "shipped_g": 10**6,
        "accepted_g": 98 * 10**4,
    }
    order_kinds = [k for k in kinds() if k.startswith("order.")]
    assert len(order_kinds) >= 10
    for lang in ("zh", "en"):
        with app.test_request_context(headers={"Accept-Language": lang}):
            for kind in order_kinds:
                text = render(kind, params)
                assert "7" in text, (kind, text)
                if lang == "zh":
                    assert any("\u4e00" <= ch <= "\u9fff" for ch in text.replace("黑豆", "")), text
    with app.test_request_context():
        assert render("no.such.kind", {}) and render("order.placed", {}) == render("x", {})


def test_inbox_marks_read_and_is_private(client, users):
    coop, buyer = users["coop"], users["buyer"]
    lot = make_lot(coop, quantity="2", unit="t")
    order = orders.place_order(buyer, lot, "1", "t")
    db.session.commit()
    (note,) = inbox_of(coop)

    login(client, "buyer", PASSWORD)  # not the buyer's notification
    assert (
        post_form(client, f"/notifications/{note.id}/open", {}, page="/notifications").status_code
        == 404
    )

    client2 = client.application.test_client()
    login(client2, "coop", PASSWORD)
    page = client2.get("/notifications").get_data(as_text=True)
    assert f"南昌粮油公司 订购了“{lot.title}” 1 吨（订单 {order.id}）" in page
    assert '<span class="count"' in page
    response = post_form(client2, f"/notifications/{note.id}/open", {}, page="/notifications")
    assert response.status_code == 302 and response.location.endswith(f"/orders/{order.id}")
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is not None
    assert '<span class="count"' not in client2.get("/notifications").get_data(as_text=True)


def test_other_channels_get_it_after_commit_only(app, users, caplog):
    app.config["NOTIFICATION_CHANNELS"] = ("log",)
    coop, buyer = users["coop"], users["buyer"]
    lot = make_lot(coop, quantity="2", unit="t")
    caplog.set_level(logging.INFO, logger="produce_match.notifications")
    orders.place_order(buyer, lot, "1", "t")
    db.session.rollback()
    assert not [r for r in caplog.records if "order.placed" in r.getMessage()]
    orders.place_order(buyer, lot, "1", "t")
    db.session.commit()
    (line,) = [r.getMessage() for r in caplog.records if "order.placed" in r.getMessage()]
    assert f"user {coop.id}" in line and "南昌粮油公司" in line


def test_mark_read_touches_only_own_rows(users):
    coop, buyer = users["coop"], users["buyer"]
    mine = notifications.notify([coop], "order.completed", {"order": 1})
    theirs = notifications.notify([buyer], "order.completed", {"order": 1})
    db.session.commit()
    assert notifications.mark_read(coop, [mine[0].id, theirs[0].id]) == 1
    db.session.commit()
    assert notifications.unread_count(buyer) == 1 and notifications.unread_count(coop) == 0


def test_notify_members_tells_each_active_member_of_the_role_but_the_actor(users):
    from produce_match.accounts import operations as accounts
    from produce_match.accounts.models import Role
    from tests.factories import make_user

    coop, buyer = users["coop"], users["buyer"]
    colleague = make_user("coop-b", Role.cooperative, "另一个合作社")
    gone = make_user("coop-c", Role.cooperative, "第三个合作社")
    colleague.organisation_id = gone.organisation_id = coop.organisation_id
    accounts.set_disabled(gone, users["admin"], True)
    db.session.commit()
    groups = [(coop.organisation_id, Role.cooperative), (buyer.organisation_id, Role.buyer)]
    told = notifications.notify_members(
        groups, "order.completed", {"order": 7}, url="/orders/7", actor=colleague
    )
    db.session.commit()
    assert told == 2
    assert [(n.kind, n.params, n.url) for n in inbox_of(coop)] == [
        ("order.completed", {"order": 7}, "/orders/7")
    ]
    assert [n.kind for n in inbox_of(buyer)] == ["order.completed"]
    assert inbox_of(colleague) == [] and inbox_of(gone) == []  # the actor, a disabled account
    assert inbox_of(users["official"]) == []
    # only the role asked for: the cooperative's organisation has no buyers
    assert notifications.notify_members([(coop.organisation_id, Role.buyer)], "order.paid") == 0
    assert notifications.notify_members([(None, Role.buyer)], "order.paid") == 0
