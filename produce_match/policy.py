"""The permission policy: the one place that decides who may see or do what.

Every view and API endpoint asks `can(user, action, target)` or calls `ensure(...)`. A target is a
model instance (one object) or a model class (creating one, listing them). Rules are plain
functions, one per kind of target, registered with `@rule(Model)`. The rules for accounts,
organisations, tokens and the catalogue are here, with the jurisdiction helpers every rule uses;
each domain keeps the rules for its own models in its `permissions` module (lots, orders,
demands, matching, payments, monitor), which its package imports, so that a domain's rules are
registered whenever its models are loaded. A model without a rule is refused to everyone.

Refusals reveal nothing: an object the user may not see answers 404, as if it did not exist;
an object the user may see but not change answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import Forbidden, NotFound

from produce_match.accounts.models import ApiToken, Organisation, OrgKind, Role, User
from produce_match.catalog.models import Commodity

#: the action that decides whether an object is visible at all
VIEW = "view"

Rule = Callable[[User | None, str, Any], bool]
_RULES: dict[type, Rule] = {}


def rule(target_type: type) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        _RULES[target_type] = fn
        return fn

    return register


def _live(user: User | None) -> User | None:
    return (
        user
        if user is not None and getattr(user, "is_authenticated", False) and user.is_active
        else None
    )


def can(user: User | None, action: str, target: Any) -> bool:
    """May `user` (None or anonymous for a visitor) do `action` to `target`?"""
    user = _live(user)
    target_type = target if isinstance(target, type) else type(target)
    for klass in target_type.__mro__:
        if klass in _RULES:
            return _RULES[klass](user, action, target)
    return False


def ensure(user: User | None, action: str, target: Any) -> None:
    """Raise 404 if `user` may not know of `target`, 403 if it may see it but not do `action`."""
    if can(user, action, target):
        return
    if not isinstance(target, type) and not can(user, VIEW, target):
        raise NotFound()
    raise Forbidden()


def load(user: User | None, action: str, model: type, ident: Any, *, options: Any = ()) -> Any:
    """Fetch an object by primary key and `ensure` the user may do `action` to it (404/403).

    `options` are loader options for the one query (what the caller will read of it anyway).
    """
    from produce_match.extensions import db

    obj = db.session.get(model, ident, options=options)
    if obj is None:
        raise NotFound()
    ensure(user, action, obj)
    return obj


# --- jurisdiction -------------------------------------------------------------------------


def covers(office: Organisation | None, province_code: str | None, county_code: str | None) -> bool:
    """Does an office's jurisdiction (a county, or a whole province) hold this place?"""
    if office is None or office.kind is not OrgKind.office or office.province_code is None:
        return False
    if province_code != office.province_code:
        return False
    return office.county_code is None or office.county_code == county_code


def official_covers(user: User | None, province_code: str | None, county_code: str | None) -> bool:
    return (
        user is not None
        and user.role is Role.official
        and covers(user.organisation, province_code, county_code)
    )


def is_member(user: User | None, org: Organisation | None) -> bool:
    return user is not None and org is not None and user.organisation_id == org.id


def trades(user: User | None) -> bool:
    """Cooperatives and buyers trade; officials read and broker, they do not trade."""
    return user is not None and user.role in (Role.cooperative, Role.buyer)


# --- rules --------------------------------------------------------------------------------


@rule(Organisation)
def _organisation(user: User | None, action: str, org: Any) -> bool:
    if isinstance(org, type):  # creating organisations: registration, or an administrator
        return action == "create" and (user is None or user.is_admin)
    if action == VIEW:  # the public profile: name, place, verified badge
        return True
    if action == "view_contact":  # phone, e-mail, contact person
        if user is None:
            return False
        return (
            user.is_admin
            or is_member(user, org)
            or official_covers(user, org.province_code, org.county_code)
            or (user.role is Role.buyer and org.kind is OrgKind.cooperative)
            or (user.role is Role.cooperative and org.kind is OrgKind.buyer)
        )
    if action == "view_hotline":  # an office's phone is its public hotline (its county shop)
        return org.kind is OrgKind.office
    if action == "view_shop_figures":  # what its county shop's share links brought
        return (
            org.kind is OrgKind.office
            and user is not None
            and (user.is_admin or official_covers(user, org.province_code, org.county_code))
        )
    if action == "edit":
        return user is not None and (user.is_admin or is_member(user, org))
    if action == "verify":  # decide its identity claims (trust.verification)
        return (
            user is not None
            and org.kind in (OrgKind.cooperative, OrgKind.buyer, OrgKind.haulier)
            and (user.is_admin or official_covers(user, org.province_code, org.county_code))
        )
    return False


@rule(User)
def _user(user: User | None, action: str, other: Any) -> bool:
    if user is None:
        return False
    if isinstance(other, type):  # listing or creating accounts
        return user.is_admin
    if action in (VIEW, "edit"):
        return user.id == other.id or user.is_admin
    if action == "disable":
        if user.id == other.id:
            return False
        return user.is_admin or _own_staff(user, other)
    return False


def _own_staff(user: User, other: User) -> bool:
    """An official and the checkpoint staff of the official's own office."""
    office = user.organisation
    return (
        user.role is Role.official
        and other.role is Role.checkpoint
        and office is not None
        and office.kind is OrgKind.office
        and other.organisation_id == office.id
    )


@rule(ApiToken)
def _api_token(user: User | None, action: str, token: Any) -> bool:
    if user is None:
        return False
    if isinstance(token, type):
        return action in ("create", "list")
    return token.user_id == user.id and action in (VIEW, "revoke")


@rule(Commodity)
def _commodity(user: User | None, action: str, commodity: Any) -> bool:
    if action in (VIEW, "list"):
        return True
    return user is not None and user.is_admin  # the catalogue is kept by administrators


def overseer(user: User | None) -> bool:
    """Officials (of an office with a place) and administrators: the officials' area."""
    user = _live(user)
    if user is None:
        return False
    if user.is_admin:
        return True
    office = user.organisation
    return (
        user.role is Role.official
        and office is not None
        and office.kind is OrgKind.office
        and office.province_code is not None
    )


def may_watch(user: User | None, province_code: str | None, county_code: str | None) -> bool:
    """May `user` see the officials' figures for this place (a county, or a whole province)?

    Administrators: anywhere. An official: inside the office's jurisdiction; a province office
    covers its counties, a county office only its county (not its province as a whole).
    """
    user = _live(user)
    if user is None or not overseer(user):
        return False
    if user.is_admin:
        return True
    office = user.organisation
    if province_code is None:  # everywhere: administrators only
        return False
    if county_code is None:
        return office.county_code is None and office.province_code == province_code
    return official_covers(user, province_code, county_code)


def admin_area(user: User | None) -> bool:
    """The administrators' pages."""
    user = _live(user)
    return user is not None and user.is_admin
