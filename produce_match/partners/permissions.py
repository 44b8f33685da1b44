"""Who may configure webhooks and robots, and see their deliveries (rules for the policy).

An organisation's webhooks are its members' business: a cooperative's and a buyer's members
(the trading role of their organisation), an office's officials. Nobody else sees that they
exist (404), administrators included: the secret and the log belong to the organisation.
Robots post to an office's chat groups: only that office's officials configure them.
"""

from __future__ import annotations

from typing import Any

from produce_match import policy
from produce_match.accounts.models import OrgKind, Role, User
from produce_match.partners.models import (
    LOT_EVENTS,
    ORDER_EVENTS,
    Endpoint,
    EventType,
    OutgoingDelivery,
    Robot,
)

#: the events each kind of organisation may subscribe to: a cooperative its lots and orders,
#: a buyer its orders, an office the lots of its jurisdiction (public already; orders are the
#: parties' business, and an office does not trade)
ORG_EVENTS: dict[OrgKind, tuple[EventType, ...]] = {
    OrgKind.cooperative: LOT_EVENTS + ORDER_EVENTS,
    OrgKind.buyer: ORDER_EVENTS,
    OrgKind.office: LOT_EVENTS,
}
#: the role an organisation's members have when they speak for it
_ORG_ROLE = {
    OrgKind.cooperative: Role.cooperative,
    OrgKind.buyer: Role.buyer,
    OrgKind.office: Role.official,
}


def speaks_for_org(user: User | None) -> bool:
    """A member with the role of an organisation that may have webhooks."""
    org = user.organisation if user is not None else None
    return (
        org is not None
        and org.kind in ORG_EVENTS
        and user is not None
        and user.role is _ORG_ROLE[org.kind]
    )


def runs_robots(user: User | None) -> bool:
    """An official of an office with a place: its chat-group robots."""
    org = user.organisation if user is not None else None
    return (
        user is not None
        and user.role is Role.official
        and org is not None
        and org.kind is OrgKind.office
        and org.province_code is not None
    )


@policy.rule(Endpoint)
def _endpoint(user: User | None, action: str, endpoint: Any) -> bool:
    if not speaks_for_org(user):
        return False
    if isinstance(endpoint, type):
        return action in ("create", "list")
    return policy.is_member(user, endpoint.organisation)


@policy.rule(Robot)
def _robot(user: User | None, action: str, robot: Any) -> bool:
    if not runs_robots(user):
        return False
    if isinstance(robot, type):
        return action in ("create", "list")
    return policy.is_member(user, robot.organisation)


@policy.rule(OutgoingDelivery)
def _delivery(user: User | None, action: str, delivery: Any) -> bool:
    if isinstance(delivery, type) or action not in (policy.VIEW, "replay"):
        return False
    owner = delivery.endpoint if delivery.endpoint_id is not None else delivery.robot
    return owner is not None and policy.can(user, "edit", owner)
