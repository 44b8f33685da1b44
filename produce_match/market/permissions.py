"""Who may see the prices (行情): every logged-in account (cooperatives, buyers, officials,
administrators ...), never a visitor. The page shows only medians of at least
queries.MIN_ORDERS orders, but prices are still the platform's members' business."""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import User
from produce_match.market.queries import Market
from produce_match.policy import VIEW, rule


@rule(Market)
def _market(user: User | None, action: str, target: Any) -> bool:
    return action == VIEW and user is not None
