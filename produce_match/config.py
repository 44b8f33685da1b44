"""Settings from the environment, with safe embedded defaults.

Every setting the README documents is read here and nowhere else. `create_app(config)` overrides
win over environment variables, which win over the defaults below.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


#: where the search documents live (see produce_match/search/)
SEARCH_BACKENDS = ("whoosh", "postgres")
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

    search_backend = str(setting("SEARCH_BACKEND", "whoosh")).strip().lower()
    if search_backend not in SEARCH_BACKENDS:
        raise ConfigError(
            f"SEARCH_BACKEND={search_backend!r} is not a search backend: choose one of "
            f"{', '.join(SEARCH_BACKENDS)}."
        )
    if search_backend == "postgres" and not normalise_database_url(database_url).startswith(
        "postgresql"
    ):
        raise ConfigError(
            "SEARCH_BACKEND=postgres keeps the search documents in PostgreSQL, but DATABASE_URL "
            "is not a PostgreSQL database: set DATABASE_URL=postgresql://… or "
            "SEARCH_BACKEND=whoosh."
        )

    cookie_secure = _flag(str(setting("SESSION_COOKIE_SECURE", "")), app_env == "production")
    cfg: dict[str, Any] = {
        "PRODUCE_MATCH_ENV": app_env,
        "TESTING": testing,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        # whoosh: a local index (one node); postgres: documents in the database (several nodes)
        "SEARCH_BACKEND": search_backend,
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
        # Photos decoded per account and per address in a window (see lots/uploads.py)
        "PHOTO_UPLOAD_LIMIT": int(setting("PHOTO_UPLOAD_LIMIT", 120)),
        "PHOTO_IP_UPLOAD_LIMIT": int(setting("PHOTO_IP_UPLOAD_LIMIT", 600)),
        "PHOTO_UPLOAD_WINDOW": timedelta(seconds=int(setting("PHOTO_UPLOAD_WINDOW_SECONDS", 3600))),
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
        # Behind a reverse proxy: how many proxies to trust for X-Forwarded-For/-Proto/-Host
        "TRUSTED_PROXIES": int(setting("TRUSTED_PROXIES", 0)),
        # Werkzeug's form limits: form fields held in memory, and parts of a multipart body
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "MAX_FORM_PARTS": 200,
        # origins forms may post to besides this site (a package adds its payment page)
        "CSP_FORM_ACTION": [],
        # "json" (one object per line, with the request id) or "text"; json in production
        "LOG_FORMAT": setting("LOG_FORMAT", "json" if app_env == "production" else "text"),
        "LOG_LEVEL": str(setting("LOG_LEVEL", "INFO")).upper(),
        # Channels besides the in-app inbox, comma-separated (see notifications/channels.py)
        "NOTIFICATION_CHANNELS": tuple(
            name.strip()
            for name in str(setting("NOTIFICATION_CHANNELS", "")).split(",")
            if name.strip()
        ),
    }
    # Payments (see payments/providers.py and the README's "Payments" section)
    sandbox_url = setting("PAYMENTS_SANDBOX_URL")
    cfg.update(
        {
            # the ways a buyer may pay, comma-separated: sandbox (the online gateway), transfer
            "PAYMENTS_METHODS": tuple(
                name.strip()
                for name in str(
                    # the sandbox moves no real money: in production only when asked for
                    setting(
                        "PAYMENTS_METHODS",
                        "transfer" if app_env == "production" else "sandbox,transfer",
                    )
                ).split(",")
                if name.strip()
            ),
            # the sandbox gateway's address; unset: the one mounted under /sandbox-gateway/
            "PAYMENTS_SANDBOX_URL": sandbox_url.rstrip("/") if sandbox_url else None,
            "PAYMENTS_SANDBOX_MOUNT": _flag(
                str(setting("PAYMENTS_SANDBOX_MOUNT", "")),
                sandbox_url is None and app_env != "production",
            ),
            # shared by the app and the gateway: signs notifications, authorises API calls
            "PAYMENTS_SANDBOX_SECRET": setting("PAYMENTS_SANDBOX_SECRET")
            or hmac.new(secret_key.encode(), b"sandbox-gateway", hashlib.sha256).hexdigest(),
            "PAYMENTS_SANDBOX_DB": str(
                setting("PAYMENTS_SANDBOX_DB", instance / "sandbox_gateway.sqlite3")
            ),
            # how the gateway reaches this site (notifications) when no request says it
            "PAYMENTS_PUBLIC_URL": (setting("PAYMENTS_PUBLIC_URL") or "").rstrip("/") or None,
            # seconds: waiting for the provider's answer; a pending payment older than this is
            # asked about by `flask payments reconcile` / when its order's page is viewed
            "PAYMENTS_HTTP_TIMEOUT": float(setting("PAYMENTS_HTTP_TIMEOUT", 10)),
            "PAYMENTS_RECONCILE_AFTER": int(setting("PAYMENTS_RECONCILE_AFTER", 180)),
            "PAYMENTS_VIEW_RECONCILE_AFTER": int(setting("PAYMENTS_VIEW_RECONCILE_AFTER", 5)),
        }
    )
    # Whatever else a caller passes (tests, embedding) goes straight into the Flask config.
    cfg.update({key: value for key, value in over.items() if key != "DATABASE_URL"})
    refused = sandbox_in_production(cfg)
    if refused:
        raise ConfigError(" ".join(refused))
    return cfg


def sandbox_in_production(cfg: Mapping[str, Any], *, serving: bool = False) -> list[str]:
    """Why this production configuration would run the sandbox payment gateway (none: safe).

    The sandbox moves no real money and lets any buyer mark an order paid, so production may
    not offer it, mount it or point at one. The one check behind the refusal at start-up
    (`build_config`), `flask check-deploy` and `flask payments sandbox` (`serving`).
    """
    if cfg.get("PRODUCE_MATCH_ENV") != "production":
        return []
    found: list[str] = []
    if serving:
        found.append(
            "The sandbox payment gateway does not run in production (PRODUCE_MATCH_ENV="
            "production): it moves no real money and lets anyone mark an order paid."
        )
    if "sandbox" in cfg.get("PAYMENTS_METHODS", ()):
        found.append(
            "PAYMENTS_METHODS offers 'sandbox' in production: any buyer could mark an order "
            "paid. Set PAYMENTS_METHODS=transfer (or a real provider)."
        )
    if cfg.get("PAYMENTS_SANDBOX_MOUNT"):
        found.append(
            "PAYMENTS_SANDBOX_MOUNT is on in production: the sandbox gateway would answer under "
            "/sandbox-gateway/. Unset it."
        )
    if cfg.get("PAYMENTS_SANDBOX_URL"):
        found.append(
            "PAYMENTS_SANDBOX_URL is set in production: payments would go to a sandbox gateway. "
            "Unset it."
        )
    return found
