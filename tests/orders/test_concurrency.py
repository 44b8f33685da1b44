"""Several processes ordering from one lot, and giving stock back, at the same moment.

Real processes on a real database (SQLite by default, PostgreSQL with TEST_DATABASE_URL): a
read-check-write would sell the stock twice here, and SELECT ... FOR UPDATE would be silently
ignored on SQLite, so only the guarded statements can make these pass.
"""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path
from typing import Any

import pytest
from flask import g
from sqlalchemy import func, select

from produce_match.accounts.models import User
from produce_match.audit.models import AuditEvent
from produce_match.audit.operations import history
from produce_match.database import utcnow
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lots.models import Lot, LotStatus
from produce_match.orders import operations as orders
from produce_match.orders.models import (
    PAYMENT_WINDOW,
    RELEASING,
    RESERVATION_HOLD,
    Order,
    OrderStatus,
)
from produce_match.search.models import SearchDocument
from produce_match.search.service import service
from tests.conftest import make_app
from tests.factories import make_lot

# many processes at once, counting on the machine: never beside another such test (xdist)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

WORKERS = 8
ORDERS_EACH = 50
KG = 1000


def _user_by_login(login: str) -> User:
    return db.session.scalar(select(User).where(User.login == login))


def _run_workers(target: Any, args: tuple[Any, ...], tmp_path: Path) -> list[Any]:
    """Start WORKERS processes at once; their reports, in worker order."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=target, args=(*args, str(tmp_path), w, queue)) for w in range(WORKERS)
    ]
    for p in workers:
        p.start()
    reports = sorted(queue.get(timeout=180) for _ in workers)
    for p in workers:
        p.join(timeout=30)
        assert p.exitcode == 0
    return reports


def _order_many(
    url: str, lot_id: int, login: str, backend: str, instance: str, worker: int, queue
) -> None:
    """One server process: ORDERS_EACH orders of 1-4 kg, each its own transaction."""
    app = make_app(url, Path(instance) / f"w{worker}", SEARCH_BACKEND=backend)
    rng = random.Random(worker)
    placed: list[tuple[int, int]] = []
    refused, errors = 0, []
    with app.app_context():
        buyer = _user_by_login(login)
        db.session.commit()  # hold nothing between orders
        for i in range(ORDERS_EACH):
            kg = rng.randint(1, 4)
            quantity, unit = (str(kg), "kg") if i % 2 else (str(kg * 2), "斤")
            try:
                lot = db.session.get(Lot, lot_id)
                order = orders.place_order(buyer, lot, quantity, unit)
                order_id = order.id
                db.session.commit()
                placed.append((order_id, kg * KG))
            except Conflict as exc:
                db.session.rollback()
                if exc.code == "insufficient_quantity":
                    refused += 1  # an expected answer when the lot runs out
                else:
                    errors.append(repr(exc))
            except Exception as exc:  # noqa: BLE001 - "database is locked" among others
                db.session.rollback()
                errors.append(repr(exc))
        # the index is not under test: its queue stays in the database, where it is durable
        g.pop("search_pending", None)
    queue.put((worker, placed, refused, errors))


def test_many_processes_never_sell_more_than_the_stock(app, users, database_url, tmp_path):
    """8 processes x 50 orders, about twice the stock: the lot sells exactly what it has."""
    lot = make_lot(users["coop"], quantity="500", unit="kg")
    lot_id, quantity_g, login = lot.id, lot.quantity_g, users["buyer"].login
    db.session.commit()  # the test holds no transaction (on SQLite, no lock) while they run
    reports = _run_workers(_order_many, (database_url, lot_id, login, "whoosh"), tmp_path)

    assert [errors for *_rest, errors in reports] == [[]] * WORKERS
    placed = [p for _w, done, _r, _e in reports for p in done]
    refused = sum(r for _w, _d, r, _e in reports)
    assert len(placed) + refused == WORKERS * ORDERS_EACH
    assert refused > 0  # demand exceeded the stock
    assert len({order_id for order_id, _g in placed}) == len(placed)

    db.session.expire_all()
    lot = db.session.get(Lot, lot_id)
    sold = sum(grams for _id, grams in placed)
    in_orders = db.session.scalar(select(func.sum(Order.quantity_g)).where(Order.lot_id == lot_id))
    assert sold == in_orders == quantity_g - lot.remaining_g
    assert db.session.scalar(select(func.count()).select_from(Order)) == len(placed)
    # orders of 1-4 kg keep coming after the last kilograms: the lot sells exactly its stock
    assert lot.remaining_g == 0 and sold == quantity_g
    assert lot.status is LotStatus.sold_out
    assert [e.action for e in history(lot)].count("sold_out") == 1
    placed_events = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "placed")
    )
    assert placed_events == len(placed)


@pytest.mark.parametrize("search_backend", ["postgres"])
def test_the_lots_document_follows_concurrent_orders(
    app, users, database_url, tmp_path, search_backend
):
    """8 processes order from one lot, each commit's task writing the lot's search document at
    once, in any order: the document that stays is the lot's last version, never an older one
    that came last (the lot's stamp only goes forward, in the order the row was written)."""
    lot = make_lot(users["coop"], quantity="500", unit="kg")
    lot_id, login = lot.id, users["buyer"].login
    db.session.commit()
    reports = _run_workers(_order_many, (database_url, lot_id, login, "postgres"), tmp_path)
    assert [errors for *_rest, errors in reports] == [[]] * WORKERS

    db.session.expire_all()
    report = service().check(repair=False)
    assert (report.missing, report.stale, report.extra) == ([], [], [])
    document = db.session.get(SearchDocument, lot_id)
    assert (document.remaining_g, document.status) == (0, "sold_out")


def _give_back_many(
    url: str, ids: list[int], logins: dict[str, str], instance: str, worker: int, queue
) -> None:
    """One server process: cancel, reject or expire the same orders as everyone else."""
    app = make_app(url, Path(instance) / f"w{worker}")
    rng = random.Random(1000 + worker)
    later = utcnow() + RESERVATION_HOLD + PAYMENT_WINDOW
    outcomes: dict[str, int] = {}
    errors: list[str] = []
    with app.app_context():
        buyer, coop = _user_by_login(logins["buyer"]), _user_by_login(logins["coop"])
        db.session.commit()
        for i in range(ORDERS_EACH):
            # everyone works through the orders in the same order, so they meet on each one
            order_id = ids[(i + rng.randrange(3)) % len(ids)]
            step = rng.randrange(4)
            try:
                order = db.session.get(Order, order_id)
                if step == 0:
                    orders.cancel(buyer, order, "买家取消")
                elif step == 1:
                    orders.cancel(coop, order, "合作社取消")
                elif step == 2:
                    orders.reject(coop, order, "不卖了")
                else:
                    orders.apply_expiry(order, later)
                db.session.commit()
                outcomes["done"] = outcomes.get("done", 0) + 1
            except Conflict as exc:
                db.session.rollback()
                if exc.code in ("illegal_transition", "order_changed"):
                    outcomes[exc.code] = outcomes.get(exc.code, 0) + 1  # someone was first
                else:
                    errors.append(repr(exc))
            except Exception as exc:  # noqa: BLE001
                db.session.rollback()
                errors.append(repr(exc))
        g.pop("search_pending", None)
    queue.put((worker, outcomes, errors))


def test_stock_goes_back_exactly_once_however_many_try(app, users, database_url, tmp_path):
    """8 processes cancel, reject and expire the same 50 orders: each gives back exactly once."""
    lot = make_lot(users["coop"], quantity="500", unit="kg")
    ids = []
    for i in range(50):
        order = orders.place_order(users["buyer"], lot, "10", "kg")
        if i % 2:
            orders.accept(users["coop"], order)  # awaiting payment: not rejectable any more
        ids.append(order.id)
    assert lot.remaining_g == 0 and lot.status is LotStatus.sold_out
    lot_id = lot.id
    logins = {"buyer": users["buyer"].login, "coop": users["coop"].login}
    db.session.commit()
    reports = _run_workers(_give_back_many, (database_url, ids, logins), tmp_path)
    assert [errors for _w, _o, errors in reports] == [[]] * WORKERS

    # whatever nobody reached is expired now; then every order has given back exactly once
    orders.expire_due(utcnow() + RESERVATION_HOLD + PAYMENT_WINDOW)
    db.session.commit()
    db.session.expire_all()
    lot = db.session.get(Lot, lot_id)
    assert lot.remaining_g == lot.quantity_g
    assert lot.status is LotStatus.open
    assert [e.action for e in history(lot)].count("reopened") == 1
    for order in db.session.scalars(select(Order).where(Order.lot_id == lot_id)):
        assert order.status in RELEASING and order.released_at is not None
        endings = [e for e in history(order) if e.to_state in RELEASING]
        assert len(endings) == 1, (order.id, [(e.action, e.to_state) for e in endings])
    assert (
        db.session.scalar(
            select(func.count()).select_from(Order).where(Order.status == OrderStatus.rejected)
        )
        <= 25
    )
    assert sum(o.get("done", 0) for _w, o, _e in reports) > 0
