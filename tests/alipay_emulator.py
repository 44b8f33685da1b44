"""The Alipay emulator (devtools/alipay_gateway) as tests use it: its own process on a free
loopback port with keys it generates in the test run's folder, started with
`python -m devtools.alipay_gateway`, as `make run` starts it; and python-alipay-sdk with the
same keys, for the tests to sign and verify as Alipay's own SDK does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from alipay import AliPay

from tests.emulator_process import running_process
from tests.gateway import gateway_environment

APP_ID = "2021000000009999"
SELLER_ID = "2088000000009999"


class Emulator:
    """The emulator process, its keys, and what a test (or a buyer's browser) does with it."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.gateway_url = f"{url}/gateway.do"
        self.folder = folder

    def key(self, name: str) -> str:
        return (self.folder / name).read_text()

    def settings(self) -> dict[str, Any]:
        """The site's settings to pay through this emulator."""
        return {
            "ALIPAY_APP_ID": APP_ID,
            "ALIPAY_SELLER_ID": SELLER_ID,
            "ALIPAY_GATEWAY_URL": self.gateway_url,
            "ALIPAY_APP_PRIVATE_KEY_FILE": str(self.folder / "app_private_key.pem"),
            "ALIPAY_PUBLIC_KEY_FILE": str(self.folder / "alipay_public_key.pem"),
        }

    def as_alipay(self) -> AliPay:
        """The SDK holding Alipay's side of the keys: signs as Alipay signs (notifications)."""
        return AliPay(
            appid=APP_ID,
            app_private_key_string=self.key("alipay_private_key.pem"),
            alipay_public_key_string=self.key("app_public_key.pem"),
            sign_type="RSA2",
        )

    def as_app(self) -> AliPay:
        """The SDK holding the app's keys: verifies what Alipay signs."""
        return AliPay(
            appid=APP_ID,
            app_private_key_string=self.key("app_private_key.pem"),
            alipay_public_key_string=self.key("alipay_public_key.pem"),
            sign_type="RSA2",
        )

    def notification(self, **params: str) -> bytes:
        """A notification signed by the SDK as Alipay (sign_type added after signing, as
        Alipay leaves it out of what it signs)."""
        sdk = self.as_alipay()
        sign_type = params.pop("sign_type", "RSA2")
        signed = sdk.sign_data(dict(params))
        return (signed + "&" + urlencode({"sign_type": sign_type})).encode()

    def control(self, **values: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/control", json=values, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control(copies=1, hold=False, drop=False, time_scale=0.05, api_down=0)
        requests.post(f"{self.url}/control/clear", timeout=10).raise_for_status()

    def flush(self) -> int:
        return requests.post(f"{self.url}/control/flush", timeout=10).json()["released"]

    def outbox(self) -> dict[str, int]:
        return requests.get(f"{self.url}/control/outbox", timeout=10).json()

    def trade(self, out_trade_no: str) -> dict[str, Any] | None:
        items = requests.get(
            f"{self.url}/control/trades", params={"out_trade_no": out_trade_no}, timeout=10
        ).json()["items"]
        return items[0] if items else None

    def transfers(self, prefix: str = "") -> list[dict[str, Any]]:
        return requests.get(
            f"{self.url}/control/transfers", params={"out_biz_no": prefix}, timeout=10
        ).json()["items"]

    def checkout(self, pay_url: str, action: str = "pay") -> requests.Response:
        """What the buyer's browser does on the checkout page: open it, press a button."""
        page = requests.get(pay_url, timeout=10)
        assert page.status_code == 200, page.text[:500]
        trade_no = page.text.split('action="/checkout/')[1].split('"')[0]
        return requests.post(
            f"{self.url}/checkout/{trade_no}",
            data={"action": action},
            allow_redirects=False,
            timeout=10,
        )


@contextlib.contextmanager
def running_emulator(folder: Path) -> Iterator[Emulator]:
    """The emulator process on a free loopback port, until the block ends."""
    with running_process(
        "devtools.alipay_gateway",
        ["--dir", str(folder / "alipay")],
        folder,
        gateway_environment(folder, ALIPAY_APP_ID=APP_ID, ALIPAY_SELLER_ID=SELLER_ID),
        "emulator.log",
    ) as url:
        emulator = Emulator(url, folder / "alipay")
        emulator.reset()
        yield emulator


@pytest.fixture(scope="session")
def alipay_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The Alipay emulator process, shared by the tests of a run."""
    with running_emulator(tmp_path_factory.mktemp("alipay-emulator")) as running:
        yield running
