"""Every officials' page on a 360 px phone and a 1280 px screen, in Chinese and in English, on
the demo world with a deal, its money and a reopened ledger entry: the page never scrolls
sideways (a wide table scrolls inside its own box), chart labels are at least 12 px on the phone
and not oversized on the wide screen, and an amount never wraps away from its unit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import screenshot, submit
from tests.e2e.test_orders_journey import DEMO_PASSWORD, demo_world  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

SCREENS = {"phone": {"width": 360, "height": 740}, "wide": {"width": 1280, "height": 800}}
LOCALES = {"zh": "zh-CN", "en": "en-US"}
#: on a wide screen a label larger than this is oversized (the body text is 16 px)
LARGEST_LABEL_PX = 16

#: an amount with its unit, as units.py writes them: "40 吨", "6.80 元/公斤", "272,000.00 元",
#: "1.5万斤", "40 t", "6.80 yuan/kg"
UNITS = "元/公斤|元/斤|元/吨|元|吨|公斤|斤|yuan/kg|yuan/t|yuan/jin|yuan|kg|t|jin"
AMOUNT = rf"\d[\d,]*(?:\.\d+)?(?: (?:{UNITS})|万斤)(?![A-Za-z])"
#: every text node in <main> that holds an amount must sit in an element that does not wrap;
#: answers the offending texts (lots' titles, the cooperatives' own words, are left out)
AMOUNTS_THAT_MAY_WRAP = """(pattern) => {
  const amount = new RegExp(pattern);
  const skip = "svg, option, script, title, a[href^='/lots/']";
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  const bad = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!amount.test(node.data) || parent.closest(skip)) continue;
    const wraps = !["nowrap", "pre"].includes(getComputedStyle(parent).whiteSpace);
    if (wraps) bad.push(node.data.trim());
  }
  return bad;
}"""

#: the rendered size of every chart label, in CSS pixels (its font size times the scale of
#: its SVG on the screen)
LABEL_SIZES = """() => [...document.querySelectorAll("svg.chart text.chart-label")].map(
  (t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"""


@pytest.fixture
def officials_world(live_server, demo_world) -> dict[str, Any]:  # noqa: F811
    """The demo world plus one delivered deal of the Daoting beans (paid by transfer) and a
    ledger entry that was closed and reopened."""
    from sqlalchemy import select

    from produce_match.accounts.models import User
    from produce_match.extensions import db
    from produce_match.lots.models import Lot
    from produce_match.monitor import operations as monitor
    from produce_match.orders import operations as orders
    from produce_match.payments import operations as payments
    from produce_match.payments import service
    from produce_match.payments.models import Payment

    with live_server.app.app_context():
        user = {u.login: u for u in db.session.scalars(select(User))}
        coop, buyer, official = user["daoting"], user["buyer"], user["zhangwu"]
        beans = db.session.scalar(select(Lot).where(Lot.title.contains("道亭村黑豆")))
        order = orders.place_order(buyer, beans, "10", "t")
        db.session.commit()
        orders.accept(coop, order)
        db.session.commit()
        started = service.create_payment(buyer, order, "transfer")
        payment = db.session.get(Payment, started.id)
        payments.record_transfer(buyer, payment, "南昌粮油 工商银行")
        payments.confirm_transfer(coop, payment)
        db.session.commit()
        orders.dispatch(coop, order, "辽J35721", "13941800123", "10", "t")
        db.session.commit()
        orders.confirm_delivery(buyer, order, "9.8", "t")
        db.session.commit()
        problem = monitor.raise_problem(
            coop, coop.organisation, "transport", "外省货车进不了村，需要办理通行证。", lot=beans
        )
        monitor.assign(official, problem, official)
        monitor.close(official, problem, "通行证已办好，货车已进村装车。")
        monitor.reopen(coop, problem, "第二辆车又被拦在县界检查站。")
        db.session.commit()
        ids = {"order": order.id, "problem": problem.id, "county": beans.county_code}
        db.session.remove()
    return ids


def _pages(ids: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "zhangwu": [
            "/monitor/",
            "/monitor/at-risk",
            "/monitor/deals",
            f"/monitor/deals/{ids['order']}",
            "/monitor/problems",
            f"/monitor/problems/{ids['problem']}",
            "/monitor/problems/new",
            "/monitor/prices",
            "/match/plan",
            "/proposals",
        ],
        # a province office: the place picker, and a county of its province
        "liaoning": ["/monitor/", f"/monitor/at-risk?county={ids['county']}", "/monitor/prices"],
    }


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("screen", ["phone", "wide"])
def test_every_officials_page_fits_the_screen(browser, live_server, officials_world, lang, screen):
    context = browser.new_context(
        viewport=SCREENS[screen],
        locale=LOCALES[lang],
        base_url=live_server.url,
        device_scale_factor=1,
        is_mobile=screen == "phone",
        has_touch=screen == "phone",
    )
    page = context.new_page()
    page.set_default_timeout(30000)
    problems: list[str] = []
    labels_seen = amounts_seen = 0
    try:
        for login, paths in _pages(officials_world).items():
            page.goto("/login")
            page.locator("#login").fill(login)
            page.locator("#password").fill(DEMO_PASSWORD)
            page.locator("main form button[type=submit]").click()
            page.wait_for_url(lambda url: "/login" not in url)
            for path in paths:
                response = page.goto(path)
                assert response is not None and response.status == 200, (login, path)
                where = f"{login} {path} ({lang}, {screen})"
                scroll = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
                if scroll[0] > scroll[1]:
                    problems.append(f"{where}: the page is {scroll[0]} px wide")
                sizes = page.evaluate(LABEL_SIZES)
                labels_seen += len(sizes)
                if screen == "phone" and sizes and min(sizes) < 12:
                    problems.append(f"{where}: chart labels of {min(sizes):.1f} px")
                if screen == "wide" and sizes and max(sizes) > LARGEST_LABEL_PX:
                    problems.append(f"{where}: chart labels of {max(sizes):.1f} px")
                amounts_seen += page.locator("main .amount").count()
                for text in page.evaluate(AMOUNTS_THAT_MAY_WRAP, AMOUNT):
                    problems.append(f"{where}: may wrap the unit of {text!r}")
                name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
                screenshot(page, f"officials-pages-{lang}-{screen}-{login}-{name or 'home'}")
            submit(page.get_by_role("button", name="退出登录" if lang == "zh" else "Log out"))
    finally:
        context.close()
    assert labels_seen >= 6  # the dashboard's three charts, for both offices
    assert amounts_seen >= 50  # what the amounts check looked at
    assert problems == []
