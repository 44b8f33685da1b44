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

import hashlib
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, abort, g, jsonify, redirect, render_template, request
from flask_babel import get_locale

from devtools import emulator
from produce_match.headers import apply_headers
from produce_match.payments.providers.sandbox import signed_headers

log = logging.getLogger("devtools.sandbox_gateway")

HERE = Path(__file__).resolve().parent

_SCHEMA = f"""
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
CREATE TABLE IF NOT EXISTS outbox ({emulator.OUTBOX_COLUMNS.format(body_type="BLOB")}
);
{emulator.CONTROL_TABLE}"""

DEFAULT_CONTROL: dict[str, Any] = {
    "copies": 1,
    "hold": False,
    "drop": False,
    "slow_create": 0,
    "slow_seconds": 3.0,
}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class Store(emulator.Store):
    """The gateway's own database (one SQLite file, safe for several threads and processes)."""

    SCHEMA = _SCHEMA
    DEFAULT_CONTROL = DEFAULT_CONTROL


class Deliverer(emulator.Deliverer):
    """Sends notifications as JSON signed with the shared secret; delivered on a 2xx, retried
    with back-off (doubling from one second, at most ten minutes apart) and never given up."""

    THREAD_NAME = "sandbox-notifications"

    def __init__(self, store: Store, secret: str) -> None:
        super().__init__(store)
        self.secret = secret

    def send(self, session: requests.Session, row: sqlite3.Row) -> bool:
        body = bytes(row["body"])
        response = session.post(
            row["url"],
            data=body,
            headers={"Content-Type": "application/json", **signed_headers(self.secret, body)},
            timeout=(2, 10),
        )
        return 200 <= response.status_code < 300

    def retry_delay(self, attempts: int, control: Mapping[str, Any]) -> float | None:
        return min(600.0, 0.5 * 2 ** min(attempts, 12))


def _event(
    db: sqlite3.Connection, store: Store, url: str | None, kind: str, data: dict[str, Any]
) -> None:
    """Queue a notification of `kind` about `data` to `url` (as the switches say)."""
    control = store.sending(db, url)
    if control is None or url is None:
        return
    event_id = _new_id("evt")
    body = json.dumps(
        {"id": event_id, "type": kind, "created": int(time.time()), "data": data},
        ensure_ascii=False,
        sort_keys=True,
    ).encode()
    store.enqueue(db, control, event_id, url, body, time.time())


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
    app = emulator.emulator_app(__name__, HERE / "templates", secret)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
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

    emulator.add_control_routes(app, store, deliverer, body, guard=authorised)

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
        )

    @app.after_request
    def _headers(response: Any) -> Any:
        # the site's own headers, through the site's own path; the checkout's form may also
        # end on the shop's page (the gateway redirects the buyer back there)
        return apply_headers(response, g.get("form_action", ()))

    @app.post("/checkout/<payment_id>")
    def checkout_action(payment_id: str) -> Any:
        action = emulator.buyer_action()
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
