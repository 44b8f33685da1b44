"""Where notifications go besides the in-app inbox.

The inbox is the notification row itself and always exists. Other channels (e-mail, SMS, a
group-chat webhook) implement `Channel` and are listed by name in the NOTIFICATION_CHANNELS
setting; each is handed every notification by a task of the queue after the transaction that
created it commits (see tasks.py), so a rolled-back change never sends anything and a slow
channel never holds a database lock. A channel gets the notification's id with it: a channel
that can should pass it on as an idempotency key, since a worker killed between sending and
recording the sending sends again.

`log` is the one built-in external channel: it writes each notification, rendered in the
recipient's language, to the application log (useful in development and as a template).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app
from flask_babel import force_locale

from produce_match.notifications.messages import render

log = logging.getLogger("produce_match.notifications")


@dataclass(frozen=True)
class Outgoing:
    """A committed notification as a channel gets it."""

    user_id: int
    locale: str | None
    kind: str
    params: dict[str, Any]
    url: str | None
    #: the notification's id (an idempotency key for the channel)
    id: int | None = None


class Channel(Protocol):
    name: str

    def send(self, notification: Outgoing, text: str) -> None:
        """Deliver `text` (already in the recipient's language) to the notification's user."""


class LogChannel:
    name = "log"

    def send(self, notification: Outgoing, text: str) -> None:
        log.info(
            "notification %s #%s to user %s: %s",
            notification.kind,
            notification.id,
            notification.user_id,
            text,
        )


#: every channel that can be configured, by name
AVAILABLE: dict[str, type] = {"log": LogChannel}


def configured() -> list[Channel]:
    names = current_app.config.get("NOTIFICATION_CHANNELS", ())
    return [AVAILABLE[name]() for name in names if name in AVAILABLE]


def deliver(notifications: list[Outgoing]) -> None:
    """Hand committed notifications to every configured channel; a failing channel is logged."""
    channels = configured()
    if not channels:
        return
    for notification in notifications:
        with force_locale(notification.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            text = render(notification.kind, notification.params)
        for channel in channels:
            try:
                channel.send(notification, text)
            except Exception:  # one channel's outage must not stop the others or the request
                log.exception("channel %s failed for user %s", channel.name, notification.user_id)
