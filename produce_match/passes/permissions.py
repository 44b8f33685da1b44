"""Who may see and do what to passes, checkpoints, whitelists and suspensions.

- Applicants (cooperatives, buyers, hauliers) ask for passes for their organisation, see them,
  withdraw them, and record the loading and the delivery of a pass without an order.
- An official of the origin county approves and rejects; an official of the origin or the
  destination county revokes; officials see every pass from or to their jurisdiction.
- Checkpoint staff (and officials) scan any pass at their office's checkpoints; staff do
  nothing else: they see what the verification page shows and the scan form.
- Offices keep their own checkpoints, whitelist, recognitions and suspensions.
- Administrators see everything and decide nothing: a pass is the offices' business.
"""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import OrgKind, Role, User
from produce_match.passes.models import (
    Checkpoint,
    Recognition,
    Suspension,
    TransportPass,
    WhitelistEntry,
)
from produce_match.policy import VIEW, is_member, official_covers, rule

#: the roles that ask for passes for their organisation
APPLICANT_ROLES = (Role.cooperative, Role.buyer, Role.haulier)


def _official(user: User | None) -> bool:
    office = user.organisation if user is not None else None
    return (
        user is not None
        and user.role is Role.official
        and office is not None
        and office.kind is OrgKind.office
        and office.province_code is not None
    )


def _scanner(user: User | None) -> bool:
    office = user.organisation if user is not None else None
    return (
        user is not None
        and user.role in (Role.checkpoint, Role.official)
        and office is not None
        and office.kind is OrgKind.office
    )


def applicant(user: User | None, row: TransportPass) -> bool:
    return (
        user is not None
        and user.role in APPLICANT_ROLES
        and (user.organisation_id == row.applicant_org_id)
    )


def origin_official(user: User | None, row: TransportPass) -> bool:
    return official_covers(user, row.origin_province_code, row.origin_county_code)


def dest_official(user: User | None, row: TransportPass) -> bool:
    return official_covers(user, row.dest_province_code, row.dest_county_code)


def _order_side(user: User | None, row: TransportPass) -> bool:
    """The other side of the order the pass carries (the buyer waits for the truck)."""
    order = row.order
    return (
        order is not None
        and user is not None
        and (
            (user.role is Role.buyer and user.organisation_id == order.buyer_org_id)
            or (user.role is Role.cooperative and user.organisation_id == order.cooperative_org_id)
        )
    )


@rule(TransportPass)
def _pass(user: User | None, action: str, row: Any) -> bool:
    if user is None:
        return False
    if isinstance(row, type):
        if action == "create":
            return user.role in APPLICANT_ROLES and user.organisation_id is not None
        return action == "list" and (
            user.role in APPLICANT_ROLES or _official(user) or user.is_admin
        )
    if action == VIEW:  # the whole pass: driver's name and phone, the full plate
        return (
            user.is_admin
            or applicant(user, row)
            or _order_side(user, row)
            or origin_official(user, row)
            or dest_official(user, row)
        )
    if action == "scan":  # record a passage at one of the office's checkpoints
        return _scanner(user)
    if action in ("approve", "reject"):
        return origin_official(user, row)
    if action == "revoke":
        return origin_official(user, row) or dest_official(user, row)
    if action == "withdraw":
        return applicant(user, row)
    if action == "record_step":  # loading and delivery of a pass without an order
        return applicant(user, row) and row.order_id is None
    return False


@rule(Checkpoint)
def _checkpoint(user: User | None, action: str, row: Any) -> bool:
    if isinstance(row, type):
        if action == "create":
            return _official(user)
        return action == "list"  # the names of checkpoints are public: routes name them
    if action == VIEW:
        return True
    if action == "retire":
        return _official(user) and is_member(user, row.office)
    return False


def _office_rule(owner_field: str) -> Any:
    def check(user: User | None, action: str, row: Any) -> bool:
        if user is None:
            return False
        if isinstance(row, type):
            return _official(user) if action in ("create", "list") else False
        own = _official(user) and user.organisation_id == getattr(row, owner_field)
        if action == VIEW:
            # offices read each other's whitelists (to recognise them); administrators all
            return _official(user) or user.is_admin
        if action in ("remove", "lift"):
            return own
        return False

    return check


rule(WhitelistEntry)(_office_rule("office_id"))
rule(Recognition)(_office_rule("office_id"))


@rule(Suspension)
def _suspension(user: User | None, action: str, row: Any) -> bool:
    if user is None:
        return False
    if isinstance(row, type):
        return _official(user) if action in ("create", "list") else False
    if action == VIEW:  # the office, every official, and the suspended organisation itself
        return _official(user) or user.is_admin or user.organisation_id == row.organisation_id
    if action == "lift":
        return _official(user) and user.organisation_id == row.office_id
    return False
