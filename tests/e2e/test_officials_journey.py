"""On the demo world, on a phone, in Chinese: the Zhangwu official finds the Daoting black beans
among the lots at risk, proposes the Nanchang buyer, both parties accept, the buyer pays at the
sandbox gateway, the village ships and the buyer confirms; when the order completes (the
system's timer, run here as cron would) the official sees the tonnes and the yuan paid to
Daoting village on the dashboard and in the exported report (asked for, built by the
worker, downloaded from its page)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.e2e.conftest import fits_the_screen, screenshot, submit
from tests.e2e.test_orders_journey import demo_world, log_in, log_out  # noqa: F401 (fixture)
from tests.e2e.test_payments_journey import wait_until_received
from tests.gateway import Gateway, gateway, gateway_live_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_server(gateway_live_server):  # noqa: F811
    """The site, paying through the sandbox gateway's own process (as `make run` starts it)."""
    return gateway_live_server


NANCHANG = "江西南昌粮油批发有限公司"


def test_zhangwu_official_brokers_the_beans_and_sees_daoting_paid(
    phone_page,
    live_server,
    demo_world,  # noqa: F811
    gateway: Gateway,  # noqa: F811
):
    sandbox = gateway
    page = phone_page
    log_in(page, "zhangwu")
    page.get_by_role("link", name="政务工作台").first.click()
    page.get_by_role("link", name="风险批次").first.click()
    beans = page.locator(
        "section.at-risk", has=page.get_by_role("link", name="彰武道亭村黑豆 40吨 急售")
    )
    assert "个匹配的买家" in beans.inner_text()
    assert fits_the_screen(page)
    beans.scroll_into_view_if_needed()
    screenshot(page, "officials-01-lots-at-risk")
    match = beans.locator(".match", has_text=NANCHANG)
    match.get_by_role("button", name="向该买家推荐 40 吨").click()
    page.wait_for_url("**/proposals/*")
    proposal_url = page.url
    log_out(page)

    for name in ("daoting", "buyer"):
        log_in(page, name)
        page.goto(proposal_url)
        submit(page.get_by_role("button", name="接受"))
        assert "您的答复已记录" in page.locator(".flashes").inner_text()
        log_out(page)

    # the buyer pays at the sandbox gateway's checkout
    log_in(page, "buyer")
    page.goto("/orders")
    page.locator("main table a[href^='/orders/']").first.click()
    page.wait_for_url("**/orders/*")
    order_url = page.url
    panel = page.locator(".payments-panel")
    assert "272,000.00 元" in panel.inner_text()
    panel.get_by_role("button", name="在线支付").click()
    page.wait_for_url(f"{sandbox.url}/checkout/*")
    page.get_by_role("button", name="支付 272,000.00 元").click()
    wait_until_received(page)
    log_out(page)

    log_in(page, "daoting")
    page.goto(order_url)
    page.locator("#dispatch-vehicle_plate").fill("辽J 35721")
    page.locator("#dispatch-driver_phone").fill("13941800123")
    submit(page.get_by_role("button", name="登记发货"))
    assert "发货已登记" in page.content()
    log_out(page)

    log_in(page, "buyer")
    page.goto(order_url)
    page.locator("#confirm-delivery-accepted_quantity").fill("40")
    page.locator("#confirm-delivery-unit").select_option("t")
    submit(page.get_by_role("button", name="确认收货"))
    assert "已确认收货" in page.content()
    log_out(page)

    # not the official's step: the dispute window closes and the payout is sent (cron's work)
    with live_server.app.app_context():
        from produce_match.database import utcnow
        from produce_match.extensions import db
        from produce_match.orders import operations as orders
        from produce_match.orders.models import DISPUTE_WINDOW
        from produce_match.payments import service

        counts = orders.expire_due(now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1))
        db.session.commit()
        assert counts.completed == 1
        service.reconcile()
        db.session.remove()

    log_in(page, "zhangwu")
    page.goto("/monitor/")
    assert page.locator("#kg-delivered").inner_text() == "40 吨"
    assert page.locator("#paid-out").inner_text() == "272,000.00 元"
    # 6.80 元/公斤 against the local 6.00 元/公斤 (the demo's reference price)
    assert "（+13.3%）" in page.locator("#premium").inner_text()  # Chinese parentheses
    row = page.locator("#by-place tr", has_text="道亭村")
    assert "272,000.00 元" in row.inner_text()
    assert page.locator("svg.chart").count() == 3
    assert fits_the_screen(page)
    screenshot(page, "officials-02-dashboard-paid")

    # the report is a job: the button asks for it, its page shows it built, then the file
    submit(page.get_by_role("button", name="完整报表（XLSX）"))
    assert "/monitor/exports/" in page.url
    assert "已完成 5 / 5 张工作表" in page.locator(".export-job").inner_text()
    screenshot(page, "officials-02b-export-ready")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"^下载 report-")).click()
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    summary = {r[0].value: r[1].value for r in book["汇总"].iter_rows(min_row=2)}
    assert summary["向村里结算（分）"] == 27_200_000
    payouts = [
        [c.value for c in r]
        for r in book["付款记录"].iter_rows(min_row=2)
        if r[3].value == "结算给合作社"
    ]
    assert len(payouts) == 1 and payouts[0][6] == "道亭村" and payouts[0][8] == 27_200_000


def test_the_ledger_from_a_lot_at_risk_to_its_closing_seen_by_the_village(
    phone_page,
    live_server,
    demo_world,  # noqa: F811
):
    page = phone_page
    log_in(page, "zhangwu")
    page.goto("/monitor/at-risk")
    beans = page.locator(
        "section.at-risk", has=page.get_by_role("link", name="彰武道亭村黑豆 40吨 急售")
    )
    beans.get_by_role("link", name="登记台账问题").click()
    page.locator("#category").select_option("transport")
    page.locator("#description").fill("外省货车进不了村，需要办理通行证。")
    submit(page.get_by_role("button", name="登记入台账"))
    assert "问题已登记入台账" in page.locator(".flashes").inner_text()
    entry_url = page.url
    submit(page.get_by_role("button", name="交办"))
    assert page.locator(".problem-status").inner_text() == "已交办"
    page.locator("#note").fill("已联系交通局，通行证网上办理中。")
    page.get_by_role("button", name="记录跟进").click()
    page.locator("#outcome").fill("通行证已办好，货车已进村装车。")
    submit(page.get_by_role("button", name="销号"))
    assert page.locator(".problem-status").inner_text() == "已销号"
    assert fits_the_screen(page)
    screenshot(page, "officials-03-ledger-closed")
    page.goto("/monitor/problems")
    assert "共发现问题 1 个，已解决 1 个" in page.locator("#ledger-counts").inner_text()
    log_out(page)

    log_in(page, "daoting")
    page.get_by_role("link", name="问题台账").first.click()
    page.locator(f"a[href='{entry_url.split(live_server.url)[-1]}']").click()
    text = page.locator("main").inner_text()
    assert "已联系交通局" in text and "通行证已办好" in text
    assert fits_the_screen(page)
    screenshot(page, "officials-04-village-sees-its-entry")
