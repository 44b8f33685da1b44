"""E-mail over SMTP (the standard library's smtplib and email.message; no framework).

`send(mail, settings)` hands one message, plain text with an HTML alternative, to the SMTP server
the settings name (MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS for STARTTLS or MAIL_USE_SSL for TLS from
the first byte, MAIL_USERNAME / MAIL_PASSWORD, MAIL_FROM) and returns the message's Message-ID.
In development the server is devtools/mail_server, which `make run` starts and which keeps each
message as a file.

A caller that may send the same message twice (a worker killed after the server took it, before
it was recorded) passes a stable `message_id`: SMTP itself cannot refuse a repeat, but the
repeat is then the same message, which mail programs show once.

Failures are `TemporaryFailure` (the server cannot be reached, a 4xx reply, a login the
operator has to fix) or `PermanentFailure` (a 5xx reply about this message or its recipient).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from produce_match.messaging.errors import PermanentFailure, TemporaryFailure


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand e-mails over (read from the app's configuration)."""

    host: str
    port: int
    sender: str
    use_tls: bool = False
    use_ssl: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        if not config.get("MAIL_SERVER") or not config.get("MAIL_FROM"):
            raise TemporaryFailure("MAIL_SERVER and MAIL_FROM are not set: no e-mail can be sent")
        return cls(
            host=config["MAIL_SERVER"],
            port=int(config["MAIL_PORT"]),
            sender=config["MAIL_FROM"],
            use_tls=bool(config.get("MAIL_USE_TLS")),
            use_ssl=bool(config.get("MAIL_USE_SSL")),
            username=config.get("MAIL_USERNAME"),
            password=config.get("MAIL_PASSWORD"),
            timeout=float(config.get("MAIL_TIMEOUT") or 10.0),
        )

    @property
    def domain(self) -> str:
        """The sender's domain (for Message-IDs)."""
        return parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Mail:
    """One message to one person."""

    to: str
    subject: str
    text: str
    html: str | None = None
    #: without angle brackets, e.g. "notification-42.email@example.org"; None: a fresh one
    message_id: str | None = None
    #: the recipient's language ("zh", "en"): the Content-Language header
    language: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def build(mail: Mail, settings: SmtpSettings) -> EmailMessage:
    """The message as it goes on the wire: text/plain with a text/html alternative, UTF-8."""
    message = EmailMessage()
    name, address = parseaddr(settings.sender)
    message["From"] = str(Address(display_name=name, addr_spec=address)) if name else address
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = (
        f"<{mail.message_id}>" if mail.message_id else make_msgid(domain=settings.domain)
    )
    for key, value in mail.headers.items():
        message[key] = value
    message.set_content(mail.text, charset="utf-8")
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html", charset="utf-8")
    if mail.language:  # after the parts: setting the content drops the Content-* headers
        message["Content-Language"] = "zh-CN" if mail.language == "zh" else mail.language
    return message


def send(mail: Mail, settings: SmtpSettings) -> str:
    """Hand `mail` to the SMTP server; its Message-ID (with angle brackets) once accepted."""
    message = build(mail, settings)
    try:
        server: smtplib.SMTP
        if settings.use_ssl:
            server = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with server:
            if settings.use_tls:
                server.starttls(context=ssl.create_default_context())
            if settings.username:
                server.login(settings.username, settings.password or "")
            refused = server.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        raise _by_code(min(codes or [550]), f"recipient refused: {exc.recipients}") from None
    except smtplib.SMTPAuthenticationError as exc:
        # the operator's to fix; the message itself is fine and waits for the fix
        code = exc.smtp_code
        raise TemporaryFailure(f"SMTP login refused ({code})", code=code) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        raise _by_code(exc.smtp_code, f"SMTP {exc.smtp_code} {text}".strip()) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        what = f"{exc.__class__.__name__}: {exc}"
        raise TemporaryFailure(f"SMTP server unreachable: {what}") from None
    if refused:  # several recipients and some refused: we only ever send to one
        codes = [code for code, _text in refused.values()]
        raise _by_code(min(codes), f"recipient refused: {refused}")
    return str(message["Message-ID"])


def _by_code(code: int, text: str) -> Exception:
    if 500 <= code < 600:
        return PermanentFailure(text[:300], code=code)
    return TemporaryFailure(text[:300], code=code)
