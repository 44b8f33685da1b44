"""WeChat Pay, API v3 (微信支付 APIv3), as a direct merchant (直连商户) in public-key mode.

The wire format is known here and nowhere else in the product:

- Every request is signed with the merchant's private key (SHA256withRSA, PKCS#1 v1.5):
  `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
  timestamp="…",serial_no="…"` over `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`, where
  serial_no is the merchant certificate's serial number (WECHATPAY_CERT_SERIAL_NO).
- Every answer (2xx) and every callback is signed by WeChat Pay: the headers
  `Wechatpay-Timestamp`, `Wechatpay-Nonce`, `Wechatpay-Signature` (base64 SHA256withRSA over
  `TIMESTAMP\\nNONCE\\nBODY\\n`) and `Wechatpay-Serial`, the id of the key that signed. In
  public-key mode that is `PUB_KEY_ID_…` (WECHATPAY_PUBLIC_KEY_ID) and the key is WeChat Pay's
  public key (WECHATPAY_PUBLIC_KEY_FILE); the older platform certificates are not used. A
  signature by any other key, or a timestamp more than five minutes away, is refused.
- A callback's `resource` is encrypted with AEAD_AES_256_GCM under the APIv3 key (32 bytes),
  with its `nonce` and `associated_data`.
- Amounts are whole fen (`amount.total`); our payment's reference is `out_trade_no`, a refund
  instruction's idempotency key is `out_refund_no`, a payout's is `out_bill_no`. The payment's
  provider_ref is its out_trade_no too: Native and H5 orders get WeChat's transaction_id only
  when paid, and every call here names the order by out_trade_no.

Paying: on a computer, Native pay (`/v3/pay/transactions/native`) answers a `code_url`
(weixin://wxpay/bizpayurl?pr=…) that the buyer scans with WeChat on a phone: a browser cannot
open it, so the buyer is shown it as a QR code on a page of ours (web/payments.py `wechat`).
In a phone's browser, H5 pay (`/v3/pay/transactions/h5`) answers an `h5_url` on WeChat's
domain, where the buyer is sent (with `redirect_url`, our return page).

Refunds: `/v3/refund/domestic/refunds` (partial amounts; `amount.total` is the order's, asked
first). Payouts: merchant transfer (商家转账), the current API
`/v3/fund-app/mch-transfer/transfer-bills` (the batch API `/v3/transfer/batches` is closed to
new merchants since 2025), to the WeChat user (openid under WECHATPAY_APPID) the cooperative
recorded on its payout account; the payee's real name travels encrypted with WeChat Pay's
public key (RSA-OAEP), as the API asks from 2,000 yuan up.

The cryptography is `cryptography`'s, used directly: the community SDK (wechatpayv3) cannot be
pointed at another host but through a private attribute, neither retries nor tells a refusal
from an outage, and its callback check does not refuse an old timestamp. The tests check this
module and the emulator (devtools/wechatpay_server) against that SDK's own code.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import has_request_context, request
from flask_babel import lazy_gettext as _l

from produce_match.inputs import load_json
from produce_match.payments.providers import (
    OTHER,
    PAYMENT,
    PAYOUT,
    REFUND,
    SUCCEEDED,
    Answer,
    BadNotification,
    Created,
    Movement,
    Notification,
    Provider,
    ProviderRefused,
    ProviderUnavailable,
    RemotePayment,
    browser_url,
    notify_url,
    path_for,
)
from produce_match.payments.providers.keys import (
    KeyFileError,
    https_problems,
    key_file_problems,
    read_key_file,
)

log = logging.getLogger("produce_match.payments")

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
#: how far a signed answer's or callback's timestamp may be from our clock (seconds)
TOLERANCE = 300
#: WeChat Pay's API hosts (the second is its backup domain)
REAL_HOSTS = ("api.mch.weixin.qq.com", "api2.mch.weixin.qq.com")
#: where a real h5_url leads the buyer's browser (CSP form-action)
H5_ORIGIN = "https://wx.tenpay.com"
CURRENCY = "CNY"
_PHONE = re.compile(r"Mobile|Android|iPhone|iPad|HarmonyOS", re.IGNORECASE)


# --- the cryptography of the protocol (both ends: the emulator signs with these) ------------


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def rsa_sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5) of `message`, base64."""
    signature = private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_verify(public_key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def nonce_str() -> str:
    return secrets.token_hex(16).upper()


def authorization(
    method: str,
    path: str,
    body: str,
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header of a request (`path` with its query string)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or nonce_str()
    signature = rsa_sign(private_key, f"{method}\n{path}\n{ts}\n{nonce}\n{body}\n")
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{ts}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an Authorization header ({} unless it is of this schema)."""
    if not header.startswith(SCHEMA + " "):
        return {}
    return dict(re.findall(r'(\w+)="([^"]*)"', header[len(SCHEMA) + 1 :]))


def signed_headers(
    body: str,
    *,
    private_key: rsa.RSAPrivateKey,
    serial: str,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers with which WeChat Pay signs an answer or a callback."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or nonce_str()
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": rsa_sign(private_key, f"{ts}\n{nonce}\n{body}\n"),
        "Wechatpay-Signature-Type": SCHEMA,
    }


def verify_signed(
    headers: Mapping[str, str],
    body: str,
    *,
    public_key: rsa.RSAPublicKey,
    public_key_id: str,
    tolerance: int = TOLERANCE,
) -> None:
    """Raise BadNotification unless WeChat Pay's key signed `body` within `tolerance` seconds."""
    low = {k.lower(): v for k, v in headers.items()}
    signature = low.get("wechatpay-signature")
    timestamp = low.get("wechatpay-timestamp", "")
    nonce = low.get("wechatpay-nonce", "")
    serial = low.get("wechatpay-serial", "")
    if not signature or not nonce:
        raise BadNotification("missing signature")
    kind = low.get("wechatpay-signature-type")
    if kind and kind != SCHEMA:
        raise BadNotification(f"unknown signature type {kind[:40]!r}")
    if serial != public_key_id:
        # a platform certificate's serial, or another merchant's key: not ours to trust
        raise BadNotification(f"signed by an unknown key {serial[:64]!r}")
    if not timestamp.isdigit():
        raise BadNotification("bad timestamp")
    if abs(time.time() - int(timestamp)) > tolerance:
        raise BadNotification("stale timestamp")
    if not rsa_verify(public_key, f"{timestamp}\n{nonce}\n{body}\n", signature):
        raise BadNotification("signature mismatch")


def encrypt_resource(
    apiv3_key: bytes, plaintext: str, associated_data: str, nonce: str | None = None
) -> dict[str, str]:
    """A callback's `resource` (the emulator's side)."""
    nonce = nonce or secrets.token_hex(6)  # 12 characters, as WeChat Pay's
    data = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext.encode(), associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(data).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def decrypt_resource(apiv3_key: bytes, resource: Mapping[str, Any]) -> str:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise BadNotification("unknown algorithm")
    nonce = resource.get("nonce")
    ciphertext = resource.get("ciphertext")
    associated = resource.get("associated_data") or ""
    if not isinstance(nonce, str) or not isinstance(ciphertext, str) or not nonce:
        raise BadNotification("resource is not whole")
    try:
        plain = AESGCM(apiv3_key).decrypt(
            nonce.encode(), base64.b64decode(ciphertext), str(associated).encode()
        )
        return plain.decode()
    except (InvalidTag, ValueError, UnicodeDecodeError):
        raise BadNotification("resource does not decrypt") from None


def oaep_encrypt(public_key: rsa.RSAPublicKey, text: str) -> str:
    """A sensitive field (the payee's name) for WeChat Pay's eyes only (RSA-OAEP, SHA-1)."""
    data = public_key.encrypt(
        text.encode(),
        padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303 - the API's scheme
    )
    return base64.b64encode(data).decode()


def apiv3_key_of(config: Mapping[str, Any]) -> bytes:
    """The APIv3 key: from its file (WECHATPAY_APIV3_KEY_FILE) or the environment."""
    if config.get("WECHATPAY_APIV3_KEY_FILE"):
        key = read_key_file(config, "WECHATPAY_APIV3_KEY_FILE").strip()
    else:
        key = str(config.get("WECHATPAY_APIV3_KEY") or "")
    if len(key.encode()) != 32:
        raise KeyFileError("the WeChat Pay APIv3 key is not 32 characters")
    return key.encode()


def rfc3339_to_epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise BadNotification("a time that is not RFC 3339") from None


def _fen(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadNotification(f"{name} is not a positive whole number of fen")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadNotification(f"{name} is missing")
    return value


def _bill_no(key: str) -> str:
    """out_bill_no / out_refund_no: at most 32 letters and digits (our keys are hex)."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", key):
        raise ProviderRefused("the instruction's key is not a WeChat Pay bill number", "bad_key")
    return key


#: trade_state in the ledger's words (a pending payment may still be paid)
_TRADE_STATES = {
    "SUCCESS": "succeeded",
    "REFUND": "succeeded",  # paid, then (partly) refunded
    "CLOSED": "closed",
    "REVOKED": "closed",
    "NOTPAY": "pending",
    "USERPAYING": "pending",
    "PAYERROR": "pending",
}


class WechatPayProvider(Provider):
    """WeChat Pay API v3 (or its emulator, devtools/wechatpay_server)."""

    name = "wechatpay"
    pay_label = _l("Pay with WeChat Pay")
    payout_account_fields = ("wechat_openid", "wechat_name")
    #: the pause before each retry of a call that got no answer
    BACKOFF: tuple[float, ...] = (0.2, 0.6, 1.5)

    def __init__(
        self,
        *,
        base_url: str,
        mchid: str,
        appid: str,
        private_key: rsa.RSAPrivateKey,
        serial_no: str,
        apiv3_key: bytes,
        public_key: rsa.RSAPublicKey,
        public_key_id: str,
        timeout: float,
        transfer_scene_id: str = "1000",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.mchid = mchid
        self.appid = appid
        self._private_key = private_key
        self.serial_no = serial_no
        self._apiv3_key = apiv3_key
        self.public_key = public_key
        self.public_key_id = public_key_id
        self.timeout = timeout
        self.transfer_scene_id = transfer_scene_id

    def __repr__(self) -> str:  # never the keys
        return f"<WechatPayProvider mchid={self.mchid} at {self.base_url}>"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, quick: bool = False) -> WechatPayProvider:
        missing = [
            name
            for name in (
                "WECHATPAY_BASE_URL",
                "WECHATPAY_MCHID",
                "WECHATPAY_APPID",
                "WECHATPAY_CERT_SERIAL_NO",
                "WECHATPAY_PUBLIC_KEY_ID",
            )
            if not config.get(name)
        ]
        if missing:
            raise LookupError(f"WeChat Pay is not configured: {', '.join(missing)} not set")
        try:
            private_key = load_private_key(read_key_file(config, "WECHATPAY_PRIVATE_KEY_FILE"))
            public_key = load_public_key(read_key_file(config, "WECHATPAY_PUBLIC_KEY_FILE"))
        except ValueError:
            raise KeyFileError("a WeChat Pay key file is not an RSA key in PEM") from None
        timeout = float(config["PAYMENTS_HTTP_TIMEOUT"])
        provider = cls(
            base_url=config["WECHATPAY_BASE_URL"],
            mchid=str(config["WECHATPAY_MCHID"]),
            appid=str(config["WECHATPAY_APPID"]),
            private_key=private_key,
            serial_no=str(config["WECHATPAY_CERT_SERIAL_NO"]),
            apiv3_key=apiv3_key_of(config),
            public_key=public_key,
            public_key_id=str(config["WECHATPAY_PUBLIC_KEY_ID"]),
            timeout=min(timeout, 3.0) if quick else timeout,
            transfer_scene_id=str(config.get("WECHATPAY_TRANSFER_SCENE_ID") or "1000"),
        )
        if quick:
            provider.BACKOFF = ()
        return provider

    @classmethod
    def form_action_origins(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        # Native leads to our own QR page; H5 to WeChat's page (the emulator's, in development)
        url = config.get("WECHATPAY_BASE_URL")
        if not url:
            return ()
        parts = urlsplit(url)
        if parts.hostname in REAL_HOSTS:
            return (H5_ORIGIN,)
        return (f"{parts.scheme}://{parts.netloc}",)

    @classmethod
    def deploy_problems(cls, config: Mapping[str, Any]) -> list[str]:
        found = [
            f"{name} is not set."
            for name in ("WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_CERT_SERIAL_NO")
            if not config.get(name)
        ]
        key_id = str(config.get("WECHATPAY_PUBLIC_KEY_ID") or "")
        if not key_id.startswith("PUB_KEY_ID_"):
            found.append(
                "WECHATPAY_PUBLIC_KEY_ID must be WeChat Pay's public key id (PUB_KEY_ID_…)."
            )
        found += key_file_problems(config, "WECHATPAY_PRIVATE_KEY_FILE", private=True)
        found += key_file_problems(config, "WECHATPAY_PUBLIC_KEY_FILE", private=False)
        if config.get("WECHATPAY_APIV3_KEY"):
            found.append(
                "WECHATPAY_APIV3_KEY is set in the environment: in production the APIv3 key is "
                "read from a file only this service may read (WECHATPAY_APIV3_KEY_FILE)."
            )
        found += key_file_problems(config, "WECHATPAY_APIV3_KEY_FILE", private=True)
        found += https_problems(config, "WECHATPAY_BASE_URL")
        host = urlsplit(str(config.get("WECHATPAY_BASE_URL") or "")).hostname
        if config.get("WECHATPAY_BASE_URL") and host not in REAL_HOSTS:
            found.append(
                f"WECHATPAY_BASE_URL ({config.get('WECHATPAY_BASE_URL')}) is not WeChat Pay's "
                "API (https://api.mch.weixin.qq.com): an emulator or another host would take "
                "the payments."
            )
        return found

    # --- calls --------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One signed call, retried on no answer and 5xx; the verified answer's JSON."""
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body else ""
        last: Exception | None = None
        for attempt in range(len(self.BACKOFF) + 1):
            if attempt:
                time.sleep(self.BACKOFF[attempt - 1])
            headers = {
                "Authorization": authorization(
                    method,
                    path,
                    text,
                    mchid=self.mchid,
                    serial_no=self.serial_no,
                    private_key=self._private_key,
                ),
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Wechatpay-Serial": self.public_key_id,
            }
            try:
                response = requests.request(
                    method,
                    self.base_url + path,
                    data=text.encode() if text else None,
                    headers=headers,
                    timeout=(min(3.0, self.timeout), self.timeout),
                )
            except requests.RequestException as exc:  # no answer: the same call again
                log.info("wechatpay %s %s: %s (attempt %d)", method, path, exc, attempt + 1)
                last = exc
                continue
            if response.status_code >= 500:
                last = ProviderUnavailable(f"{response.status_code} from WeChat Pay")
                continue
            answer = response.content.decode("utf-8", "replace")
            if response.status_code >= 400:
                try:
                    error = json.loads(answer)
                except ValueError:
                    error = {}
                error = error if isinstance(error, dict) else {}
                raise ProviderRefused(
                    str(error.get("message") or response.status_code)[:200],
                    str(error.get("code") or response.status_code),
                )
            try:
                verify_signed(
                    response.headers,
                    answer,
                    public_key=self.public_key,
                    public_key_id=self.public_key_id,
                )
            except BadNotification as exc:
                # not WeChat Pay's answer (or changed on the way): believe none of it
                log.error("wechatpay %s %s: answer not signed by WeChat Pay: %s", method, path, exc)
                raise ProviderUnavailable(f"unsigned answer: {exc}") from None
            if not answer:
                return {}
            data = json.loads(answer)
            return data if isinstance(data, dict) else {}
        raise ProviderUnavailable(str(last))

    def create_payment(
        self,
        *,
        payment_id: int,
        reference: str,
        amount_fen: int,
        currency: str,
        description: str,
        idempotency_key: str,
    ) -> Created:
        order: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": description[:127],
            "out_trade_no": reference,
            "notify_url": notify_url(self.name),
            "amount": {"total": amount_fen, "currency": currency},
        }
        if _on_a_phone():
            order["scene_info"] = {
                "payer_client_ip": request.remote_addr or "127.0.0.1",
                "h5_info": {"type": "Wap"},
            }
            data = self._call("POST", "/v3/pay/transactions/h5", order)
            back = browser_url(path_for("payments.returned", payment_id=payment_id))
            h5_url = _text_or_refused(data.get("h5_url"), "h5_url")
            return Created(reference, f"{h5_url}&redirect_url={quote(back, safe='')}")
        data = self._call("POST", "/v3/pay/transactions/native", order)
        return Created(reference, _text_or_refused(data.get("code_url"), "code_url"))

    def _query(self, out_trade_no: str) -> dict[str, Any] | None:
        query = urlencode({"mchid": self.mchid})
        try:
            return self._call(
                "GET", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}?{query}"
            )
        except ProviderRefused as exc:
            if exc.code == "ORDER_NOT_EXIST":
                return None
            raise

    def query_payment(self, provider_ref: str) -> RemotePayment | None:
        data = self._query(provider_ref)
        if data is None:
            return None
        if data.get("mchid") != self.mchid or data.get("appid") != self.appid:
            raise ProviderRefused("the answer is about another merchant", "mismatch")
        amount = data.get("amount") or {}
        return RemotePayment(
            provider_ref=str(data.get("out_trade_no")),
            reference=str(data.get("out_trade_no")),
            status=_TRADE_STATES.get(str(data.get("trade_state")), "pending"),
            amount_fen=int(amount.get("total") or 0),
            currency=str(amount.get("currency") or CURRENCY),
            paid_at=_time_or_none(data.get("success_time")),
        )

    def refund(
        self,
        *,
        provider_ref: str | None,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        if not provider_ref:
            raise ProviderRefused("no payment to refund", "no_payment")
        paid = self._query(provider_ref)
        if paid is None:
            raise ProviderRefused("WeChat Pay does not know this payment", "ORDER_NOT_EXIST")
        total = int((paid.get("amount") or {}).get("total") or 0)
        data = self._call(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": provider_ref,
                "out_refund_no": _bill_no(idempotency_key),
                "notify_url": notify_url(self.name),
                "amount": {"refund": amount_fen, "total": total, "currency": CURRENCY},
            },
        )
        status = {"SUCCESS": "succeeded", "PROCESSING": "pending"}.get(
            str(data.get("status")), "failed"
        )
        return Movement(status, data.get("refund_id"), amount_fen)

    def payout(
        self,
        *,
        account: str,
        account_name: str,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        if not re.fullmatch(r"[A-Za-z0-9_-]{8,128}", account or ""):
            raise ProviderRefused(
                "the cooperative has recorded no WeChat user (openid) to be paid", "no_openid"
            )
        bill: dict[str, Any] = {
            "appid": self.appid,
            "out_bill_no": _bill_no(idempotency_key),
            "transfer_scene_id": self.transfer_scene_id,
            "openid": account,
            "transfer_amount": amount_fen,
            "transfer_remark": "货款结算",
            "notify_url": notify_url(self.name),
            "transfer_scene_report_infos": [
                {"info_type": "采购商品名称", "info_content": "农产品"},
            ],
        }
        if account_name:
            bill["user_name"] = oaep_encrypt(self.public_key, account_name)
        data = self._call("POST", "/v3/fund-app/mch-transfer/transfer-bills", bill)
        state = str(data.get("state"))
        status = (
            "succeeded"
            if state == "SUCCESS"
            else "failed"
            if state in ("FAIL", "CANCELLED")
            else "pending"  # ACCEPTED, PROCESSING, WAIT_USER_CONFIRM, TRANSFERING
        )
        return Movement(status, data.get("transfer_bill_no"), amount_fen)

    # --- callbacks ------------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise BadNotification("not UTF-8") from None
        verify_signed(headers, text, public_key=self.public_key, public_key_id=self.public_key_id)
        try:
            envelope = load_json(text)
        except ValueError:
            raise BadNotification("not JSON") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
            raise BadNotification("not a callback")
        event_id = _text(envelope.get("id"), "id")
        kind = str(envelope.get("event_type", ""))
        plain = decrypt_resource(self._apiv3_key, envelope["resource"])
        try:
            resource = load_json(plain)
        except ValueError:
            raise BadNotification("resource is not JSON") from None
        if not isinstance(resource, dict):
            raise BadNotification("resource is not an object")
        # kept with the event: what it said, without the payer's identity
        payload = {
            "id": event_id,
            "event_type": kind,
            "create_time": envelope.get("create_time"),
            "resource": {k: v for k, v in resource.items() if k != "payer"},
        }
        if kind == "TRANSACTION.SUCCESS":
            if resource.get("mchid") != self.mchid:
                raise BadNotification("another merchant's payment (mchid)")
            if resource.get("appid") != self.appid:
                raise BadNotification("another app's payment (appid)")
            if resource.get("trade_state") != "SUCCESS":
                raise BadNotification("a success without trade_state SUCCESS")
            amount = resource.get("amount")
            if not isinstance(amount, dict):
                raise BadNotification("amount is missing")
            reference = _text(resource.get("out_trade_no"), "out_trade_no")
            return Notification(
                self.name,
                event_id,
                PAYMENT,
                SUCCEEDED,
                reference=reference,
                amount_fen=_fen(amount.get("total"), "amount.total"),
                currency=_text(amount.get("currency"), "amount.currency"),
                provider_ref=reference,
                paid_at=rfc3339_to_epoch(resource.get("success_time")),
                payload=payload,
            )
        if kind == "REFUND.SUCCESS" and resource.get("refund_status") == "SUCCESS":
            if resource.get("mchid") != self.mchid:
                raise BadNotification("another merchant's refund (mchid)")
            amount = resource.get("amount")
            if not isinstance(amount, dict):
                raise BadNotification("amount is missing")
            return Notification(
                self.name,
                event_id,
                REFUND,
                SUCCEEDED,
                reference=_text(resource.get("out_refund_no"), "out_refund_no"),
                amount_fen=_fen(amount.get("refund"), "amount.refund"),
                currency=CURRENCY,
                provider_ref=_text(resource.get("refund_id"), "refund_id"),
                payload=payload,
            )
        if kind == "MCHTRANSFER.BILL.FINISHED" and resource.get("state") == "SUCCESS":
            if resource.get("mch_id") != self.mchid:
                raise BadNotification("another merchant's transfer (mch_id)")
            return Notification(
                self.name,
                event_id,
                PAYOUT,
                SUCCEEDED,
                reference=_text(resource.get("out_bill_no"), "out_bill_no"),
                amount_fen=_fen(resource.get("transfer_amount"), "transfer_amount"),
                currency=CURRENCY,
                provider_ref=_text(resource.get("transfer_bill_no"), "transfer_bill_no"),
                payload=payload,
            )
        # a refund closed or abnormal, a transfer that failed, ...: kept, changes nothing
        return Notification(self.name, event_id, OTHER, kind[:40] or "unknown", payload=payload)

    @classmethod
    def answer_notification(
        cls, outcome: str | None, error: str | None = None, status: int = 400
    ) -> Answer:
        """204 once recorded; otherwise 4xx with {"code": "FAIL", "message": …}, and WeChat
        Pay sends the callback again on its schedule."""
        if outcome is None:
            body = json.dumps({"code": "FAIL", "message": error or "refused"}, ensure_ascii=False)
            return Answer(body, status, {"Content-Type": "application/json"})
        return Answer("", 204, {})


def _on_a_phone() -> bool:
    """A phone's browser (H5 pay), but not WeChat's own (which pays by JSAPI, not offered:
    there the QR page serves, by a long press on the code)."""
    if not has_request_context():
        return False
    agent = request.headers.get("User-Agent", "")
    return bool(_PHONE.search(agent)) and "MicroMessenger" not in agent


def _text_or_refused(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProviderRefused(f"WeChat Pay answered without {name}", "bad_answer")
    return value


def _time_or_none(value: Any) -> float | None:
    try:
        return rfc3339_to_epoch(value)
    except BadNotification:
        return None
