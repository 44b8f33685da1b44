"""A stand-in SMS channel and a clock the notifications' worker reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from produce_match.notifications import channels
from produce_match.notifications import tasks as notification_tasks


class FakeSms:
    """An SMS channel that keeps what it was handed, or fails as a test tells it."""

    name = "sms"
    sent: list[channels.Outgoing] = []
    texts: list[str] = []
    #: raised one by one by the next sends (then it succeeds)
    failures: list[Exception] = []
    #: called during each send (a test's hook: a pause, another worker's run)
    during: Any = None

    def send(self, notification: channels.Outgoing, text: str) -> str:
        if FakeSms.during is not None:
            FakeSms.during()
        if FakeSms.failures:
            raise FakeSms.failures.pop(0)
        FakeSms.sent.append(notification)
        FakeSms.texts.append(text)
        return f"biz-{notification.id}"


class Clock:
    """The worker's clock: set it, move it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 in China

    def __call__(self) -> datetime:
        return self.now

    def china(self, text: str) -> datetime:
        """Set the clock to a China wall-clock time, '2026-12-07 23:30'."""
        from zoneinfo import ZoneInfo

        local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        self.now = local.astimezone(UTC)
        return self.now


@pytest.fixture
def sms(app, monkeypatch) -> type[FakeSms]:
    """The `sms` channel configured (with `log`, which takes every notice at once)."""
    FakeSms.sent, FakeSms.texts, FakeSms.failures, FakeSms.during = [], [], [], None
    monkeypatch.setitem(channels.AVAILABLE, "sms", FakeSms)
    app.config["NOTIFICATION_CHANNELS"] = ("sms", "log")
    return FakeSms


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(notification_tasks, "utcnow", clock)
    return clock
