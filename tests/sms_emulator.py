"""The SMS emulator (devtools/sms_gateway) as tests use it: its own process on a free loopback
port, started with `python -m devtools.sms_gateway` as `make run` starts it, with the site's
development AccessKey; the site sends to it through Aliyun's SDK (SMS_BACKEND=aliyun)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from produce_match.config import SMS_DEV_SETTINGS, SMS_DEV_TEMPLATES
from tests.emulator_process import process_environment, running_process


class SmsEmulator:
    """The emulator process and what a test (or a developer's phone) reads there."""

    def __init__(self, url: str) -> None:
        self.url = url

    def settings(self) -> dict[str, Any]:
        """The site's settings for sending through this emulator."""
        return {
            "SMS_BACKEND": "aliyun",
            "SMS_ENDPOINT": self.url,
            "SMS_TEMPLATES": dict(SMS_DEV_TEMPLATES),
            **SMS_DEV_SETTINGS,
        }

    def messages(self, phone: str) -> list[dict[str, Any]]:
        """The messages sent to `phone`, newest first."""
        answer = requests.get(f"{self.url}/messages", params={"phone": phone}, timeout=10)
        answer.raise_for_status()
        return answer.json()["messages"]

    def code_for(self, phone: str) -> str:
        """The code in the newest verification text to `phone`."""
        for message in self.messages(phone):
            if "code" in message["params"]:
                return message["params"]["code"]
        raise AssertionError(f"no code was texted to {phone}")

    def control(self, **values: Any) -> dict[str, Any]:
        answer = requests.post(f"{self.url}/control", json=values, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def reset(self) -> None:
        self.control(fail=None, limits=True)


@contextlib.contextmanager
def running_sms_emulator(folder: Path) -> Iterator[SmsEmulator]:
    with running_process(
        "devtools.sms_gateway",
        ["--db", str(folder / "sms.sqlite3")],
        folder,
        process_environment(folder),
        "sms-emulator.log",
    ) as url:
        yield SmsEmulator(url)


@pytest.fixture(scope="session")
def sms_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmsEmulator]:
    """The SMS emulator process, shared by the tests of a run."""
    with running_sms_emulator(tmp_path_factory.mktemp("sms-emulator")) as running:
        yield running


@pytest.fixture
def sms_live_server(database_url: str, tmp_path: Path, sms_emulator: SmsEmulator) -> Iterator[Any]:
    """The app served on a free loopback port, texting through the emulator process."""
    from tests.conftest import make_app
    from tests.emulator_process import serving_with

    app = make_app(database_url, tmp_path / "live", **sms_emulator.settings())
    with serving_with(app, sms_emulator) as server:
        yield server
