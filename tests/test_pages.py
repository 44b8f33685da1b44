"""Two languages and the error pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import abort

from tests.conftest import login, post_form
from tests.factories import PASSWORD


def test_chinese_is_the_default_for_an_unknown_browser(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "登录" in html and "注册" in html
    assert ">Log in<" not in html


@pytest.mark.parametrize("header", ["zh-CN,zh;q=0.9", "zh-Hans-CN", "zh-TW", "zh"])
def test_every_chinese_accept_language_gets_chinese(client, header):
    assert "登录" in client.get("/", headers={"Accept-Language": header}).get_data(as_text=True)


def test_english_browser_gets_english(client):
    html = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Log in" in html


def test_the_catalogue_is_stored_under_zh_not_zh_CN():
    root = Path(__file__).resolve().parent.parent / "produce_match" / "translations"
    assert (root / "zh" / "LC_MESSAGES" / "messages.po").exists()
    assert not (root / "zh_CN").exists()


def test_language_switch_is_remembered(client):
    response = post_form(client, "/language", {"lang": "en", "next": "/register"})
    assert response.status_code == 302 and response.headers["Location"] == "/register"
    html = client.get("/register", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Register" in html and '<html lang="en">' in html


def test_language_choice_is_kept_on_the_account(client, users):
    login(client, "coop", PASSWORD)
    post_form(client, "/language", {"lang": "en", "next": "/"})
    other_device = client.application.test_client()
    login(other_device, "coop", PASSWORD)
    assert "My account" in other_device.get("/").get_data(as_text=True)


def test_language_switch_is_on_every_page(client):
    for url in ("/", "/login", "/register", "/does-not-exist"):
        html = client.get(url).get_data(as_text=True)
        assert 'action="/language"' in html and 'value="en"' in html


@pytest.mark.parametrize(("lang", "text"), [("zh-CN", "页面不存在"), ("en", "Page not found")])
def test_404_page_in_both_languages(client, lang, text):
    response = client.get("/no/such/page", headers={"Accept-Language": lang})
    assert response.status_code == 404 and text in response.get_data(as_text=True)


def test_500_page_shows_no_stack_trace(app, client):
    app.config["RENDER_UNEXPECTED_ERRORS"] = True

    @app.route("/boom")
    def boom():  # pragma: no cover - exercised through the client
        raise RuntimeError("secret internals")

    response = client.get("/boom", headers={"Accept-Language": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "secret internals" not in html and "Traceback" not in html


@pytest.mark.parametrize("code", [400, 403, 429])
def test_other_error_pages(app, client, code):
    @app.route(f"/fail{code}")
    def fail():  # pragma: no cover
        abort(code)

    response = client.get(f"/fail{code}", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == code
    assert "返回首页" in response.get_data(as_text=True)


def test_pages_have_viewport_and_labels(client):
    html = client.get("/register").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    for field in ("org_name", "contact_person", "phone", "password", "county"):
        assert f'<label for="{field}">' in html
