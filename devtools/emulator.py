"""What the payment-provider emulators (devtools/sandbox_gateway, alipay_gateway,
wechatpay_server) share: their SQLite store with its outbox and test switches, the background
deliverer of notifications, the Flask app's frame and the process entry point.

Each emulator's own module keeps what differs: its tables, its wire format and signatures, how
one notification is sent and what counts as delivered, its retry schedule.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
from flask import Blueprint, Flask, abort, jsonify, request, send_file
from flask_babel import Babel

log = logging.getLogger("devtools.emulator")

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
#: the site's catalogue holds the checkout pages' texts too (babel.cfg extracts them)
TRANSLATIONS = PROJECT_ROOT / "produce_match" / "translations"

#: the notifications waiting to be sent (`body`'s type and further columns are the emulator's)
OUTBOX_COLUMNS = """
  id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, url TEXT NOT NULL,
  body {body_type} NOT NULL, copy INTEGER NOT NULL, seq INTEGER NOT NULL, held INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, delivered_at REAL"""
CONTROL_TABLE = "CREATE TABLE IF NOT EXISTS control (k TEXT PRIMARY KEY, v TEXT NOT NULL);\n"


class Store:
    """An emulator's own database (one SQLite file, safe for several threads and processes):
    its `SCHEMA`, an outbox of notifications and the test switches (`DEFAULT_CONTROL`)."""

    SCHEMA = ""
    DEFAULT_CONTROL: Mapping[str, Any] = {"copies": 1, "hold": False, "drop": False}

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.executescript(self.SCHEMA)

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=15, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that may write, holding the write lock from its start."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def control(self, db: sqlite3.Connection) -> dict[str, Any]:
        values = dict(self.DEFAULT_CONTROL)
        for row in db.execute("SELECT k, v FROM control"):
            values[row["k"]] = json.loads(row["v"])
        return values

    def set_control(self, db: sqlite3.Connection, **values: Any) -> None:
        for key, value in values.items():
            db.execute(
                "INSERT INTO control (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = ?",
                (key, json.dumps(value), json.dumps(value)),
            )

    def set_known_control(self, db: sqlite3.Connection, data: Mapping[str, Any]) -> None:
        """Set the switches `data` names (others are ignored)."""
        self.set_control(db, **{k: v for k, v in data.items() if k in self.DEFAULT_CONTROL})

    def sending(self, db: sqlite3.Connection, url: str | None) -> dict[str, Any] | None:
        """The switches for a notification to `url`; None when none is to be queued (no
        address, or `drop`)."""
        if not url:
            return None
        control = self.control(db)
        return None if control["drop"] else control

    def enqueue(
        self,
        db: sqlite3.Connection,
        control: Mapping[str, Any],
        event_id: str,
        url: str,
        body: bytes | str,
        next_at: float,
    ) -> None:
        """Put one notification in the outbox `copies` times, held if `hold` is on."""
        for copy in range(max(1, int(control["copies"]))):
            cursor = db.execute(
                "INSERT INTO outbox (event_id, url, body, copy, seq, held, next_at) "
                "VALUES (?, ?, ?, ?, 0, ?, ?)",
                (event_id, url, body, copy, 1 if control["hold"] else 0, next_at),
            )
            db.execute("UPDATE outbox SET seq = id WHERE id = ?", (cursor.lastrowid,))

    def release_held(self) -> int:
        """Release every held notification, newest first (each copy after all the first
        copies); how many."""
        with self.write() as db:
            return db.execute(
                "UPDATE outbox SET held = 0, seq = copy * 1000000000 - id, next_at = ? "
                "WHERE held = 1 AND delivered_at IS NULL",
                (time.time(),),
            ).rowcount


class Deliverer:
    """Sends the outbox's notifications from one background thread, retrying on a schedule.

    The thread starts only in the process that serves requests, when there is something to
    send: never when the app is created, which gunicorn does once in its master before forking
    the workers (a thread does not survive a fork; its copy in a worker would never run).

    An emulator says how one notification is sent and judged delivered (`send`), when a failed
    one is tried again (`retry_delay`: None gives it up) and which rows are still worth trying
    (`LIVE`, an SQL condition on the outbox).
    """

    THREAD_NAME = "notifications"
    #: how long the thread sleeps when nothing was sent (start() wakes it earlier)
    POLL_SECONDS = 0.2
    #: the thread ends after this long with nothing left to send (start() wakes it again)
    IDLE_SECONDS = 10.0
    LIVE = "1 = 1"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()
        #: whether this process has looked for notifications left over from an earlier run
        self._resumed = False

    def _own_process(self) -> None:
        # after a fork the parent's thread, lock and event are copies that nothing drives
        if self._pid != os.getpid():
            self._reset()

    def resume(self) -> None:
        """Start sending what an earlier run left undelivered (once per process)."""
        self._own_process()
        if not self._resumed:
            self._resumed = True
            if self.undelivered():
                self.start()

    def start(self) -> None:
        """Make sure this process's thread is running, and wake it: something is due."""
        self._own_process()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=self.THREAD_NAME, daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        session = requests.Session()
        idle_since = time.monotonic()
        try:
            while Path(self.store.path).exists():
                try:
                    sent = self.deliver_due(session)
                    waiting = self.undelivered()
                except Exception:  # the emulator must keep delivering whatever one row does
                    log.exception("%s: delivery failed", self.THREAD_NAME)
                    sent, waiting = 0, 1
                if waiting:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.IDLE_SECONDS:
                    with self._lock:  # decided under the lock that start() takes
                        if not self.undelivered():
                            self._thread = None
                            return
                if not sent:
                    self._wake.wait(self.POLL_SECONDS)
                    self._wake.clear()
        finally:
            session.close()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def undelivered(self) -> int:
        with self.store.connect() as db:
            return db.execute(
                f"SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND {self.LIVE}"  # noqa: S608
            ).fetchone()[0]

    def send(self, session: requests.Session, row: sqlite3.Row) -> bool:
        """Send one notification (`row`: id, url, body, attempts); whether it was delivered."""
        raise NotImplementedError

    def retry_delay(self, attempts: int, control: Mapping[str, Any]) -> float | None:
        """Seconds until a notification that has failed `attempts` times is tried again."""
        raise NotImplementedError

    def deliver_due(self, session: requests.Session) -> int:
        """Send what is due now, in order; how many were delivered."""
        with self.store.connect() as db:
            control = self.store.control(db)
            rows = db.execute(
                "SELECT id, url, body, attempts FROM outbox WHERE delivered_at IS NULL "  # noqa: S608
                f"AND held = 0 AND {self.LIVE} AND next_at <= ? ORDER BY seq, id LIMIT 50",
                (time.time(),),
            ).fetchall()
        done = 0
        for row in rows:
            ok = False
            try:
                ok = self.send(session, row)
            except requests.RequestException as exc:
                log.info("%s: %s not delivered: %s", self.THREAD_NAME, row["id"], exc)
            with self.store.write() as db:
                if ok:
                    db.execute(
                        "UPDATE outbox SET delivered_at = ? WHERE id = ?", (time.time(), row["id"])
                    )
                    done += 1
                    continue
                delay = self.retry_delay(row["attempts"] + 1, control)
                if delay is None:
                    db.execute("UPDATE outbox SET gave_up = 1 WHERE id = ?", (row["id"],))
                else:
                    db.execute(
                        "UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?",
                        (row["attempts"] + 1, time.time() + delay, row["id"]),
                    )
        return done


def emulator_app(import_name: str, templates: Path, secret_key: str) -> Flask:
    """A Flask app for an emulator: its templates, the site's catalogue for its pages (Chinese
    unless the buyer chose or asks for English) and their style sheet (/checkout.css)."""
    app = Flask(import_name, template_folder=str(templates), static_folder=None)
    app.config.update(
        SECRET_KEY=secret_key,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
    )

    def locale() -> str:
        chosen = request.cookies.get("pm_lang")
        if chosen in ("zh", "en"):
            return chosen
        return request.accept_languages.best_match(("zh", "en")) or "zh"

    Babel(app, locale_selector=locale)
    # the pages' frame and the buyer's choices (emulator_page.html, emulator_checkout.html),
    # under each emulator's own templates, and the pages' style sheet
    shared = Blueprint("emulator", __name__, template_folder=str(HERE / "templates"))

    @shared.get("/checkout.css")
    def checkout_css() -> Any:
        return send_file(HERE / "checkout.css", mimetype="text/css")

    app.register_blueprint(shared)
    return app


def add_control_routes(
    app: Flask,
    store: Store,
    deliverer: Deliverer,
    payload: Callable[[], dict[str, Any]],
    guard: Callable[[], Any] = lambda: None,
) -> None:
    """The test switches' endpoints: POST /control sets those `payload()` names and answers
    them all; POST /control/flush sends every held notification, newest first (each copy
    after all the first copies). `guard()` checks who asks (it aborts) before either."""

    @app.post("/control")
    def control() -> Any:
        guard()
        data = payload()
        with store.write() as db:
            store.set_known_control(db, data)
            return jsonify(store.control(db))

    @app.post("/control/flush")
    def flush() -> Any:
        guard()
        count = store.release_held()
        deliverer.start()
        return jsonify({"released": count})


def buyer_action() -> str:
    """What the buyer pressed on a checkout page: pay, fail or abandon (else 400)."""
    action = request.form.get("action")
    if action not in ("pay", "fail", "abandon"):
        abort(400)
    return action


def not_in_production(config: Mapping[str, Any]) -> list[str]:
    """Why an emulator refuses to run under this configuration (none: it may)."""
    if config.get("PRODUCE_MATCH_ENV") == "production":
        return [
            "it does not run in production (PRODUCE_MATCH_ENV=production): "
            "it moves no real money and lets anyone mark an order paid."
        ]
    return []


def serve(
    argv: list[str] | None,
    *,
    module: str,
    name: str,
    description: str,
    port: int,
    options: Mapping[str, str],
    build: Callable[[dict[str, Any], argparse.Namespace, Path], tuple[Any, str]],
    refuse: Callable[[dict[str, Any]], list[str]] = not_in_production,
) -> int:
    """An emulator's `python -m` entry: --host, --port and its own `options` (flag: help, each
    defaulting to None); the site's configuration (the same environment variables), refused
    as `refuse` says; then `build(config, args, instance folder)` gives the WSGI app and the
    line to print, and it is served until stopped."""
    from werkzeug.serving import run_simple

    from produce_match.config import ConfigError, build_config

    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    for flag, text in options.items():
        parser.add_argument(flag, default=None, help=text)
    args = parser.parse_args(argv)
    instance = Path(os.environ.get("INSTANCE_PATH") or str(PROJECT_ROOT / "instance")).resolve()
    try:
        config = build_config(str(instance))
    except ConfigError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    refused = refuse(config)
    if refused:
        print(f"{name}: " + " ".join(refused), file=sys.stderr)
        return 2
    app, banner = build(config, args, instance)
    print(banner, flush=True)
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)
    return 0
