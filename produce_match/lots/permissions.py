"""Who may see and do what to lots (see produce_match.policy)."""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Role, User
from produce_match.lots.models import Lot, LotStatus
from produce_match.policy import VIEW, is_member, official_covers, rule


@rule(Lot)
def _lot(user: User | None, action: str, lot: Any) -> bool:
    if isinstance(lot, type):
        if action == "create":  # posting lots: cooperatives only
            return user is not None and user.role is Role.cooperative
        if action == "import":  # spreadsheets of lots: cooperatives, and offices for villages
            return user is not None and user.role in (Role.cooperative, Role.official)
        return action == "list"
    own = is_member(user, lot.cooperative)
    watching = official_covers(user, lot.province_code, lot.county_code) or (
        user is not None and user.is_admin
    )
    if action == VIEW:  # withdrawn lots stay visible to their owner and to oversight only
        return lot.status is not LotStatus.withdrawn or own or watching
    if action in ("edit", "withdraw"):
        return own and user.role is Role.cooperative
    if action == "view_history":
        return own or watching
    if action == "view_matches":  # the ranked buyers: its cooperative and oversight
        return (own and user.role is Role.cooperative) or watching
    if action == "rescue":  # take or decline a rescue step, give produce away (rescue)
        return own and user.role is Role.cooperative
    if action == "view_rescue":  # the lot's rescue step and donations
        return (own and user.role is Role.cooperative) or watching
    if action == "propose":  # sending an allocation of it to a buyer: oversight only
        return watching
    return False
