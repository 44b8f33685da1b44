"""A cooperative registers in Chinese on a phone-sized screen, with the SMS code that the SMS
emulator received (read on its inbox page, as a developer does), logs out and logs in again;
forgets the password and sets a new one with another code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from produce_match.accounts.models import Role
from tests.e2e.conftest import fits_the_screen, new_phone, screenshot, submit, watch_csp
from tests.sms_emulator import sms_emulator, sms_live_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture
def sms_phone_page(browser, sms_live_server) -> Iterator[Any]:  # noqa: F811
    """A 360 px wide page in a Chinese-speaking browser, on the site that texts through the
    emulator."""
    page = new_phone(browser, sms_live_server.url)
    violations = watch_csp(page)
    yield page
    page.context.close()
    assert violations == [], "the Content-Security-Policy blocked something"


def read_code_on_the_emulator(page: Any, emulator: Any, phone: str, shot: str) -> str:
    """Open the emulator's inbox for `phone` in another tab, as a developer does, and read the
    code in the newest message."""
    inbox = page.context.new_page()
    inbox.goto(f"{emulator.url}/?phone={phone}")
    text = inbox.locator("ol.sms li .text").first.inner_text()
    assert "验证码" in text, text
    screenshot(inbox, shot)
    inbox.close()
    code = re.search(r"验证码为(\d{6})", text).group(1)
    assert code == emulator.code_for(phone)
    return code


def test_register_logout_login_in_chinese_on_a_phone(sms_phone_page, sms_emulator):  # noqa: F811
    page = sms_phone_page
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("link", name="注册").first.click()
    assert fits_the_screen(page)
    screenshot(page, "accounts-01-register-empty")

    page.get_by_label("合作社", exact=False).first.check()
    page.get_by_label("单位名称").fill("彰武县道亭村黑豆种植专业合作社")
    page.get_by_label("联系人").fill("李支书")
    page.get_by_label("手机号（用于登录）").fill("13904180001")
    # 获取验证码: the form comes back with what was typed, and says a text was sent
    submit(page.get_by_role("button", name="获取验证码"))
    assert "短信已发送至 13904180001" in page.locator(".flash-success").inner_text()
    assert page.get_by_label("单位名称").input_value() == "彰武县道亭村黑豆种植专业合作社"
    assert fits_the_screen(page)
    screenshot(page, "accounts-02a-code-sent")
    code = read_code_on_the_emulator(page, sms_emulator, "13904180001", "accounts-02b-sms-inbox")
    page.get_by_label("验证码").fill(code)
    page.get_by_label("密码（至少 8 位）").fill("heidou-2020")
    page.get_by_label("再次输入密码").fill("heidou-2020")
    page.get_by_label("省份").select_option(label="辽宁省")
    # the county suggestions follow the province (our own small script)
    # (waited for without evaluating a string in the page: the CSP allows no eval)
    page.locator("#county-options option").nth(20).wait_for(state="attached")
    page.get_by_label("县（区）").fill("彰武县")
    page.locator("#township").fill("梁家子镇")
    page.locator("#village").fill("道亭村")
    screenshot(page, "accounts-02-register-filled")
    submit(page.locator("form button[type=submit]", has_text="注册").last)

    page.wait_for_url("**/")
    assert "欢迎" in page.locator(".flashes").inner_text()
    assert fits_the_screen(page)
    screenshot(page, "accounts-03-registered")

    submit(page.get_by_role("button", name="退出登录"))
    page.get_by_role("link", name="登录").first.click()
    page.get_by_label("手机号或登录名").fill("139 0418 0001")
    page.get_by_label("密码", exact=True).fill("heidou-2020")
    page.locator("form button[type=submit]", has_text="登录").click()
    page.wait_for_url("**/")
    page.get_by_role("link", name="我的账号").click()
    assert "彰武县道亭村黑豆种植专业合作社" in page.content()
    assert fits_the_screen(page)
    assert "已确认" in page.locator("#mobile").inner_text()
    screenshot(page, "accounts-04-my-account")


def test_forgotten_password_on_a_phone(sms_phone_page, sms_live_server, sms_emulator):  # noqa: F811
    from tests.factories import make_user

    with sms_live_server.app.app_context():
        make_user("13904180066", Role.cooperative, "道亭村第二合作社", phone="13904180066")
    page = sms_phone_page
    page.goto("/login")
    submit(page.get_by_role("link", name="忘记密码？"))
    page.get_by_label("手机号").fill("13904180077")
    submit(page.get_by_role("button", name="获取验证码"))
    # one answer for every number: this one has no account, and nothing was texted to it
    assert "如果 13904180077 已注册账号" in page.locator(".flash-success").inner_text()
    assert sms_emulator.messages("13904180077") == []
    page.get_by_label("手机号").fill("139 0418 0066")
    submit(page.get_by_role("button", name="获取验证码"))
    assert "如果 13904180066 已注册账号" in page.locator(".flash-success").inner_text()
    assert fits_the_screen(page)
    screenshot(page, "accounts-06-forgot-password")
    page.get_by_label("验证码").fill(sms_emulator.code_for("13904180066"))
    page.get_by_label("新密码（至少 8 位）").fill("new-heidou-2020")
    page.get_by_label("再次输入新密码").fill("new-heidou-2020")
    submit(page.get_by_role("button", name="设置新密码"))
    assert "密码已修改" in page.locator(".flashes").inner_text()
    page.get_by_label("手机号或登录名").fill("13904180066")
    page.get_by_label("密码", exact=True).fill("new-heidou-2020")
    submit(page.locator("form button[type=submit]", has_text="登录"))
    assert page.get_by_role("link", name="我的账号").count() > 0


def test_wrong_password_is_explained_in_chinese(phone_page):
    page = phone_page
    page.goto("/login")
    page.get_by_label("手机号或登录名").fill("13900000000")
    page.get_by_label("密码", exact=True).fill("wrong-password")
    submit(page.locator("form button[type=submit]", has_text="登录"))
    assert "登录名或密码错误" in page.locator(".error").inner_text()
    screenshot(page, "accounts-05-login-error")


def test_pages_work_without_javascript(browser, sms_live_server, sms_emulator):  # noqa: F811
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="zh-CN",
        base_url=sms_live_server.url,
        java_script_enabled=False,
    )
    page = context.new_page()
    page.goto("/register")
    page.get_by_label("单位名称").fill("无脚本合作社")
    page.get_by_label("联系人").fill("王五")
    page.get_by_label("手机号（用于登录）").fill("13900000001")
    submit(page.get_by_role("button", name="获取验证码"))
    page.get_by_label("验证码").fill(sms_emulator.code_for("13900000001"))
    page.get_by_label("密码（至少 8 位）").fill("password-1")
    page.get_by_label("再次输入密码").fill("password-1")
    page.get_by_label("省份").select_option(value="210000")
    page.get_by_label("县（区）").fill("彰武")
    submit(page.locator("form button[type=submit]", has_text="注册").last)
    assert "欢迎" in page.locator(".flashes").inner_text()
    context.close()
