"""An Alipay gateway emulator: Alipay's open-platform wire format, with test keys, offline.

A development tool, not part of the product (produce_match never imports it; it refuses to run
under a production configuration). Its own process (`python -m devtools.alipay_gateway`, which
`make run` starts on port 5002), its own SQLite file and its own keys, in a folder
(ALIPAY_EMULATOR_DIR, by default instance/alipay_emulator): on its first start it writes two
RSA key pairs there, mode 600: the app's (the site signs with app_private_key.pem, the emulator
verifies with app_public_key.pem) and "Alipay's" (the emulator signs with
alipay_private_key.pem, the site verifies with alipay_public_key.pem). The site's development
defaults point ALIPAY_APP_PRIVATE_KEY_FILE and ALIPAY_PUBLIC_KEY_FILE at that folder.

What it does, as Alipay does (public-key mode, RSA2):
- GET /gateway.do with `alipay.trade.page.pay` or `alipay.trade.wap.pay` signed in the query
  string: the app's signature is verified (SHA256withRSA over the sorted `k=v` pairs but `sign`;
  a `timestamp` more than 30 minutes from now is refused), then a checkout page where the buyer
  pays, fails (nothing changes) or abandons (the trade is closed); back to `return_url` with
  signed parameters;
- POST /gateway.do (the same signed parameters, form body or query string): `alipay.trade.query`,
  `alipay.trade.refund` (`out_request_no`: the same one again is the same refund),
  `alipay.fund.trans.uni.transfer` (`out_biz_no` likewise); the answer is
  `{"<method>_response": {...}, "sign": "..."}`, signed over the exact text of the response;
- asynchronous notifications (form-encoded, signed over the sorted pairs but `sign` and
  `sign_type`) of TRADE_SUCCESS, TRADE_CLOSED and refunds, to `notify_url`, until the answer
  is exactly `success`, on Alipay's schedule (4m, 10m, 10m, 1h, 2h, 6h, 15h) with each minute
  one second by default (`time_scale`).

The signing here is its own code (pycryptodomex directly), not the product's SDK: the tests
check that what it signs verifies with python-alipay-sdk and the other way round.

Switches for tests (POST /control, JSON): `copies` (each notification sent n times), `hold`
(keep notifications until POST /control/flush, which sends them newest first; POST
/control/clear forgets the undelivered ones), `drop` (send none), `time_scale` (seconds per
minute of Alipay's schedule), `api_down` (the next n API calls answer 502).
GET /control/trades?out_trade_no=… and /control/transfers?out_biz_no=… say what
the emulator holds (to check the site's ledger against).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from Cryptodome.Hash import SHA256
from Cryptodome.PublicKey import RSA
from Cryptodome.Signature import pkcs1_15
from flask import Flask, abort, g, jsonify, redirect, render_template, request
from flask_babel import get_locale

from devtools.emulator import (
    CONTROL_TABLE,
    OUTBOX_COLUMNS,
    Deliverer,
    Store,
    add_control_routes,
    buyer_action,
    emulator_app,
)
from produce_match.headers import apply_headers

log = logging.getLogger("devtools.alipay_gateway")

HERE = Path(__file__).resolve().parent
BEIJING = timezone(timedelta(hours=8))
#: Alipay's retries after a notification not answered `success`, in minutes
SCHEDULE_MINUTES = (4, 10, 10, 60, 120, 360, 900)
KEY_FILES = ("app_private_key.pem", "app_public_key.pem", "alipay_private_key.pem")
PUBLIC_FILE = "alipay_public_key.pem"
PAY_METHODS = {
    "alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY",
    "alipay.trade.wap.pay": "QUICK_WAP_WAY",
}
#: seconds a signed request's `timestamp` may be away from now
STALE_AFTER = 30 * 60
YUAN = re.compile(r"^(0|[1-9]\d{0,9})(\.\d{1,2})?$")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS trades (
  out_trade_no TEXT PRIMARY KEY, trade_no TEXT NOT NULL UNIQUE, app_id TEXT NOT NULL,
  method TEXT NOT NULL, total_fen INTEGER NOT NULL, subject TEXT, notify_url TEXT,
  return_url TEXT, status TEXT NOT NULL, created_at REAL NOT NULL, paid_at REAL,
  refunded_fen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refunds (
  out_trade_no TEXT NOT NULL, out_request_no TEXT NOT NULL, amount_fen INTEGER NOT NULL,
  created_at REAL NOT NULL, PRIMARY KEY (out_trade_no, out_request_no)
);
CREATE TABLE IF NOT EXISTS transfers (
  out_biz_no TEXT PRIMARY KEY, order_id TEXT NOT NULL, identity TEXT NOT NULL,
  identity_type TEXT NOT NULL, name TEXT, amount_fen INTEGER NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox ({OUTBOX_COLUMNS.format(body_type="BLOB")}
);
{CONTROL_TABLE}"""

DEFAULT_CONTROL: dict[str, Any] = {
    "copies": 1,
    "hold": False,
    "drop": False,
    "time_scale": 1.0,
    "api_down": 0,
}


# --- keys and signatures ---------------------------------------------------------------------


def ensure_keys(folder: Path) -> None:
    """Write the two test key pairs into `folder` (mode 600) unless they are there."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if all((folder / name).exists() for name in (*KEY_FILES, PUBLIC_FILE)):
        return
    for who in ("app", "alipay"):
        key = RSA.generate(2048)
        for name, pem in (
            (f"{who}_private_key.pem", key.export_key("PEM", pkcs=8)),
            (f"{who}_public_key.pem", key.public_key().export_key("PEM")),
        ):
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            os.chmod(path, 0o600)


def content(params: Mapping[str, str], *, leave_out: tuple[str, ...]) -> str:
    """The string Alipay signs: the sorted `k=v` pairs (empty values left out) joined with `&`."""
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in leave_out and params[k] != ""
    )


def rsa2_sign(key: RSA.RsaKey, text: str) -> str:
    return base64.b64encode(pkcs1_15.new(key).sign(SHA256.new(text.encode()))).decode()


def rsa2_verify(key: RSA.RsaKey, text: str, signature: str) -> bool:
    try:
        pkcs1_15.new(key).verify(SHA256.new(text.encode()), base64.b64decode(signature))
    except (ValueError, TypeError):
        return False
    return True


def yuan(amount_fen: int) -> str:
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


def fen(value: Any) -> int | None:
    if not isinstance(value, str) or not YUAN.match(value):
        return None
    try:
        return int(Decimal(value) * 100)
    except InvalidOperation:
        return None


def beijing(moment: float | None = None) -> str:
    return datetime.fromtimestamp(moment or time.time(), BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# --- storage and delivery --------------------------------------------------------------------


class AlipayStore(Store):
    """The emulator's own SQLite file (the emulators' store, with Alipay's tables)."""

    SCHEMA = _SCHEMA
    DEFAULT_CONTROL = DEFAULT_CONTROL


class AlipayDeliverer(Deliverer):
    """Sends notifications form-encoded; done when the answer is exactly `success`, retried on
    Alipay's schedule (compressed by `time_scale`) and given up after its last retry."""

    THREAD_NAME = "alipay-notifications"
    LIVE = f"attempts <= {len(SCHEDULE_MINUTES)}"

    def send(self, session: requests.Session, row: sqlite3.Row) -> bool:
        response = session.post(
            row["url"],
            data=bytes(row["body"]),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            timeout=(2, 10),
        )
        return response.status_code == 200 and response.text.strip() == "success"

    def retry_delay(self, attempts: int, control: Mapping[str, Any]) -> float | None:
        minutes = SCHEDULE_MINUTES[min(attempts, len(SCHEDULE_MINUTES)) - 1]
        return minutes * float(control["time_scale"])


# --- the gateway -----------------------------------------------------------------------------


class Emulator:
    """Keys, identity and storage of one emulated Alipay merchant."""

    def __init__(self, folder: Path, app_id: str, seller_id: str, db_path: str) -> None:
        ensure_keys(folder)
        self.app_public = RSA.import_key((folder / "app_public_key.pem").read_bytes())
        self.alipay_private = RSA.import_key((folder / "alipay_private_key.pem").read_bytes())
        self.app_id = app_id
        self.seller_id = seller_id
        self.store = AlipayStore(db_path)
        self.deliverer = AlipayDeliverer(self.store)

    def notify(self, db: sqlite3.Connection, trade: sqlite3.Row, **fields: str) -> None:
        """Queue a signed notification about `trade` (as the switches say)."""
        control = self.store.sending(db, trade["notify_url"])
        if control is None:
            return
        notify_id = secrets.token_hex(16)
        params = {
            "notify_time": beijing(),
            "notify_type": "trade_status_sync",
            "notify_id": notify_id,
            "charset": "utf-8",
            "version": "1.0",
            "app_id": trade["app_id"],
            "seller_id": self.seller_id,
            "buyer_id": "2088102177846880",
            "buyer_logon_id": "158****1562",
            "trade_no": trade["trade_no"],
            "out_trade_no": trade["out_trade_no"],
            "total_amount": yuan(trade["total_fen"]),
            "receipt_amount": yuan(trade["total_fen"]),
            "subject": trade["subject"] or "",
            "gmt_create": beijing(trade["created_at"]),
            **fields,
        }
        params = {k: v for k, v in params.items() if v}  # Alipay sends no empty parameter
        params["sign"] = rsa2_sign(self.alipay_private, content(params, leave_out=("sign",)))
        params["sign_type"] = "RSA2"
        body = urlencode(params).encode()
        self.store.enqueue(db, control, notify_id, trade["notify_url"], body, 0)

    def answer(self, method: str, response: dict[str, Any]) -> Any:
        """An API answer as Alipay writes it: signed over the exact text of the response."""
        key = method.replace(".", "_") + "_response"
        text = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
        sign = rsa2_sign(self.alipay_private, text)
        body = f'{{"{key}":{text},"sign":"{sign}"}}'
        return body, 200, {"Content-Type": "application/json;charset=utf-8"}


def _error(code: str, msg: str, sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def create_gateway(folder: Path, app_id: str, seller_id: str, db_path: str) -> Flask:
    """The emulator as a WSGI app."""
    app = emulator_app(__name__, HERE / "templates", secrets.token_hex(16))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    emulator = Emulator(folder, app_id, seller_id, db_path)
    store, deliverer = emulator.store, emulator.deliverer
    app.extensions["alipay_emulator"] = emulator

    @app.before_request
    def _resume() -> None:
        deliverer.resume()

    @app.after_request
    def _headers(response: Any) -> Any:
        return apply_headers(response, g.get("form_action", ()))

    def signed_request() -> tuple[dict[str, str], dict[str, Any] | None, str | None]:
        """The request's parameters, its biz_content, and why it is refused (None: it is not)."""
        params = {**request.args.to_dict(), **request.form.to_dict()}
        if params.get("app_id") != app_id:
            return params, None, "isv.invalid-app-id"
        if params.get("sign_type") != "RSA2" or params.get("charset", "utf-8").lower() != "utf-8":
            return params, None, "isv.invalid-signature-type"
        if not rsa2_verify(
            emulator.app_public, content(params, leave_out=("sign",)), params.get("sign", "")
        ):
            return params, None, "isv.invalid-signature"
        try:
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return params, None, "isv.invalid-timestamp"
        if abs(time.time() - sent.replace(tzinfo=BEIJING).timestamp()) > STALE_AFTER:
            return params, None, "isv.invalid-timestamp"
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            return params, None, "isv.invalid-biz-content"
        if not isinstance(biz, dict):
            return params, None, "isv.invalid-biz-content"
        return params, biz, None

    def checkout_page(trade: sqlite3.Row, *, failed: bool = False, status: int = 200) -> Any:
        if trade["return_url"]:
            parts = urlsplit(trade["return_url"])
            g.form_action = [f"{parts.scheme}://{parts.netloc}"]
        return (
            render_template(
                "alipay_checkout.html",
                trade=trade,
                amount=f"{trade['total_fen'] // 100:,}.{trade['total_fen'] % 100:02d}",
                phone=trade["method"] == "alipay.trade.wap.pay",
                failed=failed,
                lang="zh-CN" if str(get_locale()).startswith("zh") else "en",
                action=f"{request.script_root}/checkout/{trade['trade_no']}",
            ),
            status,
        )

    def refusal_page(code: str) -> Any:
        return render_template("alipay_refused.html", code=code), 400

    @app.get("/gateway.do")
    def pay() -> Any:
        params, biz, refused = signed_request()
        if refused or biz is None:
            return refusal_page(refused or "isv.invalid-biz-content")
        method = params.get("method", "")
        if PAY_METHODS.get(method) is None or biz.get("product_code") != PAY_METHODS[method]:
            return refusal_page("isv.invalid-method")
        out_trade_no = str(biz.get("out_trade_no") or "")
        amount = fen(biz.get("total_amount"))
        if not out_trade_no or len(out_trade_no) > 64 or not amount:
            return refusal_page("isv.invalid-parameter")
        with store.write() as db:
            trade = db.execute(
                "SELECT * FROM trades WHERE out_trade_no = ?", (out_trade_no,)
            ).fetchone()
            if trade is None:
                db.execute(
                    "INSERT INTO trades (out_trade_no, trade_no, app_id, method, total_fen, "
                    "subject, notify_url, return_url, status, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'WAIT_BUYER_PAY', ?)",
                    (
                        out_trade_no,
                        datetime.now(BEIJING).strftime("%Y%m%d") + secrets.token_hex(10),
                        app_id,
                        method,
                        amount,
                        str(biz.get("subject") or "")[:256],
                        params.get("notify_url"),
                        params.get("return_url"),
                        time.time(),
                    ),
                )
                trade = db.execute(
                    "SELECT * FROM trades WHERE out_trade_no = ?", (out_trade_no,)
                ).fetchone()
            elif trade["total_fen"] != amount:
                return refusal_page("ACQ.CONTEXT_INCONSISTENT")
        return checkout_page(trade)

    @app.post("/checkout/<trade_no>")
    def checkout_action(trade_no: str) -> Any:
        action = buyer_action()
        with store.write() as db:
            trade = db.execute("SELECT * FROM trades WHERE trade_no = ?", (trade_no,)).fetchone()
            if trade is None:
                abort(404)
            if trade["status"] == "WAIT_BUYER_PAY" and action == "pay":
                now = time.time()
                db.execute(
                    "UPDATE trades SET status = 'TRADE_SUCCESS', paid_at = ? WHERE trade_no = ?",
                    (now, trade_no),
                )
                emulator.notify(
                    db,
                    trade,
                    trade_status="TRADE_SUCCESS",
                    gmt_payment=beijing(now),
                    buyer_pay_amount=yuan(trade["total_fen"]),
                )
            elif trade["status"] == "WAIT_BUYER_PAY" and action == "abandon":
                now = time.time()
                db.execute(
                    "UPDATE trades SET status = 'TRADE_CLOSED' WHERE trade_no = ?", (trade_no,)
                )
                emulator.notify(db, trade, trade_status="TRADE_CLOSED", gmt_close=beijing(now))
            trade = db.execute("SELECT * FROM trades WHERE trade_no = ?", (trade_no,)).fetchone()
        deliverer.start()
        if action == "fail" and trade["status"] == "WAIT_BUYER_PAY":
            return checkout_page(trade, failed=True, status=200)
        if not trade["return_url"]:
            return checkout_page(trade)
        back = {
            "charset": "utf-8",
            "out_trade_no": trade["out_trade_no"],
            "method": trade["method"] + ".return",
            "total_amount": yuan(trade["total_fen"]),
            "trade_no": trade["trade_no"],
            "auth_app_id": trade["app_id"],
            "version": "1.0",
            "app_id": trade["app_id"],
            "seller_id": seller_id,
            "timestamp": beijing(),
        }
        back["sign"] = rsa2_sign(emulator.alipay_private, content(back, leave_out=("sign",)))
        back["sign_type"] = "RSA2"
        joiner = "&" if "?" in trade["return_url"] else "?"
        return redirect(trade["return_url"] + joiner + urlencode(back))

    @app.post("/gateway.do")
    def api() -> Any:
        with store.write() as db:
            control = store.control(db)
            if control["api_down"] > 0:
                store.set_control(db, api_down=control["api_down"] - 1)
                return "Bad Gateway", 502
        params, biz, refused = signed_request()
        method = params.get("method", "")
        if refused or biz is None:
            # Alipay answers a request it cannot trust with an unsigned error_response
            error = _error("40002", "Invalid Arguments", refused or "isv.invalid", refused or "")
            return jsonify({"error_response": error}), 200
        handler = API.get(method)
        if handler is None:
            return emulator.answer(
                method, _error("40004", "Business Failed", "isv.invalid-method", method)
            )
        result = handler(emulator, biz)
        deliverer.start()
        return emulator.answer(method, result)

    def json_object() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(400)
        return data

    add_control_routes(app, store, deliverer, json_object)

    @app.post("/control/clear")
    def clear() -> Any:
        """Forget every notification not yet delivered (a test starting afresh)."""
        with store.write() as db:
            count = db.execute("DELETE FROM outbox WHERE delivered_at IS NULL").rowcount
        return jsonify({"cleared": count})

    @app.get("/control/outbox")
    def outbox() -> Any:
        with store.connect() as db:
            rows = db.execute(
                "SELECT held, attempts FROM outbox WHERE delivered_at IS NULL"
            ).fetchall()
        given_up = sum(1 for r in rows if r["attempts"] > len(SCHEDULE_MINUTES))
        return jsonify(
            {
                "pending": len(rows) - given_up,
                "held": sum(r["held"] for r in rows),
                "given_up": given_up,
                "attempts": max((r["attempts"] for r in rows), default=0),
            }
        )

    @app.get("/control/trades")
    def trades() -> Any:
        with store.connect() as db:
            rows = db.execute(
                "SELECT * FROM trades WHERE out_trade_no = ?", (request.args.get("out_trade_no"),)
            ).fetchall()
            items = []
            for row in rows:
                refunds = db.execute(
                    "SELECT out_request_no, amount_fen FROM refunds WHERE out_trade_no = ? "
                    "ORDER BY created_at",
                    (row["out_trade_no"],),
                ).fetchall()
                items.append({**dict(row), "refunds": [dict(r) for r in refunds]})
        return jsonify({"items": items})

    @app.get("/control/transfers")
    def transfers() -> Any:
        with store.connect() as db:
            rows = db.execute(
                "SELECT * FROM transfers WHERE out_biz_no LIKE ? ORDER BY created_at",
                (request.args.get("out_biz_no", "") + "%",),
            ).fetchall()
        return jsonify({"items": [dict(r) for r in rows]})

    @app.get("/")
    def home() -> Any:
        return jsonify({"gateway": "produce_match Alipay emulator", "ok": True})

    return app


# --- the API methods -------------------------------------------------------------------------


def _trade(db: sqlite3.Connection, biz: Mapping[str, Any]) -> sqlite3.Row | None:
    if biz.get("out_trade_no"):
        return db.execute(
            "SELECT * FROM trades WHERE out_trade_no = ?", (str(biz["out_trade_no"]),)
        ).fetchone()
    if biz.get("trade_no"):
        return db.execute(
            "SELECT * FROM trades WHERE trade_no = ?", (str(biz["trade_no"]),)
        ).fetchone()
    return None


def _not_exist() -> dict[str, str]:
    return _error("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")


def trade_query(emulator: Emulator, biz: Mapping[str, Any]) -> dict[str, Any]:
    with emulator.store.connect() as db:
        trade = _trade(db, biz)
    if trade is None:
        return _not_exist()
    answer = {
        "code": "10000",
        "msg": "Success",
        "trade_no": trade["trade_no"],
        "out_trade_no": trade["out_trade_no"],
        "trade_status": trade["status"],
        "total_amount": yuan(trade["total_fen"]),
        "buyer_logon_id": "158****1562",
    }
    if trade["paid_at"]:
        answer["send_pay_date"] = beijing(trade["paid_at"])
    return answer


def trade_refund(emulator: Emulator, biz: Mapping[str, Any]) -> dict[str, Any]:
    amount = fen(biz.get("refund_amount"))
    request_no = str(biz.get("out_request_no") or biz.get("out_trade_no") or "")
    if not amount:
        return _error("40004", "Business Failed", "ACQ.INVALID_PARAMETER", "退款金额无效")
    with emulator.store.write() as db:
        trade = _trade(db, biz)
        if trade is None:
            return _not_exist()
        done = db.execute(
            "SELECT amount_fen FROM refunds WHERE out_trade_no = ? AND out_request_no = ?",
            (trade["out_trade_no"], request_no),
        ).fetchone()
        fund_change = "N"
        if done is None:
            if trade["status"] not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return _error(
                    "40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"
                )
            if trade["refunded_fen"] + amount > trade["total_fen"]:
                return _error(
                    "40004", "Business Failed", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"
                )
            now = time.time()
            db.execute(
                "INSERT INTO refunds (out_trade_no, out_request_no, amount_fen, created_at) "
                "VALUES (?, ?, ?, ?)",
                (trade["out_trade_no"], request_no, amount, now),
            )
            refunded = trade["refunded_fen"] + amount
            closed = refunded == trade["total_fen"]
            db.execute(
                "UPDATE trades SET refunded_fen = ?, status = ? WHERE out_trade_no = ?",
                (refunded, "TRADE_CLOSED" if closed else trade["status"], trade["out_trade_no"]),
            )
            emulator.notify(
                db,
                trade,
                trade_status="TRADE_CLOSED" if closed else trade["status"],
                out_biz_no=request_no,
                refund_fee=yuan(refunded),
                gmt_refund=beijing(now) + ".000",
            )
            fund_change = "Y"
        elif done["amount_fen"] != amount:
            return _error("40004", "Business Failed", "ACQ.CONTEXT_INCONSISTENT", "参数不一致")
        trade = _trade(db, biz)
    return {
        "code": "10000",
        "msg": "Success",
        "trade_no": trade["trade_no"],
        "out_trade_no": trade["out_trade_no"],
        "buyer_logon_id": "158****1562",
        "fund_change": fund_change,
        "refund_fee": yuan(trade["refunded_fen"]),
    }


def fund_transfer(emulator: Emulator, biz: Mapping[str, Any]) -> dict[str, Any]:
    amount = fen(biz.get("trans_amount"))
    payee = biz.get("payee_info")
    out_biz_no = str(biz.get("out_biz_no") or "")
    if (
        not amount
        or not out_biz_no
        or not isinstance(payee, dict)
        or biz.get("product_code") != "TRANS_ACCOUNT_NO_PWD"
    ):
        return _error("40004", "Business Failed", "INVALID_PARAMETER", "参数有误")
    identity_type = payee.get("identity_type")
    identity = str(payee.get("identity") or "")
    if identity_type not in ("ALIPAY_USER_ID", "ALIPAY_LOGON_ID") or not identity:
        return _error("40004", "Business Failed", "PAYEE_NOT_EXIST", "收款账号不存在")
    if identity_type == "ALIPAY_LOGON_ID" and not payee.get("name"):
        return _error("40004", "Business Failed", "PAYEE_USERINFO_ERROR", "收款人姓名不能为空")
    with emulator.store.write() as db:
        done = db.execute("SELECT * FROM transfers WHERE out_biz_no = ?", (out_biz_no,)).fetchone()
        if done is None:
            now = time.time()
            order_id = datetime.now(BEIJING).strftime("%Y%m%d") + secrets.token_hex(8)
            db.execute(
                "INSERT INTO transfers (out_biz_no, order_id, identity, identity_type, name, "
                "amount_fen, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (out_biz_no, order_id, identity, identity_type, payee.get("name"), amount, now),
            )
            done = db.execute(
                "SELECT * FROM transfers WHERE out_biz_no = ?", (out_biz_no,)
            ).fetchone()
        elif done["amount_fen"] != amount or done["identity"] != identity:
            return _error("40004", "Business Failed", "PARAM_ILLEGAL", "参数与原请求不一致")
    return {
        "code": "10000",
        "msg": "Success",
        "out_biz_no": out_biz_no,
        "order_id": done["order_id"],
        "pay_fund_order_id": "P" + done["order_id"],
        "status": "SUCCESS",
        "trans_date": beijing(done["created_at"]),
    }


API = {
    "alipay.trade.query": trade_query,
    "alipay.trade.refund": trade_refund,
    "alipay.fund.trans.uni.transfer": fund_transfer,
}
