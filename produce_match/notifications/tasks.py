"""Handing committed notifications to the other channels, from the task queue.

The notification rows are the outbox: `channels_sent_at` is None until every configured channel
was handed the notification. A task claims one row at a time with a guarded UPDATE (so two
tasks never send the same row), commits, sends, and records the sending. A row claimed by a
task that never finished (its worker was killed) is claimed again once QUEUE_CLAIM_TIMEOUT has
passed; the periodic sweep finds every row a lost task left behind.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from produce_match.accounts.models import User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.notifications import channels
from produce_match.notifications.models import Notification
from produce_match.queue import periodic, task

BATCH = 200


def _claimable(stale_before: object) -> object:
    return Notification.channels_sent_at.is_(None) & or_(
        Notification.channels_claimed_at.is_(None),
        Notification.channels_claimed_at < stale_before,
    )


@task("notifications.deliver")
def deliver_pending() -> int:
    """Send every committed notification not yet sent (nor being sent); how many were sent."""
    timeout = timedelta(seconds=current_app.config["QUEUE_CLAIM_TIMEOUT"])
    configured = channels.configured()
    done = 0
    while True:
        stale = utcnow() - timeout
        ids = list(
            db.session.scalars(
                select(Notification.id)
                .where(_claimable(stale))
                .order_by(Notification.id)
                .limit(BATCH)
            )
        )
        db.session.commit()
        if not ids:
            return done
        if not configured:  # only the inbox: nothing to hand over
            db.session.execute(
                update(Notification)
                .where(Notification.id.in_(ids), _claimable(stale))
                .values(channels_sent_at=utcnow())
            )
            db.session.commit()
            done += len(ids)
            continue
        for notification_id in ids:
            if _send_one(notification_id, stale):
                done += 1


def _send_one(notification_id: int, stale: object) -> bool:
    claimed = db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, _claimable(stale))
        .values(channels_claimed_at=utcnow())
    ).rowcount
    db.session.commit()
    if not claimed:  # another task has it, or sent it
        return False
    row = db.session.get(Notification, notification_id)
    user = db.session.get(User, row.user_id)
    outgoing = channels.Outgoing(
        row.user_id, user.locale if user else None, row.kind, row.params, row.url, row.id
    )
    db.session.commit()  # nothing is held while the channels are called
    channels.deliver([outgoing])
    db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(channels_sent_at=utcnow())
    )
    db.session.commit()
    return True


@periodic("notifications.sweep", on_start=True, minute="*")
def sweep() -> int:
    """Every minute, and when a worker starts: what a lost task left unsent."""
    return deliver_pending()
