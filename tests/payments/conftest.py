"""Payments are tested against the sandbox gateway running as its own process on loopback
(tests/gateway.py), with the app served by a real server (the gateway's notifications must
reach it)."""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from flask import Flask, g

from produce_match.extensions import db
from tests.alipay_emulator import alipay_emulator  # noqa: F401 (fixture)
from tests.conftest import make_app
from tests.e2e.conftest import LiveServer
from tests.gateway import SECRET, Gateway, free_port, gateway  # noqa: F401 (fixture)

T = TypeVar("T")


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
def app(database_url: str, tmp_path: Path, gateway: Gateway) -> Iterator[Flask]:  # noqa: F811
    """The app, served on a free loopback port, speaking to the gateway process."""
    app = make_app(
        database_url,
        tmp_path / "instance",
        PAYMENTS_SANDBOX_URL=gateway.url,
        PAYMENTS_SANDBOX_SECRET=SECRET,
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
