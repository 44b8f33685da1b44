"""The Daoting black beans paid by Alipay on a phone, in Chinese, at 360 px: the buyer's
browser (a phone's User-Agent) is sent to the Alipay emulator's WAP checkout (its own process,
Alipay's wire format and signatures), pays there, comes back, and the order is paid because
Alipay's signed notification says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.alipay_emulator import Emulator, alipay_emulator  # noqa: F401 (fixture)
from tests.conftest import make_app
from tests.e2e.conftest import (
    LiveServer,
    fits_the_screen,
    new_phone,
    screenshot,
    submit,
    watch_csp,
)
from tests.e2e.test_orders_journey import demo_world, log_in, log_out  # noqa: F401 (fixture)
from tests.e2e.test_payments_journey import wait_until_received

pytestmark = pytest.mark.e2e
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


@pytest.fixture
def live_server(
    database_url: str,
    tmp_path: Path,
    alipay_emulator: Emulator,  # noqa: F811
) -> Iterator[LiveServer]:
    """The site, paying by Alipay through the emulator's own process (as `make run` does)."""
    app = make_app(database_url, tmp_path / "live", **alipay_emulator.settings())
    alipay_emulator.reset()
    with LiveServer(app) as server:
        yield server
    with app.app_context():
        from produce_match.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def android_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A 360 px wide phone browser (its User-Agent says so) speaking Chinese."""
    page = new_phone(browser, live_server.url, user_agent=PHONE_UA)
    yield page
    page.context.close()


def test_daoting_beans_paid_by_alipay_wap_on_a_phone(
    android_page,
    live_server,
    demo_world,  # noqa: F811
    alipay_emulator: Emulator,  # noqa: F811
):
    page = android_page
    violations = watch_csp(page)
    log_in(page, "buyer")
    page.goto("/lots?q=道亭村黑豆")
    page.get_by_role("link", name="彰武道亭村黑豆 40吨 急售").first.click()
    page.locator("#quantity").fill("10")
    page.locator("#unit").select_option("t")
    page.get_by_role("button", name="预订并下单").click()
    page.wait_for_url("**/orders/*")
    order_url = page.url
    log_out(page)

    log_in(page, "daoting")
    page.goto(order_url)
    submit(page.get_by_role("button", name="接受订单"))
    assert "已接受订单" in page.content()
    log_out(page)

    # the buyer pays by Alipay: the phone is sent to the WAP checkout
    log_in(page, "buyer")
    page.goto(order_url)
    panel = page.locator(".payments-panel")
    assert "68,000.00 元" in panel.inner_text()
    panel.get_by_role("button", name="用支付宝付款").click()
    page.wait_for_url(f"{alipay_emulator.gateway_url}?*")
    assert "method=alipay.trade.wap.pay" in page.url and "sign=" in page.url
    assert "支付宝模拟器" in page.content()
    assert "手机网站支付" in page.locator("dl").inner_text()
    assert "68,000.00 元" in page.locator(".amount").inner_text()
    assert fits_the_screen(page)
    screenshot(page, "alipay-01-wap-checkout")
    page.get_by_role("button", name="支付 68,000.00 元").click()
    wait_until_received(page)
    screenshot(page, "alipay-02-receipt")
    page.goto(order_url)
    assert "已付款" in page.locator(".payments-panel").inner_text()
    assert fits_the_screen(page)
    screenshot(page, "alipay-03-order-paid")

    # what the emulator holds is what the site recorded
    with live_server.app.app_context():
        from sqlalchemy import select

        from produce_match.extensions import db
        from produce_match.payments.models import Payment

        payment = db.session.scalars(select(Payment).where(Payment.provider == "alipay")).one()
        trade = alipay_emulator.trade(payment.reference)
        assert trade["status"] == "TRADE_SUCCESS"
        assert trade["total_fen"] == payment.amount_fen == 68_000_00
        assert trade["method"] == "alipay.trade.wap.pay"
        db.session.remove()
    assert violations == []
