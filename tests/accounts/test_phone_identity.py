"""The phone as identity: one-time SMS codes (digests only, expiry, single use, wrong tries,
limits per number and per address), one answer for every number, the password reset and the
change of number (pages and API), and the sms notification channel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import (
    CodeMessage,
    CodePurpose,
    CodeStatus,
    LoginSession,
    PhoneCode,
    Role,
    User,
)
from produce_match.audit.models import AuditEvent
from produce_match.database import utcnow
from produce_match.errors import TooManyAttempts, ValidationFailed
from produce_match.extensions import db
from produce_match.inputs import mobile_number
from produce_match.messaging.sms import SmsError, normalise_mobile
from produce_match.notifications.operations import notify
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_user
from tests.sms import a_minute_later, ask_for_code, sms_outbox, with_code  # noqa: F401 (fixture)

EN = {"Accept-Language": "en"}
NEW_NUMBER = "13712345678"


def actions(subject_type: str) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_type == subject_type)
            .order_by(AuditEvent.id)
        )
    )


def code_user(phone: str = "13904180001", login_name: str | None = None) -> User:
    """A cooperative who logs in with their (confirmed) mobile number."""
    user = make_user(login_name or phone, Role.cooperative, f"合作社{phone}", phone=phone)
    user.phone_verified_at = utcnow()
    db.session.commit()
    return user


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "+86 138 0013 8000",
        "0086-138-0013-8000",
        "(+86)138-0013-8000",
        "１３８００１３８０００",
    ],
)
def test_a_mainland_mobile_number_however_typed(typed):
    assert mobile_number(typed) == "13800138000"
    assert normalise_mobile(typed) == "13800138000"


@pytest.mark.parametrize(
    "typed", ["12800138000", "1380013800", "138001380001", "041812345678", "", "١٣٨٠٠١٣٨٠٠٠"]
)
def test_anything_else_is_not_a_mobile_number(typed):
    assert mobile_number(typed) is None
    with pytest.raises(SmsError) as refused:
        normalise_mobile(typed)
    assert refused.value.code == "isv.MOBILE_NUMBER_ILLEGAL" and not refused.value.retryable


# --- codes --------------------------------------------------------------------------------


def test_only_a_keyed_digest_of_the_code_is_stored(app, sms_outbox):  # noqa: F811
    accounts.request_code("139 0418 0001", CodePurpose.register, ip="10.0.0.1")
    db.session.commit()
    (row,) = db.session.scalars(select(PhoneCode))
    code = sms_outbox.code_for("13904180001")
    assert row.phone == "13904180001" and row.message is CodeMessage.code
    assert len(code) == 6 and code not in (row.code_hash or "")
    assert sms_outbox[-1].out_id == f"code-{row.id}"
    assert actions("phone_codes") == ["issued"]


def test_a_code_is_used_once(app, sms_outbox):  # noqa: F811
    user = code_user()
    accounts.request_code(user.phone, CodePurpose.reset_password, ip="10.0.0.1")
    db.session.commit()
    code = sms_outbox.code_for(user.phone)
    accounts.reset_password(user.phone, code, "a-new-password-1", "10.0.0.1")
    db.session.commit()
    with pytest.raises(ValidationFailed) as again:
        accounts.reset_password(user.phone, code, "a-new-password-2", "10.0.0.1")
    assert "code" in again.value.fields
    db.session.rollback()
    assert db.session.get(User, user.id).check_password("a-new-password-1")
    assert actions("phone_codes") == ["issued", "used"]


def test_a_code_expires(app, sms_outbox):  # noqa: F811
    user = code_user()
    accounts.request_code(user.phone, CodePurpose.reset_password, ip="10.0.0.1")
    db.session.commit()
    row = db.session.scalar(select(PhoneCode))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        accounts.reset_password(
            user.phone, sms_outbox.code_for(user.phone), "a-new-password-1", "10.0.0.1"
        )
    db.session.rollback()
    assert db.session.get(User, user.id).check_password(PASSWORD)


def test_a_few_wrong_tries_kill_the_code(app, sms_outbox):  # noqa: F811
    app.config["SMS_CODE_MAX_TRIES"] = 3
    user = code_user()
    accounts.request_code(user.phone, CodePurpose.reset_password, ip="10.0.0.1")
    db.session.commit()
    code = sms_outbox.code_for(user.phone)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(3):
        with pytest.raises(ValidationFailed):
            accounts.reset_password(user.phone, wrong, "a-new-password-1", "10.0.0.1")
        db.session.commit()  # the view keeps the count (transaction.keep)
    row = db.session.scalar(select(PhoneCode))
    assert row.status is CodeStatus.exhausted and row.tries == 3
    with pytest.raises(ValidationFailed):  # the right code, too late
        accounts.reset_password(user.phone, code, "a-new-password-1", "10.0.0.1")
    assert actions("phone_codes") == ["issued", "wrong_try", "wrong_try", "exhausted"]


def test_a_new_code_replaces_the_old_one(app, sms_outbox):  # noqa: F811
    user = code_user()
    accounts.request_code(user.phone, CodePurpose.reset_password, ip="10.0.0.1")
    db.session.commit()
    first = sms_outbox.code_for(user.phone)
    a_minute_later()
    accounts.request_code(user.phone, CodePurpose.reset_password, ip="10.0.0.1")
    db.session.commit()
    second = sms_outbox.code_for(user.phone)
    if first != second:
        with pytest.raises(ValidationFailed):
            accounts.reset_password(user.phone, first, "a-new-password-1", "10.0.0.1")
        db.session.rollback()
    accounts.reset_password(user.phone, second, "a-new-password-1", "10.0.0.1")
    statuses = [r.status for r in db.session.scalars(select(PhoneCode).order_by(PhoneCode.id))]
    assert statuses == [CodeStatus.superseded, CodeStatus.used]


def test_one_code_a_minute_per_number(app, sms_outbox):  # noqa: F811
    accounts.request_code("13904180001", CodePurpose.register, ip="10.0.0.1")
    db.session.commit()
    with pytest.raises(TooManyAttempts) as refused:
        accounts.request_code("+86 139 0418 0001", CodePurpose.reset_password, ip="10.0.0.2")
    assert 0 < refused.value.retry_after <= 61
    db.session.rollback()
    a_minute_later()
    accounts.request_code("13904180001", CodePurpose.register, ip="10.0.0.1")
    db.session.commit()
    assert len(sms_outbox.to("13904180001")) == 2


def test_a_few_codes_an_hour_and_a_day_per_number(app, sms_outbox):  # noqa: F811
    app.config.update(SMS_CODE_INTERVAL=timedelta(0), SMS_CODE_PHONE_HOURLY=2)
    for ip in ("10.0.0.1", "10.0.0.2"):
        accounts.request_code("13904180001", CodePurpose.register, ip=ip)
        db.session.commit()
    with pytest.raises(TooManyAttempts):
        accounts.request_code("13904180001", CodePurpose.register, ip="10.0.0.3")
    db.session.rollback()
    app.config.update(SMS_CODE_PHONE_HOURLY=10, SMS_CODE_PHONE_DAILY=2)
    with pytest.raises(TooManyAttempts):
        accounts.request_code("13904180001", CodePurpose.register, ip="10.0.0.3")
    db.session.rollback()
    accounts.request_code("13904180002", CodePurpose.register, ip="10.0.0.3")  # another number
    db.session.commit()


def test_a_few_codes_an_hour_per_address(app, sms_outbox):  # noqa: F811
    app.config["SMS_CODE_IP_HOURLY"] = 3
    for n in range(3):
        accounts.request_code(f"1390418000{n}", CodePurpose.register, ip="10.0.0.9")
        db.session.commit()
    with pytest.raises(TooManyAttempts):
        accounts.request_code("13904180009", CodePurpose.register, ip="10.0.0.9")
    db.session.rollback()
    accounts.request_code("13904180009", CodePurpose.register, ip="10.0.0.10")
    db.session.commit()
    assert len(sms_outbox) == 4


def test_over_the_limit_the_page_says_when_and_nothing_is_sent(client, sms_outbox):  # noqa: F811
    data = {"phone": "13904180001"}
    assert ask_for_code(client, "/register", data, "/register", headers=EN).status_code == 200
    again = ask_for_code(client, "/register", data, "/register", headers=EN)
    assert again.status_code == 429
    assert "Please wait" in again.get_data(as_text=True)
    assert len(sms_outbox) == 1 and db.session.scalar(select(PhoneCode.id).offset(1)) is None


# --- one answer for every number ----------------------------------------------------------


_CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*')


def _uniform(text: str, *numbers: str) -> str:
    """The page without what is bound to differ: the number typed, and the CSRF tokens (signed
    with the second they were made in, so two requests a second apart carry different ones)."""
    for number in numbers:
        text = text.replace(number, "NUMBER")
    return _CSRF_VALUE.sub(r"\1TOKEN", text)


def test_registration_answers_the_same_for_registered_and_new_numbers(client, sms_outbox):  # noqa: F811
    code_user("13904180001")
    registered = ask_for_code(
        client, "/register", {"phone": "13904180001"}, "/register", headers=EN
    )
    new = ask_for_code(client, "/register", {"phone": "13904180002"}, "/register", headers=EN)
    assert registered.status_code == new.status_code == 200
    assert _uniform(registered.get_data(as_text=True), "13904180001") == _uniform(
        new.get_data(as_text=True), "13904180002"
    )
    # the registered number is told by text, and gets no code
    (told,) = sms_outbox.to("13904180001")
    assert told.template == "notice" and "已注册" in told.params["text"]
    assert sms_outbox.to("13904180002")[0].template == "verify_code"


def test_reset_answers_the_same_for_registered_and_unknown_numbers(client, sms_outbox):  # noqa: F811
    code_user("13904180001")
    known = ask_for_code(client, "/password/reset", {"phone": "13904180001"}, "/password/reset")
    unknown = ask_for_code(client, "/password/reset", {"phone": "13904180002"}, "/password/reset")
    assert known.status_code == unknown.status_code == 200
    assert _uniform(known.get_data(as_text=True), "13904180001") == _uniform(
        unknown.get_data(as_text=True), "13904180002"
    )
    assert [m.phone for m in sms_outbox] == ["13904180001"]  # nothing to a number without account


def test_the_api_answers_the_same_for_registered_and_new_numbers(client, sms_outbox):  # noqa: F811
    code_user("13904180001")
    bodies = []
    for purpose in ("register", "reset_password"):
        for phone in ("13904180001", "13904180002"):
            answer = client.post("/api/v1/phone-codes", json={"phone": phone, "purpose": purpose})
            assert answer.status_code == 202, answer.get_data(as_text=True)
            bodies.append(_uniform(answer.get_data(as_text=True), phone))
        a_minute_later()
    assert bodies[0] == bodies[1] and bodies[2] == bodies[3]
    assert "expires_in" in bodies[0]


def test_bad_numbers_are_refused_clearly_and_nothing_is_written(client, sms_outbox):  # noqa: F811
    for headers, words in (
        (EN, "Enter an 11-digit mobile number"),
        ({"Accept-Language": "zh"}, "手机号"),
    ):
        page = ask_for_code(client, "/register", {"phone": "12345"}, "/register", headers=headers)
        assert page.status_code == 422 and words in page.get_data(as_text=True)
    api = client.post("/api/v1/phone-codes", json={"phone": "12345", "purpose": "register"})
    assert api.status_code == 422
    api = client.post(
        "/api/v1/phone-codes", json={"phone": "13904180001", "purpose": "change_phone"}
    )
    assert api.status_code == 422
    assert sms_outbox == [] and db.session.scalar(select(PhoneCode.id)) is None


# --- 忘记密码 ------------------------------------------------------------------------------


def test_the_login_page_links_to_the_reset(client):
    html = client.get("/login", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "忘记密码" in html and "/password/reset" in html


def test_reset_password_by_code_ends_every_session(app, client, sms_outbox):  # noqa: F811
    user = code_user()
    other = app.test_client()
    login(other, user.login, PASSWORD)
    data = {"phone": "139-0418-0001", "new_password": "brand-new-pass", "confirm": "brand-new-pass"}
    done = with_code(client, "/password/reset", data, sms_outbox, page="/password/reset")
    assert done.status_code == 302 and done.location.endswith("/login")
    assert other.get("/account").status_code == 302  # logged out
    assert (
        db.session.scalar(select(LoginSession.id).where(LoginSession.revoked_at.is_(None))) is None
    )
    login(app.test_client(), user.login, "brand-new-pass")
    assert "password_reset" in actions("users")


def test_a_wrong_code_changes_nothing_but_is_counted(client, sms_outbox):  # noqa: F811
    user = code_user()
    ask_for_code(client, "/password/reset", {"phone": user.phone}, "/password/reset")
    data = {
        "phone": user.phone,
        "code": "000000",
        "new_password": "brand-new-pass",
        "confirm": "brand-new-pass",
    }
    if sms_outbox.code_for(user.phone) == "000000":
        data["code"] = "111111"
    page = post_form(client, "/password/reset", data, page="/password/reset", headers=EN)
    assert page.status_code == 200
    assert "The code is wrong or has expired" in page.get_data(as_text=True)
    assert db.session.get(User, user.id).check_password(PASSWORD)
    assert db.session.scalar(select(PhoneCode.tries)) == 1


def test_reset_by_the_api(client, sms_outbox):  # noqa: F811
    user = code_user()
    asked = client.post(
        "/api/v1/phone-codes", json={"phone": user.phone, "purpose": "reset_password"}
    )
    assert asked.status_code == 202
    wrong = client.post(
        "/api/v1/password-reset",
        json={"phone": user.phone, "code": "x", "new_password": "brand-new-pass"},
    )
    assert wrong.status_code == 422 and "code" in wrong.get_json()["error"]["fields"]
    done = client.post(
        "/api/v1/password-reset",
        json={
            "phone": user.phone,
            "code": sms_outbox.code_for(user.phone),
            "new_password": "brand-new-pass",
        },
    )
    assert done.status_code == 204
    assert db.session.get(User, user.id).check_password("brand-new-pass")


# --- a new number -------------------------------------------------------------------------


def test_change_the_number_from_the_account_page(app, client, sms_outbox):  # noqa: F811
    user = code_user()
    login(client, user.login, PASSWORD)
    asked = ask_for_code(client, "/account/phone", {"phone": NEW_NUMBER}, "/account")
    assert asked.status_code == 200
    assert sms_outbox[-1].phone == NEW_NUMBER  # the code goes to the NEW number
    wrong_password = post_form(
        client,
        "/account/phone",
        {"phone": NEW_NUMBER, "code": sms_outbox.code_for(NEW_NUMBER), "password": "nope-nope"},
        page="/account",
        headers=EN,
    )
    assert wrong_password.status_code == 422
    assert "The password is wrong." in wrong_password.get_data(as_text=True)
    assert db.session.get(User, user.id).phone == "13904180001"
    done = post_form(
        client,
        "/account/phone",
        {"phone": NEW_NUMBER, "code": sms_outbox.code_for(NEW_NUMBER), "password": PASSWORD},
        page="/account",
    )
    assert done.status_code == 302
    db.session.expire_all()
    moved = db.session.get(User, user.id)
    assert moved.phone == NEW_NUMBER and moved.login == NEW_NUMBER
    assert moved.phone_verified_at is not None
    assert "phone_changed" in actions("users")
    login(app.test_client(), NEW_NUMBER, PASSWORD)


def test_an_unconfirmed_number_is_confirmed_by_its_code(client, sms_outbox):  # noqa: F811
    user = make_user("laowang", Role.cooperative, "老王家庭农场", phone="13904180003")
    assert user.phone_verified_at is None
    login(client, "laowang", PASSWORD)
    html = client.get("/account", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "未确认" in html and "获取验证码" in html
    ask_for_code(client, "/account/phone", {"phone": user.phone}, "/account")
    done = post_form(
        client,
        "/account/phone",
        {"phone": user.phone, "code": sms_outbox.code_for(user.phone), "password": PASSWORD},
        page="/account",
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).phone_verified_at is not None
    assert "phone_confirmed" in actions("users")


def test_another_accounts_number_cannot_be_taken(client, sms_outbox):  # noqa: F811
    code_user("13904180001")
    user = code_user("13904180002")
    login(client, user.login, PASSWORD)
    asked = ask_for_code(client, "/account/phone", {"phone": "13904180001"}, "/account")
    assert asked.status_code == 200  # the same answer
    assert sms_outbox[-1].template == "notice"  # its owner is told; no code
    refused = post_form(
        client,
        "/account/phone",
        {"phone": "13904180001", "code": "123456", "password": PASSWORD},
        page="/account",
    )
    assert refused.status_code == 422
    assert db.session.get(User, user.id).phone == "13904180002"


def test_change_the_number_by_the_api(client, sms_outbox):  # noqa: F811
    user = code_user()
    token = client.post("/api/v1/tokens", json={"login": user.login, "password": PASSWORD})
    auth = {"Authorization": f"Bearer {token.get_json()['token']}"}
    assert (
        client.post("/api/v1/me/phone/code", json={"phone": NEW_NUMBER}, headers=auth).status_code
        == 202
    )
    done = client.post(
        "/api/v1/me/phone",
        json={"phone": NEW_NUMBER, "code": sms_outbox.code_for(NEW_NUMBER), "password": PASSWORD},
        headers=auth,
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["phone"] == NEW_NUMBER and done.get_json()["phone_verified"] is True


# --- the sms channel ----------------------------------------------------------------------


def test_the_sms_channel_texts_only_confirmed_numbers(app, sms_outbox):  # noqa: F811
    app.config["NOTIFICATION_CHANNELS"] = ("sms",)
    confirmed = code_user("13904180001")
    unconfirmed = make_user("laowang", Role.cooperative, "老王家庭农场", phone="13904180003")
    no_phone = make_user("laoli", Role.cooperative, "老李家庭农场")
    # account notices go by SMS by default, to every role (notifications/preferences.py)
    notify([confirmed, unconfirmed, no_phone], "account.notice")
    db.session.commit()
    (texted,) = sms_outbox
    assert texted.phone == "13904180001" and texted.template == "notice"
    assert len(texted.params["text"]) <= 35 and texted.out_id.startswith("notification-")


def test_a_long_notice_is_cut_to_what_a_template_variable_takes():
    from produce_match.notifications.sms_channel import shorten

    assert shorten("短" * 40) == "短" * 34 + "…"
    assert shorten("a\n b") == "a b"


# --- the sending task ---------------------------------------------------------------------


def test_a_code_is_texted_only_once_its_request_commits(app, sms_outbox):  # noqa: F811
    accounts.request_code("13904180001", CodePurpose.register, ip="10.0.0.1")
    db.session.rollback()
    assert sms_outbox == [] and db.session.scalar(select(PhoneCode.id)) is None


def test_the_task_leaves_a_dead_code_unsent_and_retries_only_what_may_pass(app, monkeypatch):
    from produce_match.accounts import tasks

    sent: list[str] = []

    def refuse(code: str, retryable: bool):
        def send(phone, template, params, *, out_id=None):
            sent.append(phone)
            raise SmsError("refused", code=code, retryable=retryable)

        return send

    accounts.request_code("13904180001", CodePurpose.register, ip="10.0.0.1")
    monkeypatch.setattr(tasks, "send_sms", refuse("isv.MOBILE_NUMBER_ILLEGAL", False))
    db.session.commit()  # the immediate queue runs the task: refused for good, logged
    row = db.session.scalar(select(PhoneCode))
    assert sent == ["13904180001"]
    monkeypatch.setattr(tasks, "send_sms", refuse("isv.BUSINESS_LIMIT_CONTROL", True))
    with pytest.raises(SmsError):  # the queue tries again later
        tasks.send_code(row.id, "123456", "zh")
    row.status = CodeStatus.used
    db.session.commit()
    assert tasks.send_code(row.id, "123456", "zh") is None and len(sent) == 2
