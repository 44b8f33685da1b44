"""The suite in parallel (pytest-xdist): what each worker gets of its own, and how tests are
spread over the workers."""

from __future__ import annotations

import sqlalchemy as sa

from produce_match.extensions import db
from tests.conftest import (
    BACKEND,
    BASE_PG_URL,
    PG_URL,
    WORKER,
    FileOrGroupScheduling,
    worker_database_url,
)


def test_each_worker_has_a_database_named_after_it():
    base = "postgresql://postgres@127.0.0.1:5432/pm_test"
    assert worker_database_url(base, "gw0") == "postgresql://postgres@127.0.0.1:5432/pm_test_gw0"
    assert worker_database_url(base, "gw1").endswith("/pm_test_gw1")
    # the password and the query survive; one process keeps the database it was given
    other = "postgresql://u:p%40ss@db.local/pm?sslmode=disable"
    assert (
        worker_database_url(other, "gw3") == "postgresql://u:p%40ss@db.local/pm_gw3?sslmode=disable"
    )
    assert worker_database_url(base, "") == base
    assert worker_database_url("", "gw0") == ""


def test_the_tests_database_is_this_workers_own(app):
    """On PostgreSQL under xdist the tests' connections reach the worker's database, which
    exists while the worker runs; otherwise the database given (or a SQLite file per test)."""
    name = db.engine.url.database
    if BACKEND == "sqlite":
        assert name.endswith("test.sqlite3") and WORKER in name  # under the worker's own tmp
        return
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == name
    expected = sa.engine.make_url(BASE_PG_URL).database + (f"_{WORKER}" if WORKER else "")
    assert name == expected == sa.engine.make_url(PG_URL).database


def test_a_files_tests_stay_together_and_a_group_goes_whole():
    scope = FileOrGroupScheduling._split_scope
    assert scope(None, "tests/lots/test_lots.py::test_post") == "tests/lots/test_lots.py"
    assert scope(None, "tests/lots/test_lots.py::test_edit[coop]") == "tests/lots/test_lots.py"
    assert scope(None, "tests/test_faults.py::test_killed@processes") == "processes"
    assert scope(None, "tests/a.py::test_b@processes") == scope(
        None, "tests/c.py::test_d@processes"
    )
    # an "@" inside a parameter is not a group
    assert scope(None, "tests/api/test_x.py::test_y[a@b]") == "tests/api/test_x.py"
