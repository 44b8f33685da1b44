"""Where notifications go besides the in-app inbox.

The inbox is the notification row itself and always exists. Other channels (e-mail, SMS, a
group-chat webhook) implement `Channel` and are listed by name in the NOTIFICATION_CHANNELS
setting; each is handed every notification by a task of the queue after the transaction that
created it commits (see tasks.py), so a rolled-back change never sends anything and a slow
channel never holds a database lock. A channel gets the notification's id with it: a channel
that can should pass it on as an idempotency key, since a worker killed between sending and
recording the sending sends again.

Two built-in external channels: `log` writes each notification, rendered in the recipient's
language, to the application log (useful in development and as a template); `spool` writes each
one as a JSON file named by its id into NOTIFICATION_SPOOL_DIR (what an e-mail or SMS gateway
would be handed). The spool is idempotent as a real gateway's API should be: a notification
sent again replaces its own file, so it is still delivered once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from flask_babel import force_locale

from produce_match.notifications.messages import render
from produce_match.notifications.sms_channel import SmsChannel

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


class SpoolChannel:
    name = "spool"

    def send(self, notification: Outgoing, text: str) -> None:
        folder = Path(current_app.config["NOTIFICATION_SPOOL_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        body = {
            "id": notification.id,
            "user_id": notification.user_id,
            "kind": notification.kind,
            "text": text,
            "url": notification.url,
        }
        # whole or not at all: written beside, then renamed over any earlier copy
        temporary = folder / f".{notification.id}.{os.getpid()}.{threading.get_ident()}.tmp"
        temporary.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, folder / f"{notification.id}.json")


#: every channel that can be configured, by name
AVAILABLE: dict[str, type] = {"log": LogChannel, "spool": SpoolChannel, "sms": SmsChannel}


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
