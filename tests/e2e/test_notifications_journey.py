"""A buyer chooses e-mail for order notices on a phone, gets one, and reads the delivery log."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from devtools.mail_server import MailKeeper, kept, read
from tests.e2e.conftest import fits_the_screen, screenshot, submit
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_buyer_chooses_email_and_reads_what_was_sent(phone_page, live_server, tmp_path):
    from produce_match.extensions import db
    from produce_match.notifications import operations as notifications
    from tests.factories import make_world

    folder = tmp_path / "mail"
    smtp = Controller(MailKeeper(folder), hostname="127.0.0.1", port=_port())
    smtp.start()
    app = live_server.app
    app.config.update(
        NOTIFICATION_CHANNELS=("email",),
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        SITE_URL=live_server.url,
    )
    try:
        with app.app_context():
            users = make_world()
            users["buyer"].email = "caigou@nanchang.example.cn"
            db.session.commit()
            buyer_id = users["buyer"].id

        page = phone_page
        page.goto("/login")
        page.locator("#login").fill("buyer")
        page.locator("#password").fill(PASSWORD)
        submit(page.locator("main form button[type=submit]"))
        page.goto("/account")
        page.get_by_role("link", name="通知设置").click()
        expect(page.locator("h1")).to_have_text("通知设置")
        assert page.get_by_label("订单 · 邮件").is_checked() is False
        page.get_by_label("订单 · 邮件").check()
        page.get_by_label("开启免打扰时段：夜间不发短信和邮件").check()
        page.get_by_label("开始").fill("23:00")
        page.get_by_label("结束").fill("06:30")
        assert fits_the_screen(page)
        screenshot(page, "notifications-01-settings-phone")
        submit(page.get_by_role("button", name="保存"))
        expect(page.locator(".flashes")).to_contain_text("通知设置已保存")
        assert page.get_by_label("订单 · 邮件").is_checked()
        assert page.get_by_label("开始").input_value() == "23:00"

        with app.app_context():
            from produce_match.accounts.models import User
            from produce_match.notifications import preferences

            buyer = db.session.get(User, buyer_id)
            # quiet hours off again: the notice must not wait for the clock's real hour
            preferences.save(buyer, buyer, {}, None)
            notifications.notify(
                [buyer],
                "payment.refunded",
                {"order": 7, "lot": "彰武黑豆", "amount_fen": 1234500},
                url="/orders/7",
            )
            db.session.commit()
        (message,) = [read(p) for p in kept(folder)]
        assert message["To"] == "caigou@nanchang.example.cn"
        assert f"{live_server.url}/orders/7" in message.get_body(("plain",)).get_content()

        page.goto("/account")
        page.get_by_role("link", name="发送记录").click()
        row = page.locator("tr.delivery").first
        expect(row).to_contain_text("邮件")
        expect(row).to_contain_text("已发送")
        expect(row).to_contain_text("订单 7（“彰武黑豆”）已向您退款 12,345.00 元")
        assert fits_the_screen(page)
        screenshot(page, "notifications-02-log-phone")

        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto("/account/notifications")
        screenshot(page, "notifications-03-settings-wide")
    finally:
        smtp.stop()
