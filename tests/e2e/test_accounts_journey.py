"""A cooperative registers in Chinese on a phone-sized screen, logs out and logs in again."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import fits_the_screen, screenshot, submit

pytestmark = pytest.mark.e2e


def test_register_logout_login_in_chinese_on_a_phone(phone_page):
    page = phone_page
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("link", name="注册").first.click()
    assert fits_the_screen(page)
    screenshot(page, "accounts-01-register-empty")

    page.get_by_label("合作社", exact=False).first.check()
    page.get_by_label("单位名称").fill("彰武县道亭村黑豆种植专业合作社")
    page.get_by_label("联系人").fill("李支书")
    page.get_by_label("手机号（用于登录）").fill("13904180001")
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
    submit(page.locator("form button[type=submit]", has_text="注册"))

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
    screenshot(page, "accounts-04-my-account")


def test_wrong_password_is_explained_in_chinese(phone_page):
    page = phone_page
    page.goto("/login")
    page.get_by_label("手机号或登录名").fill("13900000000")
    page.get_by_label("密码", exact=True).fill("wrong-password")
    submit(page.locator("form button[type=submit]", has_text="登录"))
    assert "登录名或密码错误" in page.locator(".error").inner_text()
    screenshot(page, "accounts-05-login-error")


def test_pages_work_without_javascript(browser, live_server):
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="zh-CN",
        base_url=live_server.url,
        java_script_enabled=False,
    )
    page = context.new_page()
    page.goto("/register")
    page.get_by_label("单位名称").fill("无脚本合作社")
    page.get_by_label("联系人").fill("王五")
    page.get_by_label("手机号（用于登录）").fill("13900000001")
    page.get_by_label("密码（至少 8 位）").fill("password-1")
    page.get_by_label("再次输入密码").fill("password-1")
    page.get_by_label("省份").select_option(value="210000")
    page.get_by_label("县（区）").fill("彰武")
    submit(page.locator("form button[type=submit]", has_text="注册"))
    assert "欢迎" in page.locator(".flashes").inner_text()
    context.close()
