"""Settings from the environment, with safe embedded defaults.

Every setting the README documents is read here and nowhere else. `create_app(config)` overrides
win over environment variables, which win over the defaults below.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


_TRUE = {"1", "true", "yes", "on"}


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None or value == "" else value.strip().lower() in _TRUE


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _embedded_secret(instance: Path) -> str:
    """Generate the embedded default's secret key once and keep it in the instance folder."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def build_config(
    instance_path: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return the Flask config mapping for this process."""
    env = dict(os.environ if environ is None else environ)
    over = dict(overrides or {})

    def setting(name: str, default: Any = None) -> Any:
        if name in over:
            return over[name]
        value = env.get(name)
        return default if value in (None, "") else value

    instance = Path(instance_path)
    app_env = setting("PRODUCE_MATCH_ENV", "development")
    testing = bool(over.get("TESTING", False))
    database_url = setting("DATABASE_URL")
    embedded = database_url is None
    if embedded:
        database_url = f"sqlite:///{instance / 'produce_match.sqlite3'}"

    secret_key = setting("SECRET_KEY")
    if secret_key is None:
        if app_env == "production":
            raise ConfigError(
                "SECRET_KEY is not set. A production configuration needs its own secret key: "
                "set SECRET_KEY to a long random string (e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')."
            )
        secret_key = _embedded_secret(instance)

    cookie_secure = _flag(str(setting("SESSION_COOKIE_SECURE", "")), app_env == "production")
    cfg: dict[str, Any] = {
        "PRODUCE_MATCH_ENV": app_env,
        "TESTING": testing,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SEARCH_INDEX_DIR": str(setting("SEARCH_INDEX_DIR", instance / "search_index")),
        "UPLOAD_DIR": str(setting("UPLOAD_DIR", instance / "uploads")),
        # The embedded default migrates and loads reference and demo data on its first start.
        "AUTO_SETUP": _flag(str(setting("AUTO_SETUP", "")), embedded and not testing),
        "LOAD_DEMO": _flag(str(setting("LOAD_DEMO", "")), embedded and not testing),
        # Failed logins, counted in the database so that the limit holds across processes.
        "LOGIN_FAILURE_LIMIT": int(setting("LOGIN_FAILURE_LIMIT", 5)),
        "LOGIN_IP_FAILURE_LIMIT": int(setting("LOGIN_IP_FAILURE_LIMIT", 50)),
        "LOGIN_FAILURE_WINDOW": timedelta(
            seconds=int(setting("LOGIN_FAILURE_WINDOW_SECONDS", 900))
        ),
        # werkzeug's default (scrypt); the tests choose a cheap one to stay fast
        "PASSWORD_HASH_METHOD": setting("PASSWORD_HASH_METHOD", "scrypt"),
        "SESSION_LIFETIME": timedelta(days=int(setting("SESSION_LIFETIME_DAYS", 30))),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=int(setting("SESSION_LIFETIME_DAYS", 30))),
        "SESSION_COOKIE_NAME": "pm_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": cookie_secure,
        "PREFERRED_URL_SCHEME": "https" if cookie_secure else "http",
        "MAX_CONTENT_LENGTH": int(setting("MAX_CONTENT_LENGTH", 40 * 1024 * 1024)),
        # CSRF tokens live as long as the session; a form left open over lunch still works.
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": ("zh", "en"),
        # JSON API and its OpenAPI document (flask-smorest)
        "API_TITLE": "produce_match API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    }
    # Whatever else a caller passes (tests, embedding) goes straight into the Flask config.
    cfg.update({key: value for key, value in over.items() if key != "DATABASE_URL"})
    return cfg
