"""Settings from the environment: a malformed value stops start-up with one line naming it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from produce_match import ConfigError
from produce_match.config import build_config

ROOT = Path(__file__).resolve().parent.parent

#: every setting read from the environment that has a shape to get wrong, with wrong values
BAD = [
    ("PRODUCE_MATCH_ENV", "prod"),
    ("DATABASE_URL", "produce_match.sqlite3"),
    ("SEARCH_BACKEND", "elastic"),
    ("SESSION_COOKIE_SECURE", "maybe"),
    ("AUTO_SETUP", "yes please"),
    ("LOAD_DEMO", "2"),
    ("LOGIN_FAILURE_LIMIT", "five"),
    ("LOGIN_FAILURE_LIMIT", "0"),
    ("LOGIN_IP_FAILURE_LIMIT", "5.5"),
    ("LOGIN_FAILURE_WINDOW_SECONDS", "15m"),
    ("PHOTO_UPLOAD_LIMIT", "lots"),
    ("PHOTO_IP_UPLOAD_LIMIT", "-1"),
    ("PHOTO_UPLOAD_WINDOW_SECONDS", "1h"),
    ("PASSWORD_HASH_METHOD", "md5"),
    ("PASSWORD_HASH_METHOD", "pbkdf2:sha256:many"),
    ("SESSION_LIFETIME_DAYS", "a month"),
    ("MAX_CONTENT_LENGTH", "40MB"),
    ("TRUSTED_PROXIES", "-1"),
    ("TRUSTED_PROXIES", "one"),
    ("LOG_FORMAT", "xml"),
    ("LOG_LEVEL", "loud"),
    ("NOTIFICATION_CHANNELS", "log,fax"),
    ("NOTIFICATION_QUIET_HOURS", "22-7"),
    ("NOTIFICATION_QUIET_HOURS", "25:00-07:00"),
    ("NOTIFICATION_QUIET_HOURS", "07:00-07:00"),
    ("NOTIFICATION_SMS_DAILY_LIMIT", "ten"),
    ("NOTIFICATION_EMAIL_DAILY_LIMIT", "0"),
    ("SITE_URL", "pm.example.org"),
    ("MAIL_SERVER", "mail server"),
    ("MAIL_PORT", "smtp"),
    ("MAIL_USE_TLS", "maybe"),
    ("MAIL_FROM", "noreply"),
    ("MAIL_TIMEOUT", "0"),
    ("PAYMENTS_METHODS", "cash"),
    ("PAYMENTS_METHODS", ","),
    ("PAYMENTS_SANDBOX_URL", "127.0.0.1:5001"),
    ("PAYMENTS_PUBLIC_URL", "ftp://pm.example.org"),
    ("PAYMENTS_PUBLIC_URL", "http://pm.example.org:https/"),
    ("PAYMENTS_HTTP_TIMEOUT", "ten"),
    ("PAYMENTS_HTTP_TIMEOUT", "0"),
    ("PAYMENTS_HTTP_TIMEOUT", "nan"),
    ("PAYMENTS_RECONCILE_AFTER", "3 minutes"),
]
#: settings taken as they are: paths and secrets
FREE_TEXT = {
    "SECRET_KEY",
    "SEARCH_INDEX_DIR",
    "UPLOAD_DIR",
    "INSTANCE_PATH",
    "PAYMENTS_SANDBOX_SECRET",
    "PAYMENTS_SANDBOX_DB",
    "QUEUE_PATH",
    "NOTIFICATION_SPOOL_DIR",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "SMS_ACCESS_KEY_ID",
    "SMS_ACCESS_KEY_SECRET",
    "SMS_SIGN_NAME",
    "POSTER_FONT",
}


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_malformed_setting_stops_start_up_naming_it(tmp_path, name, value):
    with pytest.raises(ConfigError) as refused:
        build_config(str(tmp_path), environ={name: value})
    message = str(refused.value)
    assert message.startswith(f"{name} must be "), message
    assert "\n" not in message


def _documented() -> list[str]:
    """The settings in the README's configuration table that have a shape to get wrong."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = [
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([A-Z_]+)`", row.split("|")[1])
    ]
    return [name for name in names if name not in FREE_TEXT]


@pytest.mark.parametrize("name", _documented())
def test_every_documented_setting_refuses_nonsense(tmp_path, name):
    with pytest.raises(ConfigError, match=f"^{name} must be "):
        build_config(str(tmp_path), environ={name: "???"})


def test_the_database_password_is_not_repeated(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL") as refused:
        build_config(str(tmp_path), environ={"DATABASE_URL": "postgresql//pm:hunter2@db/pm"})
    assert "hunter2" not in str(refused.value)


def test_spellings_of_the_same_value_are_accepted(tmp_path):
    env = {
        "PRODUCE_MATCH_ENV": " Production ",
        "SECRET_KEY": "s" * 40,
        "DATABASE_URL": "postgres://pm@db/pm",
        "SEARCH_BACKEND": "Postgres",
        "SESSION_COOKIE_SECURE": "OFF",
        "LOGIN_FAILURE_LIMIT": " 7 ",
        "LOG_FORMAT": "JSON",
        "LOG_LEVEL": "warning",
        "NOTIFICATION_CHANNELS": " log , ",
        "PAYMENTS_METHODS": "Transfer",
        "PAYMENTS_PUBLIC_URL": "https://pm.example.org/",
        "PAYMENTS_HTTP_TIMEOUT": "2.5",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    cfg = build_config(str(tmp_path), environ=env)
    assert cfg["PRODUCE_MATCH_ENV"] == "production"
    assert cfg["SEARCH_BACKEND"] == "postgres"
    assert cfg["SESSION_COOKIE_SECURE"] is False
    assert cfg["LOGIN_FAILURE_LIMIT"] == 7
    assert (cfg["LOG_FORMAT"], cfg["LOG_LEVEL"]) == ("json", "WARNING")
    assert cfg["NOTIFICATION_CHANNELS"] == ("log",)
    assert cfg["PAYMENTS_METHODS"] == ("transfer",)
    assert cfg["PAYMENTS_PUBLIC_URL"] == "https://pm.example.org"
    assert cfg["PAYMENTS_HTTP_TIMEOUT"] == 2.5


def test_mail_over_ssl_or_starttls_not_both(tmp_path):
    with pytest.raises(ConfigError, match="^MAIL_USE_SSL and MAIL_USE_TLS"):
        build_config(str(tmp_path), environ={"MAIL_USE_SSL": "1", "MAIL_USE_TLS": "1"})
    cfg = build_config(str(tmp_path), environ={"MAIL_USE_SSL": "1"})
    assert cfg["MAIL_PORT"] == 8025  # development: the debugging server
    prod = {"PRODUCE_MATCH_ENV": "production", "SECRET_KEY": "s" * 40, "MAIL_USE_TLS": "on"}
    cfg = build_config(str(tmp_path), environ=prod)
    assert (cfg["MAIL_SERVER"], cfg["MAIL_PORT"], cfg["SITE_URL"]) == (None, 587, None)
    assert cfg["NOTIFICATION_QUIET_HOURS"] == (22 * 60, 7 * 60)
    cfg = build_config(str(tmp_path), environ={"NOTIFICATION_QUIET_HOURS": "off"})
    assert cfg["NOTIFICATION_QUIET_HOURS"] is None


def test_the_notification_channels_checked_are_the_ones_that_exist():
    from produce_match.config import NOTIFICATION_CHANNEL_NAMES
    from produce_match.notifications.channels import AVAILABLE

    assert set(NOTIFICATION_CHANNEL_NAMES) == set(AVAILABLE)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "flask", "--app", "wsgi", "routes"],
        [sys.executable, "-m", "flask", "routes"],
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
    ],
    ids=["flask --app wsgi", "flask", "gunicorn"],
)
def test_a_malformed_setting_is_one_line_on_stderr(tmp_path, command):
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp_path),
        "AUTO_SETUP": "0",
        "LOAD_DEMO": "0",
        "BIND": "127.0.0.1:0",
        "WEB_CONCURRENCY": "1",
        "LOGIN_FAILURE_LIMIT": "five",
    }
    env.pop("FLASK_APP", None)
    result = subprocess.run(  # noqa: S603 - our own interpreter and command
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "produce_match will not start: LOGIN_FAILURE_LIMIT must be a whole number (got 'five')"
    ]
