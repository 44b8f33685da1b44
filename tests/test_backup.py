"""Backups: create one, restore it into a fresh database, and find everything as it was."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from flask import g
from sqlalchemy import func, select

from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.lots.updates import update_lots
from produce_match.orders import operations as orders
from produce_match.orders.models import Order
from tests.conftest import PG_URL
from tests.factories import make_lot


@pytest.fixture
def fresh_database_url(tmp_path):
    """An empty database of the same kind as the test database."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"pm_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_and_restore_into_a_fresh_database(
    app, users, runner, tmp_path, fresh_database_url, app_factory
):
    from produce_match.search.service import service

    lot = make_lot(users["coop"], quantity="40", unit="t", title="彰武道亭村黑豆 备份")
    order = orders.place_order(users["buyer"], lot, "10", "t")
    orders.accept(users["coop"], order)
    db.session.commit()
    g.pop("search_pending", None)
    lot_id, order_id = lot.id, order.id

    file = tmp_path / "backups" / "pm.backup"
    result = runner.invoke(args=["backup", "create", str(file)])
    assert result.exit_code == 0, result.output
    assert file.stat().st_size > 0
    # the live database keeps working after (and while) it is backed up
    orders.place_order(users["buyer"], db.session.get(Lot, lot_id), "1", "t")
    db.session.commit()
    g.pop("search_pending", None)

    db.session.rollback()
    fresh = app_factory(fresh_database_url, "fresh")
    with fresh.app_context():  # commands run in the current app's context: make it this one
        restored = fresh.test_cli_runner().invoke(args=["backup", "restore", "--yes", str(file)])
        assert restored.exit_code == 0, restored.output
        assert "search index rebuilt (1 lots)" in restored.output
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1  # as backed up
        back = db.session.get(Order, order_id)
        assert back.status.value == "awaiting_payment" and back.quantity_g == 10_000_000
        assert db.session.get(Lot, lot_id).remaining_g == 30_000_000
        from produce_match import backup

        assert backup.check().ok
        from produce_match.search.backend import SearchRequest

        found = service().search(SearchRequest(text="道亭村黑豆", facets=False))
        assert [h.lot_id for h in found.hits] == [lot_id]
        checked = fresh.test_cli_runner().invoke(args=["backup", "check"])
        assert checked.exit_code == 0 and "consistent" in checked.output


def test_check_finds_broken_invariants(app, users, runner):
    lot = make_lot(users["coop"], quantity="1", unit="t")
    g.pop("search_pending", None)
    update_lots(sa.update(Lot).where(Lot.id == lot.id).values(remaining_g=1))
    db.session.commit()
    g.pop("search_pending", None)
    result = runner.invoke(args=["backup", "check"])
    assert result.exit_code == 1 and "remaining + ordered" in result.output


def test_restoring_something_else_changes_nothing(app, users, runner, tmp_path):
    make_lot(users["coop"], quantity="1", unit="t")
    g.pop("search_pending", None)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a backup at all" * 100)
    result = runner.invoke(args=["backup", "restore", "--yes", str(junk)])
    assert result.exit_code != 0
    assert db.session.scalar(select(func.count()).select_from(Lot)) == 1
