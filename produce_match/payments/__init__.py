"""Payments: providers, notifications from them, the ledger, refunds and payouts.

`init_app` registers the commands (refunds and payouts are tasks of the queue, tasks.py), and
lets the pay button lead to the offered providers' own pages. The providers are in `providers/`;
the sandbox gateway is a development tool outside the package (devtools/sandbox_gateway). The
pages are the web layer's: produce_match.web.payments.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_login import current_user

# who may see and do what to payments: registered whenever the payments domain is loaded
from produce_match.payments import permissions  # noqa: F401

log = logging.getLogger("produce_match.payments")

#: an order's payment_status in words
PAYMENT_STATUS_LABELS = {
    "unpaid": _l("not paid"),
    "pending": _l("payment under way"),
    "paid": _l("paid"),
    "partially_refunded": _l("paid, partly refunded"),
    "refunded": _l("refunded"),
}


#: what the platform still holds of an order's money (online payments), in each side's words
HELD_LABELS = {
    "buyer": _l("Held by the platform until you confirm the delivery"),
    "cooperative": _l("Held by the platform, paid to you after the delivery"),
    "official": _l("Held by the platform"),
}

#: what a bank transfer put straight into the cooperative's account (never the platform's),
#: in each side's words
DIRECT_LABELS = {
    "buyer": _l("Paid straight into the cooperative's account"),
    "cooperative": _l("Paid straight into your account"),
    "official": _l("Paid by the buyer straight to the cooperative"),
}


#: how the payments' steps read in an order's history (the web layer adds them to its labels)
HISTORY_LABELS = {
    "payment_status_changed": _l("payment status changed"),
    "partially_refunded": _l("paid, partly refunded"),
    "refunded": _l("refunded"),
    "unpaid": _l("not paid"),
    "pending": _l("payment under way"),
}


def offered_provider_problems(config: Mapping[str, Any]) -> list[str]:
    """Why the providers this production configuration offers may not run (none: they may):
    each provider's own `deploy_problems` (keys, HTTPS, no sandbox or emulator)."""
    from produce_match.payments.providers import REGISTRY

    if config.get("PRODUCE_MATCH_ENV") != "production":
        return []
    found: list[str] = []
    for name in config.get("PAYMENTS_METHODS", ()):
        if name in REGISTRY:
            found.extend(REGISTRY[name].deploy_problems(config))
    return found


def init_app(app: Flask) -> None:
    from produce_match import deploy
    from produce_match.config import ConfigError
    from produce_match.payments import cli, operations, queries, service, tasks  # noqa: F401
    from produce_match.payments.providers import REGISTRY

    cli.init_app(app)
    deploy.also_check(offered_provider_problems)
    refused = offered_provider_problems(app.config)
    if refused:  # a production app does not start with a provider it cannot use safely
        raise ConfigError(" ".join(refused))

    @app.context_processor
    def _payments_globals() -> dict[str, Any]:
        return {
            "payment_panel": lambda order: queries.order_money(current_user, order),
            "payment_status_label": lambda status: str(
                PAYMENT_STATUS_LABELS.get(getattr(status, "value", status), status)
            ),
            "money_words": {"held": HELD_LABELS, "direct": DIRECT_LABELS},
        }

    for name in app.config.get("PAYMENTS_METHODS", ()):
        # a provider whose pay button leads the browser to its own page (CSP form-action)
        for origin in REGISTRY[name].form_action_origins(app.config) if name in REGISTRY else ():
            if origin not in app.config.setdefault("CSP_FORM_ACTION", []):
                app.config["CSP_FORM_ACTION"].append(origin)
