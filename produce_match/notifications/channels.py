"""Where notifications go besides the in-app inbox.

The inbox is the notification row itself and always exists. Other channels (e-mail, SMS, a
group-chat webhook) implement `Channel` and are listed by name in the NOTIFICATION_CHANNELS
setting; the worker hands each notification to them after the transaction that created it
commits, one delivery (a row of the delivery log) per channel (see tasks.py), so a rolled-back
change never sends anything and a slow channel never holds a database lock. A channel gets the
notification's id with it: a channel that can should pass it on as an idempotency key, since a
worker killed between sending and recording the sending sends again.

A channel has a `name` and `send(notification, text)`; it may also have
- `personal = True`: it reaches a person (SMS, e-mail), who chooses it per group of notices and
  whose quiet hours and daily limit hold for it (preferences.py); without it, a channel named
  in `preferences.PERSONAL` is personal, any other takes every notice at once;
- `address(user) -> str | None`: where the user is reached (None: they have no address, the
  delivery is skipped); without it, `sms` uses the user's phone, `email` their e-mail address.
`send` may return the provider's id of the message (kept in the log), and raises
`TemporaryFailure` (tried again later, with a growing pause) or `PermanentFailure` (failed at
once); anything else it raises counts as temporary.

The built-in channels: `email` (SMTP, messaging/mail.py: a text and an HTML part in the
recipient's language, with the link to the notice); `log` writes each notification, rendered in
the recipient's language, to the application log (useful in development and as a template);
`spool` writes each one as a JSON file named by its id into NOTIFICATION_SPOOL_DIR (what a
gateway would be handed). The spool is idempotent as a real gateway's API should be: a
notification sent again replaces its own file, so it is still delivered once.
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
from flask_babel import gettext as _

from produce_match import links
from produce_match.accounts.models import User
from produce_match.messaging import mail
from produce_match.messaging.errors import DeliveryError, PermanentFailure, TemporaryFailure
from produce_match.notifications.preferences import PERSONAL
from produce_match.notifications.sms_channel import SmsChannel

__all__ = [
    "AVAILABLE",
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "Outgoing",
    "PermanentFailure",
    "TemporaryFailure",
    "address_of",
    "configured",
    "is_personal",
]

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
    #: where to send it (the channel's `address(user)`: a phone number, an e-mail address)
    address: str | None = None


class Channel(Protocol):
    name: str

    def send(self, notification: Outgoing, text: str) -> str | None:
        """Deliver `text` (already in the recipient's language) to the notification's user;
        the provider's id of the message, if it gives one."""


def is_personal(channel: Any) -> bool:
    """Does the channel reach a person (chosen per group, quiet hours, daily limit)?"""
    return bool(getattr(channel, "personal", channel.name in PERSONAL))


_DEFAULT_ADDRESS = {"sms": lambda user: user.phone, "email": lambda user: user.email}


def address_of(channel: Any, user: User) -> str | None:
    """Where `channel` reaches `user`; None: nowhere (the delivery is skipped)."""
    own = getattr(channel, "address", None)
    if callable(own):
        found = own(user)
    elif channel.name in _DEFAULT_ADDRESS:
        found = _DEFAULT_ADDRESS[channel.name](user)
    else:  # the operators' channels (log, spool) address the user by id
        return str(user.id)
    found = (found or "").strip()
    return found or None


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


class EmailChannel:
    """E-mail over SMTP: the notice in the recipient's language, with a link to it."""

    name = "email"
    personal = True

    def address(self, user: User) -> str | None:
        return user.email

    def send(self, notification: Outgoing, text: str) -> str | None:
        if not notification.address:
            raise PermanentFailure("no e-mail address")
        settings = mail.SmtpSettings.from_config(current_app.config)
        locale = notification.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
        with force_locale(locale):
            subject, body, html = email_content(notification, text, locale)
        return mail.send(
            mail.Mail(
                to=notification.address,
                subject=subject,
                text=body,
                html=html,
                # the same notification is the same message, however often it is handed over
                message_id=f"notification-{notification.id}.email@{settings.domain}",
                language=locale,
                headers={"Auto-Submitted": "auto-generated"},
            ),
            settings,
        )


def site_url(path: str | None) -> str | None:
    """The absolute address of a path of this site; None for anything but a path."""
    if not path or not path.startswith("/") or path.startswith("//"):
        return None
    return links.site_url(path)


def email_content(notification: Outgoing, text: str, locale: str) -> tuple[str, str, str]:
    """Subject, plain text and HTML of a notice's e-mail, in the current language (`locale`)."""
    site = _("Produce Match")
    subject = _("%(site)s: %(notice)s", site=site, notice=_shorten(text, 60))
    link = site_url(notification.url) or site_url("/notifications")
    settings_link = site_url("/account/notifications")
    template = current_app.jinja_env.get_template("notifications/email.txt")
    context = {
        "text": text,
        "link": link,
        "settings_link": settings_link,
        "site": site,
        "html_lang": "zh-CN" if locale == "zh" else locale,
    }
    body = template.render(**context)
    html = current_app.jinja_env.get_template("notifications/email.html").render(**context)
    return subject, body, html


def _shorten(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


#: every channel that can be configured, by name
AVAILABLE: dict[str, type] = {
    "email": EmailChannel,
    "log": LogChannel,
    "sms": SmsChannel,
    "spool": SpoolChannel,
}


def configured() -> list[Channel]:
    names = current_app.config.get("NOTIFICATION_CHANNELS", ())
    return [AVAILABLE[name]() for name in names if name in AVAILABLE]
