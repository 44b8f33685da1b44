"""The `sms` channel: a notification texted to its user's confirmed mobile number.

Aliyun sends only approved templates: the notice template (SMS_TEMPLATES' `notice`) carries
the notification's words as its one variable, which Aliyun keeps to NOTICE_MAX characters, so
a longer text is cut there with an ellipsis (the whole notice waits in the in-app inbox).
A user whose number is not confirmed (no SMS code has reached it) is skipped: a number typed
in a form may be anyone's.
"""

from __future__ import annotations

from typing import Protocol

from produce_match.accounts.models import User
from produce_match.messaging.errors import PermanentFailure, TemporaryFailure
from produce_match.messaging.sms import SmsError, send_sms

#: the longest value Aliyun takes for a template's variable
NOTICE_MAX = 35


def shorten(text: str, limit: int = NOTICE_MAX) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Outgoing(Protocol):
    """What the channel reads of a notification (channels.Outgoing)."""

    id: int | None
    address: str | None


class SmsChannel:
    name = "sms"
    personal = True

    def address(self, user: User) -> str | None:
        """The user's mobile number once an SMS code has confirmed it; None (skipped) before."""
        return user.phone if user.phone and user.phone_verified_at is not None else None

    def send(self, notification: Outgoing, text: str) -> str:
        """Text the notice to the confirmed number the worker found (`address`); the
        provider's message id. A refusal the provider may lift later (flow control, an outage)
        is a TemporaryFailure, any other a PermanentFailure."""
        if not notification.address:
            raise PermanentFailure("no confirmed mobile number")
        try:
            return send_sms(
                notification.address,
                "notice",
                {"text": shorten(text)},
                out_id=f"notification-{notification.id}" if notification.id else None,
            )
        except SmsError as exc:
            failure = TemporaryFailure if exc.retryable else PermanentFailure
            raise failure(f"{exc.code}: {exc}") from exc
