"""`flask check-deploy`: refuse an unsafe production configuration, one message per problem.

Run it where the app will run, with the same environment, before starting (or restarting)
gunicorn; it exits 1 if anything is wrong. It reads the settings, it does not change anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app

from produce_match.config import sandbox_in_production
from produce_match.extensions import db

#: secrets that are placeholders, not secrets
WEAK_SECRETS = frozenset({"dev", "development", "secret", "change-me", "changeme", "test", ""})
MIN_SECRET_LENGTH = 32

#: the checks the domains add (`also_check`): each returns its problems with a configuration
_CHECKS: list[Callable[[Mapping[str, Any]], list[str]]] = []


def also_check(check: Callable[[Mapping[str, Any]], list[str]]) -> None:
    """Add a domain's own check of a production configuration (the payment providers' keys,
    say); the kernel knows no domain, so they tell it."""
    if check not in _CHECKS:
        _CHECKS.append(check)


def problems(*, workers: int, nodes: int, tls_in_gunicorn: bool) -> list[str]:
    """Everything unsafe about running this configuration with `workers` processes per node."""
    cfg = current_app.config
    found: list[str] = []
    if cfg["PRODUCE_MATCH_ENV"] != "production":
        found.append("PRODUCE_MATCH_ENV is not 'production'.")
    if current_app.debug or os.environ.get("FLASK_DEBUG", "").lower() in ("1", "true", "yes"):
        found.append("Debug mode is on: turn FLASK_DEBUG off (it lets anyone run code).")
    secret = os.environ.get("SECRET_KEY")
    if secret is None:
        found.append(
            "SECRET_KEY is not set in the environment: the generated development key would be used."
        )
    elif secret.lower() in WEAK_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        found.append(f"SECRET_KEY is too weak: use at least {MIN_SECRET_LENGTH} random characters.")
    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite and workers > 1:
        found.append(
            f"SQLite with {workers} workers: use PostgreSQL (DATABASE_URL) for more than one "
            "worker process."
        )
    if sqlite and nodes > 1:
        found.append("SQLite cannot be shared by several nodes: use PostgreSQL.")
    if nodes > 1 and cfg.get("SEARCH_BACKEND", "whoosh") == "whoosh":
        found.append(
            "The Whoosh index is local to one node: with several nodes set SEARCH_BACKEND=postgres."
        )
    if nodes > 1 and not cfg.get("QUEUE_URL"):
        found.append(
            "The task queue is a SQLite file local to one node: with several nodes set "
            "QUEUE_URL=redis://… so that every node's web and worker share one queue."
        )
    if nodes > 1 and cfg.get("CACHE_TYPE") != "RedisCache":
        found.append(
            "The pages' cache and its generation are local to one node: with several nodes set "
            "CACHE_REDIS_URL=redis://… (the queue's Redis serves if it is not set) so that an "
            "order on one node shows on all."
        )
    if cfg.get("QUEUE_IMMEDIATE"):
        found.append(
            "QUEUE_IMMEDIATE is on: every task would run inside the request that enqueued it."
        )
    if not cfg["SESSION_COOKIE_SECURE"]:
        found.append("SESSION_COOKIE_SECURE is off: cookies would also travel over plain HTTP.")
    if cfg["PREFERRED_URL_SCHEME"] != "https":
        found.append("PREFERRED_URL_SCHEME is not https: links in notes and e-mails would be http.")
    if not tls_in_gunicorn and int(cfg.get("TRUSTED_PROXIES", 0)) < 1:
        found.append(
            "No HTTPS: set TRUSTED_PROXIES to the number of reverse proxies that terminate TLS in "
            "front of the app (or give gunicorn a certificate with CERTFILE and KEYFILE)."
        )
    # the same check that refuses to start the app (the configuration may have changed since)
    found.extend(sandbox_in_production(cfg))
    for check in _CHECKS:
        found.extend(check(cfg))
    if cfg.get("AUTO_SETUP"):
        found.append("AUTO_SETUP is on: migrate with `flask init-db` on deployment instead.")
    if cfg.get("LOAD_DEMO"):
        found.append("LOAD_DEMO is on: demo accounts with a published password would be created.")
    for name in ("UPLOAD_DIR", "SEARCH_INDEX_DIR"):
        path = Path(cfg[name])
        if not (path.is_dir() and os.access(path, os.W_OK)):
            found.append(f"{name} ({path}) is not a writable directory.")
    try:
        if not at_head():
            found.append("The database is not at the latest migration: run `flask init-db`.")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        found.append(f"The database is unreachable: {exc.__class__.__name__}.")
    finally:
        db.session.rollback()
    return found


def at_head() -> bool:
    """Is the database at the newest migration the code has?"""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask_migrate import Config

    directory = current_app.extensions["migrate"].directory
    config = Config()
    config.set_main_option("script_location", directory)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    # the session's own connection: a second one would wait for its lock on SQLite
    current = set(MigrationContext.configure(db.session.connection()).get_current_heads())
    return current == heads


def init_app(app: Flask) -> None:
    @app.cli.command("check-deploy")
    @click.option(
        "--workers",
        type=int,
        default=lambda: int(os.environ.get("WEB_CONCURRENCY", "0") or 0) or _default_workers(),
        show_default="WEB_CONCURRENCY, or as gunicorn.conf.py computes it",
        help="Worker processes per node.",
    )
    @click.option("--nodes", type=int, default=1, show_default=True, help="Web nodes.")
    def check_deploy(workers: int, nodes: int) -> None:
        """Refuse an unsafe production configuration (exit 1), one line per problem."""
        tls = bool(os.environ.get("CERTFILE") and os.environ.get("KEYFILE"))
        found = problems(workers=workers, nodes=nodes, tls_in_gunicorn=tls)
        for problem in found:
            click.echo(f"✗ {problem}", err=True)
        if found:
            raise SystemExit(1)
        click.echo("✓ The configuration is safe to deploy.")


def _default_workers() -> int:
    return min(2 * (os.cpu_count() or 1) + 1, 12)
