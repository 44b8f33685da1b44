"""The one signal every recorded step of an order sends: who else needs to know subscribes here.

`order_changed` is sent inside the transaction, right after the step's guarded statement and its
audit record, with `event` (the audit verb: "placed", "accepted", "paid", "dispatched",
"delivery_confirmed", "cancelled", "expired", "disputed", "resolved", "completed" ...) and
`actor` (None for the system). Receivers add rows to the session and nothing else: no commit,
no network (work for after the commit goes to an outbox). Today they are `orders.notices` (tell
the other side) and the payments side (refunds and payouts follow the order's steps).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

order_changed = _signals.signal("order-changed")
