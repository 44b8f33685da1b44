"""The task queue's worker as a real process: killed with SIGKILL in the middle of a burst of
orders, payments and notifications, restarted, it loses nothing and does nothing twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.notifications.models import Delivery, DeliveryState, Notification
from produce_match.orders import operations as orders
from produce_match.orders.models import DISPUTE_WINDOW, Order, OrderStatus, PaymentStatus
from produce_match.payments import service
from produce_match.payments.models import (
    InstructionKind,
    InstructionState,
    PaymentInstruction,
)
from produce_match.queue import get_queue
from produce_match.search.models import SearchOutbox
from produce_match.search.service import service as search_service
from tests.conftest import make_app
from tests.e2e.conftest import LiveServer
from tests.factories import PASSWORD, make_lot
from tests.gateway import SECRET, Gateway
from tests.payments.conftest import eventually
from tests.payments.test_sandbox import ledger_matches_gateway

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
#: orders in the burst: the first half cancelled after payment (refunds), the rest delivered
#: and completed (payouts)
ORDERS = 6
SENT = re.compile(r"notification (\S+) #(\d+) to user")


@pytest.fixture
def app(database_url: str, tmp_path: Path, gateway: Gateway) -> Iterator[Flask]:
    """The site (served, for the gateway's notifications) with a real queue: a SQLite file that
    only the worker process reads."""
    app = make_app(
        database_url,
        tmp_path / "instance",
        PAYMENTS_SANDBOX_URL=gateway.url,
        PAYMENTS_SANDBOX_SECRET=SECRET,
        QUEUE_IMMEDIATE=False,
        QUEUE_PATH=str(tmp_path / "queue.sqlite3"),
    )
    gateway.reset()
    with LiveServer(app) as server:
        app.config["PAYMENTS_PUBLIC_URL"] = server.url
        with app.app_context():
            yield app
            db.session.remove()
        with app.app_context():
            db.engine.dispose()
    gateway.reset()


class Worker:
    """`flask worker` in a process of its own, on the app's database, index and queue."""

    def __init__(self, app: Flask, database_url: str, folder: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(folder),
            "SECRET_KEY": "test-secret-key",
            "SEARCH_INDEX_DIR": app.config["SEARCH_INDEX_DIR"],
            "UPLOAD_DIR": app.config["UPLOAD_DIR"],
            "QUEUE_PATH": app.config["QUEUE_PATH"],
            "QUEUE_IMMEDIATE": "0",
            # a claimed notification whose worker died is sent again after this long
            "QUEUE_CLAIM_TIMEOUT": "2",
            # the log counts each sending, the spool keeps one file per notification delivered
            "NOTIFICATION_CHANNELS": "log,spool",
            "NOTIFICATION_SPOOL_DIR": str(folder / "spool"),
            "AUTO_SETUP": "0",
            "LOAD_DEMO": "0",
            "PAYMENTS_SANDBOX_URL": app.config["PAYMENTS_SANDBOX_URL"],
            "PAYMENTS_SANDBOX_SECRET": SECRET,
            "PAYMENTS_PUBLIC_URL": app.config["PAYMENTS_PUBLIC_URL"],
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "INFO",
        }
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        log = open(self.folder / f"worker-{self.runs}.log", "wb")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and app
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "2"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._log = log
        # importing the app takes a while on a busy machine
        deadline = time.monotonic() + 300
        while "worker: 2 threads" not in self.output(self.runs):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise AssertionError(f"the worker did not start: {self.output(self.runs)[-3000:]}")
            time.sleep(0.2)

    def stop(self, sig: int) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=60)
        self._log.close()
        self.process = None

    def output(self, run: int) -> str:
        path = self.folder / f"worker-{run}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def sent(self, run: int) -> Counter[int]:
        """Notification id -> how many times one run of the worker handed it to the channels."""
        return Counter(int(match.group(2)) for match in SENT.finditer(self.output(run)))

    def delivered(self) -> dict[int, dict[str, Any]]:
        """What the spool channel holds: one file per notification, by id."""
        found = {}
        for path in (self.folder / "spool").glob("*.json"):
            body = json.loads(path.read_text(encoding="utf-8"))
            assert path.name == f"{body['id']}.json"
            found[body["id"]] = body
        return found


def _paid_order(users: dict[str, Any], gateway: Gateway) -> int:
    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    started = service.create_payment(users["buyer"], order, "sandbox")
    order_id = order.id
    db.session.rollback()
    assert gateway.checkout(started.pay_url, "pay").status_code == 302
    return order_id


def _fresh(order_id: int) -> Order:
    db.session.rollback()
    return db.session.get(Order, order_id)


def _finish(users: dict[str, Any], order_id: int, *, cancel: bool) -> None:
    assert eventually(lambda: _fresh(order_id).status is OrderStatus.paid)
    order = _fresh(order_id)
    if cancel:
        orders.cancel(users["buyer"], order, "no trucks this week")
        db.session.commit()
        return
    orders.dispatch(users["coop"], order, "辽A12345", "13912345678", "100", "kg")
    db.session.commit()
    orders.confirm_delivery(users["buyer"], order, "100", "kg")
    db.session.commit()
    orders.complete(_fresh(order_id), now=utcnow() + DISPUTE_WINDOW + timedelta(minutes=1))
    db.session.commit()


def _all_done() -> bool:
    db.session.rollback()
    queued = db.session.scalar(
        select(func.count())
        .select_from(PaymentInstruction)
        .where(PaymentInstruction.status == InstructionState.queued)
    )
    unsent = db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.dispatched_at.is_(None))
    ) + db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.status != DeliveryState.sent)
    )
    unindexed = db.session.scalar(select(func.count()).select_from(SearchOutbox))
    db.session.rollback()
    return queued == 0 and unsent == 0 and unindexed == 0


def test_a_worker_killed_mid_burst_loses_nothing_and_repeats_nothing(
    app, users, gateway, database_url, tmp_path
):
    worker = Worker(app, database_url, tmp_path / "worker")
    worker.start()
    try:
        ids = [_paid_order(users, gateway) for _ in range(ORDERS)]
        for n, order_id in enumerate(ids):
            _finish(users, order_id, cancel=n < ORDERS // 2)
            if n == ORDERS // 2 - 1:
                # mid-burst, while the refunds just committed are being sent
                worker.stop(signal.SIGKILL)
        # what the worker had not taken yet waits in the queue; and the queue itself may lose
        # what it held (a Redis without persistence): only the outbox rows are left then
        queue = get_queue(app).huey
        assert queue.pending_count() > 0
        queue.flush()
        time.sleep(2)  # QUEUE_CLAIM_TIMEOUT: the dead worker's claims have expired
        worker.start()
        assert eventually(_all_done, timeout=120), worker.output(worker.runs)[-3000:]
    finally:
        if worker.process is not None:
            worker.stop(signal.SIGTERM)

    # every notification was delivered, exactly once: one spool file each, as written
    db.session.rollback()
    notes = {n.id: n for n in db.session.scalars(select(Notification))}
    assert len(notes) >= ORDERS * 3
    delivered = worker.delivered()
    assert set(delivered) == set(notes), "a notification never reached the channel"
    assert all(delivered[i]["kind"] == n.kind for i, n in notes.items())
    # a worker hands a notification over once; only one the killed worker may have been
    # sending when it died is handed over again (with its id, which the spool dedupes on)
    first, second = worker.sent(1), worker.sent(2)
    assert set(first) | set(second) == set(notes)
    assert max([*first.values(), *second.values()]) == 1, "one worker sent a notification twice"
    assert len(set(first) & set(second)) <= 2, "more sent again than the kill interrupted"
    # every refund and payout was made exactly once, at the gateway as in the ledger
    instructions = db.session.scalars(select(PaymentInstruction)).all()
    kinds = Counter(i.kind for i in instructions)
    assert kinds == {InstructionKind.refund: ORDERS // 2, InstructionKind.payout: ORDERS // 2}
    assert {i.status for i in instructions} == {InstructionState.succeeded}
    for n, order_id in enumerate(ids):
        ledger_matches_gateway(gateway, order_id)
        status = _fresh(order_id).payment_status
        assert status is (PaymentStatus.refunded if n < ORDERS // 2 else PaymentStatus.paid)
    # every index update was applied: the index is the database's
    assert search_service().check(repair=False).clean


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _token(browser: requests.Session, url: str) -> str:
    match = _CSRF.search(browser.get(url, timeout=30).text)
    assert match, url
    return match.group(1)


def test_after_the_payments_journey_under_gunicorn_each_worker_has_one_thread(
    app, users, gateway, database_url, tmp_path
):
    """Paying and cancelling (a refund to send) through gunicorn: the app starts no thread in
    the web workers; the refund is the worker process's task."""
    from bench.server import Gunicorn, app_config

    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    order_id, buyer = order.id, users["buyer"].login
    db.session.rollback()  # the test holds no SQLite lock while the server writes
    (tmp_path / "served").mkdir()
    config = {
        **app_config(database_url, tmp_path / "served"),
        "SEARCH_INDEX_DIR": app.config["SEARCH_INDEX_DIR"],
        "QUEUE_PATH": app.config["QUEUE_PATH"],
        "PAYMENTS_SANDBOX_URL": gateway.url,
        "PAYMENTS_SANDBOX_SECRET": SECRET,
        # gunicorn's own control socket answers from a thread in the master: not ours
        "GUNICORN_CMD_ARGS": "--no-control-socket",
        # sync workers (gthread's request threads are gunicorn's): a thread counted below
        # would be one the app started
        "WEB_THREADS": "1",
    }
    with Gunicorn(config, workers=2, log=tmp_path / "gunicorn.log") as server:
        app.config["PAYMENTS_PUBLIC_URL"] = server.url  # where the gateway's notices go
        config_url = {"PAYMENTS_PUBLIC_URL": server.url}
        with requests.Session() as browser:
            login = browser.post(
                f"{server.url}/login",
                data={
                    "login": buyer,
                    "password": PASSWORD,
                    "csrf_token": _token(browser, f"{server.url}/login"),
                },
                allow_redirects=False,
                timeout=30,
            )
            assert login.status_code == 302, login.text[:2000]
            money = f"{server.url}/payments/orders/{order_id}"
            paying = browser.post(
                f"{money}/pay",
                data={"method": "sandbox", "csrf_token": _token(browser, money)},
                allow_redirects=False,
                timeout=30,
            )
            assert paying.status_code == 302 and paying.headers["Location"].startswith(gateway.url)
            assert gateway.checkout(paying.headers["Location"], "pay").status_code == 302
            assert eventually(lambda: _fresh(order_id).status is OrderStatus.paid)
            page = f"{server.url}/orders/{order_id}"
            cancelled = browser.post(
                f"{page}/cancel",
                data={
                    "cancel-reason": "no trucks this week",
                    "cancel-csrf_token": _token(browser, page),
                },
                allow_redirects=False,
                timeout=30,
            )
            assert cancelled.status_code == 302, cancelled.text[:2000]
        assert _fresh(order_id).status is OrderStatus.cancelled
        pids = server.worker_pids()
        assert len(pids) == 2
        threads = {pid: os.listdir(f"/proc/{pid}/task") for pid in pids}
        assert all(len(t) == 1 for t in threads.values()), threads
        # the refund waits in the queue for the worker process, which sends it
        assert _fresh(order_id).payment_status is PaymentStatus.paid
        db.session.rollback()  # no SQLite lock held while the worker starts
        worker = Worker(app, database_url, tmp_path / "worker")
        worker.env.update(config_url)
        worker.start()
        try:
            assert eventually(lambda: _fresh(order_id).payment_status is PaymentStatus.refunded)
        finally:
            worker.stop(signal.SIGTERM)
    ledger_matches_gateway(gateway, order_id)
