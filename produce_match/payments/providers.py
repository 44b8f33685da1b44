"""The provider interface, and the providers: `sandbox` (our gateway, over HTTP) and `transfer`.

A provider creates a payment for an order (and says where to send the buyer), tells the state
of a payment, refunds all or part of one, and pays out to a cooperative. Everything it says
about money is trusted only because it comes from the provider's side (an API answer or a
signed notification), never from a browser.

The HTTP client retries on network errors and 5xx answers with the same `Idempotency-Key`, so a
call whose answer was lost is repeated, never doubled.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from flask import current_app, has_request_context, request

from produce_match.payments import signing

log = logging.getLogger("produce_match.payments")


class ProviderError(Exception):
    """The provider could not be asked, or refused."""


class ProviderUnavailable(ProviderError):
    """No answer (network, timeout, 5xx) after the retries: ask again later, with the same key."""


class ProviderRefused(ProviderError):
    """A definite refusal (4xx): repeating the same call will not help."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Created:
    provider_ref: str | None
    pay_url: str


@dataclass(frozen=True)
class RemotePayment:
    """A payment as the provider sees it."""

    provider_ref: str
    reference: str
    status: str  #: pending | succeeded | closed
    amount_fen: int
    currency: str
    paid_at: float | None = None
    refunded_fen: int = 0


@dataclass(frozen=True)
class Movement:
    """A refund or payout as the provider answered it."""

    status: str  #: succeeded | pending | manual | failed
    provider_ref: str | None
    amount_fen: int


class Provider(Protocol):
    name: str

    def create_payment(
        self,
        *,
        payment_id: int,
        reference: str,
        amount_fen: int,
        currency: str,
        description: str,
        idempotency_key: str,
    ) -> Created: ...

    def query_payment(self, provider_ref: str) -> RemotePayment | None: ...

    def refund(
        self,
        *,
        provider_ref: str | None,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement: ...

    def payout(
        self,
        *,
        account: str,
        account_name: str,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement: ...

    def verify(self, headers: Any, body: bytes) -> None: ...


def path_for(endpoint: str, **values: Any) -> str:
    """The path of one of our pages, with or without a request (commands, background work)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def local_base() -> str:
    """This site's own address on the loopback, from the port the server listens on (never
    from the Host header, which a client chooses); remembered for commands and background work.
    """
    if has_request_context():
        port = str(request.environ.get("SERVER_PORT", ""))
        if port.isdigit() and port != "80":
            current_app.extensions["payments_local_base"] = f"http://127.0.0.1:{port}"
    # the worker serves nothing: PAYMENTS_LOCAL_URL tells it (make run sets it)
    default = current_app.config.get("PAYMENTS_LOCAL_URL") or "http://127.0.0.1:5000"
    return current_app.extensions.get("payments_local_base", default)


def site_url(path: str) -> str:
    """An address of this site for the provider's server (notifications)."""
    return (current_app.config.get("PAYMENTS_PUBLIC_URL") or local_base()) + path


def browser_url(path: str) -> str:
    """An address of this site for the buyer's browser (the return from the checkout)."""
    base = current_app.config.get("PAYMENTS_PUBLIC_URL")
    if not base and has_request_context():
        base = request.host_url.rstrip("/")
    return (base or local_base()) + path


class SandboxProvider:
    """Our sandbox gateway, spoken to over HTTP like any real one."""

    name = "sandbox"
    #: the pause before each retry of a call that got no answer
    BACKOFF: tuple[float, ...] = (0.2, 0.6, 1.5)

    def __init__(self, base_url: str, secret: str, timeout: float, mounted: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.mounted = mounted
        self.secret = secret
        self.timeout = timeout

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
                "notify_url": site_url(path_for("payments.notify", provider=self.name)),
                "return_url": browser_url(path_for("payments.returned", payment_id=payment_id)),
            },
        )
        pay_url = data["checkout_url"]
        if self.mounted:  # on this very site: a path, good on whatever address the buyer uses
            pay_url = f"{MOUNT_PATH}/checkout/{data['id']}"
        return Created(provider_ref=data["id"], pay_url=pay_url)

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
                "notify_url": site_url(path_for("payments.notify", provider=self.name)),
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
                "notify_url": site_url(path_for("payments.notify", provider=self.name)),
            },
        )
        return Movement(data["status"], data["id"], data["amount_fen"])

    def payouts_for(self, reference: str) -> list[dict[str, Any]]:
        """The payouts the gateway made with `reference` (to check our ledger against)."""
        return self._call("GET", f"/api/payouts?reference={reference}")["items"]

    def verify(self, headers: Any, body: bytes) -> None:
        signing.verify(
            self.secret,
            headers.get(signing.TIMESTAMP_HEADER),
            headers.get(signing.SIGNATURE_HEADER),
            body,
        )


class TransferProvider:
    """An offline bank transfer straight to the cooperative's account.

    Nothing is remote: the buyer records the transfer, the cooperative (or an official for it)
    confirms the money arrived. The money is with the cooperative from the start, so a refund is
    a transfer back that the cooperative makes and confirms (`manual`), and the payout is
    recorded at once (`direct`): nothing has to move.
    """

    name = "transfer"

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
        return Created(None, path_for("payments.transfer", payment_id=payment_id))

    def query_payment(self, provider_ref: str) -> RemotePayment | None:
        return None  # the cooperative's confirmation is the only source

    def refund(
        self,
        *,
        provider_ref: str | None,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        return Movement("manual", None, amount_fen)

    def payout(
        self,
        *,
        account: str,
        account_name: str,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        return Movement("succeeded", f"direct:{reference}", amount_fen)

    def verify(self, headers: Any, body: bytes) -> None:
        raise signing.BadSignature("the transfer provider sends no notifications")


#: providers whose money goes straight to the cooperative's account: the platform never holds
#: it, so it is never "held by the platform" (see operations.ledger_sums)
PAID_DIRECT = frozenset({TransferProvider.name})


def sandbox_url() -> str:
    """Where the sandbox gateway answers: configured, or mounted on this very site."""
    configured = current_app.config.get("PAYMENTS_SANDBOX_URL")
    if configured:
        return configured
    return local_base() + MOUNT_PATH


#: where the embedded default mounts the sandbox gateway
MOUNT_PATH = "/sandbox-gateway"


def get_provider(name: str, *, quick: bool = False) -> Provider:
    """The provider called `name`, configured for this app. `quick`: for a page being shown,
    a short timeout and no retries (reconciliation will ask again later)."""
    if name == "sandbox":
        config = current_app.config
        provider = SandboxProvider(
            sandbox_url(),
            config["PAYMENTS_SANDBOX_SECRET"],
            min(config["PAYMENTS_HTTP_TIMEOUT"], 3.0) if quick else config["PAYMENTS_HTTP_TIMEOUT"],
            mounted=not config.get("PAYMENTS_SANDBOX_URL"),
        )
        if quick:
            provider.BACKOFF = ()
        return provider
    if name == "transfer":
        return TransferProvider()
    raise LookupError(name)


def methods() -> tuple[str, ...]:
    """The ways of paying this site offers (PAYMENTS_METHODS)."""
    return tuple(m for m in current_app.config["PAYMENTS_METHODS"] if m in ("sandbox", "transfer"))
