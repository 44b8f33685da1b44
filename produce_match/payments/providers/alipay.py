"""Alipay (支付宝), on its open platform's protocol (public-key mode, RSA2).

The wire format is known here and nowhere else in the product:

- Paying: the buyer's browser is sent (through our own checkout address, which signs the request
  afresh each time: its `timestamp` goes stale) to the gateway (`ALIPAY_GATEWAY_URL`, in
  production https://openapi.alipay.com/gateway.do) with the request in the query string:
  `alipay.trade.wap.pay` for a phone's browser (its User-Agent says so), `alipay.trade.page.pay`
  for a computer. The common parameters and `biz_content` (JSON: `out_trade_no` = our payment's
  reference, `total_amount` in yuan with two decimals, `subject`, `product_code`) are signed
  RSA2: SHA256withRSA with the app's private key over the sorted `k=v` pairs joined with `&`,
  everything but `sign`.
- Notifications: POST /payments/notify/alipay, form-encoded, signed by Alipay over the sorted
  pairs without `sign` and `sign_type`; checked against Alipay's public key, then `app_id` and
  `seller_id` against ours, and `out_trade_no` and `total_amount` against our payment (the
  ledger's check). Only TRADE_SUCCESS and TRADE_FINISHED pay; TRADE_CLOSED closes an unpaid
  payment. The answer is the plain text `success` once recorded, `failure` otherwise (Alipay
  sends it again later: 4m, 10m, 10m, 1h, 2h, 6h, 15h). `notify_id` is the event's id, so a
  repeat is a duplicate.
- API calls (POST to the gateway, the same signed parameters in the form body):
  `alipay.trade.query` (reconciliation), `alipay.trade.refund` (with `out_request_no`: each
  partial refund once), `alipay.fund.trans.uni.transfer` (payouts to the cooperative's Alipay
  account, `out_biz_no` once). Answers are JSON `{"<method>_response": {...}, "sign": "..."}`,
  the signature over the exact text of the response object, checked with Alipay's public key.

Signing and verifying are python-alipay-sdk's own code (`alipay.AliPay`): `client_api` builds
and signs a request, `verify` checks a notification, and the SDK's check of a synchronous
answer checks API answers. The HTTP calls are ours (requests, with timeouts and retries:
the SDK sends the whole request as a GET with no retry). The keys are read from PEM files
(`ALIPAY_APP_PRIVATE_KEY_FILE`, `ALIPAY_PUBLIC_KEY_FILE`) when a call needs them, never logged.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from Cryptodome.PublicKey import RSA
from flask import current_app, has_request_context, request
from flask_babel import lazy_gettext as _l

from produce_match.payments.providers import (
    CLOSED,
    OTHER,
    PAYMENT,
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

#: Alipay's production gateway
PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
#: Alipay's times are Beijing time
BEIJING = timezone(timedelta(hours=8))
#: a phone's browser (WAP pay); anything else gets the computer's page pay
PHONE = re.compile(r"Mobile|Android|iPhone|iPod|Windows Phone|HarmonyOS|MicroMessenger", re.I)
#: yuan as Alipay writes them: up to two decimals
YUAN = re.compile(r"^(0|[1-9]\d{0,9})(\.\d{1,2})?$")
#: an Alipay user id (2088 and twelve digits); any other account is a login (phone, e-mail)
USER_ID = re.compile(r"^2088\d{12}$")
_PLAIN = {"Content-Type": "text/plain; charset=utf-8"}
#: trade statuses: the ones that pay, and the one that closes an unpaid trade
PAID_STATUSES = ("TRADE_SUCCESS", "TRADE_FINISHED")
_STATUS = {
    "TRADE_SUCCESS": "succeeded",
    "TRADE_FINISHED": "succeeded",
    "TRADE_CLOSED": "closed",
    "WAIT_BUYER_PAY": "pending",
}
#: sub-codes that mean "try again later", not a refusal
_TRY_AGAIN = {"ACQ.SYSTEM_ERROR", "SYSTEM_ERROR", "ACQ.TRADE_HAS_CHANGED", "aop.ACQ.SYSTEM_ERROR"}


def yuan(amount_fen: int) -> str:
    """Fen as Alipay's amount: yuan with two decimals ("12.30")."""
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


def fen(value: Any) -> int:
    """Alipay's amount ("12.3", "12.30") in fen; ValueError unless it is one."""
    if not isinstance(value, str) or not YUAN.match(value):
        raise ValueError(f"not an amount: {value!r}")
    return int(Decimal(value) * 100)


def beijing_now() -> str:
    """Now, as Alipay's `timestamp` parameter wants it."""
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def epoch(value: Any) -> float | None:
    """An Alipay time ("2026-12-07 18:00:00", Beijing) as seconds since the epoch."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        raise BadNotification(f"not a time: {value!r}") from None
    return moment.astimezone(UTC).timestamp()


def checkout_token(reference: str) -> str:
    """The token in our checkout link of a payment: only its link opens it."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"alipay-checkout:{reference}".encode(), hashlib.sha256).hexdigest()[:32]


def is_phone(user_agent: str | None) -> bool:
    """A phone's browser (WAP pay), from its User-Agent."""
    return bool(user_agent and PHONE.search(user_agent))


def _key_problems(config: Mapping[str, Any], setting: str, *, private: bool) -> list[str]:
    """Why the PEM file the setting names is not the RSA key it should be (never its text)."""
    try:
        key = RSA.import_key(read_key_file(config, setting))
    except (KeyFileError, ValueError, IndexError, TypeError):
        return [f"{setting} ({config.get(setting)}) is not an RSA key in PEM."]
    if private and not key.has_private():
        return [
            f"{setting} ({config.get(setting)}) holds a public key: the app's private key "
            "signs the requests."
        ]
    if key.size_in_bits() < 2048:
        return [f"{setting} ({config.get(setting)}) is shorter than 2048 bits (RSA2 needs 2048)."]
    return []


class AlipayProvider(Provider):
    """Alipay's open platform (or its emulator, devtools/alipay_gateway, in development)."""

    name = "alipay"
    pay_label: ClassVar[Any] = _l("Pay with Alipay")
    #: payouts go to the cooperative's Alipay account (a login or a 2088 user id), not its bank
    payout_account_fields = ("alipay_account", "alipay_name")
    #: the pause before each retry of a call that got no answer
    BACKOFF: tuple[float, ...] = (0.3, 1.0, 2.0)

    def __init__(
        self,
        *,
        app_id: str,
        seller_id: str,
        gateway_url: str,
        private_key_file: str | None,
        public_key_file: str | None,
        timeout: float,
    ) -> None:
        self.app_id = app_id
        self.seller_id = seller_id
        self.gateway_url = gateway_url
        self._files = {
            "ALIPAY_APP_PRIVATE_KEY_FILE": private_key_file,
            "ALIPAY_PUBLIC_KEY_FILE": public_key_file,
        }
        self.timeout = timeout
        self._sdk: AliPay | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, quick: bool = False) -> AlipayProvider:
        for setting in ("ALIPAY_APP_ID", "ALIPAY_SELLER_ID", "ALIPAY_GATEWAY_URL"):
            if not config.get(setting):
                raise LookupError(f"{setting} is not set: Alipay is not available")
        timeout = config["PAYMENTS_HTTP_TIMEOUT"]
        provider = cls(
            app_id=str(config["ALIPAY_APP_ID"]),
            seller_id=str(config["ALIPAY_SELLER_ID"]),
            gateway_url=config["ALIPAY_GATEWAY_URL"],
            private_key_file=config.get("ALIPAY_APP_PRIVATE_KEY_FILE"),
            public_key_file=config.get("ALIPAY_PUBLIC_KEY_FILE"),
            timeout=min(timeout, 3.0) if quick else timeout,
        )
        if quick:
            provider.BACKOFF = ()
        return provider

    @classmethod
    def form_action_origins(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        url = config.get("ALIPAY_GATEWAY_URL")
        if not url:
            return ()
        parts = urlsplit(url)
        return (f"{parts.scheme}://{parts.netloc}",)

    @classmethod
    def deploy_problems(cls, config: Mapping[str, Any]) -> list[str]:
        found = [
            f"{setting} is not set: Alipay needs it."
            for setting in ("ALIPAY_APP_ID", "ALIPAY_SELLER_ID")
            if not config.get(setting)
        ]
        found += https_problems(config, "ALIPAY_GATEWAY_URL")
        url = str(config.get("ALIPAY_GATEWAY_URL") or "")
        host = urlsplit(url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1") or "alipaydev.com" in host:
            found.append(
                f"ALIPAY_GATEWAY_URL ({url}) is an emulator or Alipay's sandbox: production "
                f"pays at {PRODUCTION_GATEWAY}."
            )
        for setting, private in (
            ("ALIPAY_APP_PRIVATE_KEY_FILE", True),
            ("ALIPAY_PUBLIC_KEY_FILE", False),
        ):
            problems = key_file_problems(config, setting, private=private)
            found += problems or _key_problems(config, setting, private=private)
        return found

    # --- signing and verifying (python-alipay-sdk) ------------------------------------------

    def sdk(self) -> AliPay:
        """The SDK with our keys (read from their files the first time)."""
        if self._sdk is None:
            try:
                keys = {setting: read_key_file(self._files, setting) for setting in self._files}
                self._sdk = AliPay(
                    appid=self.app_id,
                    app_notify_url=None,
                    app_private_key_string=keys["ALIPAY_APP_PRIVATE_KEY_FILE"],
                    alipay_public_key_string=keys["ALIPAY_PUBLIC_KEY_FILE"],
                    sign_type="RSA2",
                )
            except KeyFileError:
                raise
            except (ValueError, IndexError, TypeError) as exc:  # not a PEM key
                raise KeyFileError(f"an Alipay key file is not an RSA key ({exc})") from None
        return self._sdk

    def signed(self, method: str, biz_content: Mapping[str, Any], **more: str) -> str:
        """The signed request's parameters, as a query string."""
        try:
            sdk = self.sdk()
        except KeyFileError as exc:
            log.error("alipay: %s", exc)
            raise ProviderUnavailable("Alipay's keys cannot be read") from None
        return sdk.client_api(method, dict(biz_content), timestamp=beijing_now(), **more)

    def _call(self, method: str, biz_content: Mapping[str, Any]) -> dict[str, Any]:
        """One API call: its verified response object (whatever its `code`)."""
        body = self.signed(method, biz_content)
        response_type = method.replace(".", "_") + "_response"
        last: Exception | None = None
        for attempt in range(len(self.BACKOFF) + 1):
            if attempt:
                time.sleep(self.BACKOFF[attempt - 1])
            try:
                answer = requests.post(
                    self.gateway_url,
                    data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                    timeout=(min(3.0, self.timeout), self.timeout),
                )
            except requests.RequestException as exc:  # no answer: the same call again
                log.info("alipay %s: %s (attempt %d)", method, exc, attempt + 1)
                last = exc
                continue
            if answer.status_code >= 500:
                last = ProviderUnavailable(f"{answer.status_code} from Alipay")
                continue
            if answer.status_code != 200:
                raise ProviderRefused(f"{answer.status_code} from Alipay", str(answer.status_code))
            return self._verified(answer.content.decode("utf-8", "replace"), response_type)
        raise ProviderUnavailable(str(last))

    def _verified(self, raw: str, response_type: str) -> dict[str, Any]:
        try:
            # the SDK's own check of a synchronous answer: the signature over the exact text
            # of the response object
            data = self.sdk()._verify_and_return_sync_response(raw, response_type)
        except AliPayValidationError:
            log.error("alipay: an answer to %s whose signature does not verify", response_type)
            raise ProviderUnavailable("Alipay's answer is not signed by Alipay") from None
        except AliPayException as exc:  # an unsigned error_response (e.g. a bad signature)
            raise ProviderRefused(f"Alipay refused the call: {raw[:300]}", "error_response") from (
                exc
            )
        except (ValueError, AttributeError, binascii.Error) as exc:
            raise ProviderUnavailable(f"Alipay's answer cannot be read ({exc})") from None
        if not isinstance(data, dict):
            raise ProviderUnavailable("Alipay's answer is not an object")
        if str(data.get("code")) == "20000" or data.get("sub_code") in _TRY_AGAIN:
            raise ProviderUnavailable(f"Alipay: {data.get('sub_code') or data.get('msg')}")
        return data

    @staticmethod
    def _refused(data: Mapping[str, Any]) -> ProviderRefused:
        return ProviderRefused(
            f"Alipay: {data.get('sub_msg') or data.get('msg') or data.get('code')}",
            str(data.get("sub_code") or data.get("code") or "refused"),
        )

    # --- paying -------------------------------------------------------------------------------

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
        if currency != "CNY":
            raise ProviderRefused("Alipay takes yuan (CNY) only", "currency")
        # The signed request carries its `timestamp`, which Alipay accepts only for a while: the
        # link kept with the payment is our own checkout address, which signs the request
        # afresh each time the buyer opens it (checkout_url). out_trade_no names the trade at
        # Alipay (its trade_no exists only once the buyer opens the checkout).
        path = path_for("payments.checkout", payment_id=payment_id)
        return Created(
            provider_ref=reference,
            pay_url=f"{browser_url(path)}?{urlencode({'t': checkout_token(reference)})}",
        )

    @staticmethod
    def token_for(reference: str) -> str:
        return checkout_token(reference)

    def checkout_url(
        self, *, payment_id: int, reference: str, amount_fen: int, description: str
    ) -> str:
        """The gateway's address with the pay request signed now: WAP pay for a phone's
        browser (the User-Agent of the request being served), page pay otherwise."""
        phone = has_request_context() and is_phone(request.headers.get("User-Agent"))
        back = browser_url(path_for("payments.returned", payment_id=payment_id))
        biz: dict[str, Any] = {
            "out_trade_no": reference,
            "total_amount": yuan(amount_fen),
            "subject": description[:256],
            "product_code": "QUICK_WAP_WAY" if phone else "FAST_INSTANT_TRADE_PAY",
        }
        if phone:
            biz["quit_url"] = back
        method = "alipay.trade.wap.pay" if phone else "alipay.trade.page.pay"
        query = self.signed(method, biz, notify_url=notify_url(self.name), return_url=back)
        return f"{self.gateway_url}?{query}"

    def query_payment(self, provider_ref: str) -> RemotePayment | None:
        data = self._call("alipay.trade.query", {"out_trade_no": provider_ref})
        if str(data.get("code")) != "10000":
            if data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return None  # the buyer has not opened the checkout yet
            raise self._refused(data)
        try:
            amount = fen(data.get("total_amount"))
        except ValueError:
            raise ProviderUnavailable("Alipay's answer has no amount") from None
        status = _STATUS.get(str(data.get("trade_status")))
        if status is None or data.get("out_trade_no") != provider_ref:
            raise ProviderUnavailable(f"Alipay's answer is not about {provider_ref}")
        return RemotePayment(
            provider_ref=provider_ref,
            reference=provider_ref,
            status=status,
            amount_fen=amount,
            currency="CNY",
            paid_at=epoch(data.get("send_pay_date")) if status == "succeeded" else None,
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
            "alipay.trade.refund",
            {
                "out_trade_no": provider_ref,
                "refund_amount": yuan(amount_fen),
                # the refund's own name: the same one again is the same refund, never a second
                "out_request_no": idempotency_key,
                "refund_reason": "produce_match",
            },
        )
        if str(data.get("code")) != "10000":
            raise self._refused(data)
        trade_no = str(data.get("trade_no") or provider_ref)
        return Movement("succeeded", f"{trade_no}/{idempotency_key}"[:120], amount_fen)

    def payout(
        self,
        *,
        account: str,
        account_name: str,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        if not account:
            raise ProviderRefused("the cooperative has given no Alipay account", "no_account")
        payee: dict[str, str] = {
            "identity": account,
            "identity_type": "ALIPAY_USER_ID" if USER_ID.match(account) else "ALIPAY_LOGON_ID",
        }
        if account_name:
            payee["name"] = account_name  # required for a login: Alipay checks the real name
        data = self._call(
            "alipay.fund.trans.uni.transfer",
            {
                "out_biz_no": idempotency_key,
                "trans_amount": yuan(amount_fen),
                "product_code": "TRANS_ACCOUNT_NO_PWD",
                "biz_scene": "DIRECT_TRANSFER",
                "order_title": "produce_match payout",
                "payee_info": payee,
            },
        )
        if str(data.get("code")) != "10000":
            raise self._refused(data)
        status = {"SUCCESS": "succeeded", "DEALING": "pending"}.get(str(data.get("status")))
        if status is None:
            raise ProviderRefused(f"Alipay: transfer {data.get('status')}", "transfer_failed")
        return Movement(status, str(data.get("order_id") or "") or None, amount_fen)

    # --- notifications ------------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise BadNotification("not a form") from None
        data = dict(pairs)
        if len(data) != len(pairs):
            raise BadNotification("a parameter given twice")
        signature = data.pop("sign", "")
        if not signature:
            raise BadNotification("missing signature")
        if data.get("sign_type", "RSA2") != "RSA2":
            raise BadNotification("not signed RSA2")
        try:
            genuine = self.sdk().verify(dict(data), signature)
        except KeyFileError as exc:
            log.error("alipay: %s", exc)
            raise BadNotification("Alipay's public key cannot be read") from None
        except (AliPayException, ValueError, TypeError, binascii.Error):
            genuine = False
        if not genuine:
            raise BadNotification("signature mismatch")
        if data.get("app_id") != self.app_id:
            raise BadNotification("not for our app_id")
        if data.get("seller_id") != self.seller_id:
            raise BadNotification("not for our seller_id")
        event_id = data.get("notify_id", "")
        if not event_id:
            raise BadNotification("notify_id is missing")
        reference = data.get("out_trade_no", "")
        if not reference:
            raise BadNotification("out_trade_no is missing")
        try:
            amount = fen(data.get("total_amount"))
        except ValueError:
            raise BadNotification("total_amount is not an amount") from None
        status = data.get("trade_status", "")
        payload = {k: v for k, v in data.items() if k != "sign"}
        if data.get("out_biz_no") or data.get("gmt_refund") or data.get("refund_fee"):
            # about a refund of the trade: the refund's own answer already put it in the ledger
            return Notification(self.name, event_id, OTHER, "refund", reference, payload=payload)
        if status in PAID_STATUSES:
            outcome = SUCCEEDED
        elif status == "TRADE_CLOSED":
            outcome = CLOSED
        else:
            return Notification(self.name, event_id, OTHER, status[:40], reference, payload=payload)
        return Notification(
            self.name,
            event_id,
            PAYMENT,
            outcome,
            reference=reference,
            amount_fen=amount,
            currency="CNY",
            provider_ref=reference,
            paid_at=epoch(data.get("gmt_payment")) if outcome == SUCCEEDED else None,
            payload=payload,
        )

    @classmethod
    def answer_notification(
        cls, outcome: str | None, error: str | None = None, status: int = 400
    ) -> Answer:
        # Alipay reads the body: exactly "success", or it sends the notification again later
        if outcome is None:
            return Answer("failure", status, _PLAIN)
        return Answer("success", 200, _PLAIN, outcome)
