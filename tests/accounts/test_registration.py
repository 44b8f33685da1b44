"""Self-registration of cooperatives and buyers at /register."""

from __future__ import annotations

from sqlalchemy import func, select

from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.audit.models import AuditEvent
from produce_match.extensions import db
from tests.conftest import post_form
from tests.sms import a_minute_later, ask_for_code, sms_outbox, with_code  # noqa: F401 (fixture)

GOOD = {
    "kind": "cooperative",
    "org_name": "彰武县道亭村黑豆种植专业合作社",
    "contact_person": "李支书",
    "phone": "139 0418 0001",
    "email": "",
    "password": "heidou-2020",
    "confirm": "heidou-2020",
    "province": "210000",
    "county": "彰武",
    "township": "梁家子镇",
    "village": "道亭村",
}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def register(client, data, box, **kwargs):
    """Registration's two steps: 获取验证码, then the form with the code texted."""
    return with_code(client, "/register", data, box, page="/register", **kwargs)


def test_register_creates_org_and_user_and_logs_in(client, sms_outbox):  # noqa: F811
    response = register(client, GOOD, sms_outbox)
    assert response.status_code == 302
    user = db.session.scalar(select(User))
    assert user.login == "13904180001" and user.role is Role.cooperative
    assert user.phone_verified_at is not None  # the code reached the number
    org = user.organisation
    assert org.kind is OrgKind.cooperative and not org.verified
    assert (org.province.name, org.county.name) == ("辽宁省", "彰武县")
    assert (org.township, org.village) == ("梁家子镇", "道亭村")
    # logged in straight away, and the registration is in the audit trail
    assert client.get("/account").status_code == 200
    actions = {(e.subject_type, e.action) for e in db.session.scalars(select(AuditEvent))}
    assert {("organisations", "registered"), ("users", "registered")} <= actions


def test_register_as_buyer(client, sms_outbox):  # noqa: F811
    data = {
        **GOOD,
        "kind": "buyer",
        "org_name": "江西南昌粮油批发有限公司",
        "province": "江西",
        "county": "东湖区",
    }
    assert register(client, data, sms_outbox).status_code == 302
    assert db.session.scalar(select(User)).role is Role.buyer


def test_bad_input_is_explained_and_changes_nothing(client):
    data = {**GOOD, "phone": "12345", "confirm": "different", "county": "不存在县"}
    response = post_form(
        client, "/register", data, page="/register", headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Enter an 11-digit mobile number" in html or "The passwords differ." in html
    assert "The passwords differ." in html
    assert count(User) == 0 and count(Organisation) == 0


def test_unknown_county_is_refused_in_chinese(client):
    data = {**GOOD, "county": "不存在县"}
    response = post_form(
        client, "/register", data, page="/register", headers={"Accept-Language": "zh-CN"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "不存在县" in html and "辽宁省" in html
    assert "is not a county of" not in html  # the message is in Chinese
    assert count(User) == 0 and count(Organisation) == 0


def test_a_registered_number_is_told_by_text_not_on_the_page(client, sms_outbox):  # noqa: F811
    assert register(client, GOOD, sms_outbox).status_code == 302
    other = client.application.test_client()
    data = {**GOOD, "org_name": "另一个合作社"}
    en = {"Accept-Language": "en"}
    a_minute_later()
    asked = ask_for_code(other, "/register", data, "/register", headers=en)
    assert asked.status_code == 200
    # the number is texted that it has an account; no code
    last = sms_outbox.to(GOOD["phone"])[-1]
    assert last.template == "notice" and "code" not in last.params
    # so whatever code is typed, the form answers as for a wrong code
    response = post_form(
        other, "/register", {**data, "code": "000000"}, page="/register", headers=en
    )
    html = response.get_data(as_text=True)
    assert "The code is wrong or has expired" in html and "already registered" not in html
    assert count(User) == 1


def test_organisation_name_must_be_unique(client, sms_outbox):  # noqa: F811
    assert register(client, GOOD, sms_outbox).status_code == 302
    other = client.application.test_client()
    response = post_form(
        other,
        "/register",
        {**GOOD, "phone": "13900000000"},
        page="/register",
        headers={"Accept-Language": "en"},
    )
    assert "already registered" in response.get_data(as_text=True)
    assert count(Organisation) == 1


def test_offices_cannot_register_themselves(client):
    response = post_form(client, "/register", {**GOOD, "kind": "office"}, page="/register")
    assert response.status_code == 200
    assert count(Organisation) == 0


def test_register_page_lists_provinces(client):
    html = client.get("/register").get_data(as_text=True)
    assert 'value="210000"' in html and "辽宁省" in html


def test_one_mobile_number_registers_once_whatever_its_digits(client, sms_outbox):  # noqa: F811
    assert register(client, GOOD, sms_outbox).status_code == 302
    fullwidth = {**GOOD, "org_name": "另一个合作社", "phone": "１３９ ０４１８ ０００１"}
    other = client.application.test_client()
    # a minute later (the limit per number), the full-width spelling of the same number
    a_minute_later()
    asked = ask_for_code(
        other, "/register", fullwidth, "/register", headers={"Accept-Language": "zh"}
    )
    assert asked.status_code == 200
    assert sms_outbox[-1].phone == "13904180001" and sms_outbox[-1].template == "notice"
    arabic = {**GOOD, "org_name": "第三个合作社", "phone": "١٣٩٠٤١٨٠٠٠١"}
    response = ask_for_code(
        client.application.test_client(),
        "/register",
        arabic,
        "/register",
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "Enter an 11-digit mobile number" in response.get_data(as_text=True)
    assert count(User) == 1 and count(Organisation) == 1


def test_a_full_width_login_is_the_ascii_one(client, sms_outbox):  # noqa: F811
    assert register(client, GOOD, sms_outbox).status_code == 302
    other = client.application.test_client()
    response = post_form(
        other, "/login", {"login": "１３９０４１８０００１", "password": "heidou-2020"}
    )
    assert response.status_code == 302


def test_register_as_haulier_gets_passes_not_trading(client, sms_outbox):  # noqa: F811
    page = client.get("/register", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "物流/承运（运输公司、司机）" in page
    data = {**GOOD, "kind": "haulier", "org_name": "彰武顺达物流有限公司"}
    assert register(client, data, sms_outbox).status_code == 302
    user = db.session.scalar(select(User))
    assert user.role is Role.haulier and user.organisation.kind is OrgKind.haulier
    assert user.phone_verified_at is not None
    # the menu offers passes, not lots to post, demands or orders
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'href="/passes"' in html and 'href="/passes/new"' in html
    assert "Post a lot" not in html and "My demands" not in html and 'href="/orders"' not in html
    # the profile names the kind
    org_page = client.get(
        f"/organisations/{user.organisation_id}", headers={"Accept-Language": "zh-CN"}
    )
    assert "物流/承运" in org_page.get_data(as_text=True)


def test_offices_cannot_register_themselves(client, sms_outbox):  # noqa: F811
    data = {**GOOD, "kind": "office"}
    response = post_form(client, "/register", data, page="/register")
    assert response.status_code == 200
    assert count(User) == 0 and count(Organisation) == 0
