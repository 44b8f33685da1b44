"""The permission policy: the one place that decides who may see or do what.

Every view and API endpoint asks `can(user, action, target)` or calls `ensure(...)`. A target is a
model instance (one object) or a model class (creating one, listing them). Rules are plain
functions, one per kind of target, registered in `_RULES` below; a newcomer finds every rule here.

Refusals reveal nothing: an object the user may not see answers 404, as if it did not exist;
an object the user may see but not change answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import Forbidden, NotFound

from produce_match.accounts.models import ApiToken, Organisation, OrgKind, Role, User
from produce_match.catalog.models import Commodity
from produce_match.demands.models import Demand
from produce_match.lots.models import Lot, LotStatus
from produce_match.matching.models import Proposal
from produce_match.monitor.models import Problem, ReferencePrice
from produce_match.orders.models import Order, Party, parties_for
from produce_match.payments.models import Payment, PaymentInstruction

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


def load(user: User | None, action: str, model: type, ident: Any) -> Any:
    """Fetch an object by primary key and `ensure` the user may do `action` to it (404/403)."""
    from produce_match.extensions import db

    obj = db.session.get(model, ident)
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
    if action == "edit":
        return user is not None and (user.is_admin or is_member(user, org))
    if action == "verify":
        return user is not None and user.is_admin
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
        return user.is_admin and user.id != other.id
    return False


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
    if action == "propose":  # sending an allocation of it to a buyer: oversight only
        return watching
    return False


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


@rule(Payment)
def _payment(user: User | None, action: str, payment: Any) -> bool:
    """A payment is seen by its order's parties and oversight (404 for everyone else)."""
    if isinstance(payment, type):
        return False
    party = order_party(user, payment.order)
    if party is None:
        return False
    if action == VIEW:
        return True
    if action == "record_transfer":
        return party is Party.buyer
    if action == "confirm_transfer":  # the cooperative's account, or an official for it
        return party in (Party.cooperative, Party.official)
    return False


@rule(PaymentInstruction)
def _payment_instruction(user: User | None, action: str, instruction: Any) -> bool:
    if isinstance(instruction, type):
        return False
    party = order_party(user, instruction.order)
    if party is None:
        return False
    if action == VIEW:
        return True
    if action == "confirm_refund":  # a transfer's refund is sent back by the cooperative
        return party is Party.cooperative
    return False


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


def admin_area(user: User | None) -> bool:
    """The administrators' pages."""
    user = _live(user)
    return user is not None and user.is_admin
