"""Trust between strangers, on phones, in Chinese, on the demo world: the Daoting cooperative
submits its credit code and a photo of its licence (a wrong code first, refused with the reason);
the Zhangwu official verifies it in one tap; after an order completes both sides rate each other;
the lot's page then shows the badge, the track record and the rating; and a lot three days from
spoiling shows its cooperative the rescue ladder's step."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.e2e.conftest import fits_the_screen, new_phone, screenshot, submit, watch_csp
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "demo-pass-2020"  # noqa: S105 - the demo world's published password


def daoting_code() -> str:
    """A credit code for the cooperative, with its check character (GB 32100-2015)."""
    from produce_match.trust.identity import credit_code_check

    first17 = "93210922MA0DT0001"
    return first17 + credit_code_check(first17)


@pytest.fixture
def history(live_server):
    """The demo world, and three orders of the Daoting black beans by the Nanchang buyer, each
    loaded, delivered and completed; the last two already rated by both sides."""
    from produce_match import demo
    from produce_match.accounts.models import User
    from produce_match.extensions import db
    from produce_match.lots.models import Lot
    from produce_match.orders import operations as orders
    from produce_match.search.service import service
    from produce_match.trust import ratings

    with live_server.app.app_context():
        demo.load()
        db.session.commit()
        service().process_queue()
        buyer = db.session.scalar(select(User).where(User.login == "buyer"))
        daoting = db.session.scalar(select(User).where(User.login == "daoting"))
        lot = db.session.scalar(select(Lot).where(Lot.created_by_id == daoting.id).order_by(Lot.id))
        done = []
        for _ in range(3):
            order = orders.place_order(buyer, lot, "2", "t")
            orders.accept(daoting, order)
            orders.mark_paid(order)
            orders.dispatch(daoting, order, "辽J 35721", "139 4180 0123", "2", "t")
            orders.confirm_delivery(buyer, order, "2", "t")
            orders.complete(order, now=order.dispute_until)
            done.append(order)
        for order in done[1:]:
            ratings.rate(buyer, order, 4, ["as_described"])
            ratings.rate(daoting, order, 5, ["paid_promptly"])
        db.session.commit()
        cherries = db.session.scalar(select(Lot.id).where(Lot.title.startswith("金州红灯樱桃")))
        return {"order": done[0].id, "lot": lot.id, "cherries": cherries}


def phone(browser, live_server, login: str):
    page = new_phone(browser, live_server.url)
    violations = watch_csp(page)
    page.goto("/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page, violations


def test_strangers_come_to_trust_each_other(browser, live_server, history, tmp_path):
    # the cooperative asks to be verified: a mistyped code is refused, saying why
    coop, coop_csp = phone(browser, live_server, "daoting")
    coop.goto("/account/verification")
    assert "尚未认证" in coop.content() or "未认证" in coop.content()
    photo = tmp_path / "licence.jpg"
    photo.write_bytes(jpeg_bytes())
    wrong = daoting_code()[:-1] + ("0" if daoting_code()[-1] != "0" else "1")
    coop.locator("#credit_code").fill(wrong)
    coop.locator("#person_name").fill("李支书")
    coop.locator("#photo").set_input_files(str(photo))
    submit(coop.get_by_role("button", name="提交认证"))
    assert "统一社会信用代码校验不通过" in coop.content()
    coop.locator("#credit_code").fill(daoting_code())
    coop.locator("#photo").set_input_files(str(photo))
    assert fits_the_screen(coop)
    screenshot(coop, "trust-journey-01-submit")
    submit(coop.get_by_role("button", name="提交认证"))
    assert "待审核" in coop.content()

    # the Zhangwu official verifies it from the review queue, in one tap
    office, office_csp = phone(browser, live_server, "zhangwu")
    office.goto("/office/verifications")
    claim = office.locator(".card", has_text="道亭村").first
    assert daoting_code() in claim.inner_text()
    assert fits_the_screen(office)
    screenshot(office, "trust-journey-02-review")
    submit(claim.get_by_role("button", name="认证", exact=True))
    coop.goto("/account/verification")
    badge = coop.locator(".badge.verified").first.inner_text()
    assert "已实名认证" in badge and "统一社会信用代码" in badge

    # after the order completed, both sides rate each other
    order_url = f"/orders/{history['order']}"
    coop.goto(order_url)
    coop.get_by_label("5 星（满分 5 星）").check()
    coop.get_by_label("付款及时").check()
    coop.locator("#rating-comment").fill("付款很快，合作愉快。")
    assert fits_the_screen(coop)
    screenshot(coop, "trust-journey-03-rate")
    submit(coop.get_by_role("button", name="提交评价"))
    assert "您的评价" in coop.content() or "你的评价" in coop.content()
    buyer, buyer_csp = phone(browser, live_server, "buyer")
    buyer.goto(order_url)
    assert "付款很快" not in buyer.content()  # sealed until the buyer has rated too
    buyer.get_by_label("5 星（满分 5 星）").check()
    buyer.get_by_label("货品与描述一致").check()
    submit(buyer.get_by_role("button", name="提交评价"))
    assert "付款很快，合作愉快。" in buyer.content()  # now both are revealed

    # the lot's page: the badge says what was verified, the track record and the rating
    buyer.goto(f"/lots/{history['lot']}")
    seller = buyer.locator("main").inner_text()
    assert "已实名认证 · 统一社会信用代码" in seller
    assert "履约记录" in seller and "履约率 100%" in seller
    screenshot(buyer, "trust-journey-04-lot")
    org_link = buyer.locator("main a", has_text="道亭村").first
    submit(org_link)
    org_page = buyer.locator("main").inner_text()
    assert "4.3 分（3 条评价）" in org_page  # 4, 4 and the buyer's 5 just given
    assert fits_the_screen(buyer)

    # a lot three days from spoiling shows its cooperative the rescue step
    cherry, cherry_csp = phone(browser, live_server, "cherry")
    cherry.goto(f"/lots/{history['cherries']}")
    box = cherry.locator("#rescue")
    assert "消费帮扶与捐赠" in box.inner_text()
    assert fits_the_screen(cherry)
    screenshot(cherry, "trust-journey-05-rescue")

    for page, seen in (
        (coop, coop_csp),
        (office, office_csp),
        (buyer, buyer_csp),
        (cherry, cherry_csp),
    ):
        assert seen == []
        page.context.close()
