"""A county shop and its flyer in Chromium at 360 px (and the shop at 1280 px): the official
finds the shop from the officials' area, the flyer's QR codes decode on screen and from the
printed A4 page; inside WeChat's browser the share card is configured with a valid signature."""

from __future__ import annotations

import io
import re
import shutil
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from PIL import Image

from produce_match import wechat
from tests.conftest import make_app
from tests.e2e.conftest import ARTIFACTS, LiveServer, fits_the_screen, screenshot, submit, watch_csp
from tests.e2e.test_delivery_note import decode_qr, rasterise_pdf
from tests.e2e.test_orders_journey import DEMO_PASSWORD, demo_world  # noqa: F401 (fixture)
from tests.shops.test_wechat import SECRET, FakeWeChat

pytestmark = pytest.mark.e2e


def _leads_to(short_link: str) -> str:
    """Where a short link redirects (not followed, so no visit is counted here)."""
    response = requests.get(short_link, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return urljoin(short_link, response.headers["Location"])


def _log_in(page: Any, login: str) -> None:
    page.goto("/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(DEMO_PASSWORD)
    submit(page.locator("main form button[type=submit]"))


def test_the_zhangwu_shop_and_its_flyer_on_a_phone(
    phone_page,
    browser,
    live_server,
    demo_world,  # noqa: F811
    tmp_path,
):
    page = phone_page
    _log_in(page, "zhangwu")
    page.goto("/monitor/")
    submit(page.get_by_role("link", name="本地店铺"))
    assert re.search(r"/shops/\d+$", page.url)
    assert page.locator("h1").inner_text() == "彰武县电子商务办公室"
    assert page.locator(".hotline a").inner_text() == "04185820000"
    cards = page.locator(".lot-list .lot-card")
    assert cards.count() >= 2
    days = [
        int(re.search(r"\d+", t).group())
        for t in page.locator(".lot-list .days").all_inner_texts()
        if re.search(r"\d+", t)
    ]
    assert days == sorted(days)  # most urgent first
    assert fits_the_screen(page)
    screenshot(page, "shops-zhangwu-360")
    shop_url = page.url

    submit(page.get_by_role("link", name="打印传单"))
    assert fits_the_screen(page)
    screenshot(page, "shops-flyer-360")
    lots_on_flyer = page.locator(".flyer-lot").count()
    assert 2 <= lots_on_flyer <= 8
    # on the phone's screen every QR code reads back
    found = []
    for figure in page.locator(".flyer-qr").all():
        found += decode_qr(Image.open(io.BytesIO(figure.screenshot())))
    assert len(found) == lots_on_flyer + 1
    # each code is a short link of the channel "print", leading to the shop and to its lots
    assert all(re.fullmatch(rf"{live_server.url}/s/\w+", url) for url in found)
    assert _leads_to(found[-1]) == shop_url
    assert all(re.fullmatch(rf"{live_server.url}/lots/\d+", _leads_to(u)) for u in found[:-1])

    # printed: one A4 page whose codes a printer's rendering still reads
    page.emulate_media(media="print")
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    if shutil.which("pdftoppm"):
        printed = decode_qr(rasterise_pdf(pdf, tmp_path, dpi=200))
        assert sorted(printed) == sorted(found)
    page.emulate_media(media="screen")

    # the official ticks two lots
    boxes = page.locator("form.choose input[type=checkbox]")
    for box in boxes.all():
        box.uncheck()
    boxes.nth(0).check()
    boxes.nth(1).check()
    submit(page.get_by_role("button", name="生成传单"))
    assert page.locator(".flyer-lot").count() == 2

    # the province's shop: a full flyer of eight ticked lots still prints on one A4 page
    _log_in(page, "liaoning")
    page.goto("/monitor/")
    submit(page.get_by_role("link", name="本地店铺"))
    submit(page.get_by_role("link", name="打印传单"))
    boxes = page.locator("form.choose input[type=checkbox]")
    ticked = min(boxes.count(), 8)
    for n in range(ticked):
        boxes.nth(n).check()
    submit(page.get_by_role("button", name="生成传单"))
    assert page.locator(".flyer-lot").count() == ticked >= 6
    page.emulate_media(media="print")
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    (tmp_path / "full.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    if shutil.which("pdftoppm"):
        full = tmp_path / "full"
        full.mkdir()
        printed_page = rasterise_pdf(pdf, full, dpi=200)
        printed_page.save(ARTIFACTS / "shops-flyer-printed.png")
        assert len(decode_qr(printed_page)) == ticked + 1
    page.emulate_media(media="screen")

    wide = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    wide_page = wide.new_page()
    violations = watch_csp(wide_page)
    wide_page.goto(shop_url)
    assert fits_the_screen(wide_page)
    screenshot(wide_page, "shops-zhangwu-1280")
    wide_page.goto(shop_url + "/flyer")
    screenshot(wide_page, "shops-flyer-1280")
    wide.close()
    assert violations == []


WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/116.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) "
    "NetType/WIFI Language/zh_CN"
)
#: stands in for WeChat's JS-SDK: records what the page asks of it
FAKE_SDK = """
window.__wx = {};
window.wx = {
  config: function (c) { window.__wx.config = c; },
  ready: function (f) { f(); },
  updateAppMessageShareData: function (d) { window.__wx.friend = d; },
  updateTimelineShareData: function (d) { window.__wx.timeline = d; },
};
"""


def test_in_wechat_the_lot_page_sets_the_share_card(browser, database_url, tmp_path):
    from produce_match.extensions import db
    from tests.factories import make_lot, make_world

    fake = FakeWeChat()
    app = make_app(
        database_url,
        tmp_path / "wx-live",
        WECHAT_APP_ID="wx1234567890abcdef",
        WECHAT_APP_SECRET=SECRET,
        WECHAT_API_URL=fake.url,
    )
    with app.app_context():
        lot_id = make_lot(make_world()["coop"], title="道亭黑豆").id
    try:
        with LiveServer(app) as server:
            for ua, expect_card in ((WECHAT_UA, True), (None, False)):
                context = browser.new_context(
                    viewport={"width": 360, "height": 740}, locale="zh-CN", user_agent=ua
                )
                page = context.new_page()
                violations = watch_csp(page)
                asked = []

                def sdk(route: Any, *_: Any, asked: list = asked) -> None:
                    asked.append(route.request.url)
                    route.fulfill(body=FAKE_SDK, content_type="application/javascript")

                page.route("https://res.wx.qq.com/**", sdk)
                page.goto(f"{server.url}/lots/{lot_id}?unit=jin#top")
                if expect_card:
                    page.wait_for_function("() => window.__wx && window.__wx.friend")
                    got = page.evaluate("window.__wx")
                    cfg = got["config"]
                    assert cfg["appId"] == "wx1234567890abcdef"
                    assert cfg["signature"] == wechat.signature(
                        "TICKET-TOKEN1",
                        cfg["nonceStr"],
                        cfg["timestamp"],
                        f"{server.url}/lots/{lot_id}?unit=jin",
                    )
                    assert set(cfg["jsApiList"]) == {
                        "updateAppMessageShareData",
                        "updateTimelineShareData",
                    }
                    assert got["friend"]["title"] == "道亭黑豆"
                    assert got["friend"]["link"] == f"{server.url}/lots/{lot_id}"
                    assert got["friend"]["imgUrl"].endswith("/static/img/share.png")
                    assert "还剩" in got["friend"]["desc"]
                    assert got["timeline"]["title"] == "道亭黑豆"
                    assert asked == [wechat.SDK_URL]
                else:  # an ordinary browser loads nothing from WeChat
                    page.wait_for_load_state("load")
                    assert asked == []
                context.close()
                assert violations == []
    finally:
        fake.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
