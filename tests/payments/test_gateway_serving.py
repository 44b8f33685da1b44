"""The sandbox gateway as the site serves it: the same security headers as every other page,
no thread started before a fork, and never in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from produce_match.headers import content_security_policy

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-sandbox-secret-serving"
#: the headers every response of the project carries, whoever answers it
SAME_HEADERS = (
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
)


def _mounted(app_factory: Any, database_url: str, tmp_path: Path) -> Any:
    return app_factory(
        database_url,
        "mounted",
        PAYMENTS_SANDBOX_MOUNT=True,
        PAYMENTS_SANDBOX_SECRET=SECRET,
        PAYMENTS_SANDBOX_DB=str(tmp_path / "gateway.sqlite3"),
    )


def _create(client: Any, return_url: str | None) -> dict[str, Any]:
    response = client.post(
        "/sandbox-gateway/api/payments",
        json={
            "reference": "PMTESTHEADERS",
            "amount_fen": 680_00,
            "currency": "CNY",
            "return_url": return_url,
        },
        headers={"Authorization": f"Bearer {SECRET}", "Idempotency-Key": os.urandom(8).hex()},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def test_the_gateways_pages_carry_the_sites_headers(app_factory, database_url, tmp_path):
    app = _mounted(app_factory, database_url, tmp_path)
    client = app.test_client()
    site = client.get("/login")
    payment = _create(client, "https://shop.example/payments/1/return")
    checkout = client.get(f"/sandbox-gateway/checkout/{payment['id']}")
    assert checkout.status_code == 200
    # the checkout's form posts to the gateway, which sends the buyer back to the shop
    assert checkout.headers["Content-Security-Policy"] == content_security_policy(
        ["https://shop.example"]
    )
    assert "base-uri 'none'" in checkout.headers["Content-Security-Policy"]
    others = [
        checkout,
        client.get("/sandbox-gateway/checkout.css"),
        client.get("/sandbox-gateway/"),
        client.get("/sandbox-gateway/checkout/pay_nothing"),  # 404
        client.post(f"/sandbox-gateway/checkout/{payment['id']}", data={"action": "x"}),  # 400
    ]
    for response in others:
        for name in SAME_HEADERS:
            assert response.headers.get(name) == site.headers[name], (response.request.path, name)
        policy = response.headers["Content-Security-Policy"]
        assert "form-action 'self'" in policy and "base-uri 'none'" in policy, policy
        response.close()  # the stylesheet is a file being streamed
    plain = client.get("/sandbox-gateway/")
    assert plain.headers["Content-Security-Policy"] == content_security_policy([])


def test_the_gateway_sets_hsts_over_https(app_factory, database_url, tmp_path):
    app = _mounted(app_factory, database_url, tmp_path)
    response = app.test_client().get("/sandbox-gateway/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


# --- no thread before the fork ---------------------------------------------------------------


def _undelivered(db_path: Path) -> None:
    """A gateway database with a notification still to send (to nobody: it stays undelivered)."""
    from produce_match.payments.sandbox import Store, _event

    store = Store(str(db_path))
    with store.write() as db:
        _event(db, store, "http://127.0.0.1:9/nobody", "payment.succeeded", {"payment_id": "x"})


def test_creating_the_app_starts_no_thread(database_url, tmp_path):
    """Not even with a notification left over from the last run (gunicorn forks after this)."""
    _undelivered(tmp_path / "gateway.sqlite3")
    script = (
        "import threading, time\n"
        "from tests.conftest import make_app\n"
        "from pathlib import Path\n"
        f"app = make_app({database_url!r}, Path({str(tmp_path / 'instance')!r}),\n"
        f"    PAYMENTS_SANDBOX_MOUNT=True, PAYMENTS_SANDBOX_SECRET={SECRET!r},\n"
        f"    PAYMENTS_SANDBOX_DB={str(tmp_path / 'gateway.sqlite3')!r})\n"
        "assert 'sandbox_gateway' in app.extensions\n"
        "print([t.name for t in threading.enumerate()])\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "['MainThread']"


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.slow
def test_notifications_flow_under_gunicorn_with_preload(database_url, tmp_path):
    """The gateway mounted in the site under gunicorn (preload, as gunicorn.conf.py runs it),
    restarted with a notification left undelivered: new payments are still notified."""
    from bench.server import Gunicorn, app_config

    db_path = tmp_path / "gateway.sqlite3"
    _undelivered(db_path)
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    (tmp_path / "served").mkdir()
    config = {
        **app_config(database_url, tmp_path / "served"),
        "PAYMENTS_SANDBOX_MOUNT": "1",
        "PAYMENTS_SANDBOX_SECRET": SECRET,
        "PAYMENTS_SANDBOX_DB": str(db_path),
        # gunicorn's own control socket answers from a thread in the master, started after the
        # first workers: not ours, and it would hide ours from the count below
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }
    try:
        with Gunicorn(config, workers=1, log=tmp_path / "gunicorn.log") as server:
            assert server.process is not None
            # the master only forks workers: a thread of its own would be copied without running
            master_threads = os.listdir(f"/proc/{server.process.pid}/task")
            assert len(master_threads) == 1, master_threads
            auth = {"Authorization": f"Bearer {SECRET}", "Idempotency-Key": "k1"}
            created = requests.post(
                f"{server.url}/sandbox-gateway/api/payments",
                json={
                    "reference": "PMAFTERFORK",
                    "amount_fen": 100,
                    "currency": "CNY",
                    "notify_url": f"http://127.0.0.1:{receiver.server_port}/notify",
                },
                headers=auth,
                timeout=30,
            )
            assert created.status_code == 201, created.text
            paid = requests.post(
                f"{server.url}/sandbox-gateway/checkout/{created.json()['id']}",
                data={"action": "pay"},
                allow_redirects=False,
                timeout=30,
            )
            assert paid.status_code == 302
            deadline = time.monotonic() + 60
            while not _Receiver.received and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert [e["data"]["reference"] for e in _Receiver.received] == ["PMAFTERFORK"], (
        tmp_path / "gunicorn.log"
    ).read_text()[-2000:]


# --- never in production ---------------------------------------------------------------------

PRODUCTION_SECRET = "p" * 20 + "0123456789abcdefghij"


def _production(tmp_path: Path, database_url: str) -> dict[str, Any]:
    return {
        "PRODUCE_MATCH_ENV": "production",
        "SECRET_KEY": PRODUCTION_SECRET,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "prod"),
        "AUTO_SETUP": False,
        "LOAD_DEMO": False,
    }


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("PAYMENTS_METHODS", ("sandbox", "transfer"), "PAYMENTS_METHODS"),
        ("PAYMENTS_SANDBOX_MOUNT", True, "PAYMENTS_SANDBOX_MOUNT"),
        ("PAYMENTS_SANDBOX_URL", "http://127.0.0.1:5001", "PAYMENTS_SANDBOX_URL"),
    ],
)
def test_production_with_the_sandbox_refuses_to_start(
    tmp_path, database_url, setting, value, named
):
    from produce_match import ConfigError, create_app

    with pytest.raises(ConfigError, match=named):
        create_app({**_production(tmp_path, database_url), setting: value})


def _environment(tmp_path: Path, database_url: str, **more: str) -> dict[str, str]:
    env = {k: str(v) for k, v in _production(tmp_path, database_url).items()}
    env.update(more)
    return {**os.environ, **env, "SESSION_COOKIE_SECURE": "1", "TRUSTED_PROXIES": "1"}


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_refuses_the_sandbox(tmp_path, database_url, app_factory):
    """From the environment (the app will not even start), and in a running app's settings."""
    env = _environment(tmp_path, database_url, PAYMENTS_METHODS="sandbox,transfer")
    result = _flask(env, "check-deploy", "--workers", "1")
    assert result.returncode == 1
    assert "PAYMENTS_METHODS offers 'sandbox'" in result.stderr + result.stdout
    for name in ("up", "ix"):
        (tmp_path / name).mkdir()
    app = app_factory(
        database_url,
        "prod-app",
        **{k: v for k, v in _production(tmp_path, database_url).items() if k != "DATABASE_URL"},
        SESSION_COOKIE_SECURE=True,
        TRUSTED_PROXIES=1,
        UPLOAD_DIR=str(tmp_path / "up"),
        SEARCH_INDEX_DIR=str(tmp_path / "ix"),
    )
    from produce_match import deploy

    with app.app_context():
        assert deploy.sandbox_in_production(app.config) == []
        app.config["PAYMENTS_SANDBOX_URL"] = "http://127.0.0.1:5001"
        found = deploy.problems(workers=1, nodes=1, tls_in_gunicorn=False)
    assert any("PAYMENTS_SANDBOX_URL is set in production" in p for p in found), found


def test_the_sandbox_command_refuses_to_run_in_production(tmp_path, database_url):
    result = _flask(_environment(tmp_path, database_url), "payments", "sandbox", "--port", "9")
    assert result.returncode != 0
    assert "does not run in production" in result.stderr + result.stdout
