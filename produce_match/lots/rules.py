"""The lot's selling rules that need no database (the matching rule uses them on plain facts).

The minimum-order rule lives here and only here; `models.minimum_met` is the same rule as an
SQL condition, for the statement that takes a lot's stock.
"""

from __future__ import annotations

from typing import Protocol


class _Stock(Protocol):
    min_order_g: int | None
    remaining_g: int


def meets_minimum(lot: _Stock, grams: int) -> bool:
    """THE minimum-order rule: at least the lot's minimum, except that the last of a lot may
    always be bought whatever its size."""
    return not lot.min_order_g or grams >= lot.min_order_g or grams == lot.remaining_g
