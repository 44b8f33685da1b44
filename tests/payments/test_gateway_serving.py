"""The sandbox gateway, a development tool of its own (devtools/sandbox_gateway) run as its own
process: the same security headers as the site's pages, no thread before it serves, what an
earlier run left undelivered sent after a restart, and never in production: the product does
not import it, a production configuration refuses it, and the process refuses to start."""

from __future__ import annotations

import ast
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

from produce_match.web.security import content_security_policy
from tests.gateway import Gateway, gateway_command, gateway_environment, running_gateway

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


def _create(gateway: Gateway, return_url: str | None) -> dict[str, Any]:
    response = requests.post(
        f"{gateway.url}/api/payments",
        json={
            "reference": "PMTESTHEADERS",
            "amount_fen": 680_00,
            "currency": "CNY",
            "return_url": return_url,
        },
        headers={**gateway.auth, "Idempotency-Key": os.urandom(8).hex()},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_gateways_pages_carry_the_sites_headers(app_factory, database_url, gateway):
    site = app_factory(database_url, "site").test_client().get("/login")
    payment = _create(gateway, "https://shop.example/payments/1/return")
    checkout = requests.get(f"{gateway.url}/checkout/{payment['id']}", timeout=10)
    assert checkout.status_code == 200
    assert payment["checkout_url"] == f"{gateway.url}/checkout/{payment['id']}"
    # the checkout's form posts to the gateway, which sends the buyer back to the shop
    assert checkout.headers["Content-Security-Policy"] == content_security_policy(
        ["https://shop.example"]
    )
    assert "base-uri 'none'" in checkout.headers["Content-Security-Policy"]
    others = [
        checkout,
        requests.get(f"{gateway.url}/checkout.css", timeout=10),
        requests.get(f"{gateway.url}/", timeout=10),
        requests.get(f"{gateway.url}/checkout/pay_nothing", timeout=10),  # 404
        requests.post(
            f"{gateway.url}/checkout/{payment['id']}", data={"action": "x"}, timeout=10
        ),  # 400
    ]
    assert [r.status_code for r in others] == [200, 200, 200, 404, 400]
    for response in others:
        for name in SAME_HEADERS:
            assert response.headers.get(name) == site.headers[name], (response.url, name)
        policy = response.headers["Content-Security-Policy"]
        assert "form-action 'self'" in policy and "base-uri 'none'" in policy, policy
    plain = requests.get(f"{gateway.url}/", timeout=10)
    assert plain.headers["Content-Security-Policy"] == content_security_policy([])


def test_the_gateway_sets_hsts_over_https(tmp_path):
    from devtools.sandbox_gateway import create_gateway

    gateway = create_gateway(SECRET, str(tmp_path / "gateway.sqlite3"))
    response = gateway.test_client().get("/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_site_sends_the_buyer_to_the_gateways_own_address(app_factory, database_url):
    """The pay button's redirect leads to the gateway's origin: the site's form-action allows it;
    nothing of the site answers under the old mount."""
    app = app_factory(database_url, "site", PAYMENTS_SANDBOX_URL="http://127.0.0.1:5999")
    assert "http://127.0.0.1:5999" in app.config["CSP_FORM_ACTION"]
    client = app.test_client()
    assert (
        "form-action 'self' http://127.0.0.1:5999"
        in client.get("/login").headers["Content-Security-Policy"]
    )
    assert client.get("/sandbox-gateway/").status_code == 404


# --- no thread before it serves; what was left is sent after a restart ------------------------


def _undelivered(db_path: Path, url: str = "http://127.0.0.1:9/nobody") -> None:
    """A gateway database with a notification still to send."""
    from devtools.sandbox_gateway import Store, _event

    store = Store(str(db_path))
    with store.write() as db:
        _event(db, store, url, "payment.succeeded", {"reference": "PMLEFTOVER"})


def test_creating_the_gateway_starts_no_thread(tmp_path):
    """Not even with a notification left over from the last run: only serving sends."""
    _undelivered(tmp_path / "gateway.sqlite3")
    script = (
        "import threading\n"
        "from devtools.sandbox_gateway import create_gateway\n"
        f"create_gateway({SECRET!r}, {str(tmp_path / 'gateway.sqlite3')!r})\n"
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


def test_a_restarted_gateway_sends_what_an_earlier_run_left(tmp_path):
    """A notification left undelivered is sent when the process starts again, signed with the
    site's secret, without any request to the gateway first."""
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    db_path = tmp_path / "gateway.sqlite3"
    _undelivered(db_path, f"http://127.0.0.1:{receiver.server_port}/notify")
    try:
        with running_gateway(tmp_path / "gw", SECRET, db_path):
            deadline = time.monotonic() + 60
            while not _Receiver.received and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert [e["data"]["reference"] for e in _Receiver.received] == ["PMLEFTOVER"]


def test_the_site_and_the_gateway_starting_together_share_one_secret(tmp_path):
    """`make run` starts both at once on a fresh instance folder: each derives the shared
    PAYMENTS_SANDBOX_SECRET from the one SECRET_KEY the first of them wrote."""
    script = (
        "import sys\n"
        "from produce_match.config import build_config\n"
        "print(build_config(sys.argv[1], environ={})['PAYMENTS_SANDBOX_SECRET'])\n"
    )
    started = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", script, str(tmp_path / "instance")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    answers = [process.communicate(timeout=120) for process in started]
    assert [process.returncode for process in started] == [0] * 4, answers
    secrets = {out.strip() for out, _ in answers}
    assert len(secrets) == 1 and "" not in secrets, secrets
    assert [p.name for p in (tmp_path / "instance").iterdir()] == ["secret_key"]


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


def test_the_gateway_process_refuses_to_run_in_production(tmp_path, database_url):
    env = gateway_environment(
        tmp_path, **{k: str(v) for k, v in _production(tmp_path, database_url).items()}
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        gateway_command(9, tmp_path / "gateway.sqlite3"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "does not run in production" in result.stderr
    assert not (tmp_path / "gateway.sqlite3").exists()


def test_the_mount_setting_is_refused_naming_it(tmp_path):
    """The gateway is never mounted in the site any more: a configuration that still asks for
    it stops start-up with one line that says what to do."""
    from produce_match import ConfigError, create_app

    with pytest.raises(ConfigError, match="PAYMENTS_SANDBOX_MOUNT") as refused:
        create_app({"INSTANCE_PATH": str(tmp_path), "PAYMENTS_SANDBOX_MOUNT": "1"})
    assert "devtools.sandbox_gateway" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_product_never_imports_the_development_tools():
    """Not one module of produce_match names devtools: a production install cannot load it."""
    found = []
    for path in (ROOT / "produce_match").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            found += [f"{path}: {n}" for n in names if n.split(".")[0] == "devtools"]
    assert found == []
    assert not list((ROOT / "produce_match").rglob("sandbox/*.py"))  # the gateway moved out


def test_a_production_app_loads_no_development_tool(tmp_path, database_url):
    """Created and answering a request with a production configuration, the app has loaded
    nothing of devtools (run in a fresh interpreter: this one's tests import it)."""
    env = {
        **os.environ,
        **{k: str(v) for k, v in _production(tmp_path, database_url).items()},
    }
    script = (
        "import sys\n"
        "from produce_match import create_app\n"
        "app = create_app()\n"
        "app.test_client().get('/payments/notify/sandbox')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'devtools'))\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
