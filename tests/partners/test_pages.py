"""The webhooks and robots pages: only the organisation's own members, secrets shown once."""

from __future__ import annotations

import re

from sqlalchemy import select

from produce_match.extensions import db
from produce_match.partners.models import (
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    OutgoingDelivery,
    Robot,
)
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_lot
from tests.partners.receiver import Receiver


def _as(client, name):
    login(client, name, PASSWORD)
    return client


def test_a_cooperative_adds_an_endpoint_and_sees_its_secret_once(app, client, users):
    _as(client, "coop")
    page = client.get("/organisation/webhooks", headers={"Accept-Language": "zh"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "lot.at_risk" in text and "order.placed" in text
    with Receiver() as receiver:
        added = post_form(
            client,
            "/organisation/webhooks",
            {"url": receiver.url(), "events": ["lot.posted", "order.placed"]},
            page="/organisation/webhooks",
        )
        assert added.status_code == 200
        secret = re.search(r"whsec_[\w-]+", added.get_data(as_text=True)).group(0)
        endpoint = db.session.scalar(select(Endpoint))
        assert endpoint.secret == secret and endpoint.events == ["lot.posted", "order.placed"]
        shown = client.get(f"/organisation/webhooks/{endpoint.id}").get_data(as_text=True)
        assert secret not in shown  # once only
        make_lot(users["coop"])
        log = client.get(f"/organisation/webhooks/{endpoint.id}").get_data(as_text=True)
        assert "lot.posted" in log and "HTTP 200" in log
        # replay from the log
        delivery = db.session.scalar(select(OutgoingDelivery))
        replayed = post_form(
            client,
            f"/organisation/deliveries/{delivery.id}/replay",
            {},
            page=f"/organisation/webhooks/{endpoint.id}",
        )
        assert replayed.status_code == 302
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body
    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.delivered and delivery.attempts == 2


def test_bad_input_is_answered_in_chinese_and_changes_nothing(app, client, users):
    _as(client, "coop")
    answer = post_form(
        client,
        "/organisation/webhooks",
        {"url": "ftp://example.com/", "events": []},
        page="/organisation/webhooks",
        headers={"Accept-Language": "zh"},
    )
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "https://" in text
    assert db.session.scalar(select(Endpoint)) is None


def test_an_endpoint_is_its_organisations_only(app, client, users):
    with Receiver() as receiver:
        _as(client, "coop")
        post_form(
            client,
            "/organisation/webhooks",
            {"url": receiver.url(), "events": ["lot.posted"]},
            page="/organisation/webhooks",
        )
    endpoint = db.session.scalar(select(Endpoint))
    for name in ("coop2", "buyer", "official", "admin"):
        other = app.test_client()
        _as(other, name)
        assert other.get(f"/organisation/webhooks/{endpoint.id}").status_code == 404
        refused = post_form(
            other,
            f"/organisation/webhooks/{endpoint.id}/disable",
            {},
            page="/account",
        )
        assert refused.status_code == 404
    assert db.session.get(Endpoint, endpoint.id).status is EndpointStatus.active
    admin = app.test_client()
    _as(admin, "admin")
    assert admin.get("/organisation/webhooks").status_code == 404


def test_officials_configure_their_offices_robots_and_traders_cannot(app, client, users):
    for name in ("coop", "buyer", "admin"):
        other = app.test_client()
        _as(other, name)
        assert other.get("/organisation/robots").status_code == 404
    _as(client, "official")
    with Receiver(answers=[(200, '{"errcode":0}')]) as robot_server:
        added = post_form(
            client,
            "/organisation/robots",
            {
                "name": "彰武电商群",
                "kind": "wecom",
                "url": robot_server.url("/send?key=abc"),
                "post_urgent": "y",
                "post_summary": "y",
                "summary_hour": "9",
            },
            page="/organisation/robots",
        )
        assert added.status_code == 302, added.get_data(as_text=True)[:3000]
        robot = db.session.scalar(select(Robot))
        assert robot.summary_hour == 9 and robot.post_urgent
        tested = post_form(client, f"/organisation/robots/{robot.id}/test", {}, page="/account")
        assert tested.status_code == 302
        assert len(robot_server.received) == 1
    # another office's official does not see it
    other = app.test_client()
    _as(other, "jiangxi")
    assert other.get(f"/organisation/robots/{robot.id}").status_code == 404
    # an office's webhooks are for lots only
    page = client.get("/organisation/webhooks").get_data(as_text=True)
    assert "lot.posted" in page and "order.placed" not in page


def test_the_account_page_links_to_them(app, client, users):
    _as(client, "official")
    page = client.get("/account").get_data(as_text=True)
    assert "/organisation/robots" in page and "/organisation/webhooks" in page
    buyer = app.test_client()
    _as(buyer, "buyer")
    page = buyer.get("/account").get_data(as_text=True)
    assert "/organisation/webhooks" in page and "/organisation/robots" not in page


def test_a_member_changes_the_events_and_switches_it_off_and_on(app, client, users):
    _as(client, "buyer")
    post_form(
        client,
        "/organisation/webhooks",
        {"url": "http://127.0.0.1:9/orders", "events": ["order.placed"]},
        page="/organisation/webhooks",
    )
    endpoint = db.session.scalar(select(Endpoint))
    page = f"/organisation/webhooks/{endpoint.id}"
    changed = post_form(
        client,
        page,
        {"url": endpoint.url, "events": ["order.paid", "order.cancelled"], "description": "ERP"},
        page=page,
    )
    assert changed.status_code == 302
    db.session.refresh(endpoint)
    assert endpoint.events == ["order.paid", "order.cancelled"] and endpoint.description == "ERP"
    post_form(client, f"{page}/disable", {}, page=page)
    db.session.refresh(endpoint)
    assert endpoint.status is EndpointStatus.disabled
    post_form(client, f"{page}/enable", {}, page=page)
    db.session.refresh(endpoint)
    assert endpoint.status is EndpointStatus.active
    from produce_match.audit.operations import history

    assert [e.action for e in history(endpoint)] == ["created", "updated", "disabled", "enabled"]
