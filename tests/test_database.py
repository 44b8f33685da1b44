"""Migrations from empty, and SQLite's behaviour under concurrent writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from produce_match.extensions import db
from tests.conftest import BACKEND, PG_URL, make_app


def _head(app) -> str:
    directory = app.extensions["migrate"].directory
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", directory)
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_run_up_from_empty_and_match_the_models(app):
    """The test database was built by the migrations alone; the models add nothing to it."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == _head(app)
        assert compare_metadata(context, db.metadata) == []


def test_migrations_go_down_and_up_again(tmp_path):
    """A throw-away database: down to nothing, and up again to head."""
    if PG_URL:
        # named after the run's database: parallel workers and other runs on the server each
        # have their own
        url = _fresh_pg_database(sa.engine.make_url(PG_URL).database + "_roundtrip")
    else:
        url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    app = make_app(url, tmp_path)
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory)
        downgrade(directory=directory, revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(directory=directory)
        assert {"users", "organisations", "regions", "audit_events"} <= set(
            sa.inspect(db.engine).get_table_names()
        )
        db.session.remove()
        db.engine.dispose()
    if PG_URL:
        _drop_pg_database(sa.engine.make_url(url).database)


def _drop_pg_database(name: str) -> None:
    admin = sa.create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh_pg_database(name: str) -> str:
    admin = sa.create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def test_sqlite_runs_in_wal_with_a_busy_timeout(app):
    if BACKEND != "sqlite":
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _register_many(url: str, instance: str, worker: int, count: int, queue) -> None:
    """One server process: registers `count` organisations through the real form handler."""
    from produce_match.accounts import tasks as account_tasks
    from tests.conftest import post_form

    # each registration first asks for its SMS code (a write too); the code is read here
    codes: dict[str, str] = {}

    def texted(phone: str, template: str, params: dict, *, out_id: str | None = None) -> str:
        codes[phone] = params["code"]
        return "test"

    account_tasks.send_sms = texted
    app = make_app(url, Path(instance) / f"w{worker}", SMS_CODE_IP_HOURLY=1000)
    errors = []
    for i in range(count):
        client = app.test_client()
        data = {
            "kind": "buyer",
            "org_name": f"采购商 {worker}-{i}",
            "contact_person": "张三",
            "phone": f"139{worker:04d}{i:04d}",
            "password": "password-123",
            "confirm": "password-123",
            "province": "江西",
            "county": "东湖区",
        }
        try:
            asked = post_form(client, "/register", {**data, "send_code": "1"}, page="/register")
            if asked.status_code != 200:
                errors.append(asked.status_code)
                continue
            data["code"] = codes[data["phone"]]
            response = post_form(client, "/register", data, page="/register")
            if response.status_code != 302:
                errors.append(response.status_code)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            errors.append(repr(exc))
    queue.put(errors)


def test_concurrent_writers_never_see_database_is_locked(app, database_url, tmp_path):
    """Four processes register at once: every registration (read, then write) succeeds."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_register_many, args=(database_url, str(tmp_path), w, 15, queue))
        for w in range(4)
    ]
    for p in workers:
        p.start()
    results = [queue.get(timeout=120) for _ in workers]
    for p in workers:
        p.join(timeout=30)
    assert results == [[], [], [], []]
    from produce_match.accounts.models import Organisation

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 60
