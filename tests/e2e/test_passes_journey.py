"""The truck gets through, on phones, in Chinese, on the demo world: daoting applies for a
transport pass at dispatch; the Zhangwu official approves it on a phone; the Zhangwu checkpoint
officer scans the printed pass (a real decoder reads its QR code) and records the exit; the
buyer's county (Donghu) records the entry; the buyer confirms the delivery, and the pass's
timeline shows all four steps."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.e2e.conftest import fits_the_screen, new_phone, screenshot, submit, watch_csp
from tests.e2e.test_delivery_note import decode_qr, rasterise_pdf
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "demo-pass-2020"  # noqa: S105 - the demo world's published password


@pytest.fixture
def paid_order(live_server):
    """The demo world, and 10 t of the Daoting black beans ordered by the Nanchang buyer
    (Donghu district), accepted and paid (the payment side's confirmation, recorded here)."""
    from produce_match import demo
    from produce_match.accounts.models import User
    from produce_match.extensions import db
    from produce_match.lots.models import Lot
    from produce_match.orders import operations as orders
    from produce_match.search.service import service

    with live_server.app.app_context():
        demo.load()
        db.session.commit()
        service().process_queue()
        buyer = db.session.scalar(select(User).where(User.login == "buyer"))
        daoting = db.session.scalar(select(User).where(User.login == "daoting"))
        lot = db.session.scalar(select(Lot).where(Lot.created_by_id == daoting.id).order_by(Lot.id))
        order = orders.place_order(buyer, lot, "10", "t")
        orders.accept(daoting, order)
        orders.mark_paid(order)
        db.session.commit()
        return order.id


def log_in(page, login: str) -> None:
    page.goto("/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def phone(browser, live_server, login: str):
    page = new_phone(browser, live_server.url)
    violations = watch_csp(page)
    log_in(page, login)
    return page, violations


def test_a_pass_from_dispatch_to_delivery(browser, live_server, paid_order, tmp_path):
    order_url = f"/orders/{paid_order}"

    # the cooperative, about to load, asks for a pass from the order's dispatch step
    coop, coop_csp = phone(browser, live_server, "daoting")
    coop.goto(order_url)
    assert "已付款：请装车并登记发货" in coop.content()
    coop.locator(".order-passes").get_by_role("link", name="办理通行证").click()
    coop.wait_for_url("**/passes/new?order=*")
    form = coop.locator("main form").first
    assert "彰武" in form.inner_text() and "东湖区" in form.inner_text()  # fixed by the order
    coop.locator("#plate").fill("辽J 35721")
    coop.locator("#driver_name").fill("王师傅")
    coop.locator("#driver_phone").fill("139 4180 0123")
    assert fits_the_screen(coop)
    screenshot(coop, "passes-journey-01-apply")
    submit(coop.get_by_role("button", name="提交申请"))
    assert "/passes/" in coop.url
    number = coop.locator(".pass-number, h1").first.inner_text()
    assert "210922-" in coop.content()
    assert "待审批" in coop.content()
    pass_url = coop.url
    screenshot(coop, "passes-journey-02-pending")

    # and ships: the truck, the weighbridge's weight and a photo of the loading
    coop.goto(order_url)
    coop.locator("#dispatch-vehicle_plate").fill("辽J35721")
    coop.locator("#dispatch-driver_phone").fill("13941800123")
    coop.locator("#dispatch-place").fill("道亭村村部仓库")
    submit(coop.get_by_role("button", name="登记发货"))
    assert "发货已登记" in coop.content()
    photo = tmp_path / "loading.jpg"
    photo.write_bytes(jpeg_bytes())
    coop.locator("#photos-photos").set_input_files(str(photo))
    coop.locator("#photos-place").fill("道亭村村部仓库")
    submit(coop.get_by_role("button", name="上传照片"))
    assert "照片已添加" in coop.content()

    # the Zhangwu official approves it on a phone, in one tap, from the queue
    official, official_csp = phone(browser, live_server, "zhangwu")
    official.get_by_role("link", name="通行证").first.click()
    card = official.locator("article, li, .card").filter(has_text="辽J35721").first
    assert "已等待" in card.inner_text()
    assert fits_the_screen(official)
    screenshot(official, "passes-journey-03-queue")
    submit(card.get_by_role("button", name="批准"))
    assert "辽J35721" not in official.locator(".pass-queue, main").first.inner_text() or (
        "已批准" in official.content()
    )
    official.context.close()

    # the cooperative prints the pass; a real decoder reads the printed QR code
    coop.goto(pass_url)
    assert "已批准" in coop.content()
    coop.get_by_role("link", name="打印通行证").click()
    coop.wait_for_url("**/print")
    verify_url = coop.locator(".track").inner_text().strip()
    assert "/v/" in verify_url
    pdf = coop.pdf(format="A4", print_background=True)
    assert decode_qr(rasterise_pdf(pdf, tmp_path)) == [verify_url]

    # the Zhangwu checkpoint officer scans it and records the exit, in two taps
    gate, gate_csp = phone(browser, live_server, "zhangwu_gate")
    gate.goto(verify_url)
    assert "有效" in gate.content()
    assert "王师傅" not in gate.content() and "13941800123" not in gate.content()
    assert "长深高速彰武收费站" in gate.locator(".scan-panel").inner_text()
    assert fits_the_screen(gate)
    screenshot(gate, "passes-journey-04-scan")
    submit(gate.get_by_role("button", name="记录出口（出）"))
    assert "已记录" in gate.content()
    gate.context.close()

    # the buyer's county records the entry at its border
    entry, entry_csp = phone(browser, live_server, "donghu_gate")
    entry.goto(verify_url)
    assert "东湖区界检查站" in entry.locator(".scan-panel").inner_text()
    submit(entry.get_by_role("button", name="记录入口（进）"))
    assert "已记录" in entry.content()
    entry.context.close()

    # the buyer confirms what arrived
    buyer, buyer_csp = phone(browser, live_server, "buyer")
    buyer.goto(order_url)
    buyer.locator("#confirm-delivery-accepted_quantity").fill("10")
    buyer.locator("#confirm-delivery-unit").select_option("t")
    submit(buyer.get_by_role("button", name="确认收货"))
    assert "已确认收货" in buyer.content()

    # the pass's timeline: loading (with the loading photo) → exit → entry → delivery
    buyer.goto(pass_url)
    steps = buyer.locator(".pass-timeline .pass-step")
    assert steps.count() == 4
    assert buyer.locator(".pass-timeline .pass-step.done").count() == 4
    timeline = buyer.locator(".pass-timeline").inner_text()
    for word in ("装车", "出口", "入口", "送达", "长深高速彰武收费站", "东湖区界检查站"):
        assert word in timeline
    assert buyer.locator(".pass-timeline img").count() >= 1
    assert "已送达" in buyer.content()
    assert number
    assert fits_the_screen(buyer)
    screenshot(buyer, "passes-journey-05-timeline")
    buyer.context.close()
    coop.context.close()

    # the public page says the pass has served
    visitor = new_phone(browser, live_server.url)
    visitor.goto(verify_url)
    assert "已使用" in visitor.content()
    visitor.context.close()
    assert coop_csp == official_csp == gate_csp == entry_csp == buyer_csp == []
