"""The WeChat Pay emulator as a process of its own: never in production, callbacks retried on
WeChat Pay's schedule (compressed), and a production site that points at it refused."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from wechatpayv3.utils import rsa_verify
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devtools.wechatpay_server import SCHEDULE, ensure_keys
from tests.wechatpay_emulator import (  # noqa: F401 (fixture)
    APPID,
    KEY_ID,
    MCHID,
    ROOT,
    Emulator,
    wechat_emulator,
)

pytestmark = pytest.mark.slow
PRODUCTION = {
    "PRODUCE_MATCH_ENV": "production",
    "SECRET_KEY": "p" * 20 + "0123456789abcdefghij",
    "AUTO_SETUP": "0",
    "SESSION_COOKIE_SECURE": "1",
    "TRUSTED_PROXIES": "1",
}


def test_the_emulator_refuses_to_run_in_production(tmp_path):
    env = {
        **os.environ,
        **PRODUCTION,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "devtools.wechatpay_server", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "does not run in production" in result.stderr
    assert not (tmp_path / "wechatpay_dev").exists(), "no key is made for production"


def test_check_deploy_refuses_a_site_paying_through_the_emulator(tmp_path, database_url):
    keys = ensure_keys(tmp_path / "keys")
    env = {
        **os.environ,
        **PRODUCTION,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "prod"),
        "PAYMENTS_METHODS": "transfer,wechatpay",
        "WECHATPAY_BASE_URL": "http://127.0.0.1:5003",
        "WECHATPAY_MCHID": MCHID,
        "WECHATPAY_APPID": APPID,
        "WECHATPAY_CERT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "WECHATPAY_PUBLIC_KEY_ID": KEY_ID,
        "WECHATPAY_PRIVATE_KEY_FILE": str(keys / "apiclient_key.pem"),
        "WECHATPAY_PUBLIC_KEY_FILE": str(keys / "pub_key.pem"),
        "WECHATPAY_APIV3_KEY_FILE": str(keys / "apiv3_key.txt"),
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "flask", "--app", "wsgi", "check-deploy", "--workers", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = result.stdout + result.stderr
    assert result.returncode != 0
    assert "WECHATPAY_BASE_URL" in said and "not an https://" in said
    assert (keys / "apiv3_key.txt").read_text().strip() not in said


class FailingThenOk:
    """A merchant's callback address that answers 500 to the first `failures` deliveries."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[tuple[float, dict[str, str], str]] = []

        @Request.application
        def receive(request: Request) -> Response:
            self.seen.append(
                (time.monotonic(), dict(request.headers), request.get_data(as_text=True))
            )
            if len(self.seen) <= self.failures:
                return Response('{"code":"FAIL","message":"busy"}', status=500)
            return Response(status=204)

        self.server = make_server("127.0.0.1", 0, receive, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FailingThenOk:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def test_a_refused_callback_is_sent_again_on_wechat_pays_schedule(wechat_emulator):  # noqa: F811
    emulator: Emulator = wechat_emulator
    emulator.reset()
    scale = 0.05
    emulator.control(retry_scale=scale)
    with FailingThenOk(failures=3) as merchant:
        no = "RETRY" + str(int(time.time() * 1000))
        answer = emulator.call(
            "POST",
            "/v3/pay/transactions/native",
            {
                "appid": APPID,
                "mchid": MCHID,
                "description": "重试",
                "out_trade_no": no,
                "notify_url": merchant.url,
                "amount": {"total": 100, "currency": "CNY"},
            },
        )
        assert answer.status_code == 200, answer.text
        emulator.scan_and(answer.json()["code_url"], "pay")
        deadline = time.monotonic() + 30
        while len(merchant.seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    emulator.reset()
    assert len(merchant.seen) == 4
    bodies = {body for _, _, body in merchant.seen}
    assert len(bodies) == 1, "each retry is the same callback (the same id and resource)"
    nonces = {headers["Wechatpay-Nonce"] for _, headers, _ in merchant.seen}
    assert len(nonces) == 4, "each retry is signed anew"
    for _, headers, body in merchant.seen:
        assert rsa_verify(
            headers["Wechatpay-Timestamp"],
            headers["Wechatpay-Nonce"],
            body,
            headers["Wechatpay-Signature"],
            emulator.wechatpay_public,
        )
    gaps = [b[0] - a[0] for a, b in zip(merchant.seen, merchant.seen[1:], strict=False)]
    # 15 s, 15 s, 30 s scaled: each gap at least its share, and in that order of size
    for gap, wait in zip(gaps, SCHEDULE, strict=False):
        assert gap >= wait * scale * 0.9, (gaps, SCHEDULE[:3])
    assert gaps[2] > gaps[0]
