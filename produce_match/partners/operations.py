"""Webhook endpoints and robots (configured by their organisation), the events they are sent,
and the deliveries: sending, retrying with back-off, failing, replaying.

Events become `OutgoingDelivery` rows inside the transaction that caused them (the outbox); the
worker sends them after the commit (`deliver_due`), and a sweep every minute sends what is due
again or was left behind. Operations flush, never commit, except `deliver_due`, which runs in the
worker and commits around each network call so that nothing is locked while it waits.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update

from produce_match.accounts.models import Organisation, OrgKind, User
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.dates import DEFAULT_TIMEZONE
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.links import site_url
from produce_match.lots.models import Lot
from produce_match.messaging import webhooks
from produce_match.monitor import queries as monitor
from produce_match.orders.models import Order
from produce_match.partners.models import (
    DELIVERIES,
    ENDPOINTS,
    ROBOTS,
    DeliveryAction,
    DeliveryAttempt,
    DeliveryStatus,
    Endpoint,
    EndpointAction,
    EndpointStatus,
    EventType,
    LotAtRisk,
    OutgoingDelivery,
    Robot,
    RobotKind,
)
from produce_match.partners.permissions import ORG_EVENTS
from produce_match.queue import after_commit
from produce_match.units import format_mass, format_price

DELIVER_TASK = "partners.deliver"
#: the waits between attempts: the last try comes about a day after the first
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=15),
)
#: a lot is at risk (told once) when it spoils within this many days and has no buyer yet:
#: the officials' flag (monitor)
AT_RISK_DAYS = monitor.FLAG_DAYS
#: lots named in a daily summary, and in a message about several lots at risk at once
SUMMARY_TOP = 5
#: a robot is told of up to this many lots that became at risk together one by one; of more,
#: in one message (robots take 20 messages a minute)
ONE_BY_ONE = 3
BATCH = 100
CHINA = ZoneInfo(DEFAULT_TIMEZONE)

_URL_REASONS = {
    "scheme": _l("Use an https:// address."),
    "host": _l("Enter a whole web address, e.g. https://example.com/hooks/produce."),
    "private": _l("This address leads into a private network; use a public https:// address."),
    "unresolvable": _l("This address's host name cannot be found."),
    "robot_host": _l("This is not the address of a robot of the kind chosen."),
}


# --- settings -------------------------------------------------------------------------------


def _production() -> bool:
    return current_app.config["PRODUCE_MATCH_ENV"] == "production"


def _timeout() -> float:
    return float(current_app.config["WEBHOOK_TIMEOUT_SECONDS"])


# --- checking input -------------------------------------------------------------------------


def _url(text: str | None, robot: RobotKind | None = None) -> str:
    url = (text or "").strip()
    if not url:
        raise ValidationFailed(_l("Enter the address."), fields={"url": [_l("Enter the address.")]})
    if len(url) > 500:
        message = _l("At most %(n)s characters.", n=500)
        raise ValidationFailed(message, fields={"url": [message]})
    try:
        return webhooks.check_url(
            url, production=_production(), robot=robot.value if robot else None
        )
    except webhooks.UnsafeURL as exc:
        message = _URL_REASONS[exc.reason]
        raise ValidationFailed(message, fields={"url": [message]}) from None


def allowed_events(org: Organisation) -> tuple[EventType, ...]:
    return ORG_EVENTS.get(org.kind, ())


def _events(org: Organisation, chosen: Iterable[str] | None) -> list[str]:
    allowed = {e.value for e in allowed_events(org)}
    picked = [str(e) for e in (chosen or [])]
    wrong = [e for e in picked if e not in allowed]
    if wrong or not picked:
        message = (
            _l("Unknown events for this organisation: %(names)s.", names=", ".join(wrong))
            if wrong
            else _l("Choose at least one event.")
        )
        raise ValidationFailed(message, fields={"events": [message]})
    return [e.value for e in allowed_events(org) if e.value in picked]  # in the table's order


def _description(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > 120:
        message = _l("At most %(n)s characters.", n=120)
        raise ValidationFailed(message, fields={"description": [message]})
    return text or None


# --- endpoints ------------------------------------------------------------------------------


@dataclass
class EndpointInput:
    url: str | None = None
    events: list[str] | None = None
    description: str | None = None


def create_endpoint(actor: User, org: Organisation, data: EndpointInput) -> tuple[Endpoint, str]:
    """A new endpoint of `org` and its secret (to show once)."""
    endpoint = Endpoint(
        organisation_id=org.id,
        url=_url(data.url),
        events=_events(org, data.events),
        description=_description(data.description),
        secret=webhooks.new_secret(),
        status=EndpointStatus.active,
        created_by_id=actor.id,
    )
    db.session.add(endpoint)
    db.session.flush()
    record(
        actor,
        endpoint,
        "created",
        to_state=endpoint.status.value,
        changes={"url": endpoint.url, "events": endpoint.events},
    )
    return endpoint, endpoint.secret


def update_endpoint(actor: User, endpoint: Endpoint, data: EndpointInput) -> dict[str, Any]:
    """Change what is given of the URL, events and description; returns what changed."""
    changes: dict[str, Any] = {}
    if data.url is not None:
        url = _url(data.url)
        if url != endpoint.url:
            changes["url"] = [endpoint.url, url]
            endpoint.url = url
    if data.events is not None:
        events = _events(endpoint.organisation, data.events)
        if events != endpoint.events:
            changes["events"] = [endpoint.events, events]
            endpoint.events = events
    if data.description is not None:
        description = _description(data.description)
        if description != endpoint.description:
            changes["description"] = [endpoint.description, description]
            endpoint.description = description
    if changes:
        db.session.flush()
        record(actor, endpoint, "updated", changes=changes)
    return changes


def rotate_secret(actor: User, endpoint: Endpoint) -> str:
    """A new secret for the endpoint (the old one stops signing at once); shown once."""
    endpoint.secret = webhooks.new_secret()
    endpoint.secret_rotated_at = utcnow()
    db.session.flush()
    record(actor, endpoint, "secret_rotated")
    return endpoint.secret


def switch(actor: User, target: Endpoint | Robot, on: bool) -> None:
    """Enable or disable an endpoint or a robot (IllegalMove if it already is)."""
    switch = ROBOTS if isinstance(target, Robot) else ENDPOINTS
    switch.move(target, EndpointAction.enable if on else EndpointAction.disable, actor=actor)


def endpoints_of(org: Organisation) -> list[Endpoint]:
    return list(
        db.session.scalars(
            select(Endpoint).where(Endpoint.organisation_id == org.id).order_by(Endpoint.id)
        )
    )


# --- robots ---------------------------------------------------------------------------------


@dataclass
class RobotInput:
    name: str | None = None
    kind: str | None = None
    url: str | None = None
    #: DingTalk's 加签 secret; None or "" keeps the present one when editing
    secret: str | None = None
    clear_secret: bool = False
    post_urgent: bool = True
    post_summary: bool = True
    summary_hour: int | str | None = 8


def _robot_fields(data: RobotInput) -> dict[str, Any]:
    errors: dict[str, list[Any]] = {}
    name = (data.name or "").strip()
    if not name or len(name) > 60:
        errors["name"] = [_l("Give the robot a name of at most 60 characters, e.g. 彰武电商群.")]
    try:
        kind = RobotKind(data.kind or "")
    except ValueError:
        kind = None
        errors["kind"] = [_l("Choose WeChat Work or DingTalk.")]
    try:
        hour = int(str(data.summary_hour).strip())
        if not 0 <= hour <= 23:
            raise ValueError
    except ValueError:
        hour = 8
        errors["summary_hour"] = [_l("An hour of the day, 0 to 23.")]
    secret = (data.secret or "").strip() or None
    if secret is not None and (len(secret) > 120 or kind is RobotKind.wecom):
        errors["secret"] = [
            _l("Only DingTalk robots are signed (加签); leave it empty for WeChat Work.")
            if kind is RobotKind.wecom
            else _l("At most %(n)s characters.", n=120)
        ]
    url = None
    try:
        url = _url(data.url, kind)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed(_l("Please correct the marked fields."), fields=errors)
    return {
        "name": name,
        "kind": kind,
        "url": url,
        "secret": secret,
        "post_urgent": bool(data.post_urgent),
        "post_summary": bool(data.post_summary),
        "summary_hour": hour,
    }


def create_robot(actor: User, office: Organisation, data: RobotInput) -> Robot:
    fields = _robot_fields(data)
    robot = Robot(organisation_id=office.id, created_by_id=actor.id, **fields)
    db.session.add(robot)
    db.session.flush()
    record(
        actor,
        robot,
        "created",
        to_state=EndpointStatus.active.value,
        changes={"name": robot.name, "kind": robot.kind.value},
    )
    return robot


def update_robot(actor: User, robot: Robot, data: RobotInput) -> dict[str, Any]:
    fields = _robot_fields(data)
    if fields["secret"] is None and not data.clear_secret and fields["kind"] is robot.kind:
        fields["secret"] = robot.secret  # left empty: keep it
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        old = getattr(robot, name)
        if old != value:
            secretive = name in ("url", "secret")  # the key is not written into the trail
            changes[name] = True if secretive else [str(old), str(value)]
            setattr(robot, name, value)
    if changes:
        db.session.flush()
        record(actor, robot, "updated", changes=changes)
    return changes


def robots_of(office: Organisation) -> list[Robot]:
    return list(
        db.session.scalars(
            select(Robot).where(Robot.organisation_id == office.id).order_by(Robot.id)
        )
    )


def send_test(actor: User, robot: Robot) -> OutgoingDelivery:
    """A short test message to the robot's group (through the log, like every message)."""
    with force_locale("zh"):
        title = _("Test message")
        text = _(
            "%(office)s: this group will receive urgent lots and the daily at-risk summary.",
            office=robot.organisation.name,
        )
    delivery = _robot_delivery(robot, "robot.test", title, [f"#### {title}", text])
    record(actor, robot, "test_sent")
    return delivery


# --- events ---------------------------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def envelope(event_type: EventType, data: dict[str, Any]) -> tuple[str, str]:
    """(event id, the JSON body every endpoint is sent): {"id", "type", "created", "data"}."""
    event_id = _new_id("evt")
    body = {
        "id": event_id,
        "type": event_type.value,
        "created": int(utcnow().timestamp()),
        "data": data,
    }
    return event_id, json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def lot_data(lot: Lot) -> dict[str, Any]:
    """What an event says of a lot: what its public page shows."""
    coop = lot.cooperative
    return {
        "id": lot.id,
        "title": lot.title,
        "commodity": lot.commodity.code,
        "commodity_name": lot.commodity_label("zh"),
        "grade": lot.grade,
        "quantity_g": lot.quantity_g,
        "remaining_g": lot.remaining_g,
        "unit": lot.quantity_unit.value,
        "price_fen": lot.price_fen,
        "price_unit": lot.price_unit.value,
        "price_fen_per_t": lot.price_fen_per_t,
        "province_code": lot.province_code,
        "county_code": lot.county_code,
        "place": " ".join(
            p for p in (lot.province.name, lot.county.name, lot.township, lot.village) if p
        ),
        "spoil_by": lot.spoil_by.isoformat(),
        "days_left": lot.days_left,
        "status": lot.current_status.value,
        "url": site_url(f"/lots/{lot.id}"),
        "cooperative": {"id": coop.id, "name": coop.name, "verified": coop.verified_at is not None},
    }


def order_data(order: Order) -> dict[str, Any]:
    """What an event says of an order: its step and amounts, the lot and both organisations;
    never where it goes nor who receives it (phone numbers, addresses)."""
    return {
        "id": order.id,
        "status": order.status.value,
        "quantity_g": order.quantity_g,
        "unit": order.unit.value,
        "amount_fen": order.amount_fen,
        "shipped_g": order.shipped_g,
        "accepted_g": order.accepted_g,
        "settlement": order.settlement.value,
        "lot": {
            "id": order.lot_id,
            "title": order.lot.title,
            "url": site_url(f"/lots/{order.lot_id}"),
        },
        "buyer": {"id": order.buyer_org_id, "name": order.buyer_org.name},
        "cooperative": {"id": order.cooperative_org_id, "name": order.cooperative_org.name},
        "url": site_url(f"/orders/{order.id}"),
    }


def _covering_offices(lot: Lot) -> Any:
    """SQL: the organisation is an office whose jurisdiction holds the lot."""
    return (
        (Organisation.kind == OrgKind.office)
        & (Organisation.province_code == lot.province_code)
        & or_(Organisation.county_code.is_(None), Organisation.county_code == lot.county_code)
    )


def _emit(event_type: EventType, data: dict[str, Any], endpoints: list[Endpoint]) -> int:
    """One delivery per endpoint that wants the event and whose organisation may have it."""
    wanting = [
        e
        for e in endpoints
        if e.wants(event_type.value) and event_type in allowed_events(e.organisation)
    ]
    if not wanting:
        return 0
    event_id, body = envelope(event_type, data)
    now = utcnow()
    for endpoint in wanting:
        db.session.add(
            OutgoingDelivery(
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=event_type.value,
                body=body,
                next_attempt_at=now,
            )
        )
    after_commit(DELIVER_TASK)
    return len(wanting)


def _active_endpoints(*conditions: Any) -> list[Endpoint]:
    return list(
        db.session.scalars(
            select(Endpoint)
            .join(Organisation, Organisation.id == Endpoint.organisation_id)
            .where(Endpoint.status == EndpointStatus.active, or_(*conditions))
        )
    )


def lot_event(event_type: EventType, lot: Lot) -> int:
    """A lot's event, for its cooperative and the offices whose jurisdiction holds it."""
    endpoints = _active_endpoints(
        Endpoint.organisation_id == lot.cooperative_id, _covering_offices(lot)
    )
    return _emit(event_type, lot_data(lot), endpoints) if endpoints else 0


def order_event(event_type: EventType, order: Order) -> int:
    """An order's event, for its two organisations only (never an office, never a third)."""
    endpoints = _active_endpoints(
        Endpoint.organisation_id.in_([order.buyer_org_id, order.cooperative_org_id])
    )
    return _emit(event_type, order_data(order), endpoints) if endpoints else 0


def lot_posted(lot: Lot) -> None:
    """A new lot: `lot.posted`, and at once `lot.at_risk` if it already spoils soon."""
    lot_event(EventType.lot_posted, lot)
    if 0 <= lot.days_left <= AT_RISK_DAYS:
        announce_at_risk(lot)


def announce_at_risk(lot: Lot, for_robots: dict[Robot, list[Lot]] | None = None) -> bool:
    """Tell that a lot is at risk, once per lot: `lot.at_risk` to the webhooks, and the
    lot to the robots of the offices that hold it (or into `for_robots`, for the caller to
    post together). False if it was told before."""
    if db.session.get(LotAtRisk, lot.id) is not None:
        return False
    db.session.add(LotAtRisk(lot_id=lot.id))
    lot_event(EventType.lot_at_risk, lot)
    robots = db.session.scalars(
        select(Robot)
        .join(Organisation, Organisation.id == Robot.organisation_id)
        .where(Robot.status == EndpointStatus.active, Robot.post_urgent, _covering_offices(lot))
    )
    for robot in robots:
        if for_robots is None:
            _robot_delivery(robot, "robot.urgent_lot", *urgent_lot_text(lot))
        else:
            for_robots.setdefault(robot, []).append(lot)
    return True


def _not_taken() -> Any:
    return Lot.id.not_in(select(Order.lot_id).where(Order.status.in_(monitor.TAKEN)))


def find_at_risk(limit: int = 500) -> int:
    """The open lots that became at risk since the last look (spoiling within AT_RISK_DAYS,
    no buyer yet, not yet told): announce each. How many were announced."""
    lots = monitor.OpenLots(monitor.Scope(None, None, ""))
    query = lots.query(
        lots.within(AT_RISK_DAYS),
        _not_taken(),
        Lot.id.not_in(select(LotAtRisk.lot_id)),
    ).limit(limit)
    found = 0
    for_robots: dict[Robot, list[Lot]] = {}
    for lot in db.session.scalars(query):
        found += announce_at_risk(lot, for_robots)
    for robot, its_lots in for_robots.items():
        if len(its_lots) <= ONE_BY_ONE:
            for lot in its_lots:
                _robot_delivery(robot, "robot.urgent_lot", *urgent_lot_text(lot))
        else:  # many at once (the first look after a robot or the site starts): one message
            _robot_delivery(robot, "robot.urgent_lot", *urgent_lots_text(its_lots))
    return found


# --- robots' messages -----------------------------------------------------------------------


def robot_message(kind: RobotKind, title: str, lines: list[str]) -> dict[str, Any]:
    """A markdown message in the robot's own format."""
    if kind is RobotKind.wecom:
        return {"msgtype": "markdown", "markdown": {"content": "\n".join(lines)}}
    # DingTalk's markdown needs a blank line to break a line
    return {"msgtype": "markdown", "markdown": {"title": title, "text": "\n\n".join(lines)}}


def _lot_line(lot: Lot) -> str:
    return _(
        "%(remaining)s · %(price)s · %(days)s days left",
        remaining=format_mass(lot.remaining_g, lot.quantity_unit, "zh"),
        price=format_price(lot.price_fen_per_t, lot.price_unit, "zh"),
        days=lot.days_left,
    )


def urgent_lot_text(lot: Lot) -> tuple[str, list[str]]:
    """(title, lines) of a robot's post about a lot at risk, in Chinese."""
    with force_locale("zh"):
        title = _("Urgent: %(lot)s", lot=lot.title)
        see = _("See the lot")
        place = " ".join(p for p in (lot.county.name, lot.township, lot.village) if p)
        return title, [
            f"#### {title}",
            f"> {_lot_line(lot)}",
            f"> {place} · {lot.cooperative.name}",
            f"[{see}]({site_url(f'/lots/{lot.id}')})",
        ]


def urgent_lots_text(lots: list[Lot]) -> tuple[str, list[str]]:
    """(title, lines) of one robot post about several lots that became at risk together."""
    with force_locale("zh"):
        title = _("Urgent: %(count)s lots are at risk of spoiling", count=len(lots))
        lines = [f"#### {title}"]
        for number, lot in enumerate(lots[:SUMMARY_TOP], 1):
            lines.append(f"{number}. [{lot.title}]({site_url(f'/lots/{lot.id}')}) {_lot_line(lot)}")
        if len(lots) > SUMMARY_TOP:
            every = _("All lots at risk")
            lines.append(f"[{every}]({site_url('/monitor/at-risk')})")
        return title, lines


def summary_text(office: Organisation, day: date) -> tuple[str, list[str]]:
    """(title, lines) of the daily at-risk summary of an office's jurisdiction, in Chinese:
    how many open lots spoil within AT_RISK_DAYS without a buyer, their tonnage, the soonest."""
    scope = monitor.Scope(office.province_code, office.county_code, office.name)
    lots = monitor.OpenLots(scope)
    conditions = [*lots.where, lots.within(AT_RISK_DAYS), _not_taken()]
    count, grams = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Lot.remaining_g), 0)).where(*conditions)
    ).one()
    top = list(
        db.session.scalars(lots.query(lots.within(AT_RISK_DAYS), _not_taken()).limit(SUMMARY_TOP))
    )
    with force_locale("zh"):
        title = _(
            "%(office)s: lots at risk on %(day)s",
            office=office.name,
            day=f"{day.month}月{day.day}日",
        )
        lines = [f"#### {title}"]
        if not count:
            lines.append(
                _("No open lot spoils within %(days)s days without a buyer.", days=AT_RISK_DAYS)
            )
        else:
            lines.append(
                _(
                    "%(count)s lots spoil within %(days)s days without a buyer: %(mass)s in all.",
                    count=count,
                    days=AT_RISK_DAYS,
                    mass=format_mass(int(grams), "t", "zh"),
                )
            )
            for number, lot in enumerate(top, 1):
                lines.append(
                    f"{number}. [{lot.title}]({site_url(f'/lots/{lot.id}')}) {_lot_line(lot)}"
                )
            every = _("All lots at risk")
            lines.append(f"[{every}]({site_url('/monitor/at-risk')})")
        return title, lines


def _robot_delivery(robot: Robot, kind: str, title: str, lines: list[str]) -> OutgoingDelivery:
    body = webhooks.robot_body(robot_message(robot.kind, title, lines)).decode()
    delivery = OutgoingDelivery(
        robot_id=robot.id,
        event_id=_new_id("msg"),
        event_type=kind,
        body=body,
        next_attempt_at=utcnow(),
    )
    db.session.add(delivery)
    db.session.flush()
    after_commit(DELIVER_TASK)
    return delivery


def post_summaries(now: datetime | None = None) -> int:
    """The daily summary of every robot whose hour (China time) it is, once a day."""
    local = (now or utcnow()).astimezone(CHINA)
    robots = db.session.scalars(
        select(Robot).where(
            Robot.status == EndpointStatus.active,
            Robot.post_summary,
            Robot.summary_hour <= local.hour,
            or_(Robot.summary_sent_on.is_(None), Robot.summary_sent_on < local.date()),
        )
    )
    posted = 0
    for robot in robots:
        robot.summary_sent_on = local.date()
        _robot_delivery(robot, "robot.summary", *summary_text(robot.organisation, local.date()))
        posted += 1
    return posted


# --- delivering -----------------------------------------------------------------------------


def _due(now: datetime, stale_before: datetime) -> Any:
    return (
        (OutgoingDelivery.status == DeliveryStatus.pending)
        & (OutgoingDelivery.next_attempt_at <= now)
        & or_(OutgoingDelivery.claimed_at.is_(None), OutgoingDelivery.claimed_at < stale_before)
    )


def deliver_due(now: datetime | None = None) -> int:
    """Send every delivery that is due (worker only: commits around each call). How many
    attempts were made."""
    timeout = timedelta(seconds=current_app.config["QUEUE_CLAIM_TIMEOUT"])
    made = 0
    tried: set[int] = set()
    while True:
        moment = now or utcnow()
        ids = [
            i
            for i in db.session.scalars(
                select(OutgoingDelivery.id)
                .where(_due(moment, moment - timeout))
                .order_by(OutgoingDelivery.next_attempt_at, OutgoingDelivery.id)
                .limit(BATCH)
            )
            if i not in tried
        ]
        db.session.commit()
        if not ids:
            return made
        for delivery_id in ids:
            tried.add(delivery_id)
            made += _attempt(delivery_id, moment, moment - timeout)


def _attempt(delivery_id: int, now: datetime, stale_before: datetime) -> int:
    claimed = db.session.execute(
        update(OutgoingDelivery)
        .where(OutgoingDelivery.id == delivery_id, _due(now, stale_before))
        .values(claimed_at=utcnow())
    ).rowcount
    db.session.commit()
    if not claimed:  # another task has it
        return 0
    delivery = db.session.get(OutgoingDelivery, delivery_id)
    target = delivery.endpoint or delivery.robot
    body = delivery.body.encode()
    db.session.commit()  # nothing is held while the receiver is called
    outcome = _send(target, body)
    _record(delivery, outcome, now)
    db.session.commit()
    return 1


def _send(target: Endpoint | Robot | None, body: bytes) -> webhooks.Outcome:
    if target is None or target.status is not EndpointStatus.active:
        return webhooks.Outcome(False, False, detail="disabled")
    robot = target.kind.value if isinstance(target, Robot) else None
    try:  # again at sending: the host's addresses may have changed since it was registered
        url = webhooks.check_url(target.url, production=_production(), robot=robot)
    except webhooks.UnsafeURL as exc:
        return webhooks.Outcome(False, False, detail=f"refused address ({exc.reason})")
    if isinstance(target, Robot):
        return webhooks.post_robot(robot or "", url, body, secret=target.secret, timeout=_timeout())
    return webhooks.post_webhook(url, body, target.secret, timeout=_timeout())


def _record(delivery: OutgoingDelivery, outcome: webhooks.Outcome, now: datetime) -> None:
    delivery.attempts += 1
    db.session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            at=now,
            delivered=outcome.delivered,
            status_code=outcome.status,
            detail=outcome.detail or None,
            elapsed_ms=outcome.elapsed_ms,
        )
    )
    values: dict[str, Any] = {
        "claimed_at": None,
        "last_status_code": outcome.status,
        "last_error": None if outcome.delivered else (outcome.detail or None),
        "attempts": delivery.attempts,
    }
    facts = {"attempt": delivery.attempts, "status_code": outcome.status}
    if outcome.delivered:
        DELIVERIES.move(
            delivery,
            DeliveryAction.deliver,
            strict=False,
            facts=facts,
            values={**values, "next_attempt_at": None, "delivered_at": now},
        )
        return
    retries_used = _retries_used(delivery)
    if outcome.retryable and retries_used < len(RETRY_DELAYS):
        wait = RETRY_DELAYS[retries_used]
        if outcome.retry_after:
            wait = max(wait, timedelta(seconds=outcome.retry_after))
        db.session.execute(
            update(OutgoingDelivery)
            .where(OutgoingDelivery.id == delivery.id)
            .values(**values, next_attempt_at=now + wait)
        )
        db.session.expire(delivery)
        return
    DELIVERIES.move(
        delivery,
        DeliveryAction.fail,
        strict=False,
        facts=facts,
        values={**values, "next_attempt_at": None},
    )


def _retries_used(delivery: OutgoingDelivery) -> int:
    """Failed attempts since the delivery was last (re)played: the back-off's step."""
    since = delivery.replayed_from or 0
    return delivery.attempts - since - 1


def replay(actor: User, delivery: OutgoingDelivery) -> None:
    """Send a delivery again now: a new attempt of the same event (same id and body; a fresh
    signature), with the retries of a new delivery if it fails."""
    DELIVERIES.move(
        delivery,
        DeliveryAction.replay,
        actor=actor,
        values={
            "next_attempt_at": utcnow(),
            "claimed_at": None,
            "replayed_from": delivery.attempts,
        },
    )
    after_commit(DELIVER_TASK)


def log_of(target: Endpoint | Robot, limit: int = 50) -> list[OutgoingDelivery]:
    """The last deliveries of an endpoint or a robot, newest first."""
    column = (
        OutgoingDelivery.robot_id if isinstance(target, Robot) else OutgoingDelivery.endpoint_id
    )
    return list(
        db.session.scalars(
            select(OutgoingDelivery)
            .where(column == target.id)
            .order_by(OutgoingDelivery.created_at.desc(), OutgoingDelivery.id.desc())
            .limit(limit)
        )
    )
