"""The sandbox gateway: a small payment provider of our own that behaves like a real one.

A development tool, not part of the product: it lives outside the `produce_match` package, which
never imports it, and it refuses to run under a production configuration. It is its own WSGI
app (`create_gateway`), with its own database (a SQLite file) and nothing shared with
produce_match but the secret, run as a separate process on its own port
(`python -m devtools.sandbox_gateway`, which `make run` starts next to the site).

What it does, like a real gateway:
- an HTTP API (bearer secret): create a payment (with an `Idempotency-Key`: the same key always
  answers with the same payment), query it, refund all or part of it, pay out to an account;
- a hosted checkout page where the buyer pays, fails (a declined attempt; the payment stays
  open) or abandons (the payment is closed);
- server-to-server notifications of every change, signed, sent from
  a background thread and retried with back-off until acknowledged with a 2xx. The thread
  starts in the process serving requests, never when the app is created (see Deliverer). The
  signature is the one the product's sandbox provider checks
  (produce_match/payments/providers/sandbox.py): one definition for both ends.

Switches for tests (POST /control, bearer secret): `copies` (send each notification n times),
`hold` (keep notifications until POST /control/flush, which sends them newest first), `drop`
(send none), `slow_create` (the next n creations answer only after `slow_seconds`, although
the payment is already made: a client that timed out must retry with the same key).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, abort, g, jsonify, redirect, render_template, request, send_file
from flask_babel import Babel, get_locale

from produce_match.payments.providers.sandbox import signed_headers
from produce_match.web.security import apply_headers

log = logging.getLogger("devtools.sandbox_gateway")

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
#: the site's catalogue holds the checkout page's texts too (babel.cfg extracts them)
TRANSLATIONS = PROJECT_ROOT / "produce_match" / "translations"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
  id TEXT PRIMARY KEY, reference TEXT NOT NULL, amount_fen INTEGER NOT NULL,
  currency TEXT NOT NULL, description TEXT, notify_url TEXT, return_url TEXT,
  status TEXT NOT NULL, created_at REAL NOT NULL, paid_at REAL, refunded_fen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
  id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, amount_fen INTEGER NOT NULL,
  reference TEXT, status TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS payouts (
  id TEXT PRIMARY KEY, account TEXT NOT NULL, account_name TEXT, amount_fen INTEGER NOT NULL,
  currency TEXT NOT NULL, reference TEXT, status TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, response TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, url TEXT NOT NULL,
  body BLOB NOT NULL, copy INTEGER NOT NULL, seq INTEGER NOT NULL, held INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, delivered_at REAL
);
CREATE TABLE IF NOT EXISTS control (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""

DEFAULT_CONTROL: dict[str, Any] = {
    "copies": 1,
    "hold": False,
    "drop": False,
    "slow_create": 0,
    "slow_seconds": 3.0,
}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class Store:
    """The gateway's own database (one SQLite file, safe for several threads and processes)."""

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.executescript(_SCHEMA)

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
        values = dict(DEFAULT_CONTROL)
        for row in db.execute("SELECT k, v FROM control"):
            values[row["k"]] = json.loads(row["v"])
        return values

    def set_control(self, db: sqlite3.Connection, **values: Any) -> None:
        for key, value in values.items():
            db.execute(
                "INSERT INTO control (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = ?",
                (key, json.dumps(value), json.dumps(value)),
            )


class Deliverer:
    """Sends the outbox's notifications from one background thread, with back-off.

    The thread starts only in the process that serves requests, when there is something to
    send: never when the app is created, which gunicorn does once in its master before forking
    the workers (a thread does not survive a fork; its copy in a worker would never run).
    """

    def __init__(self, store: Store, secret: str) -> None:
        self.store = store
        self.secret = secret
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
                    target=self._run, name="sandbox-notifications", daemon=True
                )
                self._thread.start()
        self._wake.set()

    #: the thread ends after this long with nothing left to send (start() wakes it again)
    IDLE_SECONDS = 10.0

    def _run(self) -> None:
        session = requests.Session()
        idle_since = time.monotonic()
        try:
            while Path(self.store.path).exists():
                try:
                    sent = self.deliver_due(session)
                    waiting = self.undelivered()
                except Exception:  # the gateway must keep delivering whatever one row does
                    log.exception("sandbox notification delivery failed")
                    sent, waiting = 0, 1
                if waiting:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.IDLE_SECONDS:
                    with self._lock:  # decided under the lock that start() takes
                        if not self.undelivered():
                            self._thread = None
                            return
                if not sent:
                    self._wake.wait(0.2)
                    self._wake.clear()
        finally:
            session.close()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def undelivered(self) -> int:
        with self.store.connect() as db:
            return db.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[
                0
            ]

    def deliver_due(self, session: requests.Session) -> int:
        """Send what is due now, in order; how many were acknowledged."""
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT id, url, body, attempts FROM outbox WHERE delivered_at IS NULL "
                "AND held = 0 AND next_at <= ? ORDER BY seq, id LIMIT 50",
                (time.time(),),
            ).fetchall()
        done = 0
        for row in rows:
            body = bytes(row["body"])
            ok = False
            try:
                response = session.post(
                    row["url"],
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        **signed_headers(self.secret, body),
                    },
                    timeout=(2, 10),
                )
                ok = 200 <= response.status_code < 300
            except requests.RequestException as exc:
                log.info("notification %s not delivered: %s", row["id"], exc)
            with self.store.write() as db:
                if ok:
                    db.execute(
                        "UPDATE outbox SET delivered_at = ? WHERE id = ?", (time.time(), row["id"])
                    )
                    done += 1
                else:
                    attempts = row["attempts"] + 1
                    delay = min(600.0, 0.5 * 2 ** min(attempts, 12))
                    db.execute(
                        "UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?",
                        (attempts, time.time() + delay, row["id"]),
                    )
        return done


def _event(
    db: sqlite3.Connection, store: Store, url: str | None, kind: str, data: dict[str, Any]
) -> None:
    """Queue a notification of `kind` about `data` to `url` (as the switches say)."""
    if not url:
        return
    control = store.control(db)
    if control["drop"]:
        return
    event_id = _new_id("evt")
    body = json.dumps(
        {"id": event_id, "type": kind, "created": int(time.time()), "data": data},
        ensure_ascii=False,
        sort_keys=True,
    ).encode()
    for copy in range(max(1, int(control["copies"]))):
        cursor = db.execute(
            "INSERT INTO outbox (event_id, url, body, copy, seq, held, next_at) "
            "VALUES (?, ?, ?, ?, 0, ?, ?)",
            (event_id, url, body, copy, 1 if control["hold"] else 0, time.time()),
        )
        db.execute("UPDATE outbox SET seq = id WHERE id = ?", (cursor.lastrowid,))


def _payment_json(db: sqlite3.Connection, row: sqlite3.Row, base: str) -> dict[str, Any]:
    refunds = db.execute(
        "SELECT id, amount_fen, reference, status FROM refunds WHERE payment_id = ? ORDER BY rowid",
        (row["id"],),
    ).fetchall()
    return {
        "id": row["id"],
        "object": "payment",
        "reference": row["reference"],
        "amount_fen": row["amount_fen"],
        "currency": row["currency"],
        "status": row["status"],
        "paid_at": row["paid_at"],
        "refunded_fen": row["refunded_fen"],
        "refunds": [dict(r) for r in refunds],
        "checkout_url": f"{base}/checkout/{row['id']}",
    }


def create_gateway(secret: str, db_path: str) -> Flask:
    """The sandbox gateway as a WSGI app."""
    app = Flask(
        __name__,
        template_folder=str(HERE / "templates"),
        static_folder=None,
    )
    app.config.update(
        SECRET_KEY=secret,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    def locale() -> str:
        chosen = request.cookies.get("pm_lang")
        if chosen in ("zh", "en"):
            return chosen
        return request.accept_languages.best_match(("zh", "en")) or "zh"

    Babel(app, locale_selector=locale)
    store = Store(db_path)
    deliverer = Deliverer(store, secret)
    app.extensions["sandbox"] = {"store": store, "deliverer": deliverer}

    @app.before_request
    def _resume() -> None:
        # notifications left over from the last run are sent by the process that serves
        # requests, never by the one creating the app (see Deliverer)
        deliverer.resume()

    def base() -> str:
        return request.host_url.rstrip("/") + request.script_root

    def authorised() -> None:
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        if not secrets.compare_digest(given.encode(), secret.encode()):
            abort(401)

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(400)
        return data

    def error(status: int, code: str, message: str) -> Any:
        return jsonify({"error": {"code": code, "message": message}}), status

    def idempotent(db: sqlite3.Connection, data: dict[str, Any]) -> tuple[str, Any]:
        key = request.headers.get("Idempotency-Key", "")
        if not key or len(key) > 100:
            abort(400)
        digest = hashlib.sha256(
            (request.path + json.dumps(data, sort_keys=True)).encode()
        ).hexdigest()
        row = db.execute(
            "SELECT request_hash, response FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return key, None
        if row["request_hash"] != digest:
            return key, error(409, "idempotency_key_reused", "key used for another request")
        return key, json.loads(row["response"])

    def remember(db: sqlite3.Connection, key: str, data: dict[str, Any], answer: Any) -> None:
        digest = hashlib.sha256(
            (request.path + json.dumps(data, sort_keys=True)).encode()
        ).hexdigest()
        db.execute(
            "INSERT INTO idempotency (key, request_hash, response) VALUES (?, ?, ?)",
            (key, digest, json.dumps(answer)),
        )

    @app.post("/api/payments")
    def create_payment() -> Any:
        authorised()
        data = body()
        amount = data.get("amount_fen")
        if not isinstance(amount, int) or amount <= 0 or data.get("currency") != "CNY":
            return error(422, "invalid_amount", "amount_fen must be a positive integer in CNY")
        slow = 0.0
        with store.write() as db:
            key, replay = idempotent(db, data)
            if replay is not None:
                return replay if isinstance(replay, tuple) else (jsonify(replay), 200)
            payment_id = _new_id("pay")
            db.execute(
                "INSERT INTO payments (id, reference, amount_fen, currency, description, "
                "notify_url, return_url, status, created_at, refunded_fen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0)",
                (
                    payment_id,
                    str(data.get("reference", "")),
                    amount,
                    data["currency"],
                    str(data.get("description", ""))[:200],
                    data.get("notify_url"),
                    data.get("return_url"),
                    time.time(),
                ),
            )
            row = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            answer = _payment_json(db, row, base())
            remember(db, key, data, answer)
            control = store.control(db)
            if control["slow_create"] > 0:
                store.set_control(db, slow_create=control["slow_create"] - 1)
                slow = float(control["slow_seconds"])
        if slow:
            time.sleep(slow)  # made and stored, but the caller has given up waiting
        return jsonify(answer), 201

    @app.get("/api/payments")
    def list_payments() -> Any:
        """Payments with a reference (a client checking that a retry made no second one)."""
        authorised()
        with store.connect() as db:
            rows = db.execute(
                "SELECT * FROM payments WHERE reference = ? ORDER BY rowid",
                (request.args.get("reference", ""),),
            ).fetchall()
            return jsonify({"items": [_payment_json(db, r, base()) for r in rows]})

    @app.get("/api/payments/<payment_id>")
    def query_payment(payment_id: str) -> Any:
        authorised()
        with store.connect() as db:
            row = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            if row is None:
                return error(404, "not_found", "no such payment")
            return jsonify(_payment_json(db, row, base()))

    @app.post("/api/payments/<payment_id>/refunds")
    def refund(payment_id: str) -> Any:
        authorised()
        data = body()
        amount = data.get("amount_fen")
        if not isinstance(amount, int) or amount <= 0:
            return error(422, "invalid_amount", "amount_fen must be a positive integer")
        with store.write() as db:
            key, replay = idempotent(db, data)
            if replay is not None:
                return replay if isinstance(replay, tuple) else (jsonify(replay), 200)
            row = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            if row is None:
                return error(404, "not_found", "no such payment")
            if row["status"] != "succeeded":
                return error(409, "not_paid", "the payment has not succeeded")
            if row["refunded_fen"] + amount > row["amount_fen"]:
                return error(409, "refund_exceeds_payment", "more than is left of the payment")
            refund_id = _new_id("re")
            db.execute(
                "INSERT INTO refunds (id, payment_id, amount_fen, reference, status, created_at) "
                "VALUES (?, ?, ?, ?, 'succeeded', ?)",
                (refund_id, payment_id, amount, data.get("reference"), time.time()),
            )
            db.execute(
                "UPDATE payments SET refunded_fen = refunded_fen + ? WHERE id = ?",
                (amount, payment_id),
            )
            answer = {
                "id": refund_id,
                "object": "refund",
                "payment_id": payment_id,
                "amount_fen": amount,
                "currency": row["currency"],
                "reference": data.get("reference"),
                "status": "succeeded",
            }
            remember(db, key, data, answer)
            _event(db, store, data.get("notify_url"), "refund.succeeded", answer)
        deliverer.start()
        return jsonify(answer), 201

    @app.get("/api/refunds/<refund_id>")
    def query_refund(refund_id: str) -> Any:
        authorised()
        with store.connect() as db:
            row = db.execute("SELECT * FROM refunds WHERE id = ?", (refund_id,)).fetchone()
            if row is None:
                return error(404, "not_found", "no such refund")
            return jsonify({**dict(row), "object": "refund"})

    @app.post("/api/payouts")
    def payout() -> Any:
        authorised()
        data = body()
        amount = data.get("amount_fen")
        if not isinstance(amount, int) or amount <= 0 or not data.get("account"):
            return error(422, "invalid_payout", "an account and a positive amount_fen")
        with store.write() as db:
            key, replay = idempotent(db, data)
            if replay is not None:
                return replay if isinstance(replay, tuple) else (jsonify(replay), 200)
            payout_id = _new_id("po")
            db.execute(
                "INSERT INTO payouts (id, account, account_name, amount_fen, currency, "
                "reference, status, created_at) VALUES (?, ?, ?, ?, 'CNY', ?, 'succeeded', ?)",
                (
                    payout_id,
                    str(data["account"]),
                    data.get("account_name"),
                    amount,
                    data.get("reference"),
                    time.time(),
                ),
            )
            answer = {
                "id": payout_id,
                "object": "payout",
                "account": str(data["account"]),
                "amount_fen": amount,
                "currency": "CNY",
                "reference": data.get("reference"),
                "status": "succeeded",
            }
            remember(db, key, data, answer)
            _event(db, store, data.get("notify_url"), "payout.succeeded", answer)
        deliverer.start()
        return jsonify(answer), 201

    @app.get("/api/payouts/<payout_id>")
    def query_payout(payout_id: str) -> Any:
        authorised()
        with store.connect() as db:
            row = db.execute("SELECT * FROM payouts WHERE id = ?", (payout_id,)).fetchone()
            if row is None:
                return error(404, "not_found", "no such payout")
            return jsonify({**dict(row), "object": "payout"})

    @app.get("/api/payouts")
    def list_payouts() -> Any:
        """Payouts with a reference (what the platform sent for one order)."""
        authorised()
        with store.connect() as db:
            rows = db.execute(
                "SELECT * FROM payouts WHERE reference = ? ORDER BY rowid",
                (request.args.get("reference", ""),),
            ).fetchall()
            return jsonify({"items": [{**dict(r), "object": "payout"} for r in rows]})

    @app.post("/control")
    def control() -> Any:
        authorised()
        data = body()
        values = {k: v for k, v in data.items() if k in DEFAULT_CONTROL}
        with store.write() as db:
            store.set_control(db, **values)
            return jsonify(store.control(db))

    @app.post("/control/flush")
    def flush() -> Any:
        """Send every held notification, newest first (each copy after all the first copies)."""
        authorised()
        with store.write() as db:
            count = db.execute(
                "UPDATE outbox SET held = 0, seq = copy * 1000000000 - id, next_at = ? "
                "WHERE held = 1 AND delivered_at IS NULL",
                (time.time(),),
            ).rowcount
        deliverer.start()
        return jsonify({"released": count})

    @app.get("/control/outbox")
    def outbox() -> Any:
        """What is still to be sent (for tests and the curious)."""
        authorised()
        with store.connect() as db:
            rows = db.execute(
                "SELECT event_id, held, attempts, delivered_at FROM outbox "
                "WHERE delivered_at IS NULL"
            ).fetchall()
            return jsonify({"pending": len(rows), "held": sum(r["held"] for r in rows)})

    @app.get("/checkout/<payment_id>")
    def checkout(payment_id: str) -> Any:
        with store.connect() as db:
            row = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
        if row is None:
            abort(404)
        if row["return_url"]:
            parts = urlsplit(row["return_url"])
            g.form_action = [f"{parts.scheme}://{parts.netloc}"]
        return render_template(
            "checkout.html",
            payment=row,
            amount=f"{row['amount_fen'] // 100:,}.{row['amount_fen'] % 100:02d}",
            failed=request.args.get("failed") == "1",
            lang="zh-CN" if str(get_locale()).startswith("zh") else "en",
            css_url=f"{request.script_root}/checkout.css",
        )

    @app.get("/checkout.css")
    def checkout_css() -> Any:
        return send_file(Path(__file__).with_name("checkout.css"), mimetype="text/css")

    @app.after_request
    def _headers(response: Any) -> Any:
        # the site's own headers, through the site's own path; the checkout's form may also
        # end on the shop's page (the gateway redirects the buyer back there)
        return apply_headers(response, g.get("form_action", ()))

    @app.post("/checkout/<payment_id>")
    def checkout_action(payment_id: str) -> Any:
        action = request.form.get("action")
        if action not in ("pay", "fail", "abandon"):
            abort(400)
        with store.write() as db:
            row = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            if row is None:
                abort(404)
            data = {
                "payment_id": row["id"],
                "reference": row["reference"],
                "amount_fen": row["amount_fen"],
                "currency": row["currency"],
            }
            if row["status"] == "pending":
                if action == "pay":
                    now = time.time()
                    db.execute(
                        "UPDATE payments SET status = 'succeeded', paid_at = ? WHERE id = ? "
                        "AND status = 'pending'",
                        (now, payment_id),
                    )
                    _event(
                        db,
                        store,
                        row["notify_url"],
                        "payment.succeeded",
                        {**data, "status": "succeeded", "paid_at": now},
                    )
                elif action == "fail":
                    _event(
                        db,
                        store,
                        row["notify_url"],
                        "payment.failed",
                        {**data, "status": "pending", "failure": "card_declined"},
                    )
                else:
                    db.execute(
                        "UPDATE payments SET status = 'closed' WHERE id = ? AND status = 'pending'",
                        (payment_id,),
                    )
                    _event(
                        db, store, row["notify_url"], "payment.closed", {**data, "status": "closed"}
                    )
        deliverer.start()
        if action == "fail" and row["status"] == "pending":
            return redirect(f"{base()}/checkout/{payment_id}?failed=1")
        return redirect(row["return_url"] or f"{base()}/checkout/{payment_id}")

    @app.get("/")
    def home() -> Any:
        return jsonify({"gateway": "produce_match sandbox", "ok": True})

    return app
