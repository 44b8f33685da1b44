"""The delivery log: who gets which notice by which channel, quiet hours, daily limits, retries,
and each notice sent once however the workers race or die."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from produce_match.extensions import db
from produce_match.messaging.errors import PermanentFailure, TemporaryFailure
from produce_match.notifications import operations as notifications
from produce_match.notifications import preferences
from produce_match.notifications import tasks as notification_tasks
from produce_match.notifications.models import Delivery, Notification, Reason
from produce_match.queue import run_in_app

PHONE = "13912345678"
ORDER = {"order": 7, "buyer": "南昌粮油公司", "lot": "黑豆", "quantity_g": 10**6, "unit": "t"}


def deliveries(user=None, channel: str | None = "sms") -> list[Delivery]:
    db.session.expire_all()
    query = select(Delivery).order_by(Delivery.id)
    if user is not None:
        query = query.where(Delivery.user_id == user.id)
    if channel is not None:
        query = query.where(Delivery.channel == channel)
    return list(db.session.scalars(query))


def tell(user, kind: str = "order.placed", **params) -> Notification:
    (row,) = notifications.notify(
        [user],
        kind,
        {**ORDER, **params},
        url="/orders/7",
    )
    db.session.commit()  # the immediate queue dispatches and sends now, on `clock`
    return row


@pytest.fixture
def coop(users):
    users["coop"].phone = PHONE
    db.session.commit()
    return users["coop"]


def test_only_the_inbox_writes_no_delivery(app, users):
    assert app.config["NOTIFICATION_CHANNELS"] == ()
    note = tell(users["coop"])
    db.session.expire_all()
    assert db.session.get(Notification, note.id).dispatched_at is not None
    assert deliveries(channel=None) == []


def test_the_roles_defaults_and_each_persons_choice(sms, clock, coop, users):
    tell(coop)  # a cooperative hears of its orders by SMS
    (sent,) = deliveries(coop)
    assert (sent.status.value, sent.address) == ("sent", PHONE)
    assert sent.provider_id == f"biz-{sent.notification_id}"
    assert sms.sent[0].id == sent.notification_id and "南昌粮油公司" in sms.texts[0]
    # the operators' log channel takes every notice, whatever the person chose
    assert [d.status.value for d in deliveries(coop, "log")] == ["sent"]

    tell(coop, "problem.followed_up", problem=3, lot="黑豆")  # the ledger: inbox only by default
    assert deliveries(coop)[-1].reason is Reason.opted_out
    assert deliveries(coop)[-1].status.value == "skipped"

    preferences.save(coop, coop, {"orders": [], "problems": ["sms"]}, None)
    db.session.commit()
    tell(coop)
    tell(coop, "problem.followed_up", problem=3, lot="黑豆")
    assert [(d.status.value, d.reason) for d in deliveries(coop)[-2:]] == [
        ("skipped", Reason.opted_out),
        ("sent", None),
    ]
    # no phone number: nothing to send to
    tell(users["coop2"])
    assert [(d.status.value, d.reason) for d in deliveries(users["coop2"])] == [
        ("skipped", Reason.no_address)
    ]
    assert len(sms.sent) == 2


def test_quiet_hours_hold_sms_until_their_end_across_midnight(app, sms, clock, coop):
    preferences.save(coop, coop, {}, (22 * 60, 7 * 60))
    db.session.commit()
    clock.china("2026-12-07 23:30")
    note = tell(coop)
    (held,) = deliveries(coop)
    assert (held.status.value, held.reason) == ("pending", Reason.quiet_hours)
    assert held.next_attempt_at == clock.china("2026-12-08 07:00")
    assert [d.status.value for d in deliveries(coop, "log")] == ["sent"]  # not a person's channel
    assert sms.sent == []

    clock.china("2026-12-08 06:59")
    assert notification_tasks.sweep() == 0 and sms.sent == []
    clock.china("2026-12-08 07:00")
    assert notification_tasks.sweep() == 1
    (sent,) = deliveries(coop)
    assert sent.status.value == "sent" and sent.sent_at == clock.now
    assert [o.id for o in sms.sent] == [note.id]

    # after midnight, before the end: held until the same morning
    clock.china("2026-12-09 06:30")
    tell(coop)
    assert deliveries(coop)[-1].next_attempt_at == clock.china("2026-12-09 07:00")
    # during the day: at once
    clock.china("2026-12-09 12:00")
    tell(coop)
    assert deliveries(coop)[-1].status.value == "sent"


def test_quiet_hours_by_default_and_within_one_day(app, sms, clock, coop):
    app.config["NOTIFICATION_QUIET_HOURS"] = (22 * 60, 7 * 60)  # the site's default
    clock.china("2026-12-07 22:00")
    tell(coop)
    assert deliveries(coop)[-1].reason is Reason.quiet_hours
    # one's own quiet hours replace the default: a nap, no night
    preferences.save(coop, coop, {}, (12 * 60, 14 * 60))
    db.session.commit()
    clock.china("2026-12-08 07:00")  # held notices are checked again when they come due
    notification_tasks.sweep()
    assert deliveries(coop)[-1].status.value == "sent"
    clock.china("2026-12-08 13:59")
    tell(coop)
    assert deliveries(coop)[-1].next_attempt_at == clock.china("2026-12-08 14:00")


def test_choices_are_checked_again_when_a_held_notice_comes_due(sms, clock, coop):
    preferences.save(coop, coop, {}, (22 * 60, 7 * 60))
    db.session.commit()
    clock.china("2026-12-07 23:00")
    tell(coop)
    preferences.save(coop, coop, {"orders": []}, (22 * 60, 7 * 60))  # changed their mind
    db.session.commit()
    clock.china("2026-12-08 07:05")
    notification_tasks.sweep()
    assert [(d.status.value, d.reason) for d in deliveries(coop)] == [("skipped", Reason.opted_out)]
    assert sms.sent == []


def test_a_daily_limit_per_channel_and_china_day(app, sms, clock, coop):
    app.config["NOTIFICATION_DAILY_LIMITS"] = {"sms": 2, "email": 50}
    clock.china("2026-12-07 21:00")
    for _ in range(3):
        tell(coop)
    assert [(d.status.value, d.reason) for d in deliveries(coop)] == [
        ("sent", None),
        ("sent", None),
        ("skipped", Reason.cap),
    ]
    assert len(sms.sent) == 2
    # the inbox has all three; the log channel (no person's limit) too
    assert notifications.unread_count(coop) == 3
    assert len(deliveries(coop, "log")) == 3
    clock.china("2026-12-07 23:59")
    tell(coop)
    assert deliveries(coop)[-1].reason is Reason.cap
    clock.china("2026-12-08 00:01")  # a new day in China (16:01 UTC, the same UTC day)
    tell(coop)
    assert deliveries(coop)[-1].status.value == "sent"
    # another person's limit is their own
    users_buyer = db.session.scalars(select(type(coop)).where(type(coop).login == "buyer")).one()
    tell(users_buyer)
    assert deliveries(users_buyer)[-1].status.value == "sent"


def test_temporary_failures_are_retried_with_a_growing_pause_then_given_up(sms, clock, coop):
    start = clock.now
    sms.failures = [TemporaryFailure("gateway busy")] * notification_tasks.MAX_ATTEMPTS
    tell(coop)
    pauses = []
    for attempt in range(1, notification_tasks.MAX_ATTEMPTS):
        (d,) = deliveries(coop)
        assert (d.status.value, d.reason, d.attempts) == ("pending", Reason.retry, attempt)
        assert d.last_error == "TemporaryFailure: gateway busy"
        pauses.append(d.next_attempt_at - clock.now)
        clock.now = d.next_attempt_at - timedelta(seconds=1)
        assert notification_tasks.sweep() == 0 and deliveries(coop)[0].attempts == attempt
        clock.now = d.next_attempt_at
        notification_tasks.sweep()
    assert pauses == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]
    (d,) = deliveries(coop)
    assert (d.status.value, d.attempts) == ("failed", notification_tasks.MAX_ATTEMPTS)
    assert clock.now - start == timedelta(minutes=123) and sms.sent == []
    clock.now += timedelta(days=1)
    assert notification_tasks.sweep() == 0  # failed stays failed


def test_a_retry_that_succeeds_and_an_unforeseen_error_is_retried(sms, clock, coop):
    sms.failures = [ConnectionResetError("reset by peer")]
    note = tell(coop)
    (d,) = deliveries(coop)
    assert d.status.value == "pending" and "ConnectionResetError" in d.last_error
    clock.now += timedelta(minutes=1)
    assert notification_tasks.sweep() == 1
    (d,) = deliveries(coop)
    assert (d.status.value, d.attempts, d.last_error) == ("sent", 2, None)
    assert [o.id for o in sms.sent] == [note.id]


def test_a_permanent_failure_is_failed_at_once(sms, clock, coop):
    sms.failures = [PermanentFailure("isv.MOBILE_NUMBER_ILLEGAL")]
    tell(coop)
    (d,) = deliveries(coop)
    assert (d.status.value, d.attempts) == ("failed", 1)
    assert "MOBILE_NUMBER_ILLEGAL" in d.last_error
    clock.now += timedelta(hours=3)
    assert notification_tasks.sweep() == 0 and sms.sent == []


def test_a_worker_that_died_mid_send_is_replaced_after_the_claim_timeout(app, sms, clock, coop):
    app.config["QUEUE_CLAIM_TIMEOUT"] = 300
    sms.failures = [TemporaryFailure("down")]
    note = tell(coop)
    clock.now += timedelta(minutes=1)
    # a worker claimed it and died before recording anything
    db.session.execute(
        update(Delivery)
        .where(Delivery.channel == "sms")
        .values(claimed_at=clock.now, attempts=Delivery.attempts + 1)
    )
    db.session.commit()
    clock.now += timedelta(seconds=299)
    assert notification_tasks.sweep() == 0 and sms.sent == []  # it may still be sending
    clock.now += timedelta(seconds=2)
    assert notification_tasks.sweep() == 1
    # sent again with the notification's id: the provider's idempotency key
    assert [o.id for o in sms.sent] == [note.id]
    assert notification_tasks.sweep() == 0 and len(sms.sent) == 1


def test_two_workers_racing_send_each_notice_once(app, sms, clock, coop, users):
    preferences.save(coop, coop, {}, (22 * 60, 7 * 60))
    db.session.commit()
    clock.china("2026-12-07 23:00")
    notes = [tell(coop).id for _ in range(6)]  # held for the morning
    assert sms.sent == []
    clock.china("2026-12-08 07:00")
    db.session.commit()  # the test holds no transaction (SQLite: no write lock) meanwhile
    start = threading.Barrier(2)

    def pause() -> None:
        threading.Event().wait(0.05)  # a slow gateway: the other worker runs meanwhile

    sms.during = pause
    results: list[int] = []

    def worker() -> None:
        start.wait()
        results.append(run_in_app(app, notification_tasks.sweep))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o.id for o in sms.sent) == notes
    assert sum(results) == 6
    assert {d.status.value for d in deliveries(coop)} == {"sent"}


def test_two_workers_dispatching_at_once_write_each_delivery_once(app, sms, clock, coop):
    notes = [tell(coop).id for _ in range(30)]
    # as if no task had run yet: every notification still to dispatch
    db.session.execute(update(Notification).values(dispatched_at=None))
    db.session.execute(Delivery.__table__.delete())
    db.session.commit()
    configured = notification_tasks.channels.configured()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            run_in_app(app, notification_tasks.dispatch, configured)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    rows = deliveries(coop, channel=None)
    assert sorted((d.notification_id, d.channel) for d in rows) == sorted(
        (n, c) for n in notes for c in ("log", "sms")
    )
