"""Notification settings (page and API) and the delivery log pages: one's own only."""

from __future__ import annotations

from sqlalchemy import select

from produce_match.audit.models import AuditEvent
from produce_match.extensions import db
from produce_match.notifications import operations as notifications
from produce_match.notifications import preferences
from produce_match.notifications.models import NotificationSettings
from tests.conftest import login, post_form
from tests.factories import PASSWORD

ORDER = {"order": 7, "buyer": "南昌粮油公司", "lot": "黑豆", "quantity_g": 10**6, "unit": "t"}


def auth(client, who: str, lang: str = "en") -> dict[str, str]:
    token = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}", "Accept-Language": lang}


def test_group_of_every_kind():
    assert preferences.group_of("order.placed") is preferences.Group.orders
    assert preferences.group_of("payment.paid_out") is preferences.Group.payments
    assert preferences.group_of("match.proposed") is preferences.Group.proposals
    assert preferences.group_of("match.digest") is preferences.Group.alerts
    assert preferences.group_of("lot.at_risk") is preferences.Group.lots
    assert preferences.group_of("problem.raised") is preferences.Group.problems
    assert preferences.group_of("account.phone_changed") is preferences.Group.account
    assert preferences.group_of("something.new") is preferences.Group.other


def test_the_page_shows_the_roles_defaults_and_saves_ones_own(app, client, users, sms):
    coop = users["coop"]
    login(client, "coop", PASSWORD)
    page = client.get("/account/notifications").get_data(as_text=True)
    assert "通知设置" in page and "免打扰时段" in page and "每日上限" in page
    assert "短信" in page and "站内信" in page
    assert 'name="group-orders" value="sms" id="group-orders-sms"\n                checked' in page
    assert 'id="group-problems-sms"\n                \n' in page  # the ledger: not by default
    assert "尚未填写" in page  # no phone number yet
    assert "group-alerts" not in page  # a cooperative gets no demand alerts
    # the tests' site default is no quiet hours: off, the usual night offered
    assert '<input id="quiet" name="quiet" type="checkbox" value="y">' in page
    assert 'value="22:00"' in page

    response = post_form(
        client,
        "/account/notifications",
        {
            "group-problems": "sms",
            "group-payments": "sms",
            "quiet": "y",
            "quiet_start": "21:30",
            "quiet_end": "06:00",
        },
        page="/account/notifications",
    )
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(NotificationSettings, coop.id)
    assert row.channels["problems"] == ["sms"] and row.channels["orders"] == []
    assert (row.quiet_start, row.quiet_end) == (21 * 60 + 30, 6 * 60)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "notification_settings_changed")
    ).one()
    assert event.actor_id == coop.id and event.subject_id == coop.id
    page = client.get("/account/notifications").get_data(as_text=True)
    assert "通知设置已保存" in page and 'value="21:30"' in page
    # nobody else's settings changed
    assert db.session.get(NotificationSettings, users["coop2"].id) is None


def test_bad_times_are_refused_in_words_and_change_nothing(client, users, sms):
    login(client, "coop", PASSWORD)
    for start, end, words in (("25:00", "07:00", "请填写时刻"), ("07:00", "07:00", "不能相同")):
        response = post_form(
            client,
            "/account/notifications",
            {"group-orders": "sms", "quiet": "y", "quiet_start": start, "quiet_end": end},
            page="/account/notifications",
        )
        assert response.status_code == 422
        assert words in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(NotificationSettings, users["coop"].id) is None


def test_the_page_without_external_channels_says_so(client, users):
    login(client, "buyer", PASSWORD)
    page = client.get("/account/notifications").get_data(as_text=True)
    assert "本站尚未开通短信或邮件渠道" in page
    assert client.get("/account").get_data(as_text=True).count("/account/notifications") == 1


def test_the_api_reads_and_writes_the_callers_settings(client, users, sms):
    headers = auth(client, "buyer")
    got = client.get("/api/v1/me/notification-settings", headers=headers)
    assert got.status_code == 200
    body = got.json
    assert body["own"] is False and body["quiet_hours"] is None
    assert body["available_channels"] == ["sms"]
    assert body["daily_limits"] == {"sms": 10, "email": 50}
    groups = {g["group"]: g["channels"] for g in body["groups"]}
    assert groups["orders"] == ["sms"] and groups["alerts"] == ["email"]
    assert "lots" not in groups  # a buyer has no lots

    put = client.put(
        "/api/v1/me/notification-settings",
        json={
            "channels": {"alerts": [], "orders": ["sms", "email"]},
            "quiet_hours": {"start": "23:00", "end": "06:30"},
        },
        headers=headers,
    )
    assert put.status_code == 200, put.json
    groups = {g["group"]: g["channels"] for g in put.json["groups"]}
    assert groups["alerts"] == [] and groups["orders"] == ["email", "sms"]
    assert groups["payments"] == ["email"]  # left out: unchanged
    assert put.json["quiet_hours"] == {"start": "23:00", "end": "06:30"} and put.json["own"]
    # quiet hours left out stay; null switches them off
    put = client.put("/api/v1/me/notification-settings", json={"channels": {}}, headers=headers)
    assert put.json["quiet_hours"] == {"start": "23:00", "end": "06:30"}
    # nothing to change is refused, saying what to give
    empty = client.put("/api/v1/me/notification-settings", json={}, headers=headers)
    assert empty.status_code == 422 and "quiet_hours" in empty.get_data(as_text=True)
    put = client.put(
        "/api/v1/me/notification-settings", json={"quiet_hours": None}, headers=headers
    )
    assert put.json["quiet_hours"] is None
    # the others are untouched
    assert (
        client.get("/api/v1/me/notification-settings", headers=auth(client, "coop")).json["own"]
        is False
    )


def test_the_api_refuses_nonsense_in_the_callers_language(client, users):
    headers = auth(client, "coop", "zh")
    for body, field in (
        ({"channels": {"alerts": ["sms"]}}, "channels.alerts"),  # not a cooperative's group
        ({"channels": {"orders": ["pigeon"]}}, "channels"),
        ({"quiet_hours": {"start": "7", "end": "08:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "08:00", "end": "08:00"}}, "quiet_hours"),
    ):
        response = client.put("/api/v1/me/notification-settings", json=body, headers=headers)
        assert response.status_code == 422, (body, response.json)
        error = response.json["error"]
        assert any(key.startswith(field) for key in error["fields"]), error
    db.session.expire_all()
    assert db.session.get(NotificationSettings, users["coop"].id) is None
    assert client.get("/api/v1/me/notification-settings").status_code == 401
    assert client.put("/api/v1/me/notification-settings", json={}).status_code == 401


def test_the_delivery_log_shows_ones_own_and_administrators_see_all(app, client, users, sms):
    coop, buyer = users["coop"], users["buyer"]
    coop.phone = "13912345678"
    db.session.commit()
    notifications.notify([coop], "order.placed", ORDER, url="/orders/7")
    accepted = {**ORDER, "cooperative": "道亭"}
    notifications.notify([buyer], "order.accepted", accepted, url="/orders/7")
    db.session.commit()

    login(client, "coop", PASSWORD)
    page = client.get("/notifications/deliveries").get_data(as_text=True)
    assert "发送记录" in page and "已发送" in page and "短信" in page
    assert "南昌粮油公司 订购了" in page
    assert "已接受" not in page and "接单" not in page  # the buyer's notice is the buyer's
    assert "接收人" not in page  # no recipient column in one's own log
    assert client.get("/admin/notifications/deliveries").status_code == 404
    inbox = client.get("/notifications").get_data(as_text=True)
    assert "短信（已发送）" in inbox and "日志" not in inbox  # the operators' channel is not shown
    api = client.get("/api/v1/me/deliveries", headers=auth(client, "coop")).json
    assert [(d["channel"], d["status"]) for d in api["items"]] == [("log", "sent"), ("sms", "sent")]
    assert api["total"] == 2 and api["items"][1]["kind"] == "order.placed"

    admin = client.application.test_client()
    login(admin, "admin", PASSWORD)
    page = admin.get("/admin/notifications/deliveries").get_data(as_text=True)
    assert "通知发送记录" in page and "coop" in page and "buyer" in page and "13912345678" in page
    only_sms = admin.get("/admin/notifications/deliveries?channel=sms&status=sent")
    assert only_sms.get_data(as_text=True).count('class="delivery status-sent"') == 2
    assert "/admin/notifications/deliveries" in admin.get("/account").get_data(as_text=True)


def test_visitors_are_sent_to_log_in(client, users):
    for path in ("/account/notifications", "/notifications/deliveries"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location
    assert client.get("/admin/notifications/deliveries").status_code in (302, 404)


def test_check_deploy_wants_a_server_a_sender_and_https_links_for_email(app):
    from produce_match.web.notifications import _production_problems

    assert _production_problems({"NOTIFICATION_CHANNELS": ("log",)}) == []
    found = _production_problems({"NOTIFICATION_CHANNELS": ("email",), "SITE_URL": "http://x"})
    assert len(found) == 2 and "MAIL_SERVER" in found[0] and "SITE_URL" in found[1]
    ready = {
        "NOTIFICATION_CHANNELS": ("email",),
        "MAIL_SERVER": "smtp.example.org",
        "MAIL_FROM": "noreply@example.org",
        "SITE_URL": "https://pm.example.org",
    }
    assert _production_problems(ready) == []
