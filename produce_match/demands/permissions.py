"""Who may see and do what to buyers' demands (see produce_match.policy)."""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Role, User
from produce_match.demands.models import Demand
from produce_match.policy import VIEW, is_member, official_covers, rule


@rule(Demand)
def _demand(user: User | None, action: str, demand: Any) -> bool:
    if user is None:
        return False
    if isinstance(demand, type):
        if action in ("create", "import"):  # registering demands: buyers only
            return user.role is Role.buyer or (action == "import" and user.is_admin)
        return action == "list"
    own = user.role is Role.buyer and is_member(user, demand.buyer)
    if action in (VIEW, "view_matches", "view_history"):
        # its buyer, administrators, and officials whose jurisdiction holds the delivery place
        return (
            own or user.is_admin or official_covers(user, demand.province_code, demand.county_code)
        )
    if action in ("edit", "pause", "resume", "close"):
        return own
    return False
