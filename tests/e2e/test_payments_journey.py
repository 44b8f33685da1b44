"""The Daoting black beans, from the reservation through the sandbox checkout to the payout,
on a phone, in Chinese: the buyer pays at the gateway's page (its own process), the
order is paid because the gateway says so, 9.8 of 10 t arrive and 0.2 t is refunded, and the
village receives the rest when the order completes."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import fits_the_screen, screenshot, submit, watch_csp
from tests.e2e.test_orders_journey import demo_world, log_in, log_out  # noqa: F401 (fixture)
from tests.gateway import Gateway, gateway, gateway_live_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_server(gateway_live_server):  # noqa: F811
    """The site, paying through the sandbox gateway's own process (as `make run` starts it)."""
    return gateway_live_server


def wait_until_received(page: Any) -> None:
    """Back on the site from the checkout: the browser's return proves nothing and a page never
    asks the gateway nor writes; the receipt shows the payment as known and refreshes itself
    until the gateway's notification has recorded it."""
    page.wait_for_url("**/payments/*")
    deadline = time.monotonic() + 30
    while page.locator(".payment-status").inner_text() != "已收款":
        assert time.monotonic() < deadline, "the payment was never shown as received"
        assert "自动刷新" in page.content()  # a pending payment's page looks again by itself
        page.wait_for_timeout(500)


def test_daoting_beans_from_reservation_through_checkout_to_payout(
    phone_page,
    live_server,
    demo_world,  # noqa: F811
    gateway: Gateway,  # noqa: F811
):
    sandbox = gateway
    page = phone_page
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

    # the buyer pays online: the sandbox gateway's own checkout page
    log_in(page, "buyer")
    page.goto(order_url)
    panel = page.locator(".payments-panel")
    assert "68,000.00 元" in panel.inner_text()
    assert "未付款" in panel.inner_text()
    screenshot(page, "payments-01-order-to-pay")
    panel.get_by_role("button", name="在线支付").click()
    page.wait_for_url(f"{sandbox.url}/checkout/*")
    assert "沙箱支付网关" in page.content()
    assert "68,000.00 元" in page.locator(".amount").inner_text()
    assert fits_the_screen(page)
    screenshot(page, "payments-02-sandbox-checkout")
    page.get_by_role("button", name="支付 68,000.00 元").click()
    wait_until_received(page)
    screenshot(page, "payments-03-receipt")
    page.goto(order_url)
    assert "已付款" in page.locator(".payments-panel").inner_text()
    log_out(page)

    # the village loads and ships 10 t
    log_in(page, "daoting")
    page.goto(order_url)
    page.locator("#dispatch-vehicle_plate").fill("辽J 35721")
    page.locator("#dispatch-driver_phone").fill("13941800123")
    submit(page.get_by_role("button", name="登记发货"))
    assert "发货已登记" in page.content()
    log_out(page)

    # 9.8 t arrive: 0.2 t is refunded to the buyer at once
    log_in(page, "buyer")
    page.goto(order_url)
    page.locator("#confirm-delivery-accepted_quantity").fill("9.8")
    page.locator("#confirm-delivery-unit").select_option("t")
    submit(page.get_by_role("button", name="确认收货"))
    assert "已确认收货" in page.content()
    # the refund is sent to the gateway just after the commit: look again until it is done
    deadline = time.monotonic() + 30
    while True:
        page.reload()
        panel = page.locator(".payments-panel").inner_text()
        if "已付款，部分退款" in panel or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    assert "已退给买方" in panel and "1,360.00 元" in panel
    assert "已付款，部分退款" in panel
    screenshot(page, "payments-04-refunded")
    log_out(page)

    # the dispute window closes: the order completes and the village is paid out
    with live_server.app.app_context():
        from produce_match.database import utcnow
        from produce_match.extensions import db
        from produce_match.orders import operations as orders
        from produce_match.orders.models import DISPUTE_WINDOW
        from produce_match.payments import service

        counts = orders.expire_due(now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1))
        db.session.commit()
        assert counts.completed == 1
        service.reconcile()  # what cron does every minute
        db.session.remove()

    log_in(page, "daoting")
    page.goto(order_url)
    panel = page.locator(".payments-panel").inner_text()
    assert "已结算给合作社" in panel and "66,640.00 元" in panel
    assert "合作社应得货款" in panel and "流水号 po_" in panel
    page.get_by_role("link", name="资金").click()
    assert "66,640.00 元" in page.locator(".facts").inner_text()
    assert fits_the_screen(page)
    screenshot(page, "payments-05-village-paid")
    assert violations == []
