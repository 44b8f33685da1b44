"""The e-mail channel over real SMTP: an in-process aiosmtpd server keeps what it is handed
(the development server's own handler, devtools/mail_server)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import select

from devtools.mail_server import MailKeeper, file_name, kept, read
from devtools.mail_server.__main__ import main as mail_server_main
from produce_match.extensions import db
from produce_match.messaging import mail
from produce_match.messaging.errors import PermanentFailure, TemporaryFailure
from produce_match.notifications import operations as notifications
from produce_match.notifications import preferences
from produce_match.notifications import tasks as notification_tasks
from produce_match.notifications.models import Delivery


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Refusing:
    """A server that refuses every recipient with the code it is given."""

    def __init__(self, code: int) -> None:
        self.code = code

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's name
        self, server: object, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        return f"{self.code} {'5.1.1 no such mailbox' if self.code >= 500 else '4.2.1 try later'}"


@pytest.fixture
def smtp(app, tmp_path: Path) -> Iterator[Path]:
    """An SMTP server on a free port, the e-mail channel configured to use it; its folder."""
    folder = tmp_path / "mail"
    controller = Controller(MailKeeper(folder), hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(
        NOTIFICATION_CHANNELS=("email",),
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=controller.port,
        MAIL_FROM="滞销农产品对接 <noreply@pm.example.org>",
        SITE_URL="https://pm.example.org",
    )
    try:
        yield folder
    finally:
        controller.stop()


def sent_deliveries() -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


@pytest.fixture
def buyer(users):
    users["buyer"].email = "caigou@nanchang.example.cn"
    db.session.commit()
    return users["buyer"]


PARAMS = {"order": 7, "lot": "彰武黑豆", "cooperative": "道亭村合作社", "amount_fen": 1234500}


def test_a_notice_by_email_in_chinese_with_text_html_and_the_link(smtp, buyer):
    (note,) = notifications.notify([buyer], "payment.refunded", PARAMS, url="/orders/7")
    db.session.commit()  # buyers hear of money by e-mail by default
    (message_file,) = kept(smtp)
    message = read(message_file)
    assert message["To"] == "caigou@nanchang.example.cn"
    assert message["Message-ID"] == f"<notification-{note.id}.email@pm.example.org>"
    assert message["Subject"].startswith("滞销农产品对接：")
    assert message["Content-Language"] == "zh-CN"
    assert message["X-Envelope-To"] == "caigou@nanchang.example.cn"
    assert message.is_multipart() and message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "12,345.00" in text and "彰武黑豆" in text
    assert "https://pm.example.org/orders/7" in text
    assert 'href="https://pm.example.org/orders/7"' in html and "在网站上查看" in html
    assert 'lang="zh-CN"' in html
    assert "https://pm.example.org/account/notifications" in text
    (d,) = sent_deliveries()
    assert (d.status.value, d.address) == ("sent", "caigou@nanchang.example.cn")
    assert d.provider_id == f"<notification-{note.id}.email@pm.example.org>"


def test_in_english_for_whoever_chose_it(smtp, buyer):
    buyer.locale = "en"
    db.session.commit()
    notifications.notify([buyer], "payment.refunded", PARAMS, url="/orders/7")
    db.session.commit()
    message = read(kept(smtp)[0])
    assert message["Content-Language"] == "en"
    assert message["Subject"].startswith("Produce Match: ")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "See it on the site: https://pm.example.org/orders/7" in text
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text.replace("彰武黑豆", ""))
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'lang="en"' in html and "Open it on the site" in html


def test_html_escapes_what_people_typed(smtp, buyer):
    params = {**PARAMS, "lot": "<script>alert(1)</script>黑豆"}
    notifications.notify([buyer], "payment.refunded", params, url="/orders/7")
    db.session.commit()
    html = read(kept(smtp)[0]).get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_no_address_no_choice_no_mail(smtp, users, buyer):
    coop = users["coop"]
    preferences.save(coop, coop, {"payments": ["sms", "email"]}, None)
    notifications.notify([users["coop"]], "payment.paid_out", PARAMS, url="/orders/7")
    preferences.save(buyer, buyer, {"payments": []}, None)
    notifications.notify([buyer], "payment.refunded", PARAMS, url="/orders/7")
    db.session.commit()
    assert kept(smtp) == []
    assert [(d.status.value, d.reason.value) for d in sent_deliveries()] == [
        ("skipped", "no_address"),  # the cooperative has no e-mail address
        ("skipped", "opted_out"),
    ]


def test_sent_again_is_the_same_message(smtp, buyer):
    (note,) = notifications.notify([buyer], "payment.refunded", PARAMS, url="/orders/7")
    db.session.commit()
    outgoing = notification_tasks.channels.Outgoing(
        buyer.id, None, note.kind, PARAMS, note.url, note.id, buyer.email
    )
    notification_tasks.channels.EmailChannel().send(outgoing, "again")  # a worker's repeat
    assert len(kept(smtp)) == 1  # one Message-ID, one file
    assert "again" in read(kept(smtp)[0]).get_body(preferencelist=("plain",)).get_content()


def test_a_refused_mailbox_fails_at_once_and_an_unreachable_server_is_retried(app, users, buyer):
    refusing = Controller(Refusing(550), hostname="127.0.0.1", port=free_port())
    refusing.start()
    try:
        app.config.update(
            NOTIFICATION_CHANNELS=("email",),
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=refusing.port,
            MAIL_FROM="noreply@pm.example.org",
        )
        notifications.notify([buyer], "payment.refunded", PARAMS, url="/orders/7")
        db.session.commit()
    finally:
        refusing.stop()
    (d,) = sent_deliveries()
    assert (d.status.value, d.attempts) == ("failed", 1)
    assert "550" in d.last_error and "no such mailbox" in d.last_error

    app.config["MAIL_PORT"] = free_port()  # nobody listens there
    notifications.notify([buyer], "payment.refunded", PARAMS, url="/orders/7")
    db.session.commit()
    d = sent_deliveries()[-1]
    assert (d.status.value, d.reason.value) == ("pending", "retry")
    assert "unreachable" in d.last_error
    assert d.next_attempt_at - d.updated_at == timedelta(minutes=1)


def test_smtp_reply_codes_say_temporary_or_permanent(app):
    for code, kind in ((451, TemporaryFailure), (550, PermanentFailure)):
        server = Controller(Refusing(code), hostname="127.0.0.1", port=free_port())
        server.start()
        try:
            settings = mail.SmtpSettings("127.0.0.1", server.port, "noreply@pm.example.org")
            with pytest.raises(kind) as failed:
                mail.send(mail.Mail(to="x@example.org", subject="s", text="t"), settings)
            assert failed.value.code == code
        finally:
            server.stop()


def test_the_development_server_keeps_and_lists_messages(tmp_path, capsys):
    folder = tmp_path / "kept"
    server = Controller(MailKeeper(folder), hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        settings = mail.SmtpSettings("127.0.0.1", server.port, "Produce Match <noreply@localhost>")
        for _ in range(2):
            mail.send(
                mail.Mail(to="a@example.org", subject="订单", text="你好", message_id="n-1@x"),
                settings,
            )
        mail.send(mail.Mail(to="b@example.org", subject="第二封", text="再见"), settings)
    finally:
        server.stop()
    assert len(kept(folder)) == 2 and (folder / "n-1@x.eml").exists()
    assert file_name("<a/../b@x>", "f") == "a_.._b@x.eml"
    assert mail_server_main(["list", "--dir", str(folder), "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "订单" in out and "第二封" in out and "再见" in out


def test_the_development_server_refuses_production(monkeypatch, capsys):
    monkeypatch.setenv("PRODUCE_MATCH_ENV", "production")
    assert mail_server_main(["--port", str(free_port())]) == 1
    assert "production" in capsys.readouterr().err
