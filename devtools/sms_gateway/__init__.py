"""An emulator of Aliyun's SMS API (Dysmsapi 2017-05-25) for development and the tests.

It answers `SendSms` as Aliyun does, over the wire the official SDK speaks
(alibabacloud-dysmsapi20170525 with alibabacloud-tea-openapi): a POST to `/` whose query holds
the action's parameters, signed with the V3 signature (`Authorization: ACS3-HMAC-SHA256
Credential=…,SignedHeaders=…,Signature=…` over the canonical request, with x-acs-date,
x-acs-signature-nonce and x-acs-content-sha256). Each request is verified with the development
AccessKey (the site's SMS_ACCESS_KEY_ID and SMS_ACCESS_KEY_SECRET) before anything else:

- an unknown AccessKey id: 404 `InvalidAccessKeyId.NotFound`;
- a wrong signature: 400 `SignatureDoesNotMatch`; an incomplete one: 400 `IncompleteSignature`;
  a date more than 15 minutes off: 400 `InvalidTimeStamp.Expired`; a nonce used before: 400
  `SignatureNonceUsed`; a body whose digest differs from x-acs-content-sha256: 400
  `SignatureDoesNotMatch`;

then, as Aliyun does, with HTTP 200 and a `Code` other than "OK": `isv.MOBILE_NUMBER_ILLEGAL`,
`isv.SMS_SIGNATURE_ILLEGAL`, `isv.SMS_TEMPLATE_ILLEGAL`, `isv.INVALID_JSON_PARAM`,
`isv.TEMPLATE_MISSING_PARAMETERS`, `isv.PARAM_LENGTH_LIMIT` and Aliyun's flow control per
number, `isv.BUSINESS_LIMIT_CONTROL` (a verification code: 1 a minute, 5 an hour, 10 a day; a
notice: 50 a day per template). A message sent is answered with `Code: "OK"`, a `BizId` and a
`RequestId`, and kept: `GET /messages?phone=…` lists a number's messages as JSON (newest
first) and `/` is an inbox page, where a developer reads the codes the site sent.

Test switches: POST /control with `{"fail": "isp.SYSTEM_ERROR"}` answers every send with that
code until it is set back to null; `{"limits": false}` turns the flow control off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, jsonify, render_template, request
from flask_babel import get_locale

from devtools.emulator import CONTROL_TABLE, Store, emulator_app

HERE = Path(__file__).resolve().parent

#: the templates the emulator's account has (the site's development SMS_TEMPLATES name them)
TEMPLATES = {
    "SMS_900000001": "您的验证码为${code}，10分钟内有效，请勿泄露给他人。",
    "SMS_900000002": "${text}",
}
#: which templates carry verification codes (Aliyun's flow control differs)
VERIFY_TEMPLATES = frozenset({"SMS_900000001"})
#: Aliyun's flow control per number and sign name: (seconds, messages)
CODE_LIMITS = ((60, 1, "分钟"), (3600, 5, "小时"), (86400, 10, "天"))
NOTICE_LIMITS = ((86400, 50, "天"),)
#: a variable's value at most this long (Aliyun's rule for templates' variables)
PARAM_MAX = 35
#: how far a request's x-acs-date may be from now
STALE_AFTER = 15 * 60
ALGORITHM = "ACS3-HMAC-SHA256"
REQUIRED_SIGNED = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)
_VAR = re.compile(r"\$\{(\w+)\}")

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, biz_id TEXT NOT NULL UNIQUE, request_id TEXT NOT NULL,
  phone TEXT NOT NULL, sign_name TEXT NOT NULL, template_code TEXT NOT NULL,
  params TEXT NOT NULL, text TEXT NOT NULL, out_id TEXT, sent_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_phone ON messages (phone, sent_at);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, at REAL NOT NULL);
"""
    + CONTROL_TABLE
)


class SmsStore(Store):
    SCHEMA = _SCHEMA
    DEFAULT_CONTROL: Mapping[str, Any] = {"fail": None, "limits": True}


def canonical_query(args: Mapping[str, str]) -> str:
    """The query as the V3 signature reads it: keys sorted, values percent-encoded (RFC 3986)."""
    return "&".join(f"{key}={quote(args[key], safe='~')}" for key in sorted(args))


def string_to_sign(method: str, path: str, args: Mapping[str, str], headers: Mapping[str, str],
                   signed: list[str], payload_hash: str) -> str:  # fmt: skip
    """ACS3-HMAC-SHA256's string to sign for a request."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    canonical = "\n".join(
        [method, path or "/", canonical_query(args), canonical_headers, ";".join(signed),
         payload_hash]
    )  # fmt: skip
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def normalise(number: str) -> str | None:
    """Aliyun takes a mainland number bare or after +86, 0086 or 86."""
    for prefix in ("+86", "0086", "86"):
        if number.startswith(prefix) and len(number) == 11 + len(prefix):
            number = number[len(prefix) :]
    return number if re.fullmatch(r"1[3-9][0-9]{9}", number) else None


def render(template: str, params: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: str(params.get(m.group(1), "")), template)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def create_gateway(keys: Mapping[str, str], sign_name: str, db_path: str) -> Flask:
    """The emulator as a WSGI app: `keys` maps AccessKey ids to their secrets."""
    app = emulator_app(__name__, HERE / "templates", secrets.token_hex(16))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    store = SmsStore(db_path)
    app.extensions["sms_emulator"] = store

    def answer(body: dict[str, Any], status: int = 200) -> Any:
        response = jsonify(body)
        response.status_code = status
        response.headers["Content-Type"] = "application/json;charset=utf-8"
        return response

    def verify(request_id: str) -> None:
        """Refuse a request whose V3 signature does not hold."""
        authorization = request.headers.get("Authorization", "")
        algorithm, _, rest = authorization.partition(" ")
        parts = dict(
            item.split("=", 1) for item in rest.split(",") if "=" in item
        )  # Credential=…,SignedHeaders=…,Signature=…
        if algorithm != ALGORITHM or not {"Credential", "SignedHeaders", "Signature"} <= set(parts):
            raise Refused(400, "IncompleteSignature", "The request signature is incomplete.")
        secret = keys.get(parts["Credential"])
        if secret is None:
            raise Refused(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = parts["SignedHeaders"].split(";")
        if signed != sorted(signed) or not set(REQUIRED_SIGNED) <= set(signed):
            raise Refused(
                400,
                "IncompleteSignature",
                "The request signature does not sign " + ", ".join(REQUIRED_SIGNED) + ".",
            )
        headers = {name.lower(): value for name, value in request.headers.items()}
        payload = request.get_data()
        payload_hash = headers.get("x-acs-content-sha256", "")
        expected = string_to_sign(
            request.method, request.path, request.args.to_dict(), headers, signed, payload_hash
        )
        if not hmac.compare_digest(sign(secret, expected), parts["Signature"]) or (
            hashlib.sha256(payload).hexdigest() != payload_hash
        ):
            raise Refused(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        try:
            sent = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise Refused(
                400, "InvalidTimeStamp.Format", "Specified time stamp is not valid."
            ) from None
        if abs(time.time() - sent.replace(tzinfo=UTC).timestamp()) > STALE_AFTER:
            raise Refused(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        with store.write() as db:
            db.execute("DELETE FROM nonces WHERE at < ?", (time.time() - 2 * STALE_AFTER,))
            try:
                db.execute(
                    "INSERT INTO nonces (nonce, at) VALUES (?, ?)",
                    (headers["x-acs-signature-nonce"], time.time()),
                )
            except sqlite3.IntegrityError:
                raise Refused(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                ) from None

    def send(params: Mapping[str, str], request_id: str) -> dict[str, Any]:
        def refuse(code: str, message: str) -> dict[str, Any]:
            return {"Code": code, "Message": message, "RequestId": request_id}

        numbers = [normalise(n.strip()) for n in params.get("PhoneNumbers", "").split(",")]
        if not numbers or None in numbers:
            return refuse("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") != sign_name:
            return refuse("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        code = params.get("TemplateCode", "")
        if code not in TEMPLATES:
            return refuse("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(
            isinstance(v, str | int) for v in values.values()
        ):
            return refuse("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        needed = set(_VAR.findall(TEMPLATES[code]))
        if not needed <= set(values):
            return refuse("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if any(len(str(v)) > PARAM_MAX for v in values.values()):
            return refuse("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        now = time.time()
        with store.write() as db:
            control = store.control(db)
            if control["fail"]:
                return refuse(str(control["fail"]), "模拟的失败（/control）")
            if control["limits"]:
                verifying = code in VERIFY_TEMPLATES
                group = sorted(VERIFY_TEMPLATES) if verifying else [code]
                marks = ",".join("?" * len(group))
                for number in numbers:
                    for seconds, permits, unit in CODE_LIMITS if verifying else NOTICE_LIMITS:
                        sent = db.execute(
                            "SELECT count(*) FROM messages WHERE phone = ? "  # noqa: S608
                            f"AND template_code IN ({marks}) AND sent_at > ?",
                            (number, *group, now - seconds),
                        ).fetchone()[0]
                        if sent >= permits:
                            return refuse(
                                "isv.BUSINESS_LIMIT_CONTROL", f"触发{unit}级流控Permits:{permits}"
                            )
            text = f"【{sign_name}】" + render(TEMPLATES[code], values)
            biz_id = f"{int(now * 1000) % 10**12:012d}^{secrets.randbelow(10**9):09d}"
            for number in numbers:
                db.execute(
                    "INSERT INTO messages (biz_id, request_id, phone, sign_name, template_code, "
                    "params, text, out_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        biz_id if len(numbers) == 1 else f"{biz_id}-{number}",
                        request_id,
                        number,
                        sign_name,
                        code,
                        json.dumps(values, ensure_ascii=False),
                        text,
                        params.get("OutId"),
                        now,
                    ),
                )
        return {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id}

    @app.post("/")
    def rpc() -> Any:
        request_id = str(uuid.uuid4()).upper()
        try:
            verify(request_id)
        except Refused as exc:
            return answer(
                {
                    "RequestId": request_id,
                    "HostId": request.host,
                    "Code": exc.code,
                    "Message": exc.message,
                },
                exc.status,
            )
        action = request.headers.get("x-acs-action")
        if action != "SendSms" or request.headers.get("x-acs-version") != "2017-05-25":
            return answer(
                {
                    "RequestId": request_id,
                    "Code": "InvalidAction.NotFound",
                    "Message": f"Specified api is not found, please check your url and method: "
                    f"{action}",
                },
                404,
            )
        params = {**request.form.to_dict(), **request.args.to_dict()}
        return answer(send(params, request_id))

    def messages_of(phone: str | None, limit: int = 100) -> list[dict[str, Any]]:
        with store.connect() as db:
            if phone:
                rows = db.execute(
                    "SELECT * FROM messages WHERE phone = ? ORDER BY id DESC LIMIT ?",
                    (normalise(phone.strip()) or phone.strip(), limit),
                )
            else:
                rows = db.execute("SELECT * FROM messages ORDER BY id DESC LIMIT ?", (limit,))
            return [
                {
                    "biz_id": row["biz_id"],
                    "phone": row["phone"],
                    "sign_name": row["sign_name"],
                    "template_code": row["template_code"],
                    "params": json.loads(row["params"]),
                    "text": row["text"],
                    "out_id": row["out_id"],
                    "sent_at": datetime.fromtimestamp(row["sent_at"], UTC).isoformat(),
                }
                for row in rows
            ]

    @app.get("/messages")
    def messages() -> Any:
        """The messages sent to `phone` (all, without it), newest first."""
        return jsonify({"messages": messages_of(request.args.get("phone"))})

    @app.get("/")
    def inbox() -> Any:
        phone = (request.args.get("phone") or "").strip()[:20]
        return render_template(
            "sms_inbox.html",
            phone=phone,
            messages=messages_of(phone or None, 50),
            lang="zh-CN" if str(get_locale()).startswith("zh") else "en",
        )

    @app.post("/control")
    def control() -> Any:
        data = request.get_json(silent=True)
        with store.write() as db:
            store.set_known_control(db, data if isinstance(data, dict) else {})
            return jsonify(store.control(db))

    return app
