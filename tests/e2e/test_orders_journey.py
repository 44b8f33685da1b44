"""A buyer orders 10 t of the Daoting black beans on a phone; the cooperative accepts and ships;
the buyer confirms 9.8 t delivered. In Chinese, on the demo world."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.conftest import fits_the_screen, screenshot, submit
from tests.e2e.test_delivery_note import decode_qr
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "demo-pass-2020"  # noqa: S105 - the demo world's published password


@pytest.fixture
def demo_world(live_server):
    from produce_match import demo
    from produce_match.extensions import db
    from produce_match.search.service import service

    with live_server.app.app_context():
        demo.load()
        db.session.commit()
        service().process_queue()


def log_in(page, login: str) -> None:
    page.goto("/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def log_out(page) -> None:
    submit(page.get_by_role("button", name="退出登录"))


def test_order_accept_dispatch_and_confirm_the_daoting_beans(
    phone_page, live_server, demo_world, tmp_path
):
    page = phone_page
    log_in(page, "buyer")
    page.goto("/lots?q=道亭村黑豆")
    page.get_by_role("link", name="彰武道亭村黑豆 40吨 急售").first.click()
    page.locator("#quantity").fill("10")
    page.locator("#unit").select_option("t")
    # the cost shows as it is typed, in 元
    expect(page.locator(".order-box .cost")).to_contain_text("68,000.00 元")
    screenshot(page, "orders-01-order-form")
    page.get_by_role("button", name="预订并下单").click()
    page.wait_for_url("**/orders/*")
    order_url = page.url
    assert "已为您预留" in page.content()
    assert "10 吨" in page.locator(".order-detail .facts").first.inner_text()
    assert fits_the_screen(page)
    screenshot(page, "orders-02-reserved")
    # where it goes: filled in from the buyer's demand for black beans; changed before dispatch
    assert "江西省 东湖区" in page.locator("section.delivery").inner_text()
    page.get_by_text("修改收货信息").click()
    page.locator("#delivery_address").fill("八一大道 1 号 3 号仓库")
    page.locator("#receiver_name").fill("李收货")
    page.locator("#receiver_phone").fill("139 0791 0001")
    assert fits_the_screen(page)
    screenshot(page, "orders-02b-delivery-form")
    submit(page.get_by_role("button", name="保存收货信息"))
    assert "收货信息已保存" in page.content()
    delivery = page.locator("section.delivery").inner_text()
    assert "江西省 东湖区 八一大道 1 号 3 号仓库" in delivery and "13907910001" in delivery
    assert "公里" in delivery and "最早" in delivery  # distance and arrival to 东湖区
    screenshot(page, "orders-02c-delivery-saved")
    log_out(page)

    # the cooperative finds the order waiting for it, and accepts
    log_in(page, "daoting")
    page.get_by_role("link", name="收到的订单").first.click()
    page.locator("table.orders a").first.click()
    assert page.url == order_url
    # before accepting: the delivery county (and the distance), not the address or receiver
    delivery = page.locator("section.delivery").inner_text()
    assert "江西省 东湖区" in delivery and "八一大道" not in delivery
    assert "接受订单后显示" in delivery
    submit(page.get_by_role("button", name="接受订单"))
    assert "已接受订单" in page.content()
    delivery = page.locator("section.delivery").inner_text()
    assert "八一大道 1 号 3 号仓库" in delivery and "李收货" in delivery
    # the cooperative's page links to the buyer, with its phone
    facts = page.locator(".order-detail .facts").first
    assert (
        facts.locator("a[href^='/organisations/']").first.inner_text() == "江西南昌粮油批发有限公司"
    )
    assert facts.locator("a[href='tel:13907910003']").count() == 1
    assert fits_the_screen(page)
    screenshot(page, "orders-03-accepted")

    # the buyer's payment is the payment side's to confirm; here it is recorded directly
    with live_server.app.app_context():
        from produce_match.extensions import db
        from produce_match.orders import operations as orders
        from produce_match.orders.models import Order

        order = db.session.scalar(select(Order).order_by(Order.id.desc()))
        orders.mark_paid(order)
        db.session.commit()

    page.reload()
    assert "已付款：请装车并登记发货" in page.content()
    page.locator("#dispatch-vehicle_plate").fill("辽J 35721")
    page.locator("#dispatch-driver_phone").fill("13941800123")
    assert page.locator("#dispatch-shipped_quantity").input_value() == "10"
    page.locator("#dispatch-place").fill("道亭村村部仓库")
    screenshot(page, "orders-04-dispatch-form")
    submit(page.get_by_role("button", name="登记发货"))
    assert "发货已登记" in page.content()
    assert "辽J35721" in page.locator(".order-detail .facts").first.inner_text()
    # a photo of the loading, sent once the truck has left
    photo = tmp_path / "loading.jpg"
    photo.write_bytes(jpeg_bytes())
    page.locator("#photos-photos").set_input_files(str(photo))
    page.locator("#photos-place").fill("道亭村村部仓库")
    screenshot(page, "orders-04b-add-photos")
    submit(page.get_by_role("button", name="上传照片"))
    assert "照片已添加" in page.content()
    assert page.locator(".photos img").count() == 1
    assert "道亭村村部仓库" in page.locator(".photos").inner_text()
    # the printable delivery note carries a QR code of the public tracking page
    page.get_by_role("link", name="送货单（打印）").click()
    assert page.locator(".qr svg").count() == 1
    assert "江西省 东湖区 八一大道 1 号 3 号仓库" in page.content()
    screenshot(page, "orders-05-delivery-note")
    track = page.locator(".track").inner_text()
    qr = Image.open(io.BytesIO(page.locator(".qr svg").screenshot()))
    assert decode_qr(qr) == [track]  # a real decoder reads the tracking address back
    log_out_page = page.context.new_page()
    log_out_page.goto(track)
    assert "运输中" in log_out_page.content() or "已发货" in log_out_page.content()
    assert "辽J35721" not in log_out_page.content()
    log_out_page.close()
    page.goto(order_url)
    log_out(page)

    # the buyer confirms what arrived: 9.8 t of the 10 t shipped
    log_in(page, "buyer")
    page.goto(order_url)
    page.locator("#confirm-delivery-accepted_quantity").fill("9.8")
    page.locator("#confirm-delivery-unit").select_option("t")
    submit(page.get_by_role("button", name="确认收货"))
    assert "已确认收货" in page.content()
    facts = page.locator(".order-detail .facts").first.inner_text()
    assert "9.8 吨" in facts
    assert fits_the_screen(page)
    screenshot(page, "orders-06-delivered")

    with live_server.app.app_context():
        from produce_match.extensions import db
        from produce_match.lots.models import Lot
        from produce_match.orders.models import Order

        order = db.session.scalar(select(Order).order_by(Order.id.desc()))
        assert order.status.value == "delivered" and order.accepted_g == 9_800_000
        lot = db.session.get(Lot, order.lot_id)
        assert lot.remaining_g == 30_000_000
