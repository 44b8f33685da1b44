"""On the demo world: the Daoting black beans show ranked buyers, a buyer's demand shows ranked
lots, and the Zhangwu official's plan allocates the beans and sends a proposal that both
parties accept, which places the order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from produce_match import demo
from produce_match.demands.models import Demand
from produce_match.extensions import db
from produce_match.lots.models import Lot
from tests.e2e.conftest import fits_the_screen, screenshot, submit

pytestmark = pytest.mark.e2e


def _log_in(page, name):
    page.goto("/login")
    page.locator("#login").fill(name)
    page.locator("#password").fill(demo.DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/")


def _log_out(page):
    submit(page.get_by_role("button", name="退出登录"))


def test_beans_meet_their_buyers_and_the_plan(phone_page, live_server):
    with live_server.app.app_context():
        demo.load()
        db.session.commit()
        beans = db.session.scalar(select(Lot).where(Lot.title.contains("道亭村黑豆")))
        nanchang = db.session.scalar(
            select(Demand)
            .join(Demand.buyer)
            .where(Demand.commodity_id == beans.commodity_id)
            .order_by(Demand.id)
        )
        lot_id, demand_id = beans.id, nanchang.id
    page = phone_page

    # the cooperative sees who is looking for its beans, and why
    _log_in(page, "daoting")
    page.goto(f"/lots/{lot_id}")
    matches = page.locator("#matches")
    assert "正在求购的买家" in matches.inner_text()
    assert matches.locator(".match").count() >= 3
    text = matches.inner_text()
    assert "江西南昌粮油批发有限公司" in text
    assert "价格在买家上限之内" in text and "公里" in text and "天后变质" in text
    assert "价格低于上限" not in text  # the buyer's maximum is not the cooperative's to know
    assert fits_the_screen(page)
    matches.scroll_into_view_if_needed()
    screenshot(page, "matching-01-lot-buyers")
    _log_out(page)

    # the buyer sees the lots that fit its demand
    _log_in(page, "buyer")
    page.get_by_role("link", name="我的求购").first.click()
    assert page.locator(f"a[href='/demands/{demand_id}']").count() == 1
    page.locator(f"a[href='/demands/{demand_id}']").click()
    lots = page.locator("#matches")
    assert "道亭村黑豆" in lots.inner_text()
    assert fits_the_screen(page)
    screenshot(page, "matching-02-demand-lots")
    _log_out(page)

    # the Zhangwu official's plan allocates every bean, and proposes one allocation
    _log_in(page, "zhangwu")
    page.get_by_role("link", name="调配方案").first.click()
    section = page.locator(".plan-lot", has=page.locator(f"a[href='/lots/{lot_id}']"))
    assert section.locator(".match").count() >= 1
    assert "江西南昌粮油批发有限公司" in page.locator("main").inner_text()
    screenshot(page, "matching-03-plan")
    first = section.locator(".match").first
    first.get_by_role("button", name="向双方发出建议").click()
    page.wait_for_url("**/proposals/*")
    assert "撮合建议已发给采购商和合作社" in page.locator(".flashes").inner_text()
    proposal_url = page.url
    _log_out(page)

    # both parties accept: the order is placed
    for name in ("daoting", "buyer"):
        _log_in(page, name)
        page.goto(proposal_url)
        submit(page.get_by_role("button", name="接受"))
        assert "您的答复已记录" in page.locator(".flashes").inner_text()
        _log_out(page)
    _log_in(page, "zhangwu")
    page.goto(proposal_url)
    assert "已下单" in page.locator("main").inner_text()
    screenshot(page, "matching-04-proposal-ordered")
