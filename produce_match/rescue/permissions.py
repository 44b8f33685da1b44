"""Who may see and answer rescue proposals and donations (see produce_match.policy).

The lot's cooperative takes or declines a step and gives produce away; officials of the lot's
place (and administrators) see it all; a donation's receipt is also the recipient's to see.
"""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Role, User
from produce_match.policy import VIEW, is_member, official_covers, rule
from produce_match.rescue.models import Donation, RescueProposal


def _watching(user: User | None, lot: Any) -> bool:
    return user is not None and (
        user.is_admin or official_covers(user, lot.province_code, lot.county_code)
    )


def _own(user: User | None, lot: Any) -> bool:
    return is_member(user, lot.cooperative) and user.role is Role.cooperative


@rule(RescueProposal)
def _proposal(user: User | None, action: str, proposal: Any) -> bool:
    if isinstance(proposal, type):
        return (
            action == "list" and user is not None and (user.is_admin or user.role is Role.official)
        )
    if action == VIEW:
        return _own(user, proposal.lot) or _watching(user, proposal.lot)
    if action == "answer":  # take or decline
        return _own(user, proposal.lot)
    return False


@rule(Donation)
def _donation(user: User | None, action: str, donation: Any) -> bool:
    if isinstance(donation, type):
        return False
    if action == VIEW:
        return (
            is_member(user, donation.donor_org)
            or (donation.recipient_org is not None and is_member(user, donation.recipient_org))
            or _watching(user, donation.lot)
        )
    return False
