"""A cooperative posts a lot with a photo from a phone, in Chinese; a visitor finds it."""

from __future__ import annotations

import pytest

from produce_match.accounts.models import Role
from tests.e2e.conftest import fits_the_screen, screenshot
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
    page.locator("main form button[type=submit]").click()
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
    page.locator("main form button[type=submit]").click()

    page.wait_for_url("**/lots/*")
    assert "彰武黑豆 40 吨" in page.locator("h1").inner_text()
    assert "6.80 元/公斤" in page.content()
    assert page.locator(".photos img").count() == 1
    assert fits_the_screen(page)
    screenshot(page, "lots-03-posted")

    # a visitor finds it among the stranded lots by its other name
    page.get_by_role("button", name="退出登录").click()
    page.goto("/lots?commodity=乌豆")
    assert "彰武黑豆 40 吨" in page.locator(".lot-list").inner_text()
    screenshot(page, "lots-04-list")
