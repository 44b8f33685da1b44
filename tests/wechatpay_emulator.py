"""The WeChat Pay emulator (devtools/wechatpay_server) as tests use it: its own process on a free
loopback port, started with `python -m devtools.wechatpay_server`, as `make run` starts it,
with a key set made for the test run.

The test's client speaks to it with the community SDK's own code (wechatpayv3): its
`build_authorization` signs the calls and its `rsa_verify` checks every answer, so the emulator
is held to what the SDK expects of WeChat Pay, not to our reading of the protocol.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from wechatpayv3.utils import build_authorization, load_private_key, load_public_key, rsa_verify

from devtools.wechatpay_server import APIV3_KEY, MERCHANT_KEY, WECHATPAY_PUBLIC, ensure_keys
from produce_match.config import WECHATPAY_DEV_MERCHANT
from tests.conftest import make_app
from tests.e2e.conftest import LiveServer
from tests.emulator_process import (  # noqa: F401 (ROOT: re-exported)
    ROOT,
    process_environment,
    running_process,
    serving_with,
)

MCHID = WECHATPAY_DEV_MERCHANT["WECHATPAY_MCHID"]
APPID = WECHATPAY_DEV_MERCHANT["WECHATPAY_APPID"]
SERIAL_NO = WECHATPAY_DEV_MERCHANT["WECHATPAY_CERT_SERIAL_NO"]
KEY_ID = WECHATPAY_DEV_MERCHANT["WECHATPAY_PUBLIC_KEY_ID"]


class Emulator:
    """The emulator process, and what a test (or the buyer's phone) does with it."""

    def __init__(self, url: str, keys: Path) -> None:
        self.url = url
        self.keys = keys
        self.merchant_key = load_private_key((keys / MERCHANT_KEY).read_text())
        self.wechatpay_public = load_public_key((keys / WECHATPAY_PUBLIC).read_text())
        self.apiv3_key = (keys / APIV3_KEY).read_text().strip()

    def settings(self) -> dict[str, Any]:
        """The site's settings for this emulator and its keys."""
        return {
            "WECHATPAY_BASE_URL": self.url,
            "WECHATPAY_PRIVATE_KEY_FILE": str(self.keys / MERCHANT_KEY),
            "WECHATPAY_PUBLIC_KEY_FILE": str(self.keys / WECHATPAY_PUBLIC),
            "WECHATPAY_APIV3_KEY_FILE": str(self.keys / APIV3_KEY),
            **WECHATPAY_DEV_MERCHANT,
        }

    def call(self, method: str, path: str, data: Any = None) -> requests.Response:
        """A call signed by the SDK's code; the answer's signature checked by it too."""
        body = json.dumps(data) if data is not None else ""
        headers = {
            "Authorization": build_authorization(
                path, method, MCHID, SERIAL_NO, self.merchant_key, data=body
            ),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        answer = requests.request(
            method, self.url + path, data=body.encode() or None, headers=headers, timeout=10
        )
        self.check_signed(answer)
        return answer

    def check_signed(self, answer: requests.Response) -> None:
        assert answer.headers["Wechatpay-Serial"] == KEY_ID
        assert rsa_verify(
            answer.headers["Wechatpay-Timestamp"],
            answer.headers["Wechatpay-Nonce"],
            answer.text,
            answer.headers["Wechatpay-Signature"],
            self.wechatpay_public,
        ), "the emulator's answer must verify with the SDK's code"

    def control(self, **values: Any) -> dict[str, Any]:
        answer = self.call("POST", "/control", values)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def reset(self) -> None:
        self.control(copies=1, hold=False, drop=False, retry_scale=0.01)

    def flush(self) -> int:
        return self.call("POST", "/control/flush", {}).json()["released"]

    def state(self) -> dict[str, Any]:
        return self.call("GET", "/control/state").json()

    def page_for(self, code_url: str) -> str:
        """What WeChat on the buyer's phone opens for a scanned Native code: the emulator's
        address in place of `weixin://`."""
        assert code_url.startswith("weixin://wxpay/bizpayurl?pr="), code_url
        return self.url + "/" + code_url[len("weixin://") :]

    def scan_and(self, code_url: str, action: str = "pay") -> requests.Response:
        """The buyer scans the code with WeChat and pays (or fails, or abandons)."""
        page = self.page_for(code_url)
        shown = requests.get(page, timeout=10)
        assert shown.status_code == 200, shown.text[:300]
        return requests.post(page, data={"action": action}, allow_redirects=False, timeout=10)


@contextlib.contextmanager
def running_emulator(folder: Path) -> Iterator[Emulator]:
    """The emulator process on a free loopback port, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = ensure_keys(folder / "keys")
    with running_process(
        "devtools.wechatpay_server",
        ["--db", str(folder / "emulator.sqlite3"), "--keys", str(keys)],
        folder,
        process_environment(folder),
        "emulator.log",
    ) as url:
        yield Emulator(url, keys)


@pytest.fixture(scope="session")
def wechat_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The WeChat Pay emulator process, shared by the tests of a run."""
    with running_emulator(tmp_path_factory.mktemp("wechatpay-emulator")) as running:
        yield running


@pytest.fixture
def wechat_live_server(
    database_url: str, tmp_path: Path, wechat_emulator: Emulator
) -> Iterator[LiveServer]:
    """The app served on a free loopback port, paying through the emulator process."""
    app = make_app(database_url, tmp_path / "live", **wechat_emulator.settings())
    with serving_with(app, wechat_emulator) as server:
        yield server


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
