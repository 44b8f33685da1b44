"""Texting the one-time codes, from the task queue, after the request that asked commits."""

from __future__ import annotations

import logging

from produce_match.accounts.models import CodeStatus, PhoneCode
from produce_match.accounts.operations import code_sms
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.messaging.sms import SmsError, mask, send_sms
from produce_match.queue import task

log = logging.getLogger("produce_match.accounts")


@task("accounts.send_code", retries=3, retry_delay=15)
def send_code(code_id: int, code: str, locale: str) -> str | None:
    """Text the code (or the note) a request asked for; the provider's id of the message.

    A code that is no longer live (used, replaced, expired) is not sent. A refusal worth
    trying again (the provider's flow control, no answer) raises, and the queue tries again;
    any other is logged: the user asks for a new code."""
    row = db.session.get(PhoneCode, code_id)
    if row is None or row.status is not CodeStatus.live or row.expires_at <= utcnow():
        return None
    template, params = code_sms(row, code, locale)
    db.session.commit()  # nothing is held while the provider is called
    try:
        return send_sms(row.phone, template, params, out_id=f"code-{code_id}")
    except SmsError as exc:
        if exc.retryable:
            raise
        log.warning("code %s to %s not sent: %s", code_id, mask(row.phone), exc.code)
        return None
