"""WeChat's JS-SDK share card: the signature as WeChat documents it, the ticket fetched once
and kept, and a page that never depends on WeChat answering."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from produce_match import wechat
from tests.conftest import make_app
from tests.factories import make_lot

SECRET = "0123456789abcdef0123456789ABCDEF"


def test_the_signature_is_wechats_documented_example():
    # 微信 JS-SDK 说明文档, 附录 1 (JS-SDK 使用权限签名算法)
    assert (
        wechat.signature(
            "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
            "Wm3WZYTPz0wzccnW",
            1414587457,
            "http://mp.weixin.qq.com?params=value",
        )
        == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    )
    # the fragment is not part of the signed address
    assert wechat.signature("t", "n", 1, "http://a.test/p?q=1#top") == wechat.signature(
        "t", "n", 1, "http://a.test/p?q=1"
    )


class FakeWeChat:
    """WeChat's API as the JS-SDK needs it: /cgi-bin/token and /cgi-bin/ticket/getticket,
    answering in WeChat's format, counting the calls, and broken on demand."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False
        self.stale_token_once = False
        self.tokens = 0
        app = Flask("fake_wechat")

        @app.get("/cgi-bin/token")
        def token() -> Any:
            self.calls.append("token")
            if self.down:
                return "busy", 503
            if request.args.get("secret") != SECRET:
                return jsonify({"errcode": 40001, "errmsg": "invalid credential"})
            self.tokens += 1
            return jsonify({"access_token": f"TOKEN{self.tokens}", "expires_in": 7200})

        @app.get("/cgi-bin/ticket/getticket")
        def ticket() -> Any:
            self.calls.append("ticket")
            if self.down:
                return "busy", 503
            if self.stale_token_once:
                self.stale_token_once = False
                return jsonify({"errcode": 40001, "errmsg": "invalid credential"})
            assert request.args["type"] == "jsapi"
            return jsonify(
                {
                    "errcode": 0,
                    "errmsg": "ok",
                    "ticket": f"TICKET-{request.args['access_token']}",
                    "expires_in": 7200,
                }
            )

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat()
    yield server
    server.close()


@pytest.fixture
def wx_app(database_url, tmp_path, fake) -> Iterator[Flask]:
    app = make_app(
        database_url,
        tmp_path / "wx",
        WECHAT_APP_ID="wx1234567890abcdef",
        WECHAT_APP_SECRET=SECRET,
        WECHAT_API_URL=fake.url,
        WECHAT_HTTP_TIMEOUT=2,
    )
    with app.app_context():
        yield app
    from produce_match.extensions import db

    with app.app_context():
        db.engine.dispose()


def _config(client, url="http://localhost/lots/1?unit=jin#photos"):
    return client.get("/wechat/jssdk-config", query_string={"url": url})


def test_the_config_signs_the_page_with_a_ticket_fetched_once(wx_app, fake):
    client = wx_app.test_client()
    first = _config(client)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.headers["Cache-Control"] == "no-store"
    cfg = first.get_json()
    assert cfg["appId"] == "wx1234567890abcdef"
    expected = wechat.signature(
        "TICKET-TOKEN1", cfg["nonceStr"], cfg["timestamp"], "http://localhost/lots/1?unit=jin"
    )
    assert cfg["signature"] == expected
    for _ in range(3):
        assert _config(client).status_code == 200
    assert fake.calls == ["token", "ticket"]  # kept: fetched once for its lifetime


def test_the_ticket_is_fetched_again_before_it_runs_out(wx_app, fake, monkeypatch):
    client = wx_app.test_client()
    assert _config(client).status_code == 200
    import time

    later = time.time() + 7200 - wechat.REFRESH_BEFORE + 5
    monkeypatch.setattr(wechat.time, "time", lambda: later)
    cfg = _config(client).get_json()
    assert fake.calls == ["token", "ticket", "ticket"]  # the token still had time left
    assert cfg["signature"] == wechat.signature(
        "TICKET-TOKEN1", cfg["nonceStr"], cfg["timestamp"], "http://localhost/lots/1?unit=jin"
    )


def test_a_stale_access_token_is_replaced_once(wx_app, fake):
    fake.stale_token_once = True
    cfg = _config(wx_app.test_client()).get_json()
    assert fake.calls == ["token", "ticket", "token", "ticket"]
    assert cfg["signature"] == wechat.signature(
        "TICKET-TOKEN2", cfg["nonceStr"], cfg["timestamp"], "http://localhost/lots/1?unit=jin"
    )


def test_one_process_fetches_while_the_others_go_on_without(wx_app, fake):
    with wx_app.test_request_context(), wechat._lock() as mine:
        assert mine
        with wechat._lock() as other:  # another worker, meanwhile: it does not wait
            assert not other
        assert _config(wx_app.test_client()).status_code == 503
    assert fake.calls == []


def test_wechat_down_costs_the_card_not_the_page(wx_app, fake, users):
    fake.down = True
    client = wx_app.test_client()
    response = _config(client)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert _config(client).status_code == 503
    assert fake.calls == ["token"]  # not asked again at once: paused after a failure
    lot = make_lot(users["coop"])
    page = client.get(f"/lots/{lot.id}")
    assert page.status_code == 200
    assert 'id="wechat-share"' in page.get_data(as_text=True)


def test_unreachable_wechat_is_a_503_too(database_url, tmp_path):
    app = make_app(
        database_url,
        tmp_path / "wx2",
        WECHAT_APP_ID="wx1234567890abcdef",
        WECHAT_APP_SECRET=SECRET,
        WECHAT_API_URL="http://127.0.0.1:9",  # nothing listens there
        WECHAT_HTTP_TIMEOUT=1,
    )
    with app.app_context():
        assert _config(app.test_client()).status_code == 503


@pytest.mark.parametrize(
    "url",
    ["", "https://evil.example/lots/1", "javascript:alert(1)", "http://localhost" + "/x" * 1500],
)
def test_only_this_sites_pages_are_signed(wx_app, fake, url):
    assert _config(wx_app.test_client(), url).status_code == 400
    assert fake.calls == []


def test_the_lot_page_carries_the_card_and_the_sdk_origin_when_configured(wx_app, users):
    lot = make_lot(users["coop"], title="道亭黑豆")
    response = wx_app.test_client().get(f"/lots/{lot.id}")
    html = response.get_data(as_text=True)
    card = re.search(r'<div id="wechat-share"[^>]*>', html, re.S).group(0)
    assert 'data-title="道亭黑豆"' in card
    assert f'data-link="http://localhost/lots/{lot.id}"' in card
    assert 'data-img="http://localhost/static/img/share.png"' in card
    assert 'data-sdk="https://res.wx.qq.com/open/js/jweixin-1.6.0.js"' in card
    assert "还剩 40 吨" in card
    assert "/static/js/wechat_share.js" in html
    assert "script-src 'self' https://res.wx.qq.com" in response.headers["Content-Security-Policy"]
    assert "res.wx.qq.com" not in html.split('<div id="wechat-share"')[0]  # no SDK tag itself


def test_the_shop_page_carries_its_card(wx_app, users):
    office = users["official"].organisation
    html = wx_app.test_client().get(f"/shops/{office.id}").get_data(as_text=True)
    assert f'data-link="http://localhost/shops/{office.id}"' in html
    assert 'data-title="彰武县电商办的县域店铺"' in html


def test_without_the_account_nothing_of_wechat_is_there(client, users):
    lot = make_lot(users["coop"])
    response = client.get(f"/lots/{lot.id}")
    html = response.get_data(as_text=True)
    assert "wechat_share" not in html and "jweixin" not in html and "wechat-share" not in html
    assert "res.wx.qq.com" not in response.headers["Content-Security-Policy"]
    assert client.get("/wechat/jssdk-config?url=http://localhost/").status_code == 404


def test_the_wechat_settings_are_read_and_checked(tmp_path):
    from produce_match.config import ConfigError, build_config

    cfg = build_config(str(tmp_path), environ={})
    assert cfg["WECHAT_APP_ID"] is None and cfg["WECHAT_API_URL"] == "https://api.weixin.qq.com"
    env = {
        "WECHAT_APP_ID": " wxd678efh567hg6787 ",
        "WECHAT_APP_SECRET": SECRET,
        "WECHAT_HTTP_TIMEOUT": "1.5",
    }
    cfg = build_config(str(tmp_path), environ=env)
    assert (cfg["WECHAT_APP_ID"], cfg["WECHAT_HTTP_TIMEOUT"]) == ("wxd678efh567hg6787", 1.5)
    with pytest.raises(ConfigError, match="WECHAT_APP_SECRET must be an AppSecret") as refused:
        build_config(str(tmp_path), environ={"WECHAT_APP_SECRET": "hunter2"})
    assert "hunter2" not in str(refused.value)
    with pytest.raises(ConfigError, match="WECHAT_APP_ID must be an AppID"):
        build_config(str(tmp_path), environ={"WECHAT_APP_ID": "gh_1234"})
    with pytest.raises(ConfigError, match="WECHAT_HTTP_TIMEOUT"):
        build_config(str(tmp_path), environ={"WECHAT_HTTP_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="WECHAT_API_URL"):
        build_config(str(tmp_path), environ={"WECHAT_API_URL": "api.weixin.qq.com"})
