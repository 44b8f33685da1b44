"""The office's pass pages in a browser, on a 360 px phone and a 1280 px screen: the queue with
its one-tap decisions, the checkpoints and 熔断 pages, and what checkpoint staff see. The page
never scrolls sideways; screenshots are kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import fits_the_screen, new_phone, screenshot, submit, watch_csp
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

WIDE = {"width": 1280, "height": 800}


@pytest.fixture
def office_world(live_server) -> dict[str, Any]:
    """The test world, a haulier and checkpoint staff in Zhangwu, three passes waiting (one
    for 25 minutes, one for three hours) and one overdue at Donghu."""
    from produce_match.accounts.models import Role
    from produce_match.accounts.operations import PlaceInput
    from produce_match.database import utcnow
    from produce_match.extensions import db
    from produce_match.passes import operations as passes
    from tests.factories import make_user, make_world
    from tests.passes.conftest import shipment

    with live_server.app.app_context():
        world = make_world()
        haulier = make_user(
            "haulier", Role.haulier, "彰武顺达物流有限公司", province="辽宁", county="彰武"
        )
        make_user("gate", Role.checkpoint, "彰武县电商办")
        passes.add_checkpoint(
            world["official"], "长深高速彰武收费站", "expressway_exit", PlaceInput()
        )
        passes.add_checkpoint(
            world["other_official"], "东湖区界检查站", "county_border", PlaceInput()
        )
        now = utcnow()
        made = []
        for plate, minutes in (("辽A12345", 185), ("辽J66666", 25), ("辽B88888", 2)):
            row = passes.apply(haulier, shipment(plate=plate))
            row.created_at = now - timedelta(minutes=minutes)
            made.append(row)
        late = passes.apply(haulier, shipment(plate="辽C20260"))
        passes.approve(world["official"], late)
        late.entered_at = now - timedelta(hours=30)
        late.expected_by = now - timedelta(hours=2)
        db.session.commit()
        passes.flag_overdue()
        db.session.commit()
        return {"first": made[0].id, "second": made[1].id}


def _wide(browser: Any, base_url: str) -> Any:
    context = browser.new_context(viewport=WIDE, locale="zh-CN", base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def _login(page: Any, login: str) -> None:
    page.goto("/login")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    submit(page.locator("form button[type=submit]").last)


def test_the_queue_on_a_phone_decides_in_one_tap(browser, live_server, office_world):
    page = new_phone(browser, live_server.url)
    violations = watch_csp(page)
    _login(page, "official")
    page.goto("/office/passes")
    assert "已等待 3 小时 5 分钟" in page.content()
    assert fits_the_screen(page)
    screenshot(page, "pass-office-queue-phone")
    submit(page.locator(f"form[action='/passes/{office_world['first']}/approve'] button"))
    assert "已批准" in page.locator(".flashes").inner_text()
    form = page.locator(f"form[action='/passes/{office_world['second']}/reject']")
    form.locator("input[name=reason]").fill("驾驶员电话无法接通")
    submit(form.locator("button"))
    assert "不予通过" in page.locator(".flashes").inner_text()
    page.goto("/office/passes?tab=overdue")
    assert page.locator(".pass-late").count() == 1  # both ends see it; Donghu was told
    page.goto("/office/checkpoints")
    assert fits_the_screen(page)
    screenshot(page, "pass-office-checkpoints-phone")
    page.goto("/office/suspensions")
    assert fits_the_screen(page)
    screenshot(page, "pass-office-suspensions-phone")
    page.context.close()
    assert violations == []


def test_the_overdue_tab_and_the_wide_screen(browser, live_server, office_world):
    page = _wide(browser, live_server.url)
    _login(page, "jiangxi")
    page.goto("/office/passes?tab=overdue")
    assert page.locator(".pass-late").count() == 1
    screenshot(page, "pass-office-overdue-wide")
    page.context.close()
    page = _wide(browser, live_server.url)
    _login(page, "official")
    for name, path in (
        ("queue", "/office/passes"),
        ("checkpoints", "/office/checkpoints"),
        ("suspensions", "/office/suspensions"),
    ):
        page.goto(path)
        assert fits_the_screen(page)
        screenshot(page, f"pass-office-{name}-wide")
    page.context.close()


def test_checkpoint_staff_see_only_the_scan(browser, live_server, office_world):
    page = new_phone(browser, live_server.url)
    _login(page, "gate")
    nav = page.locator("nav.nav").inner_text()
    assert "扫码核验" in nav and "订单" not in nav and "审批通行证" not in nav
    page.goto("/office/scan")
    assert "长深高速彰武收费站" in page.content()
    assert fits_the_screen(page)
    screenshot(page, "pass-office-scan-help-phone")
    response = page.goto("/office/passes")
    assert response.status == 403
    page.context.close()
