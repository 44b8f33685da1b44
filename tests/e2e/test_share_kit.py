"""A cooperative shares its lot from a phone: the kit per channel, the poster, the short link."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from produce_match.accounts.models import Role
from tests.e2e.conftest import fits_the_screen, screenshot, submit, watch_csp
from tests.factories import PASSWORD, make_lot, make_user

pytestmark = pytest.mark.e2e


def test_share_a_lot_as_a_wechat_group_poster(phone_page, live_server):
    with live_server.app.app_context():
        coop = make_user(
            "daoting",
            Role.cooperative,
            "彰武县道亭村黑豆种植专业合作社",
            province="辽宁",
            county="彰武",
        )
        lot = make_lot(coop, township="梁家子镇", village="道亭村")
        lot_id = lot.id

    page = phone_page
    refused = watch_csp(page)
    page.goto("/login")
    page.locator("#login").fill("daoting")
    page.locator("#password").fill(PASSWORD)
    submit(page.locator("main form button[type=submit]"))
    page.goto(f"/lots/{lot_id}")
    page.get_by_role("link", name="分享").click()
    page.wait_for_url(f"**/lots/{lot_id}/share*")
    submit(page.get_by_role("button", name="生成我的分享链接"))
    page.get_by_role("link", name="微信群").click()
    link = page.locator("#share-link")
    url = link.input_value()
    assert "/s/" in url
    assert url in page.locator("#share-text").input_value()
    expect(page.get_by_role("button", name="复制", exact=True)).to_be_visible()
    poster = page.locator("img.share-poster")
    expect(poster).to_be_visible()
    assert fits_the_screen(page)
    screenshot(page, "share-01-wechat-group")

    # the poster's QR code is the link shown
    png = page.request.get(poster.get_attribute("src")).body()
    image = Image.open(io.BytesIO(png))
    assert image.size == (1080, 1440)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [url]

    page.get_by_role("link", name="抖音").click()
    expect(page.locator("img.share-poster")).to_have_attribute("height", "1920")
    assert fits_the_screen(page)
    screenshot(page, "share-02-douyin")
    assert refused == []
