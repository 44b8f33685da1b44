"""The sandbox gateway (devtools/sandbox_gateway), spoken to over HTTP like any real provider.

Its wire format is known here and nowhere else in the product: the JSON of its API and of its
notifications, and their signature:

    X-Sandbox-Timestamp: <unix seconds>
    X-Sandbox-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside what is signed, so an old notification cannot be replayed with a new
date; the receiver refuses one older (or newer) than `TOLERANCE` seconds. The gateway signs
with `signed_headers` from this module: one definition for both ends.

The HTTP client retries on network errors and 5xx answers with the same `Idempotency-Key`, so a
call whose answer was lost is repeated, never doubled.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from produce_match.inputs import load_json
from produce_match.payments.providers import (
    CLOSED,
    DECLINED,
    OTHER,
    PAYMENT,
    PAYOUT,
    REFUND,
    SUCCEEDED,
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

log = logging.getLogger("produce_match.payments")

TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
SIGNATURE_HEADER = "X-Sandbox-Signature"
#: how far a notification's timestamp may be from the receiver's clock
TOLERANCE = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two headers that sign `body` now (or at `timestamp`)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes) -> None:
    """Raise BadNotification unless `signature` signs `body` at a fresh `timestamp`."""
    if not timestamp or not signature:
        raise BadNotification("missing signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise BadNotification("bad timestamp") from None
    if abs(time.time() - ts) > TOLERANCE:
        raise BadNotification("stale timestamp")
    expected = sign(secret, ts, body)
    # compare_digest: the time taken does not tell an attacker how much of it was right
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise BadNotification("signature mismatch")


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadNotification("amount_fen is not a positive whole number of fen")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadNotification(f"{name} is missing")
    return value


#: the gateway's event types, in the ledger's terms (subject, outcome, the status it must carry)
_EVENTS: dict[str, tuple[str, str, str | None]] = {
    "payment.succeeded": (PAYMENT, SUCCEEDED, "succeeded"),
    "payment.closed": (PAYMENT, CLOSED, "closed"),
    "payment.failed": (PAYMENT, DECLINED, "pending"),
    "refund.succeeded": (REFUND, SUCCEEDED, "succeeded"),
    "payout.succeeded": (PAYOUT, SUCCEEDED, "succeeded"),
}


class SandboxProvider(Provider):
    """Our sandbox gateway, a process of its own (see devtools/sandbox_gateway)."""

    name = "sandbox"
    #: the pause before each retry of a call that got no answer
    BACKOFF: tuple[float, ...] = (0.2, 0.6, 1.5)

    def __init__(self, base_url: str, secret: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, quick: bool = False) -> SandboxProvider:
        url = config.get("PAYMENTS_SANDBOX_URL")
        if not url:
            raise LookupError("PAYMENTS_SANDBOX_URL is not set: the sandbox is not available")
        timeout = config["PAYMENTS_HTTP_TIMEOUT"]
        provider = cls(
            url, config["PAYMENTS_SANDBOX_SECRET"], min(timeout, 3.0) if quick else timeout
        )
        if quick:
            provider.BACKOFF = ()
        return provider

    @classmethod
    def form_action_origins(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        # the pay button's POST is answered with a redirect to the gateway's checkout page,
        # which the browser checks against form-action
        url = config.get("PAYMENTS_SANDBOX_URL")
        if not url:
            return ()
        parts = urlsplit(url)
        return (f"{parts.scheme}://{parts.netloc}",)

    def _call(
        self, method: str, path: str, *, json: Any = None, key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.secret}"}
        if key:
            headers["Idempotency-Key"] = key
        last: Exception | None = None
        for attempt in range(len(self.BACKOFF) + 1):
            if attempt:
                time.sleep(self.BACKOFF[attempt - 1])
            try:
                response = requests.request(
                    method,
                    self.base_url + path,
                    json=json,
                    headers=headers,
                    timeout=(min(3.0, self.timeout), self.timeout),
                )
            except requests.RequestException as exc:  # no answer: the same call again
                log.info("sandbox %s %s: %s (attempt %d)", method, path, exc, attempt + 1)
                last = exc
                continue
            if response.status_code >= 500:
                last = ProviderUnavailable(f"{response.status_code} from the gateway")
                continue
            data = response.json() if response.content else {}
            if response.status_code >= 400:
                error = data.get("error", {}) if isinstance(data, dict) else {}
                raise ProviderRefused(
                    str(error.get("message") or response.status_code),
                    str(error.get("code") or response.status_code),
                )
            return data
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
        data = self._call(
            "POST",
            "/api/payments",
            key=idempotency_key,
            json={
                "reference": reference,
                "amount_fen": amount_fen,
                "currency": currency,
                "description": description,
                "notify_url": notify_url(self.name),
                "return_url": browser_url(path_for("payments.returned", payment_id=payment_id)),
            },
        )
        return Created(provider_ref=data["id"], pay_url=data["checkout_url"])

    def query_payment(self, provider_ref: str) -> RemotePayment | None:
        try:
            data = self._call("GET", f"/api/payments/{provider_ref}")
        except ProviderRefused as exc:
            if exc.code == "not_found":
                return None
            raise
        return RemotePayment(
            provider_ref=data["id"],
            reference=data["reference"],
            status=data["status"],
            amount_fen=data["amount_fen"],
            currency=data["currency"],
            paid_at=data.get("paid_at"),
            refunded_fen=data.get("refunded_fen", 0),
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
        data = self._call(
            "POST",
            f"/api/payments/{provider_ref}/refunds",
            key=idempotency_key,
            json={
                "amount_fen": amount_fen,
                "reference": reference,
                "notify_url": notify_url(self.name),
            },
        )
        return Movement(data["status"], data["id"], data["amount_fen"])

    def payout(
        self,
        *,
        account: str,
        account_name: str,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        data = self._call(
            "POST",
            "/api/payouts",
            key=idempotency_key,
            json={
                "account": account,
                "account_name": account_name,
                "amount_fen": amount_fen,
                "reference": reference,
                "notify_url": notify_url(self.name),
            },
        )
        return Movement(data["status"], data["id"], data["amount_fen"])

    def payouts_for(self, reference: str) -> list[dict[str, Any]]:
        """The payouts the gateway made with `reference` (to check our ledger against)."""
        return self._call("GET", f"/api/payouts?reference={reference}")["items"]

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        verify(self.secret, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body)
        try:
            event = load_json(body)
        except (ValueError, UnicodeDecodeError):  # JSONTooDeep is a ValueError
            raise BadNotification("not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise BadNotification("not an event")
        event_id = _text(event.get("id"), "id")
        kind = str(event.get("type", ""))
        data = event["data"]
        if kind not in _EVENTS:
            return Notification(self.name, event_id, OTHER, kind[:40], payload=event)
        subject, outcome, status = _EVENTS[kind]
        if data.get("status") != status:
            raise BadNotification(f"a {kind} event with status {data.get('status')!r}")
        currency = _text(data.get("currency"), "currency")
        amount = _amount(data.get("amount_fen"))
        reference = _text(data.get("reference"), "reference")
        if subject == PAYMENT:
            paid_at = data.get("paid_at")
            if paid_at is not None and (
                isinstance(paid_at, bool) or not isinstance(paid_at, int | float)
            ):
                raise BadNotification("paid_at is not a time")
            return Notification(
                self.name,
                event_id,
                subject,
                outcome,
                reference=reference,
                amount_fen=amount,
                currency=currency,
                provider_ref=_text(data.get("payment_id"), "payment_id"),
                paid_at=paid_at,
                payload=event,
            )
        return Notification(
            self.name,
            event_id,
            subject,
            outcome,
            reference=reference,
            amount_fen=amount,
            currency=currency,
            provider_ref=_text(data.get("id"), "id"),
            payload=event,
        )
