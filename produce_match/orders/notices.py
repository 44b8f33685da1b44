"""Who is told about each step of an order, and in what words (receivers of the order's
typed moves, and of `order_changed` for what is not a move).

The side that took a step is not told about it; the other side is (every active member of that
organisation with the trading role). Steps nobody took (timers, the payment side's confirmation)
and steps taken by officials go to both sides. Disputes also go to the officials whose
jurisdiction holds the lot, since they settle them.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from produce_match.accounts.models import Role, User
from produce_match.i18n import current_language
from produce_match.lifecycle import Moved
from produce_match.notifications.messages import message
from produce_match.notifications.operations import notify, notify_members, overseers
from produce_match.orders.events import order_changed
from produce_match.orders.models import ORDERS, Order, OrderAction, Party
from produce_match.orders.permissions import order_party
from produce_match.units import format_mass, format_money

#: moves that tell nobody (payment is requested in the same breath as `accept`)
SILENT = frozenset({OrderAction.request_payment})
#: moves the officials whose jurisdiction holds the lot are told of too (they settle disputes)
TO_OVERSEERS = frozenset({OrderAction.dispute})


@ORDERS.on()
def _tell_move(moved: Moved) -> None:
    """Every move of an order but the silent ones; the message is named after the move."""
    if moved.action in SILENT:
        return
    _tell(moved.subject, ORDERS.verb(moved.action), moved.actor, moved.action in TO_OVERSEERS)


@order_changed.connect
def _tell_change(order: Order, *, event: str, actor: User | None) -> None:
    """What is not a move: the order placed, its delivery changed (see `orders.events`)."""
    _tell(order, event, actor, False)


def _tell(order: Order, name: str, actor: User | None, overseers_too: bool) -> None:
    side = order_party(actor, order) if actor is not None else None
    groups: list[tuple[int | None, Role]] = []
    if side is not Party.buyer:
        groups.append((order.buyer_org_id, Role.buyer))
    if side is not Party.cooperative:
        groups.append((order.cooperative_org_id, Role.cooperative))
    kind = f"order.{name}"
    params = {
        "order": order.id,
        "lot": order.lot.title,
        "buyer": order.buyer_org.name,
        "cooperative": order.cooperative_org.name,
        "quantity_g": order.quantity_g,
        "unit": order.unit.value,
        "amount_fen": order.amount_fen,
        "shipped_g": order.shipped_g,
        "accepted_g": order.accepted_g,
    }
    url = f"/orders/{order.id}"  # a plain path: timers run from the command line too
    # the sides' members in one statement (placing an order tells its cooperative this way);
    # officials are neither side's members, so nobody is told twice
    notify_members(groups, kind, params, url=url, actor=actor)
    if overseers_too:
        notify(
            overseers(order.lot.province_code, order.lot.county_code),
            kind,
            params,
            url=url,
            actor=actor,
        )


# --- words ----------------------------------------------------------------------------------


def _lang() -> str:
    return current_language()


def _qty(p: dict[str, Any], key: str = "quantity_g") -> str:
    return format_mass(p[key] or 0, p["unit"], _lang())


@message("order.placed")
def _placed(p: dict[str, Any]) -> str:
    return _(
        "%(buyer)s ordered %(quantity)s of “%(lot)s” (order %(order)s). Accept or reject it.",
        buyer=p["buyer"],
        quantity=_qty(p),
        lot=p["lot"],
        order=p["order"],
    )


@message("order.accepted")
def _accepted(p: dict[str, Any]) -> str:
    return _(
        "%(cooperative)s accepted order %(order)s (%(quantity)s of “%(lot)s”). "
        "Please pay %(amount)s.",
        cooperative=p["cooperative"],
        order=p["order"],
        quantity=_qty(p),
        lot=p["lot"],
        amount=format_money(p["amount_fen"], _lang()),
    )


@message("order.rejected")
def _rejected(p: dict[str, Any]) -> str:
    return _(
        "%(cooperative)s rejected order %(order)s for “%(lot)s”.",
        cooperative=p["cooperative"],
        order=p["order"],
        lot=p["lot"],
    )


@message("order.paid")
def _paid(p: dict[str, Any]) -> str:
    return _(
        "Order %(order)s for “%(lot)s” is paid (%(amount)s). It can be loaded and shipped.",
        order=p["order"],
        lot=p["lot"],
        amount=format_money(p["amount_fen"], _lang()),
    )


@message("order.dispatched")
def _dispatched(p: dict[str, Any]) -> str:
    return _(
        "Order %(order)s is on its way: %(quantity)s of “%(lot)s” shipped. Confirm it on arrival.",
        order=p["order"],
        quantity=_qty(p, "shipped_g"),
        lot=p["lot"],
    )


@message("order.delivery_changed")
def _delivery_changed(p: dict[str, Any]) -> str:
    return _(
        "%(buyer)s changed where order %(order)s (“%(lot)s”) is delivered, or who receives it.",
        buyer=p["buyer"],
        order=p["order"],
        lot=p["lot"],
    )


@message("order.delivery_confirmed")
def _confirmed(p: dict[str, Any]) -> str:
    return _(
        "%(buyer)s confirmed delivery of order %(order)s: %(quantity)s accepted.",
        buyer=p["buyer"],
        order=p["order"],
        quantity=_qty(p, "accepted_g"),
    )


@message("order.delivery_auto_confirmed")
def _auto_confirmed(p: dict[str, Any]) -> str:
    return _(
        "Delivery of order %(order)s was confirmed automatically: %(quantity)s.",
        order=p["order"],
        quantity=_qty(p, "accepted_g"),
    )


@message("order.disputed")
def _disputed(p: dict[str, Any]) -> str:
    return _(
        "%(buyer)s disputed the delivery of order %(order)s (“%(lot)s”).",
        buyer=p["buyer"],
        order=p["order"],
        lot=p["lot"],
    )


@message("order.resolved")
def _resolved(p: dict[str, Any]) -> str:
    return _("The dispute about order %(order)s was settled.", order=p["order"])


@message("order.cancelled")
def _cancelled(p: dict[str, Any]) -> str:
    return _("Order %(order)s for “%(lot)s” was cancelled.", order=p["order"], lot=p["lot"])


@message("order.expired")
def _expired(p: dict[str, Any]) -> str:
    return _(
        "Order %(order)s for “%(lot)s” expired: it was not accepted or paid in time, "
        "or the lot spoiled.",
        order=p["order"],
        lot=p["lot"],
    )


@message("order.completed")
def _completed(p: dict[str, Any]) -> str:
    return _("Order %(order)s is completed.", order=p["order"])
