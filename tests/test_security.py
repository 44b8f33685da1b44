"""Security headers, request limits, request ids, readiness, and `flask check-deploy`."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from produce_match.web.logs import JsonFormatter, RequestIdFilter, formatter
from tests.conftest import login
from tests.factories import PASSWORD


def test_pages_carry_a_strict_policy(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS


def test_no_template_has_inline_script_or_style(app):
    from pathlib import Path

    root = Path(app.template_folder)
    # e-mails are read in mail programs, not served under our CSP, and most of those honour
    # only inline styles: the one place they belong
    mails = {root / "notifications" / "email.html"}
    offenders = []
    for path in set(root.rglob("*.html")) - mails:
        text = path.read_text(encoding="utf-8")
        for bad in ("<script>", "<style", " style=", " onclick=", " onchange=", " onsubmit="):
            if bad in text:
                offenders.append(f"{path.relative_to(root)}: {bad.strip()}")
    assert offenders == []


def test_https_behind_a_trusted_proxy_gets_hsts(database_url, app_factory):
    app = app_factory(database_url, "i", TRUSTED_PROXIES=1)
    client = app.test_client()
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # without a trusted proxy the same header is ignored
    plain = app_factory(database_url, "j").test_client()
    assert (
        "Strict-Transport-Security"
        not in plain.get("/", headers={"X-Forwarded-Proto": "https"}).headers
    )


def test_logged_in_pages_are_not_stored_by_shared_caches(client, users):
    login(client, "buyer", PASSWORD)
    assert client.get("/account").headers["Cache-Control"] == "private, no-store"


def test_served_photos_keep_their_own_stricter_policy(client):
    response = client.get("/media/lots/nothing.jpg")
    assert response.status_code == 404  # nothing there: still headers
    assert "X-Content-Type-Options" in response.headers


def test_oversized_json_is_413(client):
    body = '{"login": "' + "x" * 300_000 + '", "password": "p"}'
    response = client.post("/api/v1/tokens", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["code"]


def test_request_ids_are_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "proxy-1234567890"})
    assert given.headers["X-Request-ID"] == "proxy-1234567890"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces <script>"})
    assert len(made.headers["X-Request-ID"]) == 32
    assert made.headers["X-Request-ID"] != client.get("/healthz").headers["X-Request-ID"]


def test_json_log_lines_carry_the_request_id(app):
    record = logging.LogRecord(
        "produce_match.x", logging.INFO, __file__, 1, "hello %s", ("世界",), None
    )
    with app.test_request_context():
        from flask import g

        g.request_id = "abc12345"
        RequestIdFilter().filter(record)
    record.status = 201
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello 世界" and line["request_id"] == "abc12345"
    assert line["status"] == 201 and line["level"] == "INFO"


FORGED = "done\n2026-12-07 02:00:00,000 INFO produce_match.accounts [x] admin logged in\r\x1b[2J"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_text_a_user_typed_cannot_forge_a_log_line(log_format):
    record = logging.LogRecord(
        "produce_match.x", logging.INFO, __file__, 1, "outcome: %s", (FORGED,), None
    )
    record.request_id = "abc12345"
    line = formatter(log_format).format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    if log_format == "text":
        assert line.endswith(
            "outcome: done\\n2026-12-07 02:00:00,000 INFO produce_match.accounts"
            " [x] admin logged in\\r\\x1b[2J"
        )


def test_a_traceback_keeps_its_lines_but_none_can_pass_for_a_record():
    try:
        raise ValueError(FORGED)
    except ValueError:
        record = logging.LogRecord(
            "produce_match.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    record.request_id = None
    lines = formatter("text").format(record).split("\n")
    assert lines[0].endswith("failed") and len(lines) > 3
    assert all(line.startswith("    ") for line in lines[1:])
    assert "\r" not in "".join(lines) and "\x1b" not in "".join(lines)


def test_a_request_for_a_path_with_a_line_break_logs_one_line(app, client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("text"))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("produce_match.requests")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client.get("/lots/x%0A2026-12-07%20INFO%20forged")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert stream.getvalue().count("\n") == 1
    assert "/lots/x\\n2026-12-07 INFO forged 404" in stream.getvalue()


def test_readiness(client, app, tmp_path):
    from produce_match.search.service import service

    assert client.get("/healthz").json == {"status": "ok"}
    if app.config["SEARCH_BACKEND"] == "whoosh":  # (in PostgreSQL an empty index is ready)
        assert client.get("/readyz").json["search"] == "missing"  # no index built yet
    service().rebuild()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["database"] == "ok"
    if app.config["SEARCH_BACKEND"] != "whoosh":
        return  # the PostgreSQL index is the database's: checked with it above
    app.config["SEARCH_INDEX_DIR"] = str(tmp_path / "file")
    (tmp_path / "file").write_text("not a directory")
    with app.app_context():
        service().after_fork()
    broken = client.get("/readyz")
    assert broken.status_code == 503 and broken.json["search"] != "ok"


def _check(runner, env, *args):
    return runner.invoke(args=["check-deploy", *args], env=env, catch_exceptions=False)


def test_check_deploy_lists_every_problem(runner, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    result = runner.invoke(args=["check-deploy", "--workers", "4"])
    assert result.exit_code == 1
    for words in (
        "PRODUCE_MATCH_ENV",
        "SECRET_KEY is not set",
        "SESSION_COOKIE_SECURE",
        "No HTTPS",
    ):
        assert words in result.output, words
    if runner.app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert "SQLite with 4 workers" in result.output


def test_check_deploy_passes_a_safe_configuration(database_url, tmp_path, monkeypatch, app_factory):
    from produce_match import setup
    from tests.sms import PRODUCTION_SMS

    secret = "s" * 20 + "0123456789abcdefghij"
    monkeypatch.setenv("SECRET_KEY", secret)
    (tmp_path / "up").mkdir()
    (tmp_path / "ix").mkdir()
    app = app_factory(
        database_url,
        "i",
        PRODUCE_MATCH_ENV="production",
        SECRET_KEY=secret,
        SESSION_COOKIE_SECURE=True,
        PREFERRED_URL_SCHEME="https",
        SITE_URL="https://produce.example.cn",
        TRUSTED_PROXIES=1,
        UPLOAD_DIR=str(tmp_path / "up"),
        SEARCH_INDEX_DIR=str(tmp_path / "ix"),
        AUTO_SETUP=False,
        LOAD_DEMO=False,
        QUEUE_IMMEDIATE=False,  # the tests' immediate queue is refused in production
        **PRODUCTION_SMS,  # texts through Aliyun with its own key (the tests' default: log)
    )
    with app.app_context():
        setup.initialise()
    result = app.test_cli_runner().invoke(args=["check-deploy", "--workers", "1"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert result.exit_code == 0, result.output
        more = app.test_cli_runner().invoke(args=["check-deploy", "--workers", "3"])
        assert more.exit_code == 1 and "SQLite with 3 workers" in more.output
    else:
        assert result.exit_code == 0, result.output
        nodes = app.test_cli_runner().invoke(
            args=["check-deploy", "--workers", "4", "--nodes", "2"]
        )
        assert nodes.exit_code == 1 and "Whoosh index is local" in nodes.output


def test_the_access_log_cannot_be_forged_by_a_path_or_a_user_agent():
    """gunicorn's access log line (a JSON object) with a path holding a decoded line break and a
    user agent holding a quote: still one line, still one JSON object with the same fields."""
    import runpy
    from datetime import timedelta
    from pathlib import Path
    from types import SimpleNamespace

    from gunicorn.config import Config

    settings = runpy.run_path(str(Path(__file__).parent.parent / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("access_log_format", settings["access_log_format"])
    cfg.set("accesslog", "-")
    logger = settings["JsonAccessLogger"](cfg)
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/x%0A",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": '/x\n{"ts": "forged", "status": 200}',
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_USER_AGENT": 'curl\\", "status": 200, "x": "\x1b[2J',
    }
    response = SimpleNamespace(status="404 NOT FOUND", sent=10, headers=[("X-Request-ID", "r1")])
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=5))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["path"] == '/x\n{"ts": "forged", "status": 200}'
    assert entry["agent"] == 'curl\\", "status": 200, "x": "\x1b[2J'
    assert entry["status"] == 404 and entry["request_id"] == "r1"
