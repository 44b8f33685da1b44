"""Serving the app for benchmarks and fault tests: a fresh database, and gunicorn on loopback.

gunicorn runs with the project's own gunicorn.conf.py (the production settings), bound to a free
127.0.0.1 port, with the worker count and the database given through the environment.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_config(database_url: str, instance: Path) -> dict[str, Any]:
    """The settings of the served app (and of the process preparing its database)."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key-not-for-production-use",
        "INSTANCE_PATH": str(instance),
        "AUTO_SETUP": False,
        "LOAD_DEMO": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }


class Gunicorn:
    """`with Gunicorn(config, workers=4) as server:` ... `server.url`, `server.worker_pids()`."""

    def __init__(self, config: dict[str, Any], *, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            **{k: str(v) for k, v in config.items()},
            "AUTO_SETUP": "0",
            "LOAD_DEMO": "0",
            "WEB_CONCURRENCY": str(workers),
            "BIND": f"127.0.0.1:{self.port}",
            "ACCESS_LOG": "",
            "LOG_LEVEL": "warning",
            "PYTHONPATH": str(ROOT),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    def __enter__(self) -> Gunicorn:
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "wsgi:app",
        ]
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            command, cwd=ROOT, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"gunicorn did not start: {self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        """The master's current worker processes."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def report_head(url: str, workers: int, clients: int) -> dict[str, Any]:
    """The first keys of every server benchmark's report: the machine, the database, the load."""
    return {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "database": "PostgreSQL" if url.startswith("postgres") else "SQLite",
        "gunicorn_workers": workers,
        "clients": clients,
    }
