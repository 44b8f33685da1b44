"""The Jinzhou cherries paid by WeChat Pay's Native code, on a computer, in Chinese: the buyer's
page shows a QR code; the test reads it from the screen with a QR decoder (as the buyer's phone
would), opens what it says in "WeChat" (the emulator's page for that code_url, its own process),
pays there, and the computer's page, looking again by itself, shows the order paid because
WeChat Pay's signed callback said so."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.e2e.conftest import screenshot, submit, watch_csp
from tests.e2e.test_orders_journey import demo_world, log_in, log_out  # noqa: F401 (fixture)
from tests.wechatpay_emulator import (  # noqa: F401 (fixtures)
    Emulator,
    wechat_emulator,
    wechat_live_server,
)

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def live_server(wechat_live_server):  # noqa: F811
    """The site, paying through the WeChat Pay emulator's own process (as `make run` starts it)."""
    return wechat_live_server


@pytest.fixture
def desktop_page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A computer's wide page in a Chinese-speaking browser."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    violations = watch_csp(page)
    yield page
    context.close()
    assert violations == [], "the Content-Security-Policy blocked something"


def read_qr(element: Any) -> str:
    """What the QR code on the screen says, read from a screenshot of it."""
    image = Image.open(io.BytesIO(element.screenshot()))
    found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, "exactly one QR code must be readable on the page"
    return found[0].text


def test_cherries_paid_by_scanning_the_wechat_code_on_a_computer(
    desktop_page,
    browser,
    live_server,
    demo_world,  # noqa: F811
    wechat_emulator: Emulator,  # noqa: F811
):
    page = desktop_page
    log_in(page, "buyer")
    page.goto("/lots?q=樱桃")
    page.get_by_role("link", name="大连金州美早大樱桃 4吨 急售").first.click()
    page.locator("#quantity").fill("100")
    page.locator("#unit").select_option("jin")
    page.get_by_role("button", name="预订并下单").click()
    page.wait_for_url("**/orders/*")
    order_url = page.url
    log_out(page)

    log_in(page, "cherry")
    page.goto(order_url)
    submit(page.get_by_role("button", name="接受订单"))
    assert "已接受订单" in page.content()
    log_out(page)

    # the buyer chooses WeChat Pay: our page with the Native code, the amount, refreshing
    log_in(page, "buyer")
    page.goto(order_url)
    panel = page.locator(".payments-panel")
    assert "1,500.00 元" in panel.inner_text()
    submit(panel.get_by_role("button", name="用微信支付付款"))
    page.wait_for_url("**/payments/*/wechat")
    wechat_page = page.url
    assert "1,500.00 元" in page.locator(".amount").inner_text()
    assert "扫一扫" in page.content()
    assert page.locator('meta[http-equiv="refresh"]').count() == 1
    screenshot(page, "wechatpay-01-native-code")
    code_url = read_qr(page.locator(".wechat-qr svg"))
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")

    # "Continue paying" on the order leads back to the code, never to a weixin:// address
    page.goto(order_url)
    again = page.get_by_role("link", name="继续付款")
    assert again.get_attribute("href").endswith("/wechat")
    page.goto(wechat_page)

    # the buyer's phone: WeChat opens the scanned code (the emulator's page for it) and pays
    phone = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        wechat = phone.new_page()
        wechat.goto(wechat_emulator.page_for(code_url))
        assert "微信支付模拟器" in wechat.content()
        assert "1,500.00 元" in wechat.locator(".amount").inner_text()
        screenshot(wechat, "wechatpay-02-emulator-on-the-phone")
        submit(wechat.get_by_role("button", name="支付 1,500.00 元"))
        assert "这笔款项已支付" in wechat.content()
    finally:
        phone.close()

    # the computer's page looks again by itself and shows the receipt once WeChat Pay said so
    deadline = time.monotonic() + 30
    while "/wechat" in page.url:
        assert time.monotonic() < deadline, "the paid order was never shown"
        page.wait_for_timeout(500)
    page.wait_for_load_state("load")
    assert page.locator(".payment-status").inner_text() == "已收款"
    screenshot(page, "wechatpay-03-receipt")
    page.goto(order_url)
    assert "已付款" in page.locator(".payments-panel").inner_text()
