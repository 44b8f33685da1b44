"""Who may see and answer proposals, and which side of a proposal a user is on."""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Role, User
from produce_match.matching.models import Proposal
from produce_match.policy import VIEW, official_covers, rule


def proposal_side(user: User | None, proposal: Proposal) -> str | None:
    """'buyer' or 'cooperative' when `user` answers `proposal` for one of its two parties."""
    if user is None or not user.is_active:
        return None
    if user.role is Role.buyer and user.organisation_id == proposal.demand.buyer_org_id:
        return "buyer"
    if user.role is Role.cooperative and user.organisation_id == proposal.lot.cooperative_id:
        return "cooperative"
    return None


@rule(Proposal)
def _proposal(user: User | None, action: str, proposal: Any) -> bool:
    if user is None:
        return False
    if isinstance(proposal, type):
        if action in ("create", "plan"):  # the planner and its proposals: oversight only
            return user.role is Role.official or user.is_admin
        return action == "list"
    side = proposal_side(user, proposal)
    lot = proposal.lot
    watching = user.is_admin or official_covers(user, lot.province_code, lot.county_code)
    if action == VIEW:
        return side is not None or watching
    if action == "answer":
        return side is not None
    return False
