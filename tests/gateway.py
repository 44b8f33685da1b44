"""The sandbox gateway (devtools/sandbox_gateway) as tests use it: its own process on a free
loopback port, started with `python -m devtools.sandbox_gateway`, as `make run` starts it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import make_app
from tests.e2e.conftest import LiveServer
from tests.emulator_process import (  # noqa: F401 (ROOT, free_port: re-exported)
    ROOT,
    free_port,
    process_environment,
    running_process,
    serving_with,
)

SECRET = "test-sandbox-secret-payments"


class Gateway:
    """The sandbox gateway process, and what a test (or a buyer's browser) does with it."""

    def __init__(self, url: str, secret: str = SECRET) -> None:
        self.url = url
        self.secret = secret
        self.auth = {"Authorization": f"Bearer {secret}"}

    def control(self, **values: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/control", json=values, headers=self.auth, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control(copies=1, hold=False, drop=False, slow_create=0, slow_seconds=3.0)

    def flush(self) -> int:
        response = requests.post(f"{self.url}/control/flush", headers=self.auth, timeout=10)
        return response.json()["released"]

    def undelivered(self) -> dict[str, int]:
        return requests.get(f"{self.url}/control/outbox", headers=self.auth, timeout=10).json()

    def payments(self, reference: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.url}/api/payments",
            params={"reference": reference},
            headers=self.auth,
            timeout=10,
        )
        return response.json()["items"]

    def payouts(self, reference: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.url}/api/payouts",
            params={"reference": reference},
            headers=self.auth,
            timeout=10,
        )
        return response.json()["items"]

    def checkout(self, pay_url: str, action: str = "pay") -> requests.Response:
        """What the buyer's browser does on the hosted checkout page."""
        page = requests.get(pay_url, timeout=10)
        assert page.status_code == 200, page.text[:500]
        return requests.post(pay_url, data={"action": action}, allow_redirects=False, timeout=10)


def gateway_environment(folder: Path, secret: str = SECRET, **more: str) -> dict[str, str]:
    """The environment the gateway process reads its settings from (as the site's own)."""
    return process_environment(folder, PAYMENTS_SANDBOX_SECRET=secret, **more)


def gateway_command(port: int, db_path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "devtools.sandbox_gateway",
        "--port",
        str(port),
        "--db",
        str(db_path),
    ]


@contextlib.contextmanager
def running_gateway(
    folder: Path, secret: str = SECRET, db_path: Path | None = None
) -> Iterator[Gateway]:
    """The gateway process on a free loopback port, until the block ends."""
    with running_process(
        "devtools.sandbox_gateway",
        ["--db", str(db_path or folder / "gateway.sqlite3")],
        folder,
        gateway_environment(folder, secret),
        "gateway.log",
    ) as url:
        yield Gateway(url, secret)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The sandbox gateway process, shared by the tests of a run."""
    with running_gateway(tmp_path_factory.mktemp("payments-gateway")) as running:
        yield running


@pytest.fixture
def gateway_live_server(
    database_url: str, tmp_path: Path, gateway: Gateway
) -> Iterator[LiveServer]:
    """The app served on a free loopback port (as tests/e2e's `live_server`), paying through
    the gateway process."""
    app = make_app(
        database_url,
        tmp_path / "live",
        PAYMENTS_SANDBOX_URL=gateway.url,
        PAYMENTS_SANDBOX_SECRET=SECRET,
    )
    with serving_with(app, gateway) as server:
        yield server
