"""Who is told when money moves back to a buyer or out to a cooperative, and in what words."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from produce_match.accounts.models import Role
from produce_match.i18n import current_language
from produce_match.notifications.messages import message
from produce_match.notifications.operations import members, notify
from produce_match.orders.models import Order
from produce_match.units import format_money


def money_moved(order: Order, kind: str, amount_fen: int, provider_ref: str | None) -> None:
    """Tell the buyer about a refund, the cooperative about a payout (rows only)."""
    if kind == "refund":
        recipients, what = members(order.buyer_org_id, Role.buyer), "payment.refunded"
    else:
        recipients, what = members(order.cooperative_org_id, Role.cooperative), "payment.paid_out"
    notify(
        recipients,
        what,
        {"order": order.id, "lot": order.lot.title, "amount_fen": amount_fen, "ref": provider_ref},
        url=f"/payments/orders/{order.id}",
    )


@message("payment.refunded")
def _refunded(p: dict[str, Any]) -> str:
    return _(
        "%(amount)s was refunded to you for order %(order)s (“%(lot)s”).",
        amount=format_money(p["amount_fen"], current_language()),
        order=p["order"],
        lot=p["lot"],
    )


@message("payment.paid_out")
def _paid_out(p: dict[str, Any]) -> str:
    return _(
        "%(amount)s was paid out to your account for order %(order)s (“%(lot)s”).",
        amount=format_money(p["amount_fen"], current_language()),
        order=p["order"],
        lot=p["lot"],
    )
