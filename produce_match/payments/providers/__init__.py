"""The payment providers, behind one registry.

Each provider is one class in one module of this package (`sandbox.py`, `transfer.py`, ...): a
subclass of `Provider` with a `name` registers itself, and every module here is imported when
the package is, so adding a provider is adding a module. A provider creates a payment for an
order (and says where to send the buyer), tells the state of a payment, refunds all or part of
one, pays out to a cooperative, and turns a notification from its server (`headers`, raw
`body`) into a `Notification`: a verified event in the ledger's own terms. The wire formats
(JSON fields, signature headers) are known only here; the ledger (payments/operations.py)
sees dataclasses.

Everything a provider says about money is trusted only because it comes from the provider's
side (an API answer or a signed notification), never from a browser.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flask import current_app, has_request_context, request
from flask_babel import lazy_gettext as _l


class ProviderError(Exception):
    """The provider could not be asked, or refused."""


class ProviderUnavailable(ProviderError):
    """No answer (network, timeout, 5xx) after the retries: ask again later, with the same key."""


class ProviderRefused(ProviderError):
    """A definite refusal (4xx): repeating the same call will not help."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


class BadNotification(ValueError):
    """A notification that is not from the provider, was changed, is too old, or cannot be read.

    Nothing of it may be applied."""


_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a provider's notification: body, status and headers."""

    body: str
    status: int
    headers: Mapping[str, str]
    #: the ledger's word for a recorded notification (applied, duplicate, ignored); None: refused
    outcome: str | None = None


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


#: what a notification is about
PAYMENT, REFUND, PAYOUT, OTHER = "payment", "refund", "payout", "other"
#: what happened to a payment: paid; closed (abandoned, it can no longer be paid); an attempt
#: declined (the payment stays open)
SUCCEEDED, CLOSED, DECLINED = "succeeded", "closed", "declined"


@dataclass(frozen=True)
class Notification:
    """A verified notification, in the ledger's terms.

    `reference` is ours: the payment's reference for a payment, the instruction's idempotency
    key for a refund or payout. `provider_ref` is the provider's id of the transaction.
    """

    provider: str
    event_id: str
    subject: str  #: payment | refund | payout | other
    outcome: str  #: succeeded | closed | declined (or the provider's word, for `other`)
    reference: str = ""
    amount_fen: int | None = None
    currency: str | None = None
    provider_ref: str | None = None
    paid_at: float | None = None
    #: the event as received (kept with the event's id)
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return f"{self.subject}.{self.outcome}"


#: every provider class by name (filled as the modules of this package are imported)
REGISTRY: dict[str, type[Provider]] = {}


class Provider:
    """One way of paying. Subclasses set `name` and register themselves by it."""

    name: ClassVar[str]
    #: the money goes straight to the cooperative's account: the platform never holds it
    paid_direct: ClassVar[bool] = False
    #: the pay button's words on an order's page (translated when shown)
    pay_label: ClassVar[Any] = _l("Pay online")
    #: the payout account's fields a payout goes to: (destination, holder's name)
    payout_account_fields: ClassVar[tuple[str, str]] = ("account_number", "account_name")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if not name:
            return  # an abstract helper class
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"two payment providers are called {name!r}")
        REGISTRY[name] = cls

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, quick: bool = False) -> Provider:
        """The provider configured for this app. `quick`: for a page being shown, a short
        timeout and no retries (reconciliation will ask again later)."""
        return cls()

    @classmethod
    def form_action_origins(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        """Origins the pay button's redirect may lead the browser's form to (CSP form-action)."""
        return ()

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
        raise NotImplementedError

    def query_payment(self, provider_ref: str) -> RemotePayment | None:
        raise NotImplementedError

    def refund(
        self,
        *,
        provider_ref: str | None,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        raise NotImplementedError

    def payout(
        self,
        *,
        account: str,
        account_name: str,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        raise NotImplementedError

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify and read one notification; BadNotification unless it is genuine and whole."""
        raise BadNotification(f"the {self.name} provider sends no notifications")

    @classmethod
    def answer_notification(
        cls, outcome: str | None, error: str | None = None, status: int = 400
    ) -> Answer:
        """What the provider's server must be told about one of its notifications.

        `outcome` is the ledger's ('applied', 'duplicate', 'ignored') once the notification is
        recorded; None when it was refused (`error` says why and `status` is ours: 400 for a
        notification that is not genuine, 422 for one that does not match our payment; a
        provider whose protocol fixes the answer overrides this). Anything but a success makes
        the provider send it again later."""
        if outcome is None:
            return Answer(json.dumps({"ok": False, "error": error or "refused"}), status, _JSON)
        return Answer(json.dumps({"ok": True, "outcome": outcome}), 200, _JSON, outcome)

    @classmethod
    def deploy_problems(cls, config: Mapping[str, Any]) -> list[str]:
        """Why this production configuration may not offer this provider (none: it may).

        `flask check-deploy` and the start-up of a production app ask every offered provider:
        a missing key, a key file others can read, a gateway URL that is not HTTPS, a sandbox
        or emulator where the real service belongs."""
        return []


def get_provider(name: str, *, quick: bool = False) -> Provider:
    """The provider called `name`, configured for this app (LookupError if there is none)."""
    return REGISTRY[name].from_config(current_app.config, quick=quick)


def names() -> tuple[str, ...]:
    """Every provider there is, by name."""
    return tuple(sorted(REGISTRY))


def methods() -> tuple[str, ...]:
    """The ways of paying this site offers (PAYMENTS_METHODS)."""
    return tuple(m for m in current_app.config["PAYMENTS_METHODS"] if m in REGISTRY)


def paid_direct() -> frozenset[str]:
    """Providers whose money goes straight to the cooperative: the platform never holds it,
    so it is never "held by the platform" (see operations.ledger_sums)."""
    return frozenset(name for name, cls in REGISTRY.items() if cls.paid_direct)


# --- our own addresses, for providers ------------------------------------------------------


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


def notify_url(provider: str) -> str:
    """Where `provider`'s server sends its notifications."""
    return site_url(path_for("payments.notify", provider=provider))


def _load_all() -> None:
    """Import every provider module here: each registers its class."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_load_all()
