"""The signal for what happens to an order that is not a move of its lifecycle.

An order's moves (accept, dispatch, cancel, expire ...) are announced as typed events by its
lifecycle (`orders.models.ORDERS`; subscribe with `ORDERS.on(OrderAction.cancel)`), never as
words. `order_changed` is for the rest: `event` is "placed" (the order was created) or
"delivery_changed" (the buyer changed where it goes), with `actor` (None for the system).
Receivers run inside the transaction and add rows to the session and nothing else: no commit,
no network (work for after the commit goes to an outbox).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

order_changed = _signals.signal("order-changed")
