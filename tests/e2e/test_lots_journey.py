"""A cooperative posts a lot with a photo from a phone, in Chinese; a visitor finds it."""

from __future__ import annotations

import pytest

from produce_match.accounts.models import Role
from tests.e2e.conftest import fits_the_screen, screenshot, submit
from tests.factories import PASSWORD, jpeg_bytes, make_user

pytestmark = pytest.mark.e2e


def test_post_a_lot_with_a_photo_on_a_phone(phone_page, live_server, tmp_path):
    with live_server.app.app_context():
        make_user(
            "13904180001",
            Role.cooperative,
            "彰武县道亭村黑豆种植专业合作社",
            province="辽宁",
            county="彰武",
        )
    photo = tmp_path / "heidou.jpg"
    photo.write_bytes(jpeg_bytes(1200, 900, gps=True))

    page = phone_page
    page.goto("/login")
    page.locator("#login").fill("13904180001")
    page.locator("#password").fill(PASSWORD)
    submit(page.locator("main form button[type=submit]"))
    page.get_by_role("link", name="发布货源").first.click()
    assert fits_the_screen(page)
    screenshot(page, "lots-01-post-empty")

    # what, how much, what price, a photo: nothing else is needed
    page.locator("#commodity").fill("heidou")
    page.locator("#quantity").fill("40")
    page.locator("#unit").select_option("t")
    page.locator("#price").fill("6.80")
    page.locator("#price_unit").select_option("kg")
    page.locator("#photos").set_input_files(str(photo))
    screenshot(page, "lots-02-post-filled")
    submit(page.locator("main form button[type=submit]"))

    page.wait_for_url("**/lots/*")
    assert "彰武黑豆 40 吨" in page.locator("h1").inner_text()
    assert "6.80 元/公斤" in page.content()
    assert page.locator(".photos img").count() == 1
    assert fits_the_screen(page)
    screenshot(page, "lots-03-posted")

    # a visitor finds it among the stranded lots by its other name
    submit(page.get_by_role("button", name="退出登录"))
    page.goto("/lots?commodity=乌豆")
    assert "彰武黑豆 40 吨" in page.locator(".lot-list").inner_text()
    screenshot(page, "lots-04-list")


def test_edit_a_lot_with_two_photos_on_a_phone(phone_page, live_server, tmp_path):
    """Saving an edit, removing a photo and adding one each do what their button says."""
    from produce_match.extensions import db
    from produce_match.lots import operations as lots
    from tests.factories import make_lot

    with live_server.app.app_context():
        user = make_user(
            "13904180002",
            Role.cooperative,
            "彰武县道亭村黑豆种植专业合作社",
            province="辽宁",
            county="彰武",
        )
        lot = make_lot(user)
        for width in (800, 640):
            lots.add_photo(user, lot, jpeg_bytes(width, 480))
        db.session.commit()
        lot_id = lot.id
    photo = tmp_path / "new.jpg"
    photo.write_bytes(jpeg_bytes(1024, 768))

    page = phone_page
    page.goto("/login")
    page.locator("#login").fill("13904180002")
    page.locator("#password").fill(PASSWORD)
    submit(page.locator("main form button[type=submit]"))
    page.goto(f"/lots/{lot_id}/edit")
    assert page.locator(".photo-admin img").count() == 2
    assert fits_the_screen(page)
    screenshot(page, "lots-05-edit-two-photos")

    # 删除 removes that photo, and only that: no "please enter a title", nothing else changed
    page.get_by_role("button", name="删除").first.click()
    page.wait_for_url(f"**/lots/{lot_id}/edit")
    assert "照片已删除" in page.content()
    assert page.locator(".photo-admin img").count() == 1
    assert page.locator(".error").count() == 0

    # 保存 saves the whole form: a new price and a new photo
    page.locator("#price").fill("6.20")
    page.locator("#photos").set_input_files(str(photo))
    screenshot(page, "lots-06-edit-filled")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(f"**/lots/{lot_id}")
    assert "6.20 元/公斤" in page.content()
    assert page.locator(".photos img").count() == 2
    assert fits_the_screen(page)
    screenshot(page, "lots-07-edited")


def _font_px(page, selector: str) -> float:
    return float(page.eval_on_selector(selector, "e => parseFloat(getComputedStyle(e).fontSize)"))


def test_post_produce_not_in_the_catalogue_on_a_phone(phone_page, live_server):
    """榴莲干 is posted under 其他水果 with its own name; once some is ordered, what is left
    stands out more than the quantity written in the title."""
    from produce_match.extensions import db
    from produce_match.lots.models import Lot
    from produce_match.orders import operations as orders

    with live_server.app.app_context():
        make_user(
            "13904180003", Role.cooperative, "彰武县果品合作社", province="辽宁", county="彰武"
        )
        buyer = make_user(
            "13904180004", Role.buyer, "南昌果品超市", province="江西", county="东湖区"
        )
        buyer_id = buyer.id

    page = phone_page
    page.goto("/login")
    page.locator("#login").fill("13904180003")
    page.locator("#password").fill(PASSWORD)
    submit(page.locator("main form button[type=submit]"))
    page.get_by_role("link", name="发布货源").first.click()
    assert page.locator("#photos").get_attribute("accept") == "image/*"  # the camera is offered

    page.locator("#commodity").fill("榴莲干")
    page.locator("#quantity").fill("2")
    page.locator("#unit").select_option("t")
    page.locator("#price").fill("38")
    page.locator("#price_unit").select_option("kg")
    submit(page.locator("main form button[type=submit]"))
    # not in the catalogue: asked for its kind, with nothing lost
    assert "目录中没有榴莲干" in page.locator("main").inner_text()
    assert page.locator("#quantity").input_value() == "2"
    assert fits_the_screen(page)
    screenshot(page, "lots-08-unknown-commodity")
    page.locator("#category").select_option(label="水果")
    submit(page.locator("main form button[type=submit]"))

    page.wait_for_url("**/lots/*")
    assert "彰武榴莲干 2 吨" in page.locator("h1").inner_text()
    assert "榴莲干（其他水果）" in page.locator("main").inner_text()
    lot_id = int(page.url.rsplit("/", 1)[-1])

    with live_server.app.app_context():
        orders.place_order(
            db.session.get(type(buyer), buyer_id), db.session.get(Lot, lot_id), "0.5", "t"
        )
        db.session.commit()

    page.reload()
    assert page.locator(".lot-detail > .lot-left").inner_text().startswith("剩余 1.5 吨")
    assert _font_px(page, ".lot-detail > .lot-left") > _font_px(page, "h1")
    assert fits_the_screen(page)
    screenshot(page, "lots-09-other-commodity-posted")

    page.goto("/my/lots")
    card = ".lot-card"
    assert "剩余 1.5 吨" in page.locator(f"{card} .lot-left").inner_text()
    assert _font_px(page, f"{card} .lot-left") > _font_px(page, f"{card} .lot-title")
    assert fits_the_screen(page)
    screenshot(page, "lots-10-my-lots-left")
