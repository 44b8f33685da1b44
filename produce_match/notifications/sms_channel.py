"""The `sms` channel: a notification texted to its user's confirmed mobile number.

Aliyun sends only approved templates: the notice template (SMS_TEMPLATES' `notice`) carries
the notification's words as its one variable, which Aliyun keeps to NOTICE_MAX characters, so
a longer text is cut there with an ellipsis (the whole notice waits in the in-app inbox).
A user whose number is not confirmed (no SMS code has reached it) is skipped: a number typed
in a form may be anyone's.
"""

from __future__ import annotations

import logging
from typing import Protocol

from produce_match.accounts.models import User
from produce_match.extensions import db
from produce_match.messaging.sms import send_sms

log = logging.getLogger("produce_match.notifications")

#: the longest value Aliyun takes for a template's variable
NOTICE_MAX = 35


def shorten(text: str, limit: int = NOTICE_MAX) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Outgoing(Protocol):
    """What the channel reads of a notification (channels.Outgoing)."""

    user_id: int
    id: int | None


class SmsChannel:
    name = "sms"

    def send(self, notification: Outgoing, text: str) -> None:
        """Text the notice to the user's confirmed number (nothing without one). Raises
        messaging.sms.SmsError when the provider refuses or does not answer (its
        `retryable` says whether trying again may help)."""
        user = db.session.get(User, notification.user_id)
        if user is None or not user.phone or user.phone_verified_at is None:
            log.info("sms: user %s has no confirmed mobile number", notification.user_id)
            return
        send_sms(
            user.phone,
            "notice",
            {"text": shorten(text)},
            out_id=f"notification-{notification.id}" if notification.id else None,
        )
