"""Partners' webhooks: what is sent to whom, signed how, retried, failed and replayed."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.messaging import webhooks
from produce_match.orders import operations as orders
from produce_match.partners import operations as partners
from produce_match.partners.models import DeliveryStatus, EndpointStatus, OutgoingDelivery
from tests.factories import make_lot
from tests.partners.conftest import add_endpoint
from tests.partners.receiver import Receiver

ALL_ORDERS = [
    "order.placed",
    "order.accepted",
    "order.rejected",
    "order.paid",
    "order.dispatched",
    "order.delivered",
    "order.cancelled",
]


def _events(receiver: Receiver) -> list[dict]:
    return [json.loads(r.body) for r in receiver.received]


# --- signatures -----------------------------------------------------------------------------


def test_the_signature_is_stripes_scheme_and_a_partner_can_verify_it():
    body = b'{"id":"evt_1","type":"lot.posted"}'
    header = webhooks.signature("whsec_test", body, 1765000000)
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_test", b"1765000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1765000000,v1={expected}"
    assert webhooks.verify("whsec_test", header, body, now=1765000000 + 10)
    assert not webhooks.verify("whsec_other", header, body, now=1765000000)
    assert not webhooks.verify("whsec_test", header, body + b" ", now=1765000000)
    # too old: a replayed capture is refused by the partner
    assert not webhooks.verify("whsec_test", header, body, now=1765000000 + 301)
    assert not webhooks.verify("whsec_test", "v1=abc", body)


def test_a_posted_lot_reaches_its_cooperative_signed(app, users, receiver):
    _endpoint, secret = add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
    lot = make_lot(users["coop"])
    assert len(receiver.received) == 1
    got = receiver.received[0]
    event = json.loads(got.body)
    assert event["type"] == "lot.posted"
    assert event["id"].startswith("evt_")
    assert abs(event["created"] - time.time()) < 60
    assert event["data"]["id"] == lot.id
    assert event["data"]["remaining_g"] == 40_000_000
    assert event["data"]["url"].endswith(f"/lots/{lot.id}")
    assert event["data"]["cooperative"]["name"] == "道亭村合作社"
    assert got.headers["Content-Type"] == "application/json"
    # the partner's check, with the secret it was shown once
    assert webhooks.verify(secret, got.headers["Produce-Match-Signature"], got.body)
    delivery = db.session.scalar(select(OutgoingDelivery))
    assert delivery.status is DeliveryStatus.delivered
    assert delivery.attempts == 1 and delivery.tries[0].status_code == 200


def test_events_go_only_to_the_organisations_that_may_see_them(app, users):
    with (
        Receiver() as coop,
        Receiver() as coop2,
        Receiver() as buyer,
        Receiver() as office,
        Receiver() as other_office,
    ):
        add_endpoint(users["coop"], coop.url(), ["lot.posted", *ALL_ORDERS])
        add_endpoint(users["coop2"], coop2.url(), ["lot.posted", *ALL_ORDERS])
        add_endpoint(users["buyer"], buyer.url(), ALL_ORDERS)
        add_endpoint(users["official"], office.url(), ["lot.posted"])
        add_endpoint(users["other_official"], other_office.url(), ["lot.posted"])
        lot = make_lot(users["coop"])
        order = orders.place_order(users["buyer"], lot, "1", "t")
        db.session.commit()
        orders.accept(users["coop"], order)
        db.session.commit()
    assert [e["type"] for e in _events(coop)] == ["lot.posted", "order.placed", "order.accepted"]
    assert [e["type"] for e in _events(buyer)] == ["order.placed", "order.accepted"]
    assert [e["type"] for e in _events(office)] == ["lot.posted"]  # in its jurisdiction
    assert coop2.received == [] and other_office.received == []
    # the two sides were sent one and the same event
    assert _events(coop)[1]["id"] == _events(buyer)[0]["id"]
    placed = _events(buyer)[0]["data"]
    assert placed["quantity_g"] == 1_000_000 and placed["status"] == "reserved"
    # nothing of where it goes or who receives it
    text = json.dumps(placed, ensure_ascii=False)
    assert "13800138000" not in text and "address" not in text and "phone" not in text


def test_an_organisation_cannot_subscribe_to_events_it_may_not_have(app, users, receiver):
    with pytest.raises(ValidationFailed) as refused:
        add_endpoint(users["buyer"], receiver.url(), ["lot.posted"])
    assert "events" in refused.value.fields
    with pytest.raises(ValidationFailed):
        add_endpoint(users["official"], receiver.url(), ["order.placed"])
    with pytest.raises(ValidationFailed):
        add_endpoint(users["coop"], receiver.url(), [])


def test_unchosen_events_and_disabled_endpoints_are_not_sent(app, users, receiver):
    endpoint, _secret = add_endpoint(users["coop"], receiver.url(), ["order.placed"])
    lot = make_lot(users["coop"])
    assert receiver.received == []
    partners.switch(users["coop"], endpoint, False)
    db.session.commit()
    assert endpoint.status is EndpointStatus.disabled
    orders.place_order(users["buyer"], lot, "1", "t")
    db.session.commit()
    assert receiver.received == []


# --- retries, failure, replay ---------------------------------------------------------------


def test_retries_back_off_then_fail_after_a_day(app, users, monkeypatch):
    with Receiver(answers=[(503, "busy")]) as receiver:
        add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
        make_lot(users["coop"])  # the first attempt: at once, after the commit
        delivery = db.session.scalar(select(OutgoingDelivery))
        assert delivery.status is DeliveryStatus.pending and delivery.attempts == 1
        start = delivery.tries[0].at
        waits = []
        now = start
        for _ in partners.RETRY_DELAYS:
            db.session.refresh(delivery)
            due = delivery.next_attempt_at
            waits.append(due - now)
            # not a moment early
            assert partners.deliver_due(now=due - timedelta(seconds=1)) == 0
            now = due
            assert partners.deliver_due(now=now) == 1
        db.session.refresh(delivery)
        assert waits == list(partners.RETRY_DELAYS)
        assert waits[:4] == [
            timedelta(minutes=1),
            timedelta(minutes=5),
            timedelta(minutes=30),
            timedelta(hours=2),
        ]
        assert timedelta(hours=20) <= now - start <= timedelta(hours=25)
        assert delivery.status is DeliveryStatus.failed
        assert delivery.attempts == len(partners.RETRY_DELAYS) + 1
        assert delivery.next_attempt_at is None
        assert delivery.last_status_code == 503 and delivery.last_error == "busy"
        assert partners.deliver_due(now=now + timedelta(days=2)) == 0
    assert len(receiver.received) == len(partners.RETRY_DELAYS) + 1


def test_a_client_error_fails_at_once_and_a_replay_sends_the_same_event(app, users):
    with Receiver(answers=[(400, "bad"), (204, "")]) as receiver:
        _endpoint, secret = add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
        make_lot(users["coop"])
        delivery = db.session.scalar(select(OutgoingDelivery))
        assert delivery.status is DeliveryStatus.failed and delivery.attempts == 1
        partners.replay(users["coop"], delivery)
        db.session.commit()  # the replay is sent after the commit
        db.session.refresh(delivery)
        assert delivery.status is DeliveryStatus.delivered and delivery.attempts == 2
        assert [t.status_code for t in delivery.tries] == [400, 204]
    first, second = receiver.received
    assert first.body == second.body  # same event id, same data
    for got in (first, second):
        assert webhooks.verify(secret, got.headers["Produce-Match-Signature"], got.body)


def test_a_timeout_is_retried(app, users):
    import threading

    release = threading.Event()

    def slow(request):
        release.wait(5)
        from werkzeug.wrappers import Response

        return Response("late")

    with Receiver(handler=slow) as receiver:
        app.config["WEBHOOK_TIMEOUT_SECONDS"] = 1
        add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
        make_lot(users["coop"])
        release.set()
        delivery = db.session.scalar(select(OutgoingDelivery))
        assert delivery.status is DeliveryStatus.pending
        assert "timeout" in delivery.last_error and delivery.last_status_code is None


def test_a_rotated_secret_signs_from_then_on(app, users, receiver):
    endpoint, old = add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
    new = partners.rotate_secret(users["coop"], endpoint)
    db.session.commit()
    assert new != old and new.startswith("whsec_")
    make_lot(users["coop"])
    got = receiver.received[0]
    assert webhooks.verify(new, got.headers["Produce-Match-Signature"], got.body)
    assert not webhooks.verify(old, got.headers["Produce-Match-Signature"], got.body)


# --- lots at risk ---------------------------------------------------------------------------


def test_lot_at_risk_is_sent_once_per_lot(app, users, receiver):
    add_endpoint(users["coop"], receiver.url(), ["lot.at_risk"])
    soon = make_lot(users["coop"], spoil_by=(local_today() + timedelta(days=3)).isoformat())
    later = make_lot(users["coop"], spoil_by=(local_today() + timedelta(days=30)).isoformat())
    assert [e["data"]["id"] for e in _events(receiver)] == [soon.id]  # at posting
    assert partners.find_at_risk() == 0
    db.session.commit()
    # a month on, the later lot's turn comes: once
    later.spoil_by = local_today() + timedelta(days=5)
    db.session.commit()
    assert partners.find_at_risk() == 1
    db.session.commit()
    assert partners.find_at_risk() == 0
    db.session.commit()
    assert [e["data"]["id"] for e in _events(receiver)] == [soon.id, later.id]
    assert _events(receiver)[1]["data"]["days_left"] == 5


def test_a_lot_with_a_buyer_is_not_at_risk(app, users, receiver):
    add_endpoint(users["coop"], receiver.url(), ["lot.at_risk"])
    lot = make_lot(users["coop"], spoil_by=(local_today() + timedelta(days=30)).isoformat())
    order = orders.place_order(users["buyer"], lot, "1", "t")
    db.session.commit()
    orders.accept(users["coop"], order)
    lot.spoil_by = local_today() + timedelta(days=2)
    db.session.commit()
    assert partners.find_at_risk() == 0
    assert receiver.received == []


# --- where we may post ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "scheme"),
        ("https://127.0.0.1/hook", "private"),
        ("https://localhost/hook", "private"),
        ("https://10.0.0.8/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/hook", "private"),
        ("https://[::ffff:10.0.0.1]/hook", "private"),
        ("https://user:pw@example.com/hook", "host"),
        ("ftp://example.com/", "scheme"),
    ],
)
def test_production_refuses_private_addresses(url, reason):
    with pytest.raises(webhooks.UnsafeURL) as refused:
        webhooks.check_url(url, production=True)
    assert refused.value.reason == reason


def test_production_accepts_a_public_https_address(monkeypatch):
    monkeypatch.setattr(
        webhooks.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))]
    )
    assert webhooks.check_url("https://partner.example/hook", production=True)
    with pytest.raises(webhooks.UnsafeURL):  # a robot only on its own service's host
        webhooks.check_url("https://partner.example/hook", production=True, robot="wecom")


def test_development_may_post_to_this_machine_only_over_plain_http():
    assert webhooks.check_url("http://127.0.0.1:8080/x", production=False)
    with pytest.raises(webhooks.UnsafeURL):
        webhooks.check_url("http://10.0.0.1/x", production=False)
    with pytest.raises(webhooks.UnsafeURL):
        webhooks.check_url("http://127.0.0.1:8080/x", production=True)


def test_a_production_app_refuses_a_loopback_endpoint(app, users, receiver):
    app.config["PRODUCE_MATCH_ENV"] = "production"
    try:
        with pytest.raises(ValidationFailed) as refused:
            add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
        assert "url" in refused.value.fields
    finally:
        app.config["PRODUCE_MATCH_ENV"] = "development"


def test_an_address_that_turned_private_is_not_posted_to(app, users, receiver):
    add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
    app.config["PRODUCE_MATCH_ENV"] = "production"
    try:
        make_lot(users["coop"])
    finally:
        app.config["PRODUCE_MATCH_ENV"] = "development"
    delivery = db.session.scalar(select(OutgoingDelivery))
    assert delivery.status is DeliveryStatus.failed
    assert "refused address" in delivery.last_error
    assert receiver.received == []


def test_sent_after_commit_only(app, users, receiver):
    add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
    from produce_match.lots import operations as lots

    lots.create_lot(
        users["coop"],
        users["coop"].organisation,
        lots.LotInput(commodity="黑豆", quantity="1", unit="t", price="6", price_unit="kg"),
    )
    db.session.rollback()
    assert db.session.scalar(select(OutgoingDelivery)) is None
    assert receiver.received == []
    assert utcnow()  # the clock the module reads is the database's helper


def test_the_readmes_verification_snippet_verifies_a_real_delivery(app, users, receiver):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Verifying the signature.**") :]
    snippet = section[section.index("```python") + len("```python") : section.index("```\n", 20)]
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    _endpoint, secret = add_endpoint(users["coop"], receiver.url(), ["lot.posted"])
    make_lot(users["coop"])
    got = receiver.received[0]
    header = got.headers["Produce-Match-Signature"]
    assert namespace["verify"](secret, header, got.body)
    assert not namespace["verify"](secret, header, got.body.replace(b"40000000", b"50000000"))
    assert not namespace["verify"]("whsec_wrong", header, got.body)


def test_production_must_name_its_public_site_url():
    from produce_match.partners import site_url_problems

    production = {"PRODUCE_MATCH_ENV": "production"}
    assert site_url_problems({**production, "SITE_URL": "http://127.0.0.1:5000"})
    assert site_url_problems({**production, "SITE_URL": "http://produce.example.cn"})
    assert site_url_problems({**production, "SITE_URL": "https://produce.example.cn"}) == []
    assert site_url_problems({"PRODUCE_MATCH_ENV": "development", "SITE_URL": ""}) == []


@pytest.mark.parametrize(
    "url", ["http://[::1", "https://exa mple.com/", "https://\x00/", "http://127.0.0.1:99999/x"]
)
def test_malformed_addresses_are_refused_not_crashed_on(url):
    for production in (False, True):
        with pytest.raises(webhooks.UnsafeURL):
            webhooks.check_url(url, production=production)
