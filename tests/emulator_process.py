"""Starting a payment-provider emulator (devtools/…) as tests use it: its own process with
`python -m devtools.<name>`, as `make run` starts it, on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import requests
from flask import Flask

from tests.e2e.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[1]


def process_environment(folder: Path, **settings: str) -> dict[str, str]:
    """The environment an emulator process reads its settings from (as the site's own)."""
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'unused.sqlite3'}",
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": "emulator-process",
        "AUTO_SETUP": "0",
        **settings,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_process(
    module: str, args: list[str], folder: Path, env: Mapping[str, str], log_name: str
) -> Iterator[str]:
    """`python -m module --port PORT *args` on a free loopback port, its output in
    `folder / log_name`; its address once `/` answers, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / log_name
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module, "--port", str(port), *args],
        cwd=ROOT,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with requests.get(url + "/", timeout=1) as answer:
                    if answer.ok:
                        break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-3000:])
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


class Resettable(Protocol):
    def reset(self) -> Any: ...


@contextlib.contextmanager
def serving_with(app: Flask, emulator: Resettable) -> Iterator[LiveServer]:
    """The app served on a free loopback port (as tests/e2e's `live_server`), paying through
    the emulator process, whose switches are reset before and after."""
    emulator.reset()
    with LiveServer(app) as server:
        yield server
    with app.app_context():
        from produce_match.extensions import db

        db.session.remove()
        db.engine.dispose()
    emulator.reset()
