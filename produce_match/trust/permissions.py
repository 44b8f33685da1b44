"""Who may see and do what to identity claims (实名认证).

- Members of a cooperative, buyer or haulier submit their own organisation's claims, see them
  and withdraw one that waits. Offices and the platform have nothing to verify.
- Administrators, and officials whose jurisdiction covers the organisation's county, see the
  claims there and verify, reject or revoke them. Officials never trade, but they verify.
- Nobody else sees a claim (checkpoint staff included); everyone sees the badge.
"""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.policy import VIEW, is_member, official_covers, rule
from produce_match.trust.models import IdentityClaim

#: the organisations that are verified, and the roles of their members who ask for it
CLAIMANT_KINDS = (OrgKind.cooperative, OrgKind.buyer, OrgKind.haulier)
CLAIMANT_ROLES = (Role.cooperative, Role.buyer, Role.haulier)


def claimant(user: User | None) -> bool:
    """A member of an organisation that may be verified (it asks for itself)."""
    org = user.organisation if user is not None else None
    return (
        user is not None
        and user.role in CLAIMANT_ROLES
        and org is not None
        and org.kind in CLAIMANT_KINDS
    )


def official(user: User | None) -> bool:
    """An official of an office with a jurisdiction."""
    office = user.organisation if user is not None else None
    return (
        user is not None
        and user.role is Role.official
        and office is not None
        and office.kind is OrgKind.office
        and office.province_code is not None
    )


def decider(user: User | None) -> bool:
    """Administrators and officials: the review queue (each official sees the jurisdiction's)."""
    return user is not None and (user.is_admin or official(user))


def decides_for(user: User | None, org: Organisation | None) -> bool:
    """May `user` verify, reject and revoke the verification of `org`?"""
    if user is None or org is None or org.kind not in CLAIMANT_KINDS:
        return False
    return user.is_admin or official_covers(user, org.province_code, org.county_code)


@rule(IdentityClaim)
def _claim(user: User | None, action: str, row: Any) -> bool:
    if user is None:
        return False
    if isinstance(row, type):
        if action == "create":
            return claimant(user)
        if action == "list_own":
            return claimant(user)
        if action == "list":  # the review queue
            return decider(user)
        return False
    own = claimant(user) and is_member(user, row.org)
    if action == VIEW:  # the whole claim: the licence photo, the masked ID number
        return own or decides_for(user, row.org)
    if action == "withdraw":
        return own
    if action in ("verify", "reject", "revoke"):
        return decides_for(user, row.org)
    return False
