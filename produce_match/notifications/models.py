from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import JSON, Enum, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle


class Notification(db.Model):
    """One message to one person; rendered in their language when shown (see messages.py)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
        Index("ix_notifications_dispatched_at", "dispatched_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: what happened, a stable name: "order.placed", "order.dispatched", "demand.match" ...
    kind: Mapped[str] = mapped_column(String(40))
    #: the facts the message is written from (ids, grams, fen, names); never translated text
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: where the notification leads (a path inside the site)
    url: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    #: the outbox of the other channels (see tasks.py): when a task wrote the notification's
    #: deliveries, one per configured channel (None: still to do; with no channel configured it
    #: is set at once and no delivery is written)
    dispatched_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class NotificationSettings(db.Model):
    """One person's choices: the channels per group of notices, and their quiet hours.

    No row: the defaults of the person's role (preferences.py)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    #: group -> the external channels chosen for it, e.g. {"orders": ["sms"], "alerts": []};
    #: a group missing here has its default
    channels: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    #: quiet hours in China time, minutes after midnight (may cross midnight); both None: none
    quiet_start: Mapped[int | None] = mapped_column(SmallInteger)
    quiet_end: Mapped[int | None] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeliveryState(enum.StrEnum):
    pending = "pending"  #: to send: now, or at `next_attempt_at` (a retry, after quiet hours)
    sent = "sent"  #: the channel's provider took it
    failed = "failed"  #: refused for good, or still failing after every attempt
    skipped = "skipped"  #: not sent, for its `reason` (the inbox has it all the same)

    @property
    def label(self) -> Any:
        return _STATE_LABELS[self]


_STATE_LABELS = {
    DeliveryState.pending: _lp("delivery status", "waiting"),
    DeliveryState.sent: _lp("delivery status", "sent"),
    DeliveryState.failed: _lp("delivery status", "failed"),
    DeliveryState.skipped: _lp("delivery status", "not sent"),
}


class DeliveryAction(enum.StrEnum):
    send = "send"  #: the provider took it
    fail = "fail"  #: refused for good, or the last attempt failed
    skip = "skip"  #: not to be sent after all (opted out meanwhile, no address, over the cap)


#: THE transition table of deliveries: (from, action) -> to. A retry or a deferral stays
#: pending (the row's next_attempt_at moves), as a payment instruction stays queued
DELIVERY_TRANSITIONS: dict[tuple[DeliveryState, DeliveryAction], DeliveryState] = {
    (DeliveryState.pending, DeliveryAction.send): DeliveryState.sent,
    (DeliveryState.pending, DeliveryAction.fail): DeliveryState.failed,
    (DeliveryState.pending, DeliveryAction.skip): DeliveryState.skipped,
}
DELIVERIES: Lifecycle[DeliveryState, DeliveryAction] = Lifecycle(
    "notification_deliveries", DeliveryState, DeliveryAction, DELIVERY_TRANSITIONS
)


class Reason(enum.StrEnum):
    """Why a delivery was not sent (skipped), or is waiting (pending)."""

    opted_out = "opted_out"  #: the person did not choose this channel for this group
    no_address = "no_address"  #: no phone number / e-mail address to send to
    quiet_hours = "quiet_hours"  #: waiting for the end of the person's quiet hours
    cap = "cap"  #: the person's daily limit for the channel was reached
    retry = "retry"  #: the last attempt failed; tried again at next_attempt_at
    disabled = "disabled"  #: the account was disabled meanwhile

    @property
    def label(self) -> Any:
        return _REASON_LABELS[self]


_REASON_LABELS = {
    Reason.opted_out: _l("not chosen for this kind of notice"),
    Reason.no_address: _l("no address to send to"),
    Reason.quiet_hours: _l("held for the end of the quiet hours"),
    Reason.cap: _l("daily limit reached"),
    Reason.retry: _l("will be tried again"),
    Reason.disabled: _l("account disabled"),
}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=20, validate_strings=True)


class Delivery(db.Model):
    """One notification through one external channel: the delivery log, and its outbox.

    Written by the worker when it dispatches a notification (never in the request); sent by
    the worker, retried with a growing pause; the notification's id is the idempotency key.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_once"),
        # the worker: what is due
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
        # a person's log, and the daily limit: what was sent today through a channel
        Index("ix_notification_deliveries_user", "user_id", "channel", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[DeliveryState] = mapped_column(
        _enum(DeliveryState, "delivery_state"), default=DeliveryState.pending
    )
    reason: Mapped[Reason | None] = mapped_column(_enum(Reason, "delivery_reason"))
    #: where it went (the phone number or e-mail address at the time of sending)
    address: Mapped[str | None] = mapped_column(String(254))
    attempts: Mapped[int] = mapped_column(default=0)
    #: when a pending delivery is due (None: at once)
    next_attempt_at: Mapped[datetime | None]
    #: when a worker took it to send (a claim older than QUEUE_CLAIM_TIMEOUT was lost)
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    #: the provider's id of the message (an SMS's BizId, an e-mail's Message-ID)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]

    notification: Mapped[Notification] = relationship()
    user: Mapped[User] = relationship()
