"""Offices' group robots: WeChat Work and DingTalk wire formats, DingTalk's signing, errcodes,
new urgent lots and the daily at-risk summary."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.messaging import webhooks
from produce_match.partners import operations as partners
from produce_match.partners.models import DeliveryStatus, OutgoingDelivery
from tests.factories import make_lot
from tests.partners.receiver import Receiver


def add_robot(user, url, kind="wecom", **fields):
    data = partners.RobotInput(name="彰武电商群", kind=kind, url=url, **fields)
    robot = partners.create_robot(user, user.organisation, data)
    db.session.commit()
    return robot


def _soon(days: int) -> str:
    return (local_today() + timedelta(days=days)).isoformat()


def test_a_wecom_robot_posts_an_urgent_lot_of_its_jurisdiction(app, users):
    with Receiver(answers=[(200, '{"errcode":0,"errmsg":"ok"}')]) as wecom:
        add_robot(users["official"], wecom.url("/cgi-bin/webhook/send?key=abc"))
        add_robot(users["other_official"], wecom.url("/elsewhere"))
        lot = make_lot(users["coop"], spoil_by=_soon(3))
        make_lot(users["coop"], spoil_by=_soon(40))  # not urgent
        make_lot(users["coop2"], spoil_by=_soon(2))  # another county
        delivery = db.session.scalar(select(OutgoingDelivery))
        assert delivery.status is DeliveryStatus.delivered
    assert len(wecom.received) == 1
    got = wecom.received[0]
    assert got.path == "/cgi-bin/webhook/send" and got.query == {"key": "abc"}
    message = json.loads(got.body)
    assert message["msgtype"] == "markdown" and set(message) == {"msgtype", "markdown"}
    content = message["markdown"]["content"]
    assert lot.title in content
    assert "40 吨" in content and "6.80 元/公斤" in content and "3" in content
    assert f"(http://127.0.0.1:5000/lots/{lot.id})" in content
    assert "道亭村合作社" in content and "彰武" in content


def test_a_signed_dingtalk_robot(app, users):
    secret = "SEC0123456789abcdef"
    with Receiver(answers=[(200, '{"errcode":0,"errmsg":"ok"}')]) as dingtalk:
        add_robot(
            users["official"],
            dingtalk.url("/robot/send?access_token=tok"),
            kind="dingtalk",
            secret=secret,
        )
        lot = make_lot(users["coop"], spoil_by=_soon(1))
    got = dingtalk.received[0]
    assert got.query["access_token"] == "tok"
    stamp = got.query["timestamp"]
    assert abs(int(stamp) - time.time() * 1000) < 60_000  # milliseconds
    digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert got.query["sign"] == base64.b64encode(digest).decode()
    message = json.loads(got.body)
    assert message["msgtype"] == "markdown"
    assert lot.title in message["markdown"]["title"]
    assert f"/lots/{lot.id})" in message["markdown"]["text"]


def test_dingtalks_sign_is_url_encoded():
    url = webhooks.dingtalk_signed_url(
        "https://oapi.dingtalk.com/robot/send?access_token=x", "SECabc", 1700000000000
    )
    digest = hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
    sign = base64.b64encode(digest).decode()
    from urllib.parse import quote_plus

    assert url == (
        "https://oapi.dingtalk.com/robot/send?access_token=x"
        f"&timestamp=1700000000000&sign={quote_plus(sign)}"
    )


@pytest.mark.parametrize(
    ("answer", "status", "retry"),
    [
        ('{"errcode":0,"errmsg":"ok"}', DeliveryStatus.delivered, False),
        ('{"errcode":93000,"errmsg":"invalid webhook url"}', DeliveryStatus.failed, False),
        ('{"errcode":45009,"errmsg":"api freq out of limit"}', DeliveryStatus.pending, True),
        ("<html>gateway</html>", DeliveryStatus.pending, True),
    ],
)
def test_an_errcode_is_a_failure_and_a_rate_limit_waits(app, users, answer, status, retry):
    with Receiver(answers=[(200, answer)]) as wecom:
        add_robot(users["official"], wecom.url("/send?key=k"))
        make_lot(users["coop"], spoil_by=_soon(2))
        delivery = db.session.scalar(select(OutgoingDelivery))
        assert delivery.status is status
        if retry:
            assert delivery.next_attempt_at - delivery.tries[0].at >= timedelta(minutes=1)
        if status is DeliveryStatus.failed:
            assert "93000" in delivery.last_error


def test_a_dingtalk_rate_limit_waits_a_minute(app, users):
    with Receiver(answers=[(200, '{"errcode":130101,"errmsg":"send too fast"}')]) as ding:
        add_robot(users["official"], ding.url("/robot/send?access_token=t"), kind="dingtalk")
        make_lot(users["coop"], spoil_by=_soon(2))
        delivery = db.session.scalar(select(OutgoingDelivery))
        assert delivery.status is DeliveryStatus.pending
        assert delivery.next_attempt_at - delivery.tries[0].at == timedelta(minutes=1)


def test_the_daily_summary(app, users):
    with Receiver(answers=[(200, '{"errcode":0}')]) as wecom:
        robot = add_robot(users["official"], wecom.url("/send?key=k"), summary_hour=8)
        robot.post_urgent = False
        db.session.commit()
        soonest = make_lot(users["coop"], spoil_by=_soon(1), quantity="12", unit="t")
        make_lot(users["coop"], spoil_by=_soon(6), quantity="3", unit="t")
        make_lot(users["coop"], spoil_by=_soon(30), quantity="50", unit="t")  # keeps
        make_lot(users["coop2"], spoil_by=_soon(2), quantity="9", unit="t")  # not its county
        day = local_today()
        seven = datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC) - timedelta(days=1)
        assert partners.post_summaries(now=seven) == 0  # 07:30 in China: not yet
        eight = seven + timedelta(minutes=30)
        assert partners.post_summaries(now=eight) == 1
        db.session.commit()
        assert partners.post_summaries(now=eight + timedelta(hours=3)) == 0  # once a day
        db.session.commit()
    assert len(wecom.received) == 1
    content = json.loads(wecom.received[0].body)["markdown"]["content"]
    assert "彰武县电商办" in content
    assert "2 批" in content and "15 吨" in content
    assert content.index(soonest.title) < content.index("3 吨")  # soonest first
    assert "9 吨" not in content and "50 吨" not in content
    assert f"(http://127.0.0.1:5000/lots/{soonest.id})" in content
    assert "http://127.0.0.1:5000/monitor/at-risk" in content


def test_a_robot_url_must_be_its_services_in_production(app, users):
    from produce_match.errors import ValidationFailed

    app.config["PRODUCE_MATCH_ENV"] = "production"
    try:
        with pytest.raises(ValidationFailed) as refused:
            add_robot(users["official"], "https://example.com/send?key=x")
        assert "url" in refused.value.fields
    finally:
        app.config["PRODUCE_MATCH_ENV"] = "development"


def test_only_dingtalk_robots_take_a_secret(app, users):
    from produce_match.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        add_robot(users["official"], "http://127.0.0.1:9/send?key=x", secret="SECx")
    assert "secret" in refused.value.fields


def test_many_lots_at_risk_at_once_make_one_message(app, users):
    lots = [make_lot(users["coop"], spoil_by=_soon(20 + i)) for i in range(7)]
    with Receiver(answers=[(200, '{"errcode":0}')]) as wecom:
        add_robot(users["official"], wecom.url("/send?key=k"))
        for lot in lots:
            lot.spoil_by = local_today() + timedelta(days=2)
        db.session.commit()
        assert partners.find_at_risk() == 7
        db.session.commit()
        assert partners.find_at_risk() == 0
        db.session.commit()
    assert len(wecom.received) == 1
    content = json.loads(wecom.received[0].body)["markdown"]["content"]
    assert "7 批" in content
    assert content.count("/lots/") == partners.SUMMARY_TOP
    assert "/monitor/at-risk" in content


def test_a_few_lots_at_risk_are_posted_one_by_one(app, users):
    lots = [make_lot(users["coop"], spoil_by=_soon(20 + i)) for i in range(2)]
    with Receiver(answers=[(200, '{"errcode":0}')]) as wecom:
        add_robot(users["official"], wecom.url("/send?key=k"))
        for lot in lots:
            lot.spoil_by = local_today() + timedelta(days=4)
        db.session.commit()
        assert partners.find_at_risk() == 2
        db.session.commit()
    assert len(wecom.received) == 2
