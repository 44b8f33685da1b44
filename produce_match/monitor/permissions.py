"""Who may see and do what in the problem ledger and the local reference prices."""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Role, User
from produce_match.monitor.models import Problem, ReferencePrice
from produce_match.policy import VIEW, is_member, official_covers, overseer, rule


@rule(Problem)
def _problem(user: User | None, action: str, problem: Any) -> bool:
    """The problem ledger: its cooperative, and the offices whose jurisdiction holds it."""
    if user is None:
        return False
    if isinstance(problem, type):
        if action == "create":  # a cooperative, or an official on a cooperative's behalf
            return user.role is Role.cooperative or overseer(user)
        return action == "list"
    own = user.role is Role.cooperative and is_member(user, problem.cooperative)
    watching = user.is_admin or official_covers(user, problem.province_code, problem.county_code)
    if action in (VIEW, "create"):
        return own or watching
    if action in ("assign", "close"):
        return watching
    if action == "follow_up":  # the office, and the cooperative telling what happened since
        return watching or own
    if action == "reopen":  # the office, or the cooperative if it is not solved after all
        return watching or own
    return False


@rule(ReferencePrice)
def _reference_price(user: User | None, action: str, price: Any) -> bool:
    """Local reference prices: recorded by offices for their counties, read by oversight."""
    if user is None or not overseer(user):
        return False
    if isinstance(price, type):
        return action in ("create", "import", "list")
    return user.is_admin or official_covers(user, price.province_code, price.county_code)
