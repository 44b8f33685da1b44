"""Who is told when money moves (back to a buyer, out to a cooperative) or a buyer says it
sent a bank transfer, and in what words."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from produce_match.accounts.models import Role, User
from produce_match.i18n import current_language
from produce_match.notifications.messages import message
from produce_match.notifications.operations import members, notify
from produce_match.orders.models import Order
from produce_match.payments.models import Payment
from produce_match.units import format_money


def money_moved(
    order: Order, kind: str, amount_fen: int, provider_ref: str | None, reason: str = ""
) -> None:
    """Tell the buyer about a refund, the cooperative about a payout (rows only)."""
    if kind == "refund":
        recipients, what = members(order.buyer_org_id, Role.buyer), "payment.refunded"
    else:
        recipients = members(order.cooperative_org_id, Role.cooperative)
        what = "payment.paid_on_loading" if reason == "loading_settlement" else "payment.paid_out"
    notify(
        recipients,
        what,
        {"order": order.id, "lot": order.lot.title, "amount_fen": amount_fen, "ref": provider_ref},
        url=f"/payments/orders/{order.id}",
    )


def transfer_recorded(payment: Payment, actor: User) -> None:
    """Tell the cooperative that the buyer says it sent a transfer: it confirms on arrival."""
    order = payment.order
    notify(
        members(order.cooperative_org_id, Role.cooperative),
        "payment.transfer_recorded",
        {
            "order": order.id,
            "lot": order.lot.title,
            "buyer": order.buyer_org.name,
            "amount_fen": payment.amount_fen,
            "ref": payment.reference,
        },
        url=f"/payments/{payment.id}/transfer",
        actor=actor,
    )


@message("payment.transfer_recorded")
def _transfer_recorded(p: dict[str, Any]) -> str:
    return _(
        "%(buyer)s says it has sent %(amount)s by bank transfer for order %(order)s (“%(lot)s”), "
        "reference %(ref)s. Check your account and confirm when the money is there.",
        buyer=p["buyer"],
        amount=format_money(p["amount_fen"], current_language()),
        order=p["order"],
        lot=p["lot"],
        ref=p["ref"],
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


@message("payment.paid_on_loading")
def _paid_on_loading(p: dict[str, Any]) -> str:
    return _(
        "Paid on loading: %(amount)s was paid out to your account for order %(order)s "
        "(“%(lot)s”). The holdback follows when the buyer confirms delivery.",
        amount=format_money(p["amount_fen"], current_language()),
        order=p["order"],
        lot=p["lot"],
    )
