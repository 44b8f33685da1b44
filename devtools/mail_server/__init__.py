"""A debugging SMTP server for development: every message it is handed is kept as a file.

`make run` starts it (the Procfile's `mail` line) on 127.0.0.1:8025, where the development
defaults of MAIL_SERVER and MAIL_PORT point, so that the e-mail channel sends real SMTP and
nothing leaves the machine. Each message is written whole to ``instance/mail/<Message-ID>.eml``
(open it in any mail program, or read it with ``python -m devtools.mail_server list``); a
message handed over again with the same Message-ID replaces its file, as the notification
e-mails are sent with one Message-ID per notification.

It refuses to start under a production configuration (PRODUCE_MATCH_ENV=production).
"""

from __future__ import annotations

import email
import logging
import os
import re
import threading
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

log = logging.getLogger("devtools.mail_server")

DEFAULT_DIR = Path("instance") / "mail"


def file_name(message_id: str | None, fallback: str) -> str:
    """A Message-ID as a file name: '<n-7.email@x.org>' -> 'n-7.email@x.org.eml'."""
    text = (message_id or "").strip().strip("<>")
    text = re.sub(r"[^A-Za-z0-9@._+-]", "_", text)[:150]
    return f"{text or fallback}.eml"


class MailKeeper:
    """An aiosmtpd handler that writes each message it accepts into `folder`."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        raw: bytes = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=policy.default)
        with self._lock:
            self._count += 1
            fallback = f"message-{os.getpid()}-{self._count}"
        target = self.folder / file_name(message.get("Message-ID"), fallback)
        temporary = target.with_name(f".{target.name}.{threading.get_ident()}.tmp")
        # who it was really sent to (the envelope), before the message as it came
        head = f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        temporary.write_bytes(head + raw)
        os.replace(temporary, target)
        log.info("mail to %s: %s -> %s", ", ".join(envelope.rcpt_tos), message["Subject"], target)
        return "250 Message accepted for delivery"


def read(path: Path) -> EmailMessage:
    """A kept message."""
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[return-value]


def kept(folder: Path | str) -> list[Path]:
    """The kept messages, oldest first."""
    return sorted(Path(folder).glob("*.eml"), key=lambda p: p.stat().st_mtime)
