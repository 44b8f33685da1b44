"""Text messages in the tests: the SMS the site sends, caught where the site hands them to the
gateway (messaging.sms.send_sms), and the two steps of a form with a 获取验证码 button.

The gateway itself, the SDK and the emulator, are tested end to end in tests/messaging; these
helpers are for the tests of what the site decides to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from produce_match.messaging.sms import normalise_mobile
from tests.conftest import post_form


@dataclass(frozen=True)
class Texted:
    phone: str
    template: str
    params: dict[str, str]
    out_id: str | None


class Outbox(list[Texted]):
    """The messages sent during a test, oldest first."""

    def to(self, phone: str) -> list[Texted]:
        number = normalise_mobile(phone)
        return [m for m in self if m.phone == number]

    def code_for(self, phone: str) -> str:
        """The code of the last verification text sent to `phone`."""
        codes = [m.params["code"] for m in self.to(phone) if m.template == "verify_code"]
        assert codes, f"no code was texted to {phone}: {list(self)}"
        return codes[-1]


@pytest.fixture
def sms_outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Every SMS the site sends in this test, instead of sending it."""
    box = Outbox()

    def send(
        phone: str, template: str, params: Mapping[str, str], *, out_id: str | None = None
    ) -> str:
        box.append(Texted(normalise_mobile(phone), template, dict(params), out_id))
        return f"test-{len(box)}"

    monkeypatch.setattr("produce_match.accounts.tasks.send_sms", send)
    monkeypatch.setattr("produce_match.notifications.sms_channel.send_sms", send)
    return box


def ask_for_code(client: Any, url: str, data: Mapping[str, Any], page: str, **kwargs: Any) -> Any:
    """Press 获取验证码 on the form at `url` with `data` filled in."""
    return post_form(client, url, {**data, "send_code": "1"}, page=page, **kwargs)


def with_code(
    client: Any, url: str, data: Mapping[str, Any], box: Outbox, page: str, **kwargs: Any
) -> Any:
    """Both steps: ask for a code for data['phone'], then send the form with it."""
    asked = ask_for_code(client, url, data, page, **kwargs)
    assert asked.status_code == 200, asked.get_data(as_text=True)[:2000]
    return post_form(
        client, url, {**data, "code": box.code_for(data["phone"])}, page=page, **kwargs
    )


def a_minute_later() -> None:
    """Move every code request two minutes into the past (past the limit of one a minute per
    number; the hourly and daily limits still count them)."""
    from datetime import timedelta

    from sqlalchemy import select

    from produce_match.accounts.models import PhoneCode
    from produce_match.extensions import db

    for row in db.session.scalars(select(PhoneCode)):
        row.created_at -= timedelta(minutes=2)
        row.expires_at -= timedelta(minutes=2)
    db.session.commit()


#: a production configuration's SMS settings (its own AccessKey, sign name and templates)
PRODUCTION_SMS = {
    "SMS_BACKEND": "aliyun",
    "SMS_ACCESS_KEY_ID": "LTAI5tProductionKey",
    "SMS_ACCESS_KEY_SECRET": "production-secret",
    "SMS_SIGN_NAME": "产销对接",
    "SMS_TEMPLATES": {"verify_code": "SMS_123456789", "notice": "SMS_987654321"},
}
