"""Signals about lots, sent inside the transaction of the change (receivers only add rows).

`lot_offered` is sent when a lot comes on offer (posted) or becomes cheaper (its price per
tonne dropped): `lot_offered.send(lot, actor=user_or_None, event="posted" | "price_dropped")`.
The matching package tells the buyers whose demands it fits.

`lots_written` is sent by `lots.updates.update_lots` after a statement wrote lots:
`lots_written.send(None, lot_ids=[...])`. The search package queues them for its index.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

lot_offered = _signals.signal("lot-offered")
lots_written = _signals.signal("lots-written")
