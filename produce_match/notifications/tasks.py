"""Handing committed notifications to the other channels, from the task queue.

Two steps, each safe to run twice and by two workers at once:

1. **Dispatch.** A notification's `dispatched_at` is None until a task wrote its deliveries:
   one row of the delivery log per configured channel, either pending (due now, or at the end
   of the person's quiet hours) or skipped (the person did not choose that channel for this
   group of notices, has no address for it, or the account is disabled). The task takes a
   batch with one guarded UPDATE ... RETURNING and writes their deliveries in the same
   transaction, so each notification is dispatched once. With no channel configured, the
   batch is only stamped: no delivery row, the inbox-only path stays one UPDATE per batch.
2. **Send.** A pending delivery that is due is claimed with a guarded UPDATE (so two tasks
   never send the same one) and committed; the person's choices, quiet hours and daily limit
   are checked again at that moment (they may have changed overnight); then the channel is
   called, with no transaction open, and the outcome recorded: sent (with the provider's
   message id), a retry at a growing pause (`RETRY_BASE` doubled per attempt, at most
   `RETRY_CAP`, `MAX_ATTEMPTS` in all) or failed. A delivery claimed by a task that never
   finished (its worker was killed) is due again once QUEUE_CLAIM_TIMEOUT has passed; it is
   sent again with the same idempotency key (the notification's id).

The periodic sweep (every minute, and when a worker starts) runs both: what a lost task left,
the retries and the notices held for the end of quiet hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import func, insert, or_, select, update

from produce_match.accounts.models import User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.messaging.errors import DeliveryError
from produce_match.notifications import channels
from produce_match.notifications.messages import render
from produce_match.notifications.models import (
    DELIVERIES,
    Delivery,
    DeliveryAction,
    DeliveryState,
    Notification,
    Reason,
)
from produce_match.notifications.preferences import (
    Choices,
    choices_of,
    choices_of_many,
    daily_limit,
    day_started,
    quiet_until,
)
from produce_match.queue import periodic, task

BATCH = 200
#: the pause after the first failed attempt, doubled after each further one, at most RETRY_CAP
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
#: attempts before a delivery that keeps failing is given up (1+2+4+...+60 min: about 2 hours)
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    """The pause after `attempts` failed attempts: 1, 2, 4, 8 ... minutes, at most an hour."""
    return min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempts - 1))


@task("notifications.deliver")
def deliver_pending(now: datetime | None = None) -> int:
    """Dispatch the committed notifications not yet dispatched, then send every delivery that
    is due; how many deliveries were sent. `now` (tests) stands for the clock."""
    configured = channels.configured()
    dispatch(configured, now)
    if not configured:
        return 0
    return send_due(configured, now)


@periodic("notifications.sweep", on_start=True, minute="*")
def sweep() -> int:
    """Every minute, and when a worker starts: what a lost task left, retries, held notices."""
    return deliver_pending()


def _clock(now: datetime | None) -> Callable[[], datetime]:
    return (lambda: now) if now is not None else utcnow


# --- dispatch ------------------------------------------------------------------------------


def dispatch(configured: list[Any], now: datetime | None = None) -> int:
    """Write the deliveries of every notification not yet dispatched; how many notifications."""
    clock = _clock(now)
    done = 0
    while True:
        ids = list(
            db.session.scalars(
                select(Notification.id)
                .where(Notification.dispatched_at.is_(None))
                .order_by(Notification.id)
                .limit(BATCH)
            )
        )
        db.session.commit()
        if not ids:
            return done
        stamp = clock()
        taken = update(Notification).where(
            Notification.id.in_(ids), Notification.dispatched_at.is_(None)
        )
        if not configured:  # only the inbox: nothing to hand over, no delivery rows
            db.session.execute(taken.values(dispatched_at=stamp))
            db.session.commit()
            done += len(ids)
            continue
        mine = list(
            db.session.execute(
                taken.values(dispatched_at=stamp).returning(Notification.id),
                execution_options={"synchronize_session": False},
            ).scalars()
        )
        if mine:
            _write_deliveries(mine, configured, stamp)
        db.session.commit()  # the stamps and their deliveries together, or neither
        done += len(mine)


def _write_deliveries(ids: list[int], configured: list[Any], now: datetime) -> None:
    notes = db.session.execute(
        select(Notification.id, Notification.user_id, Notification.kind).where(
            Notification.id.in_(ids)
        )
    ).all()
    users = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_({n.user_id for n in notes})))
    }
    choices = choices_of_many(users.values())
    rows = []
    for note in notes:
        user = users[note.user_id]
        for channel in configured:
            row: dict[str, Any] = {
                "notification_id": note.id,
                "user_id": user.id,
                "channel": channel.name,
                "status": DeliveryState.pending,
                "reason": None,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
                "attempts": 0,
            }
            if channels.is_personal(channel):
                held, why = _personal_check(channel, user, note.kind, choices[user.id], now)
                if why is not None and held is None:
                    row.update(status=DeliveryState.skipped, reason=why, next_attempt_at=None)
                elif held is not None:
                    row.update(reason=why, next_attempt_at=held)
            rows.append(row)
    db.session.execute(insert(Delivery), rows)


def _personal_check(
    channel: Any, user: User, kind: str, choices: Choices, now: datetime
) -> tuple[datetime | None, Reason | None]:
    """Whether a personal channel may carry this notice to this person now: (None, None) yes;
    (None, reason) never; (until, quiet_hours) not before `until`."""
    if not user.is_active:
        return None, Reason.disabled
    if not choices.wants(kind, channel.name):
        return None, Reason.opted_out
    if channels.address_of(channel, user) is None:
        return None, Reason.no_address
    until = quiet_until(now, choices.quiet)
    if until is not None:
        return until, Reason.quiet_hours
    return None, None


# --- sending -------------------------------------------------------------------------------


def _due(now: datetime, stale: datetime) -> Any:
    return (
        (Delivery.status == DeliveryState.pending)
        & or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
        & or_(Delivery.claimed_at.is_(None), Delivery.claimed_at < stale)
    )


def send_due(configured: list[Any], now: datetime | None = None) -> int:
    """Send every pending delivery that is due through its channel; how many were sent."""
    clock = _clock(now)
    timeout = timedelta(seconds=current_app.config["QUEUE_CLAIM_TIMEOUT"])
    by_name = {channel.name: channel for channel in configured}
    sent = 0
    after = 0  # each delivery once per run: one that comes due again waits for the next
    while True:
        moment = clock()
        ids = list(
            db.session.scalars(
                select(Delivery.id)
                .where(
                    _due(moment, moment - timeout),
                    Delivery.channel.in_(list(by_name)),
                    Delivery.id > after,
                )
                .order_by(Delivery.id)
                .limit(BATCH)
            )
        )
        db.session.commit()
        if not ids:
            return sent
        for delivery_id in ids:
            after = delivery_id
            if send_one(delivery_id, by_name, clock, timeout):
                sent += 1


def _settle(delivery_id: int, action: DeliveryAction, **values: Any) -> None:
    """Move a pending delivery to where `action` leads (guarded: only from its sources)."""
    target = DELIVERIES.transitions[(DeliveryState.pending, action)]
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(DELIVERIES.sources(action)))
        .values(status=target, claimed_at=None, **values)
    )


def send_one(
    delivery_id: int,
    by_name: dict[str, Any],
    clock: Callable[[], datetime],
    timeout: timedelta,
) -> bool:
    """Claim one due delivery, check it may go now, send it, record the outcome; True if sent."""
    moment = clock()
    claimed = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, _due(moment, moment - timeout))
        .values(claimed_at=moment, updated_at=moment)
    ).rowcount
    if not claimed:  # another task has it, or it was settled meanwhile
        db.session.commit()
        return False
    delivery = db.session.get(Delivery, delivery_id)
    note = db.session.get(Notification, delivery.notification_id)
    user = db.session.get(User, delivery.user_id)
    channel = by_name[delivery.channel]
    address = channels.address_of(channel, user)
    if channels.is_personal(channel):
        # one person's deliveries are checked one at a time (PostgreSQL: the user's row is
        # locked until the claim commits; SQLite writes one at a time anyway), so that two
        # workers never both take the last place under the daily limit
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
        held, why = _personal_check(channel, user, note.kind, choices_of(user), moment)
        if held is not None:  # quiet hours (begun since, or chosen since): wait for their end
            db.session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(claimed_at=None, next_attempt_at=held, reason=why)
            )
            db.session.commit()
            return False
        if why is None and _over_limit(delivery, moment, timeout):
            why = Reason.cap
        if why is not None:
            _settle(delivery_id, DeliveryAction.skip, reason=why, updated_at=moment)
            db.session.commit()
            return False
    attempts = delivery.attempts + 1
    db.session.execute(update(Delivery).where(Delivery.id == delivery_id).values(attempts=attempts))
    locale = user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    outgoing = channels.Outgoing(
        note.user_id, user.locale, note.kind, dict(note.params or {}), note.url, note.id, address
    )
    db.session.commit()  # nothing is held while the channel is called
    with force_locale(locale):
        text = render(outgoing.kind, outgoing.params)
    try:
        provider_id = channel.send(outgoing, text)
    except Exception as exc:  # every failure is recorded; a channel's outage stops no other
        _failed(delivery_id, attempts, exc, clock())
        db.session.commit()
        return False
    done = clock()
    _settle(
        delivery_id,
        DeliveryAction.send,
        sent_at=done,
        updated_at=done,
        provider_id=str(provider_id)[:200] if provider_id else None,
        address=address if channels.is_personal(channel) else None,
        reason=None,
        last_error=None,
    )
    db.session.commit()
    return True


def _failed(delivery_id: int, attempts: int, exc: Exception, now: datetime) -> None:
    retryable = exc.retryable if isinstance(exc, DeliveryError) else True
    error = f"{exc.__class__.__name__}: {exc}"[:300]
    if not isinstance(exc, DeliveryError):
        current_app.logger.warning("delivery %s failed: %s", delivery_id, error)
    if not retryable or attempts >= MAX_ATTEMPTS:
        _settle(delivery_id, DeliveryAction.fail, last_error=error, updated_at=now)
        return
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryState.pending)
        .values(
            claimed_at=None,
            reason=Reason.retry,
            last_error=error,
            next_attempt_at=now + backoff(attempts),
            updated_at=now,
        )
    )


def _over_limit(delivery: Delivery, now: datetime, timeout: timedelta) -> bool:
    """Has the person had their day's limit of this channel (counting those being sent)?"""
    limit = daily_limit(delivery.channel)
    if limit is None:
        return False
    taken = db.session.scalar(
        select(func.count(Delivery.id)).where(
            Delivery.user_id == delivery.user_id,
            Delivery.channel == delivery.channel,
            Delivery.id != delivery.id,
            or_(
                (Delivery.status == DeliveryState.sent) & (Delivery.sent_at >= day_started(now)),
                (Delivery.status == DeliveryState.pending)
                & (Delivery.claimed_at >= now - timeout)
                & (Delivery.attempts > 0),
            ),
        )
    )
    return taken >= limit
