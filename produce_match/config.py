"""Settings from the environment, with safe embedded defaults.

Every setting the README documents is read here and nowhere else. `create_app(config)` overrides
win over environment variables, which win over the defaults below.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


#: where the search documents live (see produce_match/search/)
SEARCH_BACKENDS = ("whoosh", "postgres")
ENVIRONMENTS = ("development", "production")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: the ways of paying: the names of the providers in payments/providers/ (a test keeps the two
#: the same; the configuration is read before any domain package is imported)
PAYMENT_METHODS = ("alipay", "sandbox", "transfer", "wechatpay")
#: where the sandbox gateway process listens by default (development and tests only)
DEFAULT_SANDBOX_URL = "http://127.0.0.1:5001"
#: the Alipay emulator (devtools/alipay_gateway) in development; its test app's identity
DEFAULT_ALIPAY_EMULATOR_URL = "http://127.0.0.1:5002/gateway.do"
DEVELOPMENT_ALIPAY_APP_ID = "2021000000000001"
DEVELOPMENT_ALIPAY_SELLER_ID = "2088000000000001"
#: WeChat Pay's API; in development the emulator (devtools/wechatpay_server, port 5003)
WECHATPAY_REAL_URL = "https://api.mch.weixin.qq.com"
WECHATPAY_EMULATOR_URL = "http://127.0.0.1:5003"
#: the emulator's and the development app's shared test keys (made by the emulator's first
#: start, never committed), in this folder of the instance folder; and the made-up merchant
WECHATPAY_DEV_KEYS = "wechatpay_dev"
WECHATPAY_DEV_MERCHANT = {
    "WECHATPAY_MCHID": "1900000109",
    "WECHATPAY_APPID": "wxd678efh567hg6787",
    "WECHATPAY_CERT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0119000001092025120700112233000001",
}
#: the files of the development key set, by setting
WECHATPAY_DEV_FILES = {
    "WECHATPAY_PRIVATE_KEY_FILE": "apiclient_key.pem",
    "WECHATPAY_PUBLIC_KEY_FILE": "pub_key.pem",
    "WECHATPAY_APIV3_KEY_FILE": "apiv3_key.txt",
}
#: SMS (messaging/sms.py): Aliyun's SMS API through its official SDK; in development the
#: emulator (devtools/sms_gateway, port 5004) with its development AccessKey and templates
SMS_BACKENDS = ("aliyun", "log", "none")
SMS_REAL_ENDPOINT = "https://dysmsapi.aliyuncs.com"
SMS_EMULATOR_ENDPOINT = "http://127.0.0.1:5004"
SMS_DEV_SETTINGS = {
    "SMS_ACCESS_KEY_ID": "LTAIDevEmulator0000000000",
    "SMS_ACCESS_KEY_SECRET": "dev-emulator-secret-never-in-production",
    "SMS_SIGN_NAME": "产销对接",
}
#: the development templates (the emulator knows the same codes and texts)
SMS_DEV_TEMPLATES = {"verify_code": "SMS_900000001", "notice": "SMS_900000002"}
#: the channels notifications/channels.py knows (its AVAILABLE)
NOTIFICATION_CHANNEL_NAMES = ("email", "log", "sms", "spool")
#: where `make run`'s debugging SMTP server (devtools/mail_server) listens
DEVELOPMENT_MAIL_SERVER = ("127.0.0.1", 8025)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

# One reader per kind of value. Each takes the setting's name, its raw value (a string from the
# environment, or whatever a `create_app(config)` override passed) and the default used when it
# is unset or empty; a malformed value raises ConfigError with one line naming the setting and
# what it expects, so that start-up stops on it instead of on a traceback (see wsgi.py).


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _refuse(name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{name} must be {expected} (got {value!r})")


def parse_flag(name: str, value: Any, default: bool) -> bool:
    """On or off: 1/true/yes/on or 0/false/no/off, in any case."""
    if _unset(value):
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _refuse(name, f"on or off: one of {', '.join(_TRUE + _FALSE)}", value)


def parse_int(name: str, value: Any, default: int, *, minimum: int = 0) -> int:
    """A whole number, at least `minimum`."""
    if _unset(value):
        return default
    if isinstance(value, bool):
        raise _refuse(name, "a whole number", value)
    try:
        number = value if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise _refuse(name, "a whole number", value) from None
    if number < minimum:
        raise _refuse(name, f"a whole number of at least {minimum}", value)
    return number


def _percent(name: str, value: Any, default: int = 80) -> int:
    """A whole percentage from 0 to 100."""
    number = parse_int(name, value, default, minimum=0)
    if number > 100:
        raise _refuse(name, "a whole number from 0 to 100", value)
    return number


def parse_float(name: str, value: Any, default: float, *, minimum: float = 0.0) -> float:
    """A finite number greater than `minimum`."""
    if _unset(value):
        return default
    expected = f"a number greater than {minimum:g}"
    if isinstance(value, bool):
        raise _refuse(name, expected, value)
    try:
        number = float(value if isinstance(value, int | float) else str(value).strip())
    except ValueError:
        raise _refuse(name, expected, value) from None
    if not math.isfinite(number) or number <= minimum:
        raise _refuse(name, expected, value)
    return number


def parse_step_days(name: str, value: Any, default: tuple[int, ...]) -> tuple[int, ...]:
    """Three whole numbers of days, each smaller than the one before: "7,5,3"."""
    if _unset(value):
        return default
    expected = "three whole numbers of days, each smaller than the one before, e.g. 7,5,3"
    try:
        days = tuple(int(part.strip()) for part in str(value).split(","))
    except ValueError:
        raise _refuse(name, expected, value) from None
    if len(days) != 3 or days[-1] < 0 or any(a <= b for a, b in zip(days, days[1:], strict=False)):
        raise _refuse(name, expected, value)
    return days


def parse_choice(name: str, value: Any, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices`, in any case (returned in the case `choices` spell it)."""
    if _unset(value):
        return default
    by_key = {choice.lower(): choice for choice in choices}
    found = by_key.get(str(value).strip().lower())
    if found is None:
        raise _refuse(name, f"one of {', '.join(choices)}", value)
    return found


def parse_choices(
    name: str, value: Any, default: tuple[str, ...], choices: tuple[str, ...], *, empty: bool
) -> tuple[str, ...]:
    """A comma-separated list of `choices` (a list or tuple from an override is taken as is)."""
    if _unset(value):
        return default
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = tuple(str(item).strip().lower() for item in items if str(item).strip())
    expected = f"a comma-separated list of {', '.join(choices)}"
    if not names and not empty:
        raise _refuse(name, f"{expected}, at least one", value)
    unknown = [item for item in names if item not in choices]
    if unknown:
        raise _refuse(name, f"{expected}; {unknown[0]!r} is not one", value)
    return names


def parse_http_url(name: str, value: Any) -> str | None:
    """An http:// or https:// address with a host, without its trailing slash; unset: None."""
    if _unset(value):
        return None
    text = str(value).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(name, "an http:// or https:// address with a host", value)
    return text.rstrip("/")


def parse_templates(name: str, value: Any, default: Mapping[str, str]) -> dict[str, str]:
    """Logical names and template codes: `verify_code=SMS_1234,notice=SMS_5678` (a mapping
    from an override is taken as is)."""
    if _unset(value):
        return dict(default)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    found: dict[str, str] = {}
    for item in str(value).split(","):
        key, sep, code = item.partition("=")
        if not sep or not key.strip() or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", code.strip()):
            raise _refuse(name, "name=template code pairs, e.g. verify_code=SMS_1234", value)
        found[key.strip()] = code.strip()
    return found


def parse_clock_range(name: str, value: Any, default: str) -> tuple[int, int] | None:
    """'22:00-07:00' -> (1320, 420), minutes after midnight (the range may cross midnight);
    'off' or 'none' -> None."""
    text = default if _unset(value) else str(value).strip().lower()
    if text in ("off", "none", ""):
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
    if match:
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60 and (h1, m1) != (h2, m2):
            return h1 * 60 + m1, h2 * 60 + m2
    raise _refuse(name, "a range of China time such as 22:00-07:00, or off", value)


def parse_host(name: str, value: Any, default: str | None) -> str | None:
    """A host name or address (letters, digits, '.', '-', ':')."""
    if _unset(value):
        return default
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]{1,253}", text):
        raise _refuse(name, "a host name or address", value)
    return text


def parse_mail_address(name: str, value: Any, default: str | None) -> str | None:
    """An e-mail address, with or without a name: 'Produce Match <noreply@example.org>'."""
    from email.utils import parseaddr

    if _unset(value):
        return default
    text = str(value).strip()
    _display, address = parseaddr(text)
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address or ""):
        raise _refuse(name, "an e-mail address, e.g. Produce Match <noreply@example.org>", value)
    return text


def parse_database_url(name: str, value: str) -> str:
    """A database URL SQLAlchemy understands, with the psycopg 3 driver for PostgreSQL.

    The value is not repeated in the message: it may hold the database's password."""
    from sqlalchemy.engine import make_url

    url = normalise_database_url(value.strip())
    try:
        make_url(url).get_dialect()
    except Exception:
        raise ConfigError(
            f"{name} must be a database URL such as sqlite:///path/to/file.sqlite3 or "
            "postgresql://user@host/database (the value given is not)"
        ) from None
    return url


def parse_password_hash_method(name: str, value: Any, default: str) -> str:
    """werkzeug's method: scrypt[:n:r:p] or pbkdf2[:hash[:iterations]]."""
    if _unset(value):
        return default
    method = str(value).strip()
    kind, *params = method.split(":")
    if kind == "scrypt":
        ok = len(params) <= 3 and all(p.isdigit() and int(p) > 0 for p in params)
    elif kind == "pbkdf2":
        ok = (
            len(params) <= 2
            and (not params or params[0] in hashlib.algorithms_available)
            and (len(params) < 2 or (params[1].isdigit() and int(params[1]) > 0))
        )
    else:
        ok = False
    if not ok:
        raise _refuse(name, "scrypt[:n:r:p] or pbkdf2[:hash[:iterations]]", value)
    return method


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
    # `make run` starts the site and the sandbox gateway at once, and both need this key: it is
    # written whole to a file of this process's own, then linked into place (atomic, and only
    # if no other process was first); whoever lost reads the winner's
    own = instance / f".secret_key.{os.getpid()}"
    fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    try:
        os.link(own, path)
    except FileExistsError:
        pass
    finally:
        own.unlink()
    return path.read_text().strip()


def build_config(
    instance_path: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return the Flask config mapping for this process."""
    env = dict(os.environ if environ is None else environ)
    over = dict(overrides or {})

    def raw(name: str) -> Any:
        return over[name] if name in over else env.get(name)

    def setting(name: str, default: Any = None) -> Any:
        value = raw(name)
        return default if _unset(value) else value

    def flag(name: str, default: bool) -> bool:
        return parse_flag(name, raw(name), default)

    def whole(name: str, default: int, minimum: int = 1) -> int:
        return parse_int(name, raw(name), default, minimum=minimum)

    instance = Path(instance_path)
    app_env = parse_choice(
        "PRODUCE_MATCH_ENV", raw("PRODUCE_MATCH_ENV"), "development", ENVIRONMENTS
    )
    testing = bool(over.get("TESTING", False))
    database_url = setting("DATABASE_URL")
    embedded = database_url is None
    if embedded:
        database_url = f"sqlite:///{instance / 'produce_match.sqlite3'}"
    else:
        database_url = parse_database_url("DATABASE_URL", str(database_url))

    secret_key = setting("SECRET_KEY")
    if secret_key is None:
        if app_env == "production":
            raise ConfigError(
                "SECRET_KEY is not set. A production configuration needs its own secret key: "
                "set SECRET_KEY to a long random string (e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')."
            )
        secret_key = _embedded_secret(instance)

    search_backend = parse_choice(
        "SEARCH_BACKEND", raw("SEARCH_BACKEND"), "whoosh", SEARCH_BACKENDS
    )
    if search_backend == "postgres" and not normalise_database_url(database_url).startswith(
        "postgresql"
    ):
        raise ConfigError(
            "SEARCH_BACKEND=postgres keeps the search documents in PostgreSQL, but DATABASE_URL "
            "is not a PostgreSQL database: set DATABASE_URL=postgresql://… or "
            "SEARCH_BACKEND=whoosh."
        )

    cookie_secure = flag("SESSION_COOKIE_SECURE", app_env == "production")
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
        "AUTO_SETUP": flag("AUTO_SETUP", embedded and not testing),
        "LOAD_DEMO": flag("LOAD_DEMO", embedded and not testing),
        # Failed logins, counted in the database so that the limit holds across processes.
        "LOGIN_FAILURE_LIMIT": whole("LOGIN_FAILURE_LIMIT", 5),
        "LOGIN_IP_FAILURE_LIMIT": whole("LOGIN_IP_FAILURE_LIMIT", 50),
        "LOGIN_FAILURE_WINDOW": timedelta(seconds=whole("LOGIN_FAILURE_WINDOW_SECONDS", 900)),
        # Photos decoded per account and per address in a window (see lots/uploads.py)
        "PHOTO_UPLOAD_LIMIT": whole("PHOTO_UPLOAD_LIMIT", 120),
        "PHOTO_IP_UPLOAD_LIMIT": whole("PHOTO_IP_UPLOAD_LIMIT", 600),
        "PHOTO_UPLOAD_WINDOW": timedelta(seconds=whole("PHOTO_UPLOAD_WINDOW_SECONDS", 3600)),
        # werkzeug's default (scrypt); the tests choose a cheap one to stay fast
        "PASSWORD_HASH_METHOD": parse_password_hash_method(
            "PASSWORD_HASH_METHOD", raw("PASSWORD_HASH_METHOD"), "scrypt"
        ),
        # Transport passes: the longest window, and what says a vehicle is overdue after its
        # entry (the road at this speed to its destination, and this many hours of slack)
        "PASS_MAX_DAYS": whole("PASS_MAX_DAYS", 14, minimum=1),
        "PASS_ROAD_KMH": whole("PASS_ROAD_KMH", 60, minimum=1),
        "PASS_ARRIVAL_SLACK_HOURS": whole("PASS_ARRIVAL_SLACK_HOURS", 6, minimum=0),
        # Ratings after completion: the days to rate an order, and how many ratings an
        # organisation needs before its average, tags and comments are shown
        "RATING_WINDOW_DAYS": whole("RATING_WINDOW_DAYS", 14, minimum=1),
        "RATINGS_SHOWN_FROM": whole("RATINGS_SHOWN_FROM", 3, minimum=1),
        # Prices (行情): posting or accepting below this share of the reference price in force
        # is warned before it is done (0: never warned)
        "PRICE_WARNING_PERCENT": _percent("PRICE_WARNING_PERCENT", raw("PRICE_WARNING_PERCENT")),
        # Reliability: a dispatch this many hours after the payment is still on time
        "DISPATCH_ON_TIME_HOURS": whole("DISPATCH_ON_TIME_HOURS", 48, minimum=1),
        # The rescue ladder: days before spoiling at which reprice, widen and aid are proposed
        "RESCUE_STEP_DAYS": parse_step_days("RESCUE_STEP_DAYS", raw("RESCUE_STEP_DAYS"), (7, 5, 3)),
        "SESSION_LIFETIME": timedelta(days=whole("SESSION_LIFETIME_DAYS", 30)),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=whole("SESSION_LIFETIME_DAYS", 30)),
        "SESSION_COOKIE_NAME": "pm_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": cookie_secure,
        "PREFERRED_URL_SCHEME": "https" if cookie_secure else "http",
        "MAX_CONTENT_LENGTH": whole("MAX_CONTENT_LENGTH", 40 * 1024 * 1024),
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
        "TRUSTED_PROXIES": whole("TRUSTED_PROXIES", 0, minimum=0),
        # Werkzeug's form limits: form fields held in memory, and parts of a multipart body
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "MAX_FORM_PARTS": 200,
        # origins forms may post to besides this site (a package adds its payment page)
        "CSP_FORM_ACTION": [],
        # "json" (one object per line, with the request id) or "text"; json in production
        "LOG_FORMAT": parse_choice(
            "LOG_FORMAT",
            raw("LOG_FORMAT"),
            "json" if app_env == "production" else "text",
            LOG_FORMATS,
        ),
        "LOG_LEVEL": parse_choice("LOG_LEVEL", raw("LOG_LEVEL"), "INFO", LOG_LEVELS),
        # Channels besides the in-app inbox, comma-separated (see notifications/channels.py)
        "NOTIFICATION_CHANNELS": parse_choices(
            "NOTIFICATION_CHANNELS",
            raw("NOTIFICATION_CHANNELS"),
            (),
            NOTIFICATION_CHANNEL_NAMES,
            empty=True,
        ),
        # the "spool" channel's folder: one JSON file per notification, named by its id
        "NOTIFICATION_SPOOL_DIR": str(
            setting("NOTIFICATION_SPOOL_DIR", instance / "notification_spool")
        ),
    }
    # Notifications to people (notifications/channels.py, preferences.py; README
    # "Notifications"): the site's own address for links in e-mails, quiet hours by default,
    # each person's daily limit per channel, and the SMTP server of the e-mail channel
    mail_dev = app_env != "production"
    mail_ssl = flag("MAIL_USE_SSL", False)
    mail_tls = flag("MAIL_USE_TLS", False)
    if mail_ssl and mail_tls:
        raise ConfigError(
            "MAIL_USE_SSL and MAIL_USE_TLS are both on: choose one (SSL from the first byte, "
            "usually port 465; or STARTTLS, usually port 587)."
        )
    dev_host, dev_port = DEVELOPMENT_MAIL_SERVER
    cfg.update(
        {
            # the quiet hours of everyone who has not chosen their own (China time); the
            # tests' default is none, so that no test depends on the hour it runs
            "NOTIFICATION_QUIET_HOURS": parse_clock_range(
                "NOTIFICATION_QUIET_HOURS",
                raw("NOTIFICATION_QUIET_HOURS"),
                "off" if testing else "22:00-07:00",
            ),
            # notices one person gets per channel per day (China time); beyond: the inbox only
            "NOTIFICATION_DAILY_LIMITS": {
                "sms": whole("NOTIFICATION_SMS_DAILY_LIMIT", 10),
                "email": whole("NOTIFICATION_EMAIL_DAILY_LIMIT", 50),
            },
            # SMTP (messaging/mail.py); development: the debugging server `make run` starts
            "MAIL_SERVER": parse_host(
                "MAIL_SERVER", raw("MAIL_SERVER"), dev_host if mail_dev else None
            ),
            "MAIL_PORT": whole(
                "MAIL_PORT",
                dev_port if mail_dev else (465 if mail_ssl else 587 if mail_tls else 25),
            ),
            "MAIL_USE_TLS": mail_tls,
            "MAIL_USE_SSL": mail_ssl,
            "MAIL_USERNAME": setting("MAIL_USERNAME"),
            "MAIL_PASSWORD": setting("MAIL_PASSWORD"),
            "MAIL_FROM": parse_mail_address(
                "MAIL_FROM",
                raw("MAIL_FROM"),
                "Produce Match <noreply@localhost>" if mail_dev else None,
            ),
            "MAIL_TIMEOUT": parse_float("MAIL_TIMEOUT", raw("MAIL_TIMEOUT"), 10.0),
        }
    )
    # The task queue (see queue.py): Redis when QUEUE_URL is set (several nodes), else a SQLite
    # file beside the database; immediate (tasks run at once, no worker) in the tests
    queue_url = setting("QUEUE_URL")
    if queue_url is not None and not str(queue_url).startswith(("redis://", "rediss://")):
        raise _refuse("QUEUE_URL", "a Redis address (redis://host:6379/0)", queue_url)
    queue_name = str(setting("QUEUE_NAME", "produce_match")).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", queue_name):
        raise _refuse("QUEUE_NAME", "letters, digits, '.', '-' or '_' (at most 64)", queue_name)
    cfg.update(
        {
            "QUEUE_URL": queue_url,
            "QUEUE_PATH": str(setting("QUEUE_PATH", instance / "queue.sqlite3")),
            "QUEUE_NAME": queue_name,
            "QUEUE_IMMEDIATE": flag("QUEUE_IMMEDIATE", testing),
            # threads of `flask worker` running tasks
            "QUEUE_WORKERS": whole("QUEUE_WORKERS", 2),
            # seconds: a task that claimed a notification and did not finish it within this
            # long was lost (its worker was killed); the sweep sends the notification again
            "QUEUE_CLAIM_TIMEOUT": whole("QUEUE_CLAIM_TIMEOUT", 300),
        }
    )
    # outgoing webhooks and robots wait this many seconds for an answer
    cfg["WEBHOOK_TIMEOUT_SECONDS"] = whole("WEBHOOK_TIMEOUT_SECONDS", 10)
    # The pages' cache (see cache.py): files in the instance folder shared by the workers of
    # one node, Redis for several nodes (CACHE_REDIS_URL, else the queue's Redis)
    cache_url = setting("CACHE_REDIS_URL")
    if cache_url is not None and not str(cache_url).startswith(("redis://", "rediss://")):
        raise _refuse("CACHE_REDIS_URL", "a Redis address (redis://host:6379/1)", cache_url)
    cache_url = cache_url or queue_url
    cfg.update(
        {
            "CACHE_TYPE": "RedisCache" if cache_url else "FileSystemCache",
            "CACHE_DIR": str(setting("CACHE_DIR", instance / "cache")),
            "CACHE_REDIS_URL": cache_url,
            "CACHE_KEY_PREFIX": f"{queue_name}:cache:",
            # seconds a kept value lives at most (a commit makes it unreachable at once)
            "CACHE_DEFAULT_TIMEOUT": whole("CACHE_TIMEOUT", 600),
            # files: values kept on the node at most (the oldest go first beyond it)
            "CACHE_THRESHOLD": 2000,
        }
    )
    # Payments (see payments/providers.py and the README's "Payments" section)
    sandbox_url = parse_http_url("PAYMENTS_SANDBOX_URL", raw("PAYMENTS_SANDBOX_URL"))
    if not _unset(raw("PAYMENTS_SANDBOX_MOUNT")):
        raise ConfigError(
            "PAYMENTS_SANDBOX_MOUNT is no longer a setting: the sandbox gateway is never mounted "
            "in the site; it runs as its own process (python -m devtools.sandbox_gateway, "
            "started by `make run`) at PAYMENTS_SANDBOX_URL. Unset PAYMENTS_SANDBOX_MOUNT."
        )
    cfg.update(
        {
            # the ways a buyer may pay, comma-separated: sandbox (the online gateway), transfer
            "PAYMENTS_METHODS": parse_choices(
                "PAYMENTS_METHODS",
                raw("PAYMENTS_METHODS"),
                # the sandbox moves no real money: in production only when asked for
                ("transfer",)
                if app_env == "production"
                else ("sandbox", "alipay", "wechatpay", "transfer"),
                PAYMENT_METHODS,
                empty=False,
            ),
            # the sandbox gateway's address (a process of its own: devtools/sandbox_gateway,
            # which `make run` starts on port 5001); never in production
            "PAYMENTS_SANDBOX_URL": sandbox_url
            or (None if app_env == "production" else DEFAULT_SANDBOX_URL),
            # shared by the app and the gateway: signs notifications, authorises API calls
            "PAYMENTS_SANDBOX_SECRET": setting("PAYMENTS_SANDBOX_SECRET")
            or hmac.new(secret_key.encode(), b"sandbox-gateway", hashlib.sha256).hexdigest(),
            "PAYMENTS_SANDBOX_DB": str(
                setting("PAYMENTS_SANDBOX_DB", instance / "sandbox_gateway.sqlite3")
            ),
            # this site's own loopback address for work outside a request (the worker), where
            # it reaches the mounted sandbox gateway; unset: http://127.0.0.1:5000
            "PAYMENTS_LOCAL_URL": parse_http_url("PAYMENTS_LOCAL_URL", raw("PAYMENTS_LOCAL_URL")),
            # how the gateway reaches this site (notifications) when no request says it
            "PAYMENTS_PUBLIC_URL": parse_http_url(
                "PAYMENTS_PUBLIC_URL", raw("PAYMENTS_PUBLIC_URL")
            ),
            # seconds: waiting for the provider's answer; a pending payment older than this is
            # asked about by `flask payments reconcile`
            "PAYMENTS_HTTP_TIMEOUT": parse_float(
                "PAYMENTS_HTTP_TIMEOUT", raw("PAYMENTS_HTTP_TIMEOUT"), 10.0
            ),
            "PAYMENTS_RECONCILE_AFTER": whole("PAYMENTS_RECONCILE_AFTER", 180, minimum=0),
        }
    )
    # sharing: the CJK font of the posters (unset: the usual Debian paths are searched, see
    # sharing/poster.py); the site's public address, the base of every absolute link of what
    # leaves the site (links.py: short links, Open Graph, feeds, e-mails, webhooks, robots)
    cfg.update(
        {
            "POSTER_FONT": setting("POSTER_FONT"),
            "SITE_URL": parse_http_url("SITE_URL", raw("SITE_URL")),
        }
    )
    # Alipay (payments/providers/alipay.py): in development the emulator and its test keys
    # (devtools/alipay_gateway writes them into the instance folder on its first start)
    development = app_env != "production"
    alipay_keys = instance / "alipay_emulator"
    cfg.update(
        {
            "ALIPAY_APP_ID": setting(
                "ALIPAY_APP_ID", DEVELOPMENT_ALIPAY_APP_ID if development else None
            ),
            # the merchant's Alipay user id (2088…): notifications must name it
            "ALIPAY_SELLER_ID": setting(
                "ALIPAY_SELLER_ID", DEVELOPMENT_ALIPAY_SELLER_ID if development else None
            ),
            # PEM files: the app's private key (signs requests), Alipay's public key (verifies
            # notifications and answers); files only this service may read
            "ALIPAY_APP_PRIVATE_KEY_FILE": setting(
                "ALIPAY_APP_PRIVATE_KEY_FILE",
                str(alipay_keys / "app_private_key.pem") if development else None,
            ),
            "ALIPAY_PUBLIC_KEY_FILE": setting(
                "ALIPAY_PUBLIC_KEY_FILE",
                str(alipay_keys / "alipay_public_key.pem") if development else None,
            ),
            # production: https://openapi.alipay.com/gateway.do
            "ALIPAY_GATEWAY_URL": parse_http_url("ALIPAY_GATEWAY_URL", raw("ALIPAY_GATEWAY_URL"))
            or (DEFAULT_ALIPAY_EMULATOR_URL if development else None),
            # where the emulator keeps its keys and trades (development only)
            "ALIPAY_EMULATOR_DIR": str(setting("ALIPAY_EMULATOR_DIR", alipay_keys)),
        }
    )
    # WeChat Pay API v3 (payments/providers/wechatpay.py; README "WeChat Pay"). In development
    # every setting defaults to the emulator and its shared test keys; in production none does.
    dev_keys = instance / WECHATPAY_DEV_KEYS
    cfg["WECHATPAY_BASE_URL"] = parse_http_url("WECHATPAY_BASE_URL", raw("WECHATPAY_BASE_URL")) or (
        WECHATPAY_EMULATOR_URL if development else WECHATPAY_REAL_URL
    )
    for name, dev_value in WECHATPAY_DEV_MERCHANT.items():
        cfg[name] = str(setting(name, dev_value if development else "")).strip() or None
    for name, filename in WECHATPAY_DEV_FILES.items():
        cfg[name] = setting(name, str(dev_keys / filename) if development else None)
    # the APIv3 key: its file above, or (development) the environment; never logged
    cfg["WECHATPAY_APIV3_KEY"] = setting("WECHATPAY_APIV3_KEY")
    if cfg["WECHATPAY_APIV3_KEY"] and _unset(raw("WECHATPAY_APIV3_KEY_FILE")):
        cfg["WECHATPAY_APIV3_KEY_FILE"] = None
    # the merchant transfer scene (商家转账 › 转账场景) payouts use, as enabled for the merchant
    cfg["WECHATPAY_TRANSFER_SCENE_ID"] = str(setting("WECHATPAY_TRANSFER_SCENE_ID", "1000"))
    # SMS (messaging/sms.py; README "SMS"): the emulator in development, "log" in the tests
    cfg["SMS_BACKEND"] = parse_choice(
        "SMS_BACKEND", raw("SMS_BACKEND"), "log" if testing else "aliyun", SMS_BACKENDS
    )
    cfg["SMS_ENDPOINT"] = parse_http_url("SMS_ENDPOINT", raw("SMS_ENDPOINT")) or (
        SMS_EMULATOR_ENDPOINT if development else SMS_REAL_ENDPOINT
    )
    for name, dev_value in SMS_DEV_SETTINGS.items():
        cfg[name] = str(setting(name, dev_value if development else "")).strip() or None
    cfg["SMS_TEMPLATES"] = parse_templates(
        "SMS_TEMPLATES", raw("SMS_TEMPLATES"), SMS_DEV_TEMPLATES if development else {}
    )
    cfg["SMS_HTTP_TIMEOUT"] = parse_float("SMS_HTTP_TIMEOUT", raw("SMS_HTTP_TIMEOUT"), 10.0)
    # one-time SMS codes (accounts/phone_codes.py): life, wrong tries, and how many may be sent
    cfg["SMS_CODE_TTL"] = timedelta(seconds=whole("SMS_CODE_TTL_SECONDS", 600))
    cfg["SMS_CODE_MAX_TRIES"] = whole("SMS_CODE_MAX_TRIES", 5)
    cfg["SMS_CODE_INTERVAL"] = timedelta(seconds=whole("SMS_CODE_INTERVAL_SECONDS", 60, 0))
    cfg["SMS_CODE_PHONE_HOURLY"] = whole("SMS_CODE_PHONE_HOURLY", 5)
    cfg["SMS_CODE_PHONE_DAILY"] = whole("SMS_CODE_PHONE_DAILY", 10)
    cfg["SMS_CODE_IP_HOURLY"] = whole("SMS_CODE_IP_HOURLY", 30)
    # WeChat's JS-SDK share card on lot and shop pages (produce_match/wechat.py): on when the
    # Official Account's AppID and AppSecret are both set (in the shapes WeChat gives them);
    # the API's address is for tests
    account = {
        "WECHAT_APP_ID": (r"wx[0-9A-Za-z]{16}", "an AppID: wx and 16 letters or digits"),
        "WECHAT_APP_SECRET": (r"[0-9A-Za-z]{32}", "an AppSecret: 32 letters or digits"),
    }
    wechat = {name: str(setting(name, "")).strip() or None for name in account}
    for name, (shape, expected) in account.items():
        if wechat[name] is not None and not re.fullmatch(shape, wechat[name]):
            raise _refuse(name, expected, wechat[name] if name == "WECHAT_APP_ID" else "…")
    cfg.update(
        {
            **wechat,
            "WECHAT_API_URL": parse_http_url("WECHAT_API_URL", raw("WECHAT_API_URL"))
            or "https://api.weixin.qq.com",
            "WECHAT_HTTP_TIMEOUT": parse_float(
                "WECHAT_HTTP_TIMEOUT", raw("WECHAT_HTTP_TIMEOUT"), 3.0
            ),
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
    not offer it or point at one, and the gateway process (devtools/sandbox_gateway) refuses to
    run under it (`serving`). The one check behind the refusal at start-up (`build_config`),
    `flask check-deploy` and the gateway's own start.
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
    if cfg.get("PAYMENTS_SANDBOX_URL"):
        found.append(
            "PAYMENTS_SANDBOX_URL is set in production: payments would go to a sandbox gateway. "
            "Unset it."
        )
    return found
