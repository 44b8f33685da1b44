"""Fixtures: a migrated database per test (SQLite by default, PostgreSQL when asked), the app,
its test client, and helpers to log in and post forms with their CSRF token.

Set TEST_DATABASE_URL=postgresql://user@host/dbname to run the whole suite on PostgreSQL; that
database is emptied and migrated at the start of the run and its tables truncated after each test.
TEST_SEARCH_BACKEND=postgres (with it) runs every test that does not choose a search backend on
the PostgreSQL one; the search backend tests run on both backends either way.

In parallel (pytest-xdist, `make test` runs `-n auto --dist loadgroup`) every worker is a process
of its own with its own resources: its temporary folders (and so its SQLite files, search indexes,
instance and upload folders) are its own under pytest's per-worker base, servers bind port 0, and
on PostgreSQL each worker gets a database of its own, TEST_DATABASE_URL's name with the worker's
id appended (`pm_test_gw0`, ...), created when the worker starts and dropped when it ends. The
database TEST_DATABASE_URL names is then only used to create and drop those. Tests stay together
by file on one worker; a test marked `xdist_group("processes")` (it starts many processes or a
multi-worker server and counts on the machine for its timing) runs on one worker after the
others so marked, never two at once.
"""

from __future__ import annotations

import contextvars
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from xdist.scheduler import LoadGroupScheduling

from produce_match import create_app
from produce_match.extensions import db

#: the database the run was given: in parallel, only where the workers' own are created
BASE_PG_URL = os.environ.get("TEST_DATABASE_URL", "")
#: the xdist worker this process is (gw0, gw1, ...), "" when the suite runs in one process
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_database_url(url: str, worker: str) -> str:
    """The database a worker uses: the given one's name with the worker's id appended."""
    if not url or not worker:
        return url
    parsed = sa.engine.make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


PG_URL = worker_database_url(BASE_PG_URL, WORKER)
BACKEND = "postgresql" if PG_URL else "sqlite"
#: both search backends, for the tests that run on each (`parametrize("search_backend", ...)`)
SEARCH_BACKENDS = ("whoosh", "postgres")


def pytest_report_header() -> str:
    return f"database backend: {BACKEND}"


class FileOrGroupScheduling(LoadGroupScheduling):
    """`--dist loadgroup` as this suite runs it: each file's tests on one worker (its module
    fixtures, the payments gateway and the browser start once per worker that runs the file),
    except the tests marked with an `xdist_group`, which go to one worker together whatever
    their file. (xdist's own loadgroup spreads every unmarked test on its own.)"""

    def _split_scope(self, nodeid: str) -> str:
        # xdist appends "@group" to a marked test's id; "]" guards a parameter holding "@"
        if nodeid.rfind("@") > nodeid.rfind("]"):
            return nodeid.rsplit("@", 1)[-1]
        return nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    return FileOrGroupScheduling(config, log)


def _admin_engine() -> sa.Engine:
    """A connection outside any transaction to the database the run was given."""
    url = BASE_PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session", autouse=True)
def _worker_database() -> Iterator[None]:
    """In parallel on PostgreSQL: this worker's own database, created if missing (a run that
    was killed may have left it: the template below empties it) and dropped at the end."""
    if not PG_URL or PG_URL == BASE_PG_URL:
        yield
        return
    name = sa.engine.make_url(PG_URL).database
    admin = _admin_engine()
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class IsolatedClient(FlaskClient):
    """Runs each request in a fresh context, as a server would: its own app context, `g` and
    database session, never the ones the test itself holds open."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # What the test wrote happens before the request, and the test holds no transaction
        # (and so no SQLite lock) while the request runs.
        if has_app_context():
            db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_app(database_url: str, instance: Path, **extra: Any) -> Flask:
    """An app on the given database, as the tests configure it."""
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "INSTANCE_PATH": str(instance),
        "SEARCH_INDEX_DIR": str(instance / "search_index"),
        "UPLOAD_DIR": str(instance / "uploads"),
        "AUTO_SETUP": False,
        "LOAD_DEMO": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast; production keeps scrypt
    }
    config.update(extra)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


def _initialise(app: Flask) -> None:
    from produce_match import setup

    with app.app_context():
        setup.initialise()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: a SQLite file to copy per test, or the PostgreSQL database itself."""
    if PG_URL:
        engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        _initialise(make_app(PG_URL, tmp_path_factory.mktemp("pg-instance")))
        _remember_catalogue(PG_URL)
        return PG_URL
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.sqlite3"
    _initialise(make_app(f"sqlite:///{path}", folder))
    return str(path)


#: the catalogue as migrated, before any test: a test may change it (an administrator adds or
#: edits a commodity), and on PostgreSQL the tests share one database
_CATALOGUE = ("commodities", "commodity_names")
_catalogue: dict[str, Any] = {}


def _catalogue_digest(conn: sa.Connection) -> str:
    parts = [
        f"(SELECT coalesce(string_agg(t::text, '|' ORDER BY t.id), '') FROM {name} t)"  # noqa: S608 - our table names
        for name in _CATALOGUE
    ]
    return conn.execute(sa.text("SELECT md5(" + " || ".join(parts) + ")")).scalar_one()


def _pg_engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _remember_catalogue(url: str) -> None:
    engine = _pg_engine(url)
    with engine.connect() as conn:
        _catalogue["digest"] = _catalogue_digest(conn)
        _catalogue["rows"] = {
            name: [dict(r._mapping) for r in conn.execute(db.metadata.tables[name].select())]
            for name in _CATALOGUE
        }
    engine.dispose()


def _restore_catalogue(conn: sa.Connection) -> None:
    """Put the catalogue back as migrated if the test changed it (what it added would otherwise
    be in the catalogue of every later test)."""
    if not _catalogue or _catalogue_digest(conn) == _catalogue["digest"]:
        return
    conn.execute(sa.text(f"TRUNCATE {', '.join(_CATALOGUE)} CASCADE"))
    for name in _CATALOGUE:
        conn.execute(db.metadata.tables[name].insert(), _catalogue["rows"][name])
        conn.execute(
            sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name}")  # noqa: S608
        )


def _truncate_all(url: str) -> None:
    engine = _pg_engine(url)
    keep = {"alembic_version", "regions", *_CATALOGUE}  # reference data
    with engine.begin() as conn:
        # a test's server threads may still be finishing a request (a payment notification, a
        # payout sent after the response): end their sessions rather than deadlock with them
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        tables = [t for t in db.metadata.sorted_tables if t.name not in keep]
        if tables:
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        _restore_catalogue(conn)
    engine.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A database for one test, migrated and holding the reference data, nothing else."""
    if PG_URL:
        yield PG_URL
        _truncate_all(PG_URL)
        return
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(database_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def search_backend() -> str:
    """The search backend of the app: TEST_SEARCH_BACKEND, or Whoosh (the backend tests
    parametrize it to run on both)."""
    return os.environ.get("TEST_SEARCH_BACKEND") or "whoosh"


@pytest.fixture
def app(database_url: str, tmp_path: Path, search_backend: str) -> Iterator[Flask]:
    if search_backend == "postgres" and not PG_URL:
        pytest.skip("the PostgreSQL search backend needs TEST_DATABASE_URL (PostgreSQL)")
    app = make_app(database_url, tmp_path / "instance", SEARCH_BACKEND=search_backend)
    with app.app_context():
        yield app
    # the context's teardown (search queue, session removal) has run: close every connection
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Any]:
    """make_app for a test that needs more apps than `app`; their connections close after it."""
    made: list[Flask] = []

    def factory(database_url: str, name: str, **extra: Any) -> Flask:
        made.append(make_app(database_url, tmp_path / name, **extra))
        return made[-1]

    yield factory
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    """The CSRF token of the client's session, read from a form as a browser would."""
    html = client.get(page).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def post_form(
    client: FlaskClient, url: str, data: dict[str, Any], page: str = "/login", **kwargs: Any
) -> Any:
    """POST a form the way a browser does: with the CSRF token of the session."""
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page)}, **kwargs)


def export_file(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    """Ask for an export as the pages' export buttons do, e.g. ``deals.csv?status=rejected``
    (the kind, the format and the page's filters), then open the job's page and download its
    file: the response of the download, or of the first step that was refused. The job is
    built at once (the tests' queue is immediate)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(path)
    kind, fmt = parts.path.rsplit(".", 1)
    data = {"kind": kind, "fmt": fmt, **dict(parse_qsl(parts.query))}
    asked = post_form(client, "/monitor/exports", data, page="/", **kwargs)
    if asked.status_code != 302:
        return asked
    job_page = client.get(asked.headers["Location"], **kwargs)
    assert job_page.status_code == 200, job_page.status_code
    assert "/download" in job_page.get_data(as_text=True)  # built: the page offers the file
    return client.get(asked.headers["Location"] + "/download", **kwargs)


def login(client: FlaskClient, login_name: str, password: str) -> Any:
    response = post_form(client, "/login", {"login": login_name, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response


@pytest.fixture
def users(app: Flask) -> dict[str, Any]:
    """One user of every role, each in its own organisation, committed."""
    from tests.factories import make_world

    return make_world()
