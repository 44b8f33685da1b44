"""The domains' typed events, turned into partners' events (receivers run inside the
transaction that caused them and only add delivery rows; the worker sends after the commit)."""

from __future__ import annotations

from typing import Any

from produce_match.lifecycle import Moved
from produce_match.lots.events import lot_offered
from produce_match.lots.models import Lot
from produce_match.orders.events import order_changed
from produce_match.orders.models import ORDERS, Order, OrderAction
from produce_match.partners import operations
from produce_match.partners.models import EventType

A = OrderAction
#: each move of an order as the event partners are sent (payment being requested is part of
#: `accept` and tells nobody; both ways of confirming delivery are `order.delivered`)
ORDER_MOVES: dict[OrderAction, EventType] = {
    A.accept: EventType.order_accepted,
    A.reject: EventType.order_rejected,
    A.pay: EventType.order_paid,
    A.dispatch: EventType.order_dispatched,
    A.confirm_delivery: EventType.order_delivered,
    A.auto_confirm: EventType.order_delivered,
    A.dispute: EventType.order_disputed,
    A.resolve: EventType.order_resolved,
    A.complete: EventType.order_completed,
    A.cancel: EventType.order_cancelled,
    A.expire: EventType.order_expired,
}


@ORDERS.on(*ORDER_MOVES)
def _order_moved(moved: Moved) -> None:
    operations.order_event(ORDER_MOVES[moved.action], moved.subject)


@order_changed.connect
def _order_changed(order: Order, *, event: str, actor: Any = None) -> None:
    if event == "placed":
        operations.order_event(EventType.order_placed, order)


@lot_offered.connect
def _lot_offered(lot: Lot, *, actor: Any = None, event: str = "posted") -> None:
    if event == "posted":
        operations.lot_posted(lot)
