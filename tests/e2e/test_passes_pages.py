"""The pass pages in a real browser, on a 360 px phone and a 1280 px desktop: they fit the
screen, the driver's QR code reads back from the phone's screen, and the verification page
shows the verdict."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import fits_the_screen, new_phone, screenshot, watch_csp
from tests.e2e.test_delivery_note import decode_qr
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def pass_world(live_server) -> dict[str, Any]:
    """A paid order from Zhangwu with a pending pass, and a haulier's approved pass."""
    from produce_match.accounts.models import Role
    from produce_match.accounts.operations import PlaceInput
    from produce_match.dates import local_today
    from produce_match.extensions import db
    from produce_match.orders import operations as orders
    from produce_match.passes import operations as passes
    from tests.factories import jpeg_bytes, make_lot, make_user, make_world

    with live_server.app.app_context():
        users = make_world()
        haulier = make_user("haulier", Role.haulier, "彰武顺达物流", province="辽宁", county="彰武")
        passes.add_checkpoint(users["official"], "彰武高速出口", "expressway_exit", PlaceInput())
        passes.add_checkpoint(
            users["other_official"], "东湖区界卡口", "county_border", PlaceInput()
        )
        lot = make_lot(users["coop"])
        order = orders.place_order(users["buyer"], lot, "10", "t")
        orders.accept(users["coop"], order)
        orders.mark_paid(order)
        pending = passes.apply(
            users["coop"],
            passes.PassInput(plate="辽J35721", driver_name="王师傅", driver_phone="13941800123"),
            order=order,
        )
        today = local_today()
        approved = passes.apply(
            haulier,
            passes.PassInput(
                plate="辽A12345D",
                driver_name="李师傅",
                driver_phone="13912345678",
                origin=PlaceInput(province="辽宁", county="彰武"),
                destination=PlaceInput(province="江西", county="东湖区"),
                valid_from=today,
                valid_until=today,
                commodity="黑豆",
                quantity="30000",
                unit="斤",
            ),
        )
        passes.approve(users["official"], approved)
        passes.record_step(haulier, approved, "loading", photo=jpeg_bytes())
        db.session.commit()
        return {
            "order": order.id,
            "pending": pending.id,
            "approved": approved.id,
            "code": approved.code,
        }


def _login(page: Any, who: str) -> None:
    page.goto("/login")
    page.locator("#login").fill(who)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.parametrize("width", [360, 1280])
def test_the_pass_pages_fit_and_the_qr_reads_back(browser, live_server, pass_world, width):
    page = new_phone(browser, live_server.url) if width == 360 else None
    if page is None:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="zh-CN", base_url=live_server.url
        )
        page = context.new_page()
    violations = watch_csp(page)
    try:
        _login(page, "coop")
        pages = {
            "order": f"/orders/{pass_world['order']}",
            "new-for-order": f"/passes/new?order={pass_world['order']}",
            "new": "/passes/new",
            "list": "/passes",
            "detail-pending": f"/passes/{pass_world['pending']}",
        }
        for name, path in pages.items():
            page.goto(path)
            assert fits_the_screen(page), name
            screenshot(page, f"passes-{name}-{width}px")
        assert "已等待" in page.locator("main").inner_text()
        page.context.clear_cookies()
        _login(page, "haulier")
        for name, path in {
            "detail-approved": f"/passes/{pass_world['approved']}",
            "print": f"/passes/{pass_world['approved']}/print",
            "show": f"/passes/{pass_world['approved']}/show",
        }.items():
            page.goto(path)
            assert fits_the_screen(page), name
            screenshot(page, f"passes-{name}-{width}px")
        url = f"{live_server.url}/v/{pass_world['code']}"
        shot = Image.open(io.BytesIO(page.locator(".pass-qr svg").screenshot()))
        assert decode_qr(shot) == [url]
        page.context.clear_cookies()
        page.goto(url)
        assert fits_the_screen(page)
        assert "有效" in page.locator(".verdict-band").inner_text()
        assert "李师傅" not in page.content()
        screenshot(page, f"passes-verify-{width}px")
    finally:
        page.context.close()
    assert violations == []
