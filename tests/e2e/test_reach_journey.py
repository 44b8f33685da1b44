"""The Daoting cooperative shares its black beans as a WeChat-group poster on a phone; a buyer who
has never visited scans the poster's code, registers with the SMS code the emulator received and
orders; the Zhangwu office's dashboard counts the order under the WeChat group, and the
cooperative is told of the order by SMS. In Chinese, at 360 px, on the demo world."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import fits_the_screen, new_phone, screenshot, submit, watch_csp
from tests.sms_emulator import sms_emulator  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "demo-pass-2020"  # noqa: S105 - the demo world's published password
DAOTING_PHONE = "13904180001"  # the demo cooperative's confirmed mobile number
NEW_BUYER_PHONE = "13707910077"


@pytest.fixture
def reach_server(database_url: str, tmp_path: Path, sms_emulator: Any) -> Iterator[Any]:  # noqa: F811
    """The site on a free port with the demo world, texting notices through the emulator."""
    from produce_match import demo
    from produce_match.extensions import db
    from produce_match.search.service import service
    from tests.conftest import make_app
    from tests.emulator_process import serving_with

    app = make_app(
        database_url, tmp_path / "live", NOTIFICATION_CHANNELS=("sms",), **sms_emulator.settings()
    )
    with serving_with(app, sms_emulator) as server:
        with app.app_context():
            demo.load()
            db.session.commit()
            service().process_queue()
        yield server


def log_in(page: Any, login: str) -> None:
    page.goto("/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(DEMO_PASSWORD)
    submit(page.locator("main form button[type=submit]"))


def test_a_wechat_group_poster_brings_a_new_buyer_who_orders(browser, reach_server, sms_emulator):  # noqa: F811
    # the cooperative shares the beans in its WeChat group: a poster with its own short link
    coop = new_phone(browser, reach_server.url)
    refused = [watch_csp(coop)]
    log_in(coop, "daoting")
    coop.goto("/lots?q=道亭村黑豆")
    submit(coop.get_by_role("link", name="彰武道亭村黑豆 40吨 急售").first)
    lot_url = coop.url
    coop.get_by_role("link", name="分享").first.click()
    coop.wait_for_url("**/share*")
    submit(coop.get_by_role("button", name="生成我的分享链接"))
    coop.get_by_role("link", name="微信群").click()
    poster = coop.locator("img.share-poster")
    expect(poster).to_be_visible()
    link = coop.locator("#share-link").input_value()
    assert re.fullmatch(rf"{reach_server.url}/s/\w+", link)
    assert link in coop.locator("#share-text").input_value()
    assert fits_the_screen(coop)
    screenshot(coop, "reach-01-wechat-group-kit")
    png = coop.request.get(poster.get_attribute("src")).body()
    image = Image.open(io.BytesIO(png))
    assert image.size == (1080, 1440)  # 3:4, as WeChat shows a picture in a chat
    # a real decoder reads the code on the poster: the link the group members will open
    (scanned,) = [code.text for code in zxingcpp.read_barcodes(image)]
    assert scanned == link

    # someone in the group scans it on another phone: the lot, not yet logged in
    buyer = new_phone(browser, reach_server.url)
    refused.append(watch_csp(buyer))
    buyer.goto(scanned)
    assert buyer.url == lot_url
    assert "彰武道亭村黑豆" in buyer.locator("h1").inner_text()
    screenshot(buyer, "reach-02-lot-from-the-poster")
    # to order: log in, or register first, and come back to the order form
    submit(buyer.get_by_role("link", name=re.compile("登录后下单")))
    submit(buyer.locator("main").get_by_role("link", name="注册"))
    buyer.get_by_label("采购商", exact=False).first.check()
    buyer.get_by_label("单位名称").fill("南昌八一农产品配送有限公司")
    buyer.get_by_label("联系人").fill("李采购")
    buyer.get_by_label("手机号（用于登录）").fill(NEW_BUYER_PHONE)
    submit(buyer.get_by_role("button", name="获取验证码"))
    assert f"短信已发送至 {NEW_BUYER_PHONE}" in buyer.locator(".flash-success").inner_text()
    buyer.get_by_label("验证码").fill(sms_emulator.code_for(NEW_BUYER_PHONE))
    buyer.get_by_label("密码（至少 8 位）").fill("nanchang-2020")
    buyer.get_by_label("再次输入密码").fill("nanchang-2020")
    buyer.get_by_label("省份").select_option(label="江西省")
    buyer.locator("#county-options option").nth(5).wait_for(state="attached")
    buyer.get_by_label("县（区）").fill("东湖区")
    assert fits_the_screen(buyer)
    screenshot(buyer, "reach-03-register-with-the-code")
    submit(buyer.locator("form button[type=submit]", has_text="注册").last)
    # registered and logged in, on the order form of the lot the poster showed
    assert "欢迎" in buyer.locator(".flashes").inner_text()
    buyer.locator("#quantity").fill("10")
    buyer.locator("#unit").select_option("t")
    expect(buyer.locator(".cost")).to_contain_text("68,000.00 元")
    delivery = buyer.locator("#delivery_address")
    if delivery.count() and not delivery.input_value():
        delivery.fill("八一大道 1 号 3 号仓库")
    submit(buyer.get_by_role("button", name="预订并下单"))
    buyer.wait_for_url("**/orders/*")
    assert "已为您预留" in buyer.content()
    assert fits_the_screen(buyer)
    screenshot(buyer, "reach-04-ordered")

    # the cooperative hears of it by SMS (its number is confirmed; orders go by SMS by default)
    notices = [m for m in sms_emulator.messages(DAOTING_PHONE) if "text" in m["params"]]
    assert notices, "no order notice was texted to the cooperative"
    assert "订购了“彰武道亭村黑豆" in notices[0]["params"]["text"]

    # the Zhangwu office sees the order under the WeChat group on its dashboard
    official = new_phone(browser, reach_server.url)
    refused.append(watch_csp(official))
    log_in(official, "zhangwu")
    official.goto("/monitor/")
    row = official.locator("#by-channel tr[data-channel=wechat_group]")
    expect(row).to_be_visible()
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "微信群"
    assert int(cells[1]) >= 1 and cells[2] == "1"  # visits, orders
    assert "10" in cells[3] and "68,000.00" in cells[4]  # tonnes, yuan
    row.scroll_into_view_if_needed()
    assert fits_the_screen(official)
    screenshot(official, "reach-05-dashboard-by-channel")
    assert refused == [[], [], []], "the Content-Security-Policy blocked something"
