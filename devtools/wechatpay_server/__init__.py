"""A WeChat Pay API v3 emulator: WeChat Pay's wire formats, with test keys, on loopback.

A development tool, not part of the product: outside the `produce_match` package (which never
imports it), refusing to run under a production configuration, its own WSGI app with its own
SQLite file, run as a process of its own (`python -m devtools.wechatpay_server --port 5003`,
which `make run` starts). It speaks as WeChat Pay does to a direct merchant in public-key mode:

- it checks every request's `Authorization: WECHATPAY2-SHA256-RSA2048 …` with the merchant's
  public key (mchid, serial_no, a timestamp within five minutes, the signature over
  `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`), and answers 401 SIGN_ERROR otherwise;
- it signs every answer with its own private key (`Wechatpay-Signature`, `-Timestamp`,
  `-Nonce`, and `-Serial: PUB_KEY_ID_…`);
- Native (`code_url`: weixin://wxpay/bizpayurl?pr=…) and H5 (`h5_url`) orders, the query by
  out_trade_no, closing, refunds (`/v3/refund/domestic/refunds`) and merchant transfers
  (`/v3/fund-app/mch-transfer/transfer-bills`; the payee's name RSA-OAEP-encrypted);
- the pages a buyer pays on: `GET /wxpay/bizpayurl?pr=…` is what WeChat on the buyer's phone
  shows after scanning a Native code (a code_url maps to this emulator by putting its address
  in place of `weixin://`), `GET /cgi-bin/mmpayweb-bin/checkmweb?prepay_id=…` is H5's page.
  Each offers pay, fail (an attempt declined: no callback, the order stays NOTPAY) and abandon
  (the order is closed, as when it expires: no callback either, as WeChat Pay sends none);
- callbacks (TRANSACTION.SUCCESS, REFUND.SUCCESS, MCHTRANSFER.BILL.FINISHED), the resource
  encrypted with AEAD_AES_256_GCM under the APIv3 key, signed at each attempt, retried until
  answered 2xx on WeChat Pay's schedule (15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h,
  3h, 3h, 6h, 6h) multiplied by `retry_scale` (0.01 by default: 0.15 s, 0.15 s, 0.3 s, ...).

Switches for tests, like the sandbox gateway's (POST /control, signed like any request):
`copies` (each callback sent n times, the same event id), `hold` (kept until POST
/control/flush, which sends them newest first), `drop` (none sent: reconciliation must find the
money), `retry_scale`. GET /control/state tells what the emulator holds (orders, refunds,
transfers), for a test to compare with the ledger.

The development keys (`ensure_keys`): the merchant's pair (the site signs, the emulator checks),
WeChat Pay's pair (the emulator signs, the site checks) and the APIv3 key, made on the first
start into the instance folder (private files mode 600), never committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask, abort, g, jsonify, redirect, render_template, request
from flask_babel import get_locale

from devtools import emulator
from produce_match.headers import apply_headers
from produce_match.payments.providers.wechatpay import (
    encrypt_resource,
    load_private_key,
    load_public_key,
    parse_authorization,
    rsa_verify,
    signed_headers,
)

log = logging.getLogger("devtools.wechatpay_server")

HERE = Path(__file__).resolve().parent
CHINA = timezone(timedelta(hours=8))

#: WeChat Pay's callback retries, in seconds (multiplied by retry_scale)
SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)

#: the files of a key set (the site's settings name the first three)
MERCHANT_KEY = "apiclient_key.pem"  # WECHATPAY_PRIVATE_KEY_FILE (the site's)
WECHATPAY_PUBLIC = "pub_key.pem"  # WECHATPAY_PUBLIC_KEY_FILE (the site's)
APIV3_KEY = "apiv3_key.txt"  # WECHATPAY_APIV3_KEY_FILE (both)
MERCHANT_PUBLIC = "apiclient_pub.pem"  # the emulator's: checks the site's requests
WECHATPAY_KEY = "wechatpay_key.pem"  # the emulator's: signs its answers and callbacks


def _write(path: Path, data: bytes, private: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_keys(folder: Path) -> Path:
    """The test key set in `folder`, made if missing; the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if all(
        (folder / name).exists() for name in (MERCHANT_KEY, WECHATPAY_PUBLIC, APIV3_KEY)
    ) and all((folder / name).exists() for name in (MERCHANT_PUBLIC, WECHATPAY_KEY)):
        return folder
    for private_name, public_name in (
        (MERCHANT_KEY, MERCHANT_PUBLIC),
        (WECHATPAY_KEY, WECHATPAY_PUBLIC),
    ):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write(
            folder / private_name,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            private=True,
        )
        _write(
            folder / public_name,
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            private=False,
        )
    _write(folder / APIV3_KEY, secrets.token_hex(16).encode(), private=True)
    return folder


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS orders (
  out_trade_no TEXT PRIMARY KEY, trade_type TEXT NOT NULL, appid TEXT NOT NULL,
  description TEXT, notify_url TEXT NOT NULL, total INTEGER NOT NULL, currency TEXT NOT NULL,
  trade_state TEXT NOT NULL, token TEXT NOT NULL UNIQUE, transaction_id TEXT,
  request_hash TEXT NOT NULL, created_at REAL NOT NULL, success_time TEXT,
  refunded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refunds (
  out_refund_no TEXT PRIMARY KEY, refund_id TEXT NOT NULL, out_trade_no TEXT NOT NULL,
  refund INTEGER NOT NULL, total INTEGER NOT NULL, status TEXT NOT NULL, notify_url TEXT,
  request_hash TEXT NOT NULL, create_time TEXT NOT NULL, answered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bills (
  out_bill_no TEXT PRIMARY KEY, transfer_bill_no TEXT NOT NULL, openid TEXT NOT NULL,
  user_name TEXT, amount INTEGER NOT NULL, state TEXT NOT NULL, notify_url TEXT,
  request_hash TEXT NOT NULL, create_time TEXT NOT NULL, answered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox ({emulator.OUTBOX_COLUMNS.format(body_type="TEXT")},
  gave_up INTEGER NOT NULL DEFAULT 0
);
{emulator.CONTROL_TABLE}"""

DEFAULT_CONTROL: dict[str, Any] = {"copies": 1, "hold": False, "drop": False, "retry_scale": 0.01}


def _now_text() -> str:
    return datetime.now(CHINA).replace(microsecond=0).isoformat()


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class Store(emulator.Store):
    """The emulator's own database (one SQLite file)."""

    SCHEMA = _SCHEMA
    DEFAULT_CONTROL = DEFAULT_CONTROL


class Merchant:
    """Who the emulator serves: one merchant and its app, and the keys of both sides."""

    def __init__(self, keys: Path, *, mchid: str, appid: str, serial_no: str, key_id: str) -> None:
        self.mchid, self.appid, self.serial_no, self.key_id = mchid, appid, serial_no, key_id
        self.merchant_public = load_public_key((keys / MERCHANT_PUBLIC).read_bytes())
        self.signing_key = load_private_key((keys / WECHATPAY_KEY).read_bytes())
        self.apiv3_key = (keys / APIV3_KEY).read_text().strip().encode()

    def sign(self, body: str) -> dict[str, str]:
        return signed_headers(body, private_key=self.signing_key, serial=self.key_id)

    def decrypt_field(self, value: str) -> str:
        import base64

        data = self.signing_key.decrypt(
            base64.b64decode(value),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
        )
        return data.decode()


class Deliverer(emulator.Deliverer):
    """Sends the outbox's callbacks, signed at each attempt; delivered on a 2xx, retried on
    WeChat Pay's schedule (multiplied by `retry_scale`) and given up after its last retry."""

    THREAD_NAME = "wechatpay-callbacks"
    POLL_SECONDS = 0.1
    LIVE = "gave_up = 0"

    def __init__(self, store: Store, merchant: Merchant) -> None:
        super().__init__(store)
        self.merchant = merchant

    def send(self, session: requests.Session, row: sqlite3.Row) -> bool:
        # signed at each attempt, as WeChat Pay does: a fresh timestamp and nonce
        response = session.post(
            row["url"],
            data=row["body"].encode(),
            headers={"Content-Type": "application/json", **self.merchant.sign(row["body"])},
            timeout=(2, 5),
        )
        return 200 <= response.status_code < 300

    def retry_delay(self, attempts: int, control: Mapping[str, Any]) -> float | None:
        if attempts > len(SCHEDULE):
            return None
        return SCHEDULE[attempts - 1] * float(control["retry_scale"])


def _callback(
    db: sqlite3.Connection,
    store: Store,
    merchant: Merchant,
    url: str | None,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
) -> None:
    """Queue one callback (as the switches say)."""
    control = store.sending(db, url)
    if control is None or url is None:
        return
    event_id = "EV-" + datetime.now(CHINA).strftime("%Y%m%d%H%M%S") + secrets.token_hex(5)
    body = json.dumps(
        {
            "id": event_id,
            "create_time": _now_text(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                **encrypt_resource(
                    merchant.apiv3_key,
                    json.dumps(resource, ensure_ascii=False, separators=(",", ":")),
                    original_type,
                ),
            },
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    store.enqueue(db, control, event_id, url, body, time.time())


def _transaction(merchant: Merchant, row: sqlite3.Row) -> dict[str, Any]:
    """An order as the query answers it (and as TRANSACTION.SUCCESS carries it)."""
    data: dict[str, Any] = {
        "appid": row["appid"],
        "mchid": merchant.mchid,
        "out_trade_no": row["out_trade_no"],
        "trade_state": row["trade_state"],
        "trade_state_desc": {
            "SUCCESS": "支付成功",
            "REFUND": "转入退款",
            "NOTPAY": "未支付",
            "CLOSED": "已关闭",
            "PAYERROR": "支付失败",
        }.get(row["trade_state"], row["trade_state"]),
        "attach": "",
        "amount": {"total": row["total"], "currency": row["currency"]},
    }
    if row["transaction_id"]:
        data.update(
            {
                "transaction_id": row["transaction_id"],
                "trade_type": row["trade_type"],
                "bank_type": "OTHERS",
                "success_time": row["success_time"],
                "payer": {"openid": "oEmuLaToR0000000000000buyer"},
            }
        )
        data["amount"].update({"payer_total": row["total"], "payer_currency": row["currency"]})
    return data


def _refund_json(row: sqlite3.Row, status: str) -> dict[str, Any]:
    return {
        "refund_id": row["refund_id"],
        "out_refund_no": row["out_refund_no"],
        "out_trade_no": row["out_trade_no"],
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": row["create_time"],
        "status": status,
        "amount": {
            "total": row["total"],
            "refund": row["refund"],
            "payer_total": row["total"],
            "payer_refund": row["refund"],
            "currency": "CNY",
        },
    }


def _bill_json(row: sqlite3.Row, merchant: Merchant, state: str) -> dict[str, Any]:
    return {
        "mch_id": merchant.mchid,
        "out_bill_no": row["out_bill_no"],
        "transfer_bill_no": row["transfer_bill_no"],
        "appid": merchant.appid,
        "state": state,
        "transfer_amount": row["amount"],
        "openid": row["openid"],
        "create_time": row["create_time"],
        "update_time": _now_text(),
    }


_TRADE_NO = re.compile(r"[A-Za-z0-9_|*-]{6,32}")
_BILL_NO = re.compile(r"[A-Za-z0-9]{5,32}")


def create_server(keys: Path, db_path: str, **merchant: str) -> Flask:
    """The emulator as a WSGI app (`merchant`: mchid, appid, serial_no, key_id)."""
    app = emulator.emulator_app(__name__, HERE / "templates", secrets.token_hex(16))
    ensure_keys(keys)
    me = Merchant(keys, **merchant)
    store = Store(db_path)
    deliverer = Deliverer(store, me)
    app.extensions["wechatpay_server"] = {"store": store, "deliverer": deliverer, "merchant": me}

    @app.before_request
    def _start() -> None:
        # the thread lives in the process that serves (never the one that built the app)
        deliverer.start()

    def base() -> str:
        return request.host_url.rstrip("/") + request.script_root

    def fail(status: int, code: str, message: str) -> Any:
        return jsonify({"code": code, "message": message}), status

    def signed_in() -> Any:
        """None when the request carries the merchant's valid signature; else the 401."""
        fields = parse_authorization(request.headers.get("Authorization", ""))
        body = request.get_data(as_text=True)
        path = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
        if not fields or fields.get("mchid") != me.mchid:
            return fail(401, "SIGN_ERROR", "Authorization 不合法或商户号不符")
        if fields.get("serial_no") != me.serial_no:
            return fail(401, "SIGN_ERROR", "商户证书序列号不符")
        ts = fields.get("timestamp", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return fail(401, "SIGN_ERROR", "时间戳过期")
        message = f"{request.method}\n{path}\n{ts}\n{fields.get('nonce_str', '')}\n{body}\n"
        if not rsa_verify(me.merchant_public, message, fields.get("signature", "")):
            return fail(401, "SIGN_ERROR", "签名错误")
        return None

    @app.before_request
    def _authorised() -> Any:
        if request.path.startswith(("/v3/", "/control")):
            return signed_in()
        return None

    @app.after_request
    def _sign(response: Any) -> Any:
        if request.path.startswith(("/v3/", "/control")):
            body = response.get_data(as_text=True)
            response.headers.update(me.sign(body))
            response.headers["Request-ID"] = secrets.token_hex(12)
            return response
        return apply_headers(response, g.get("form_action", ()))

    def payload() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(fail(400, "PARAM_ERROR", "请求体不是JSON对象"))
        return data

    # --- orders ---------------------------------------------------------------------------

    def create_order(trade_type: str) -> Any:
        data = payload()
        amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
        total = amount.get("total")
        if data.get("mchid") != me.mchid or data.get("appid") != me.appid:
            return fail(400, "PARAM_ERROR", "appid和mch_id不匹配")
        if not _TRADE_NO.fullmatch(str(data.get("out_trade_no", ""))):
            return fail(400, "PARAM_ERROR", "out_trade_no 不合法")
        if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
            return fail(400, "PARAM_ERROR", "amount.total 必须为正整数（分）")
        if amount.get("currency", "CNY") != "CNY" or not data.get("description"):
            return fail(400, "PARAM_ERROR", "币种或商品描述不合法")
        if not str(data.get("notify_url", "")).startswith(("http://", "https://")):
            return fail(400, "PARAM_ERROR", "notify_url 不合法")
        if trade_type == "MWEB":
            scene = data.get("scene_info") if isinstance(data.get("scene_info"), dict) else {}
            if not scene.get("payer_client_ip") or not isinstance(scene.get("h5_info"), dict):
                return fail(400, "PARAM_ERROR", "H5支付须填写 scene_info")
        digest = _hash({k: v for k, v in data.items() if k != "scene_info"} | {"t": trade_type})
        no = data["out_trade_no"]
        with store.write() as db:
            row = db.execute("SELECT * FROM orders WHERE out_trade_no = ?", (no,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO orders (out_trade_no, trade_type, appid, description, "
                    "notify_url, total, currency, trade_state, token, request_hash, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'CNY', 'NOTPAY', ?, ?, ?)",
                    (
                        no,
                        trade_type,
                        data["appid"],
                        str(data["description"])[:127],
                        data["notify_url"],
                        total,
                        secrets.token_urlsafe(9),
                        digest,
                        time.time(),
                    ),
                )
                row = db.execute("SELECT * FROM orders WHERE out_trade_no = ?", (no,)).fetchone()
            elif row["request_hash"] != digest:
                return fail(400, "INVALID_REQUEST", "201 商户订单号重复")
            elif row["trade_state"] in ("SUCCESS", "REFUND"):
                return fail(400, "ORDER_PAID", "该订单已支付")
            elif row["trade_state"] == "CLOSED":
                return fail(400, "ORDER_CLOSED", "该订单已关闭")
        if trade_type == "NATIVE":
            return jsonify({"code_url": f"weixin://wxpay/bizpayurl?pr={row['token']}"})
        return jsonify(
            {
                "h5_url": f"{base()}/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{row['token']}"
                f"&package={secrets.randbelow(10**10)}"
            }
        )

    @app.post("/v3/pay/transactions/native")
    def native() -> Any:
        return create_order("NATIVE")

    @app.post("/v3/pay/transactions/h5")
    def h5() -> Any:
        return create_order("MWEB")

    @app.get("/v3/pay/transactions/out-trade-no/<no>")
    def query(no: str) -> Any:
        if request.args.get("mchid") != me.mchid:
            return fail(400, "PARAM_ERROR", "mchid 不合法")
        with store.connect() as db:
            row = db.execute("SELECT * FROM orders WHERE out_trade_no = ?", (no,)).fetchone()
        if row is None:
            return fail(404, "ORDER_NOT_EXIST", "订单不存在")
        return jsonify(_transaction(me, row))

    @app.post("/v3/pay/transactions/out-trade-no/<no>/close")
    def close(no: str) -> Any:
        with store.write() as db:
            row = db.execute("SELECT * FROM orders WHERE out_trade_no = ?", (no,)).fetchone()
            if row is None:
                return fail(404, "ORDER_NOT_EXIST", "订单不存在")
            if row["trade_state"] in ("SUCCESS", "REFUND"):
                return fail(400, "ORDER_PAID", "该订单已支付")
            db.execute("UPDATE orders SET trade_state = 'CLOSED' WHERE out_trade_no = ?", (no,))
        return "", 204

    # --- refunds --------------------------------------------------------------------------

    @app.post("/v3/refund/domestic/refunds")
    def refund() -> Any:
        data = payload()
        amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
        wanted, total = amount.get("refund"), amount.get("total")
        no = str(data.get("out_refund_no", ""))
        if not re.fullmatch(r"[A-Za-z0-9_|*@-]{1,64}", no):
            return fail(400, "PARAM_ERROR", "out_refund_no 不合法")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (wanted, total)
        ):
            return fail(400, "PARAM_ERROR", "amount.refund 和 amount.total 必须为正整数（分）")
        with store.write() as db:
            row = db.execute("SELECT * FROM refunds WHERE out_refund_no = ?", (no,)).fetchone()
            if row is not None:  # the same refund asked again: the same refund, as it is now
                if row["request_hash"] != _hash(data):
                    return fail(400, "INVALID_REQUEST", "商户退款单号重复")
                db.execute("UPDATE refunds SET answered = 1 WHERE out_refund_no = ?", (no,))
                return jsonify(_refund_json(row, row["status"]))
            order = db.execute(
                "SELECT * FROM orders WHERE out_trade_no = ?", (str(data.get("out_trade_no")),)
            ).fetchone()
            if order is None:
                return fail(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            if order["trade_state"] not in ("SUCCESS", "REFUND"):
                return fail(403, "TRADE_ERROR", "订单未支付，不能退款")
            if total != order["total"]:
                return fail(400, "PARAM_ERROR", "订单金额与原订单不符")
            if order["refunded"] + wanted > order["total"]:
                return fail(403, "NOT_ENOUGH", "退款金额超过可退金额")
            db.execute(
                "INSERT INTO refunds (out_refund_no, refund_id, out_trade_no, refund, total, "
                "status, notify_url, request_hash, create_time) "
                "VALUES (?, ?, ?, ?, ?, 'SUCCESS', ?, ?, ?)",
                (
                    no,
                    "50" + str(secrets.randbelow(10**26)).zfill(26),
                    order["out_trade_no"],
                    wanted,
                    total,
                    data.get("notify_url"),
                    _hash(data),
                    _now_text(),
                ),
            )
            db.execute(
                "UPDATE orders SET refunded = refunded + ?, trade_state = 'REFUND' "
                "WHERE out_trade_no = ?",
                (wanted, order["out_trade_no"]),
            )
            row = db.execute("SELECT * FROM refunds WHERE out_refund_no = ?", (no,)).fetchone()
            done = _refund_json(row, "SUCCESS")
            done.update(
                mchid=me.mchid,
                transaction_id=order["transaction_id"],
                refund_status="SUCCESS",
                success_time=_now_text(),
            )
            done.pop("status")
            _callback(
                db, store, me, data.get("notify_url"), "REFUND.SUCCESS", "退款成功", "refund", done
            )
        deliverer.start()
        # as WeChat Pay answers a new refund: accepted, being processed (the callback says done)
        return jsonify(_refund_json(row, "PROCESSING"))

    @app.get("/v3/refund/domestic/refunds/<no>")
    def query_refund(no: str) -> Any:
        with store.connect() as db:
            row = db.execute("SELECT * FROM refunds WHERE out_refund_no = ?", (no,)).fetchone()
        if row is None:
            return fail(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return jsonify(_refund_json(row, row["status"]))

    # --- merchant transfers (商家转账) -------------------------------------------------------

    @app.post("/v3/fund-app/mch-transfer/transfer-bills")
    def transfer() -> Any:
        data = payload()
        no = str(data.get("out_bill_no", ""))
        amount = data.get("transfer_amount")
        if not _BILL_NO.fullmatch(no):
            return fail(400, "PARAM_ERROR", "out_bill_no 只能由数字、大小写字母组成")
        if data.get("appid") != me.appid or not data.get("openid"):
            return fail(400, "PARAM_ERROR", "appid 或 openid 不合法")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 10:
            return fail(400, "PARAM_ERROR", "transfer_amount 必须为不少于10分的整数")
        if not data.get("transfer_scene_id") or not data.get("transfer_remark"):
            return fail(400, "PARAM_ERROR", "须填写转账场景和转账备注")
        name = None
        if data.get("user_name"):
            if request.headers.get("Wechatpay-Serial") != me.key_id:
                return fail(400, "PARAM_ERROR", "Wechatpay-Serial 与加密所用公钥不符")
            try:
                name = me.decrypt_field(str(data["user_name"]))
            except ValueError:
                return fail(400, "PARAM_ERROR", "user_name 解密失败")
        elif amount >= 200000:
            return fail(400, "PARAM_ERROR", "转账金额不低于2000元时须填写收款用户姓名")
        with store.write() as db:
            row = db.execute("SELECT * FROM bills WHERE out_bill_no = ?", (no,)).fetchone()
            if row is not None:
                same = {k: v for k, v in data.items() if k != "user_name"}
                if row["request_hash"] != _hash(same):
                    return fail(400, "INVALID_REQUEST", "商户单号重复")
                return jsonify(_bill_json(row, me, row["state"]))
            db.execute(
                "INSERT INTO bills (out_bill_no, transfer_bill_no, openid, user_name, amount, "
                "state, notify_url, request_hash, create_time) "
                "VALUES (?, ?, ?, ?, ?, 'SUCCESS', ?, ?, ?)",
                (
                    no,
                    "1330" + str(secrets.randbelow(10**26)).zfill(26),
                    data["openid"],
                    name,
                    amount,
                    data.get("notify_url"),
                    _hash({k: v for k, v in data.items() if k != "user_name"}),
                    _now_text(),
                ),
            )
            row = db.execute("SELECT * FROM bills WHERE out_bill_no = ?", (no,)).fetchone()
            _callback(
                db,
                store,
                me,
                data.get("notify_url"),
                "MCHTRANSFER.BILL.FINISHED",
                "商家转账单据终态通知",
                "mch_payment",
                _bill_json(row, me, "SUCCESS"),
            )
        deliverer.start()
        answer = _bill_json(row, me, "ACCEPTED")
        return jsonify(
            {k: answer[k] for k in ("out_bill_no", "transfer_bill_no", "create_time", "state")}
        )

    @app.get("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/<no>")
    def query_transfer(no: str) -> Any:
        with store.connect() as db:
            row = db.execute("SELECT * FROM bills WHERE out_bill_no = ?", (no,)).fetchone()
        if row is None:
            return fail(404, "NOT_FOUND", "转账单不存在")
        return jsonify(_bill_json(row, me, row["state"]))

    # --- the test switches --------------------------------------------------------------

    emulator.add_control_routes(app, store, deliverer, payload)

    @app.get("/control/state")
    def state() -> Any:
        """What the emulator holds: orders, refunds, transfers, callbacks still to send."""
        with store.connect() as db:
            orders = [
                dict(r)
                for r in db.execute("SELECT out_trade_no, trade_state, total, refunded FROM orders")
            ]
            refunds = [
                dict(r)
                for r in db.execute(
                    "SELECT out_refund_no, out_trade_no, refund, status FROM refunds"
                )
            ]
            bills = [
                dict(r)
                for r in db.execute(
                    "SELECT out_bill_no, openid, user_name, amount, state FROM bills"
                )
            ]
            pending = db.execute(
                "SELECT count(*) AS n, coalesce(sum(held), 0) AS held FROM outbox "
                "WHERE delivered_at IS NULL AND gave_up = 0"
            ).fetchone()
        return jsonify(
            {
                "orders": orders,
                "refunds": refunds,
                "bills": bills,
                "outbox": {"pending": pending["n"], "held": pending["held"]},
            }
        )

    # --- the buyer's pages ------------------------------------------------------------------

    def page_order(db: sqlite3.Connection) -> sqlite3.Row:
        if request.path.startswith("/wxpay/"):
            token = request.args.get("pr", "")
        else:
            token = request.args.get("prepay_id", "")[2:]
        row = db.execute("SELECT * FROM orders WHERE token = ?", (token,)).fetchone()
        if row is None:
            abort(404)
        return row

    def show(row: sqlite3.Row, failed: bool = False) -> Any:
        back = request.args.get("redirect_url", "")
        if back:
            parts = urlsplit(back)
            if parts.scheme not in ("http", "https"):
                abort(400)
            g.form_action = [f"{parts.scheme}://{parts.netloc}"]
        total = row["total"]
        return render_template(
            "wechat_checkout.html",
            order=row,
            amount=f"{total // 100:,}.{total % 100:02d}",
            failed=failed,
            back=back,
            native=row["trade_type"] == "NATIVE",
            lang="zh-CN" if str(get_locale()).startswith("zh") else "en",
        )

    @app.get("/wxpay/bizpayurl")
    @app.get("/cgi-bin/mmpayweb-bin/checkmweb")
    def checkout() -> Any:
        with store.connect() as db:
            row = page_order(db)
        return show(row, failed=request.args.get("failed") == "1")

    @app.post("/wxpay/bizpayurl")
    @app.post("/cgi-bin/mmpayweb-bin/checkmweb")
    def checkout_action() -> Any:
        action = emulator.buyer_action()
        with store.write() as db:
            row = page_order(db)
            if row["trade_state"] in ("NOTPAY", "PAYERROR"):
                if action == "pay":
                    db.execute(
                        "UPDATE orders SET trade_state = 'SUCCESS', transaction_id = ?, "
                        "success_time = ? WHERE out_trade_no = ?",
                        (
                            "4200" + str(secrets.randbelow(10**24)).zfill(24),
                            _now_text(),
                            row["out_trade_no"],
                        ),
                    )
                    paid = db.execute(
                        "SELECT * FROM orders WHERE out_trade_no = ?", (row["out_trade_no"],)
                    ).fetchone()
                    _callback(
                        db,
                        store,
                        me,
                        row["notify_url"],
                        "TRANSACTION.SUCCESS",
                        "支付成功",
                        "transaction",
                        _transaction(me, paid),
                    )
                elif action == "fail":  # WeChat Pay tells the merchant nothing of it
                    db.execute(
                        "UPDATE orders SET trade_state = 'PAYERROR' WHERE out_trade_no = ?",
                        (row["out_trade_no"],),
                    )
                else:  # abandoned: closed, as when it expires (no callback either)
                    db.execute(
                        "UPDATE orders SET trade_state = 'CLOSED' WHERE out_trade_no = ?",
                        (row["out_trade_no"],),
                    )
            row = db.execute(
                "SELECT * FROM orders WHERE out_trade_no = ?", (row["out_trade_no"],)
            ).fetchone()
        deliverer.start()
        back = request.args.get("redirect_url", "")
        if action != "fail" and back and urlsplit(back).scheme in ("http", "https"):
            return redirect(back)
        return show(row, failed=action == "fail")

    @app.get("/")
    def home() -> Any:
        return jsonify({"emulator": "WeChat Pay API v3", "ok": True})

    return app


__all__ = ["SCHEDULE", "UTC", "create_server", "ensure_keys"]
