"""On a 360 px phone in Chinese: the Zhangwu office adds a WeChat Work group robot and sends a
test message; the Daoting cooperative adds a webhook, copies its secret, posts nothing yet, and
a lot it then posts reaches the partner's server signed with that secret."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from produce_match.messaging import webhooks
from tests.e2e.conftest import fits_the_screen, screenshot, submit
from tests.e2e.test_orders_journey import demo_world, log_in, log_out  # noqa: F401 (fixture)
from tests.partners.receiver import Receiver

pytestmark = pytest.mark.e2e


def test_a_robot_for_the_office_and_a_webhook_for_the_cooperative(
    phone_page,
    live_server,
    demo_world,  # noqa: F811
):
    from produce_match.accounts.models import User
    from produce_match.extensions import db
    from tests.factories import make_lot

    page = phone_page
    with Receiver(answers=[(200, '{"errcode":0,"errmsg":"ok"}')]) as server:
        log_in(page, "zhangwu")
        page.goto("/account")
        submit(page.get_by_role("link", name="群机器人"))
        page.get_by_label("名称").fill("彰武电商群")
        page.get_by_label("Webhook 地址").fill(server.url("/cgi-bin/webhook/send?key=demo"))
        submit(page.get_by_role("button", name="添加"))
        expect(page.get_by_role("heading", name="彰武电商群")).to_be_visible()
        submit(page.get_by_role("button", name="发送测试消息"))
        expect(page.locator("#log")).to_contain_text("已送达")
        assert fits_the_screen(page)
        screenshot(page, "partners-robot-phone")
        message = json.loads(server.received[0].body)
        assert message["msgtype"] == "markdown"
        assert "彰武县电子商务办公室" in message["markdown"]["content"]
        log_out(page)

        log_in(page, "daoting")
        page.goto("/organisation/webhooks")
        page.get_by_label("推送地址（URL）").fill(server.url("/hooks"))
        page.get_by_label("发布了新货源 · lot.posted").check()
        submit(page.get_by_role("button", name="添加"))
        secret = page.locator("code.token").inner_text().strip()
        assert secret.startswith("whsec_")
        assert fits_the_screen(page)
        screenshot(page, "partners-webhook-phone")

        with live_server.app.app_context():
            coop = db.session.scalar(db.select(User).where(User.login == "daoting"))
            lot = make_lot(coop)
            lot_id = lot.id
        got = server.received[-1]
        assert got.path == "/hooks"
        event = json.loads(got.body)
        assert event["type"] == "lot.posted" and event["data"]["id"] == lot_id
        assert webhooks.verify(secret, got.headers["Produce-Match-Signature"], got.body)
        page.goto("/organisation/webhooks")
        submit(page.get_by_role("link", name=server.url("/hooks")))
        expect(page.locator("#log")).to_contain_text("lot.posted")
        expect(page.locator("#log")).to_contain_text("已送达")
