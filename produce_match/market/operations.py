"""Posting a lot and accepting an order, warned first when the price is low.

Pages and the API call these instead of lots/orders directly: below PRICE_WARNING_PERCENT %
of the reference price in force, they refuse with `PriceBelowReference` (nothing written)
unless the cooperative confirmed.
"""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Organisation, User
from produce_match.errors import Conflict
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.market.warnings import PriceWarning, price_warning
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from produce_match.units import MassUnit


class PriceBelowReference(Conflict):
    """The price is below the warned share of the reference: confirm to go on."""

    code = "below_reference"

    def __init__(self, warning: PriceWarning, unit: str | MassUnit, *, accepting: bool) -> None:
        super().__init__(warning.message(unit, accepting=accepting))
        self.warning = warning
        #: the figures, in the API's error body
        self.details: dict[str, Any] = warning.figures()


def _check_lot_price(values: dict[str, Any], lot: Lot | None) -> None:
    """Refuse a lot's price below the warned share (on an edit: only when the price, the
    commodity or the place changes; a lot already confirmed low is not warned again)."""
    commodity_id = values.get("commodity_id", lot.commodity_id if lot else None)
    county_code = values.get("county_code", lot.county_code if lot else None)
    province_code = values.get("province_code", lot.province_code if lot else None)
    price = values.get("price_fen_per_t", lot.price_fen_per_t if lot else None)
    if commodity_id is None or price is None:
        return
    if lot is not None and (commodity_id, county_code, price) == (
        lot.commodity_id,
        lot.county_code,
        lot.price_fen_per_t,
    ):
        return
    warning = price_warning(commodity_id, province_code, county_code, price)
    if warning is not None:
        unit = values.get("price_unit") or (lot.price_unit if lot else MassUnit.kg)
        raise PriceBelowReference(warning, unit, accepting=False)


def post_lot(
    actor: User | None, cooperative: Organisation, data: lots.LotInput, *, confirmed: bool
) -> Lot:
    """Post a lot (lots.create_lot), warned first when its price is low."""
    if not confirmed:
        _check_lot_price(lots.clean(data, cooperative), None)
    return lots.create_lot(actor, cooperative, data)


def edit_lot(
    actor: User, lot: Lot, data: lots.LotInput, *, confirmed: bool
) -> dict[str, list[Any]]:
    """Edit a lot (lots.update_lot), warned first when its new price is low."""
    if not confirmed:
        _check_lot_price(lots.clean(data, lot.cooperative, lot), lot)
    return lots.update_lot(actor, lot, data)


def order_warning(order: Order) -> PriceWarning | None:
    """The warning accepting this order would give (None: none)."""
    lot = order.lot
    return price_warning(
        lot.commodity_id, lot.province_code, lot.county_code, order.price_fen_per_t
    )


def accept_order(actor: User, order: Order, *, confirmed: bool) -> None:
    """Accept a reservation (orders.accept), warned first when the order's price is low.

    Only a reservation is warned about: any other state goes straight to orders.accept, which
    refuses it with its own error."""
    if not confirmed and order.current_status is OrderStatus.reserved:
        warning = order_warning(order)
        if warning is not None:
            raise PriceBelowReference(warning, order.lot.price_unit, accepting=True)
    orders.accept(actor, order)
