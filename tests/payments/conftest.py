"""Payments are tested against the sandbox gateway running as its own process on loopback,
with the app served by a real server (the gateway's notifications must reach it)."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from flask import Flask, g

from produce_match.extensions import db
from tests.conftest import make_app
from tests.e2e.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-sandbox-secret-payments"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gateway:
    """The sandbox gateway process, and what a test (or a buyer's browser) does with it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.auth = {"Authorization": f"Bearer {SECRET}"}

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


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`flask payments sandbox` as a separate process on a free loopback port."""
    folder = tmp_path_factory.mktemp("payments-gateway")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'unused-payments.sqlite3'}",
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": "gateway-process",
        "PAYMENTS_SANDBOX_SECRET": SECRET,
        "PAYMENTS_SANDBOX_URL": f"http://127.0.0.1:{port}",
        "AUTO_SETUP": "0",
    }
    log = open(folder / "gateway.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "payments",
            "sandbox",
            "--port",
            str(port),
            "--db",
            str(folder / "gateway.sqlite3"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "gateway.log").read_text()[-3000:])
            time.sleep(0.1)
        yield Gateway(url)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(autouse=True)
def _collect_connections_left_open() -> Iterator[None]:
    """After each payments test, collect what it left: on PostgreSQL one of these tests (we have
    not found which) leaves a psycopg connection in a reference cycle, and the ResourceWarning
    its finaliser gives failed whichever later test the garbage collector happened to run in.
    Collected here, at the end of the test that left it, and only that warning is ignored."""
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*was deleted while still open", category=ResourceWarning
        )
        gc.collect()


@pytest.fixture
def app(database_url: str, tmp_path: Path, gateway: Gateway) -> Iterator[Flask]:
    """The app, served on a free loopback port, speaking to the gateway process."""
    app = make_app(
        database_url,
        tmp_path / "instance",
        PAYMENTS_SANDBOX_URL=gateway.url,
        PAYMENTS_SANDBOX_SECRET=SECRET,
        PAYMENTS_SANDBOX_MOUNT=False,
        PAYMENTS_HTTP_TIMEOUT=10.0,
    )
    gateway.reset()
    with LiveServer(app) as server:
        app.config["PAYMENTS_PUBLIC_URL"] = server.url
        with app.app_context():
            yield app
            g.pop("search_pending", None)  # the index is not under test here
            db.session.remove()
        with app.app_context():
            db.engine.dispose()
    gateway.reset()


def eventually(check: Callable[[], T], timeout: float = 30) -> T:
    """Wait until `check()` is true (each look in a fresh transaction, so that the server's
    writes are seen and no lock is held meanwhile); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        try:
            value = check()
        finally:
            # Outside a request every transaction begins IMMEDIATE on SQLite: holding it over
            # the sleep would starve the server's writers of the lock.
            db.session.rollback()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
