"""Webhook endpoints, group robots, their deliveries (the outbox) and each delivery's attempts."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=12, validate_strings=True)


# --- what can be sent ---------------------------------------------------------------------------


class EventType(enum.StrEnum):
    lot_posted = "lot.posted"  #: a lot came on offer
    lot_at_risk = "lot.at_risk"  #: an open lot without a buyer is close to spoiling (once per lot)
    order_placed = "order.placed"  #: a buyer ordered (the quantity is reserved)
    order_accepted = "order.accepted"  #: the cooperative accepted; payment is requested
    order_rejected = "order.rejected"  #: the cooperative declined
    order_paid = "order.paid"  #: the payment side confirmed the money
    order_dispatched = "order.dispatched"  #: loaded and shipped
    order_delivered = "order.delivered"  #: delivery confirmed (by the buyer, or by the timer)
    order_disputed = "order.disputed"  #: the buyer disputed what arrived
    order_resolved = "order.resolved"  #: the dispute was settled
    order_completed = "order.completed"  #: past the dispute window: done
    order_cancelled = "order.cancelled"  #: called off before dispatch
    order_expired = "order.expired"  #: not accepted or paid in time, or the lot spoiled

    @property
    def label(self) -> Any:
        return _EVENT_LABELS[self]

    @property
    def about_lots(self) -> bool:
        return self.value.startswith("lot.")


_EVENT_LABELS = {
    EventType.lot_posted: _l("A lot is posted"),
    EventType.lot_at_risk: _l("A lot is at risk of spoiling"),
    EventType.order_placed: _l("An order is placed"),
    EventType.order_accepted: _l("An order is accepted"),
    EventType.order_rejected: _l("An order is rejected"),
    EventType.order_paid: _l("An order is paid"),
    EventType.order_dispatched: _l("An order is dispatched"),
    EventType.order_delivered: _l("An order is delivered"),
    EventType.order_disputed: _l("An order is disputed"),
    EventType.order_resolved: _l("A dispute is settled"),
    EventType.order_completed: _l("An order is completed"),
    EventType.order_cancelled: _l("An order is cancelled"),
    EventType.order_expired: _l("An order expired"),
}

LOT_EVENTS = tuple(e for e in EventType if e.about_lots)
ORDER_EVENTS = tuple(e for e in EventType if not e.about_lots)


# --- webhook endpoints --------------------------------------------------------------------------


class EndpointStatus(enum.StrEnum):
    active = "active"  #: events are delivered to it
    disabled = "disabled"  #: nothing new is sent; its log stays

    @property
    def label(self) -> Any:
        if self is EndpointStatus.active:
            return _lp("webhook or robot", "active")
        return _lp("webhook or robot", "disabled")


class EndpointAction(enum.StrEnum):
    disable = "disable"  #: stop sending
    enable = "enable"  #: send again (events from now on)


#: the one table of moves of endpoints and of robots (they are switched on and off alike)
SWITCH_MOVES = {
    (EndpointStatus.active, EndpointAction.disable): EndpointStatus.disabled,
    (EndpointStatus.disabled, EndpointAction.enable): EndpointStatus.active,
}
SWITCH_VERBS = {EndpointAction.disable: "disabled", EndpointAction.enable: "enabled"}
ENDPOINTS: Lifecycle[EndpointStatus, EndpointAction] = Lifecycle(
    "webhook_endpoints", EndpointStatus, EndpointAction, SWITCH_MOVES, verbs=SWITCH_VERBS
)
ROBOTS: Lifecycle[EndpointStatus, EndpointAction] = Lifecycle(
    "group_robots", EndpointStatus, EndpointAction, SWITCH_MOVES, verbs=SWITCH_VERBS
)


class Endpoint(db.Model):
    """A partner's URL that an organisation's events are posted to, signed with its secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(String(120))
    #: the event types chosen (values of EventType)
    events: Mapped[list[str]] = mapped_column(JSON)
    #: the signing secret; shown to its owners once, when made or rotated
    secret: Mapped[str] = mapped_column(String(80))
    status: Mapped[EndpointStatus] = mapped_column(
        _enum(EndpointStatus, "endpoint_status"), default=EndpointStatus.active
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    secret_rotated_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()

    def wants(self, event_type: str) -> bool:
        return self.status is EndpointStatus.active and event_type in (self.events or [])


# --- group robots -------------------------------------------------------------------------------


class RobotKind(enum.StrEnum):
    wecom = "wecom"  #: 企业微信群机器人
    dingtalk = "dingtalk"  #: 钉钉群机器人

    @property
    def label(self) -> Any:
        return (
            _l("WeChat Work group robot") if self is RobotKind.wecom else _l("DingTalk group robot")
        )


class Robot(db.Model):
    """An office's chat-group robot: what it posts (new urgent lots, a daily summary) and where."""

    __tablename__ = "group_robots"
    __table_args__ = (
        CheckConstraint("summary_hour >= 0 AND summary_hour <= 23", name="summary_hour_of_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[RobotKind] = mapped_column(_enum(RobotKind, "robot_kind"))
    #: the robot's webhook (its key or access token is in it: kept like a secret)
    url: Mapped[str] = mapped_column(String(500))
    #: DingTalk's 加签 secret (SEC…), if the robot has signing switched on
    secret: Mapped[str | None] = mapped_column(String(120))
    post_urgent: Mapped[bool] = mapped_column(default=True)
    post_summary: Mapped[bool] = mapped_column(default=True)
    #: the hour of the day (China time) the summary is posted
    summary_hour: Mapped[int] = mapped_column(default=8)
    #: the last day (China time) a summary was posted: one a day
    summary_sent_on: Mapped[date | None]
    status: Mapped[EndpointStatus] = mapped_column(
        _enum(EndpointStatus, "robot_status"), default=EndpointStatus.active
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship()

    @property
    def masked_url(self) -> str:
        """The URL without its key: pages show which robot it is, never the whole key."""
        head, _sep, tail = self.url.partition("?")
        return f"{head}?…{tail[-4:]}" if tail else head


# --- deliveries ---------------------------------------------------------------------------------


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  #: waiting for its (next) attempt
    delivered = "delivered"  #: the receiver took it (2xx; a robot's errcode 0)
    failed = "failed"  #: refused for good, or still failing after the last retry

    @property
    def label(self) -> Any:
        return _DELIVERY_LABELS[self]


_DELIVERY_LABELS = {
    DeliveryStatus.pending: _lp("webhook delivery", "waiting"),
    DeliveryStatus.delivered: _lp("webhook delivery", "delivered"),
    DeliveryStatus.failed: _lp("webhook delivery", "failed"),
}


class DeliveryAction(enum.StrEnum):
    deliver = "deliver"  #: an attempt succeeded
    fail = "fail"  #: refused for good, or out of retries
    replay = "replay"  #: send it again now (same event, a new attempt)


D, DA = DeliveryStatus, DeliveryAction
DELIVERIES: Lifecycle[DeliveryStatus, DeliveryAction] = Lifecycle(
    "outgoing_deliveries",
    DeliveryStatus,
    DeliveryAction,
    {
        (D.pending, DA.deliver): D.delivered,
        (D.pending, DA.fail): D.failed,
        (D.pending, DA.replay): D.pending,
        (D.delivered, DA.replay): D.pending,
        (D.failed, DA.replay): D.pending,
    },
    verbs={DA.deliver: "delivered", DA.fail: "failed", DA.replay: "replayed"},
)


class OutgoingDelivery(db.Model):
    """One event (or robot message) for one endpoint (or robot): the outbox row and its log."""

    __tablename__ = "outgoing_deliveries"
    __table_args__ = (
        CheckConstraint(
            "(endpoint_id IS NULL) <> (robot_id IS NULL)", name="one_endpoint_or_robot"
        ),
        Index("ix_outgoing_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    robot_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_robots.id", ondelete="CASCADE"), index=True
    )
    #: the event's id (evt_…), the same in every attempt and replay; robots: msg_…
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    #: an EventType value, or robot.urgent_lot / robot.summary / robot.test
    event_type: Mapped[str] = mapped_column(String(40))
    #: exactly the bytes posted (JSON, UTF-8)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    #: the attempts made before the last replay (the back-off starts again after a replay)
    replayed_from: Mapped[int | None]
    #: when the next attempt is due (None once delivered or failed)
    next_attempt_at: Mapped[datetime | None]
    #: a task is sending it since then (a stale claim is taken over: its worker died)
    claimed_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[datetime | None]

    endpoint: Mapped[Endpoint | None] = relationship()
    robot: Mapped[Robot | None] = relationship()
    tries: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery",
        order_by="DeliveryAttempt.number",
        cascade="all, delete-orphan",
    )


class DeliveryAttempt(db.Model):
    """One try of a delivery: when, what the receiver answered, how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("outgoing_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(Text)
    elapsed_ms: Mapped[int] = mapped_column(default=0)

    delivery: Mapped[OutgoingDelivery] = relationship(back_populates="tries")


class LotAtRisk(db.Model):
    """A lot found at risk: the row is the guard that `lot.at_risk` goes out once per lot."""

    __tablename__ = "lots_at_risk_announced"

    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    announced_at: Mapped[datetime] = mapped_column(default=utcnow)
