"""Who may see and do what to orders, and which side of an order a user is on."""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Role, User
from produce_match.orders.models import Order, Party, parties_for
from produce_match.policy import VIEW, official_covers, rule


def order_party(user: User | None, order: Order) -> Party | None:
    """The side `user` is on for `order` (None: no side, and so no business with it).

    Officials and administrators are the `official` party: they may see the order and settle
    its dispute; an official only for lots in the office's jurisdiction.
    """
    if user is None or not user.is_active:
        return None
    if user.role is Role.buyer and user.organisation_id == order.buyer_org_id:
        return Party.buyer
    if user.role is Role.cooperative and user.organisation_id == order.cooperative_org_id:
        return Party.cooperative
    if user.is_admin or official_covers(user, order.lot.province_code, order.lot.county_code):
        return Party.official
    return None


@rule(Order)
def _order(user: User | None, action: str, order: Any) -> bool:
    if isinstance(order, type):
        if action == "create":  # placing orders: buyers only; officials broker, never trade
            return user is not None and user.role is Role.buyer
        return action == "list" and user is not None
    party = order_party(user, order)
    if party is None:  # neither side nor oversight: may not know the order exists (404)
        return False
    if action in (VIEW, "view_history", "view_payments"):
        return True
    if action == "start_payment":  # paying is the buyer's; the payment side confirms it
        return party is Party.buyer
    if action == "add_photos":  # the trading sides' own photos; which, and when, is operations'
        return party in (Party.buyer, Party.cooperative)
    if action == "view_delivery":  # address and receiver: the cooperative once it has accepted
        return party is not Party.cooperative or order.pay_by is not None
    if action == "change_delivery":  # until dispatch: that is operations' to check (409)
        return party is Party.buyer
    # a step of the transition table; whether it is legal now is the table's question (409)
    return party in parties_for(action)
