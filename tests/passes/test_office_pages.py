"""The office's pass pages: the approval queue and its one-tap decisions, checkpoints, 熔断,
and the scan at a checkpoint; who may use each (an office only its own jurisdiction, checkpoint
staff only the scan)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from flask import render_template, session
from flask_login import login_user
from sqlalchemy import func, select

from produce_match.accounts.models import Role
from produce_match.accounts.operations import PlaceInput
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.passes import operations as passes
from produce_match.passes.models import (
    Checkpoint,
    PassScan,
    PassStatus,
    Suspension,
    TransportPass,
)
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes, make_user
from tests.passes.conftest import apply

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


def logged_in(app, who: str):
    client = app.test_client()
    login(client, who, PASSWORD)
    return client


def fresh(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


def scans_of(row: TransportPass) -> int:
    return db.session.scalar(select(func.count(PassScan.id)).where(PassScan.pass_id == row.id))


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_shows_the_passes_waiting_for_this_office_oldest_first(app, world):
    older = apply(world["haulier"])
    newer = apply(world["haulier"], plate="辽A54321")
    older.created_at = utcnow() - timedelta(minutes=25)
    db.session.commit()
    client = logged_in(app, "official")
    html = client.get("/office/passes", headers=ZH).get_data(as_text=True)
    assert html.index(older.number) < html.index(newer.number)
    assert "已等待 25 分钟" in html
    assert f"/passes/{older.id}/approve" in html and f"/passes/{older.id}/reject" in html
    # the destination's office sees neither waiting for it: they are not its to decide
    other = logged_in(app, "jiangxi")
    page = other.get("/office/passes", headers=ZH).get_data(as_text=True)
    assert older.number not in page
    assert older.number not in other.get("/office/passes?tab=stopped").get_data(as_text=True)


def test_one_tap_approve_from_the_queue(app, world):
    row = apply(world["haulier"])
    client = logged_in(app, "official")
    response = post_form(
        client,
        f"/passes/{row.id}/approve",
        {"next": "/office/passes?tab=pending"},
        page="/office/passes",
        headers=EN,
    )
    assert response.status_code == 302
    assert response.location.endswith("/office/passes?tab=pending")
    assert fresh(TransportPass, row.id).status is PassStatus.approved
    assert "is approved" in client.get("/office/passes", headers=EN).get_data(as_text=True)
    page = client.get("/office/passes?tab=approved").get_data(as_text=True)
    assert row.number in page


def test_reject_needs_a_reason_and_writes_nothing_without_one(app, world):
    row = apply(world["haulier"])
    client = logged_in(app, "official")
    response = post_form(
        client, f"/passes/{row.id}/reject", {"reason": "  "}, page="/office/passes", headers=ZH
    )
    assert response.status_code == 302
    assert fresh(TransportPass, row.id).status is PassStatus.pending
    assert "请填写不予通过的理由" in client.get("/office/passes", headers=ZH).get_data(as_text=True)
    response = post_form(
        client,
        f"/passes/{row.id}/reject",
        {"reason": "车牌与行驶证不符"},
        page="/office/passes",
    )
    assert response.status_code == 302
    row = fresh(TransportPass, row.id)
    assert row.status is PassStatus.rejected and row.reject_reason == "车牌与行驶证不符"
    assert row.number in client.get("/office/passes?tab=stopped").get_data(as_text=True)


def test_next_must_stay_on_the_site(app, world):
    row = apply(world["haulier"])
    client = logged_in(app, "official")
    response = post_form(
        client,
        f"/passes/{row.id}/approve",
        {"next": "//evil.example/x"},
        page="/office/passes",
    )
    assert response.location.endswith("/office/passes")


@pytest.mark.parametrize(
    ("who", "statuses"),
    [
        ("jiangxi", (403,)),  # the destination's office: sees it, does not decide it
        ("coop2", (404,)),
        ("buyer", (404,)),
        ("coop", (404,)),
        ("haulier", (403,)),  # its applicant
        ("admin", (403,)),
        ("gate", (403,)),
    ],
)
def test_only_the_origin_office_approves_or_rejects(app, world, who, statuses):
    row = apply(world["haulier"])
    client = logged_in(app, who)
    for action, data in (("approve", {}), ("reject", {"reason": "不行"})):
        response = post_form(client, f"/passes/{row.id}/{action}", data, page="/")
        assert response.status_code in statuses, (who, action)
    assert fresh(TransportPass, row.id).status is PassStatus.pending


def test_another_countys_office_cannot_touch_the_pass(app, world):
    make_user("jinzhou", Role.official, "金州区商务局", province="辽宁", county="金州区")
    row = apply(world["haulier"])
    client = logged_in(app, "jinzhou")
    for action in ("approve", "reject", "revoke"):
        response = post_form(client, f"/passes/{row.id}/{action}", {"reason": "x"}, page="/")
        assert response.status_code == 404
    assert row.number not in client.get("/office/passes").get_data(as_text=True)


def test_the_province_office_decides_its_counties_passes(app, world):
    row = apply(world["haulier"])
    client = logged_in(app, "provincial")
    assert row.number in client.get("/office/passes").get_data(as_text=True)
    post_form(client, f"/passes/{row.id}/approve", {}, page="/office/passes")
    assert fresh(TransportPass, row.id).status is PassStatus.approved


def test_revoke_by_either_end_with_a_reason_back_to_the_pass(app, world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    client = logged_in(app, "jiangxi")
    response = post_form(client, f"/passes/{row.id}/revoke", {"reason": ""}, page="/")
    assert response.location.endswith(f"/passes/{row.id}")
    assert fresh(TransportPass, row.id).status is PassStatus.approved
    response = post_form(
        client,
        f"/passes/{row.id}/revoke",
        {"reason": "货物与申报不符", "next": f"/passes/{row.id}"},
        page="/",
    )
    assert response.location.endswith(f"/passes/{row.id}")
    row = fresh(TransportPass, row.id)
    assert row.status is PassStatus.revoked and row.revoke_reason == "货物与申报不符"


@pytest.mark.parametrize("who", ["coop", "buyer", "haulier", "admin"])
def test_the_office_pages_are_for_officials(app, world, who):
    client = logged_in(app, who)
    for page in ("/office/passes", "/office/checkpoints", "/office/suspensions"):
        assert client.get(page).status_code == 403, page


def test_checkpoint_staff_only_scan(app, world):
    row = apply(world["haulier"])
    client = logged_in(app, "gate")
    for page in ("/office/passes", "/office/checkpoints", "/office/suspensions"):
        assert client.get(page).status_code == 403, page
    for url, data in (
        (f"/passes/{row.id}/approve", {}),
        (f"/passes/{row.id}/reject", {"reason": "x"}),
        (f"/passes/{row.id}/revoke", {"reason": "x"}),
        ("/office/checkpoints", {"name": "新检查点", "kind": "other"}),
        (f"/office/checkpoints/{world['exit_point'].id}/retire", {}),
        ("/office/suspensions", {"organisation_name": "彰武顺达物流", "reason": "x"}),
    ):
        assert post_form(client, url, data, page="/office/scan").status_code == 403, url
    help_page = client.get("/office/scan", headers=ZH)
    assert help_page.status_code == 200
    html = help_page.get_data(as_text=True)
    assert "扫码核验" in html and "彰武高速出口" in html
    assert "/orders" not in html and "/office/passes" not in html


def test_the_navigation_names_each_its_pages(app, world):
    official = logged_in(app, "official").get("/", headers=ZH).get_data(as_text=True)
    # one entry in the menu; the office's pages link to each other with one row of tabs
    assert 'href="/office/passes"' in official
    tabs = logged_in(app, "official").get("/office/passes", headers=ZH).get_data(as_text=True)
    for text in ("审批通行证", "检查点", "熔断", "白名单", "互认", "检查站工作人员"):
        assert text in tabs
    coop = logged_in(app, "coop").get("/", headers=ZH).get_data(as_text=True)
    assert "审批通行证" not in coop and "扫码核验" not in coop


def test_the_scan_help_finds_a_pass_by_its_code(app, world):
    row = apply(world["haulier"])
    client = logged_in(app, "gate")
    response = client.get(f"/office/scan?code=https://example.com/v/{row.code}")
    assert response.status_code == 302 and response.location.endswith(f"/v/{row.code}")
    assert client.get("/office/scan?code=nothing-here").status_code == 404


# --- overdue --------------------------------------------------------------------------------


def test_overdue_passes_are_highlighted_in_their_tab(app, world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    passes.record_passage(world["other_gate"], row, world["entry_point"], "in")
    row.expected_by = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert passes.flag_overdue() == 1
    db.session.commit()
    client = logged_in(app, "jiangxi")
    html = client.get("/office/passes?tab=overdue", headers=ZH).get_data(as_text=True)
    assert row.number in html and "pass-late" in html and "超时" in html
    assert row.number not in client.get("/office/passes?tab=approved").get_data(as_text=True)


# --- checkpoints ----------------------------------------------------------------------------


def test_an_office_adds_and_retires_its_checkpoints(app, world):
    client = logged_in(app, "official")
    page = client.get("/office/checkpoints", headers=ZH).get_data(as_text=True)
    assert "彰武高速出口" in page and 'value="彰武县"' in page
    response = post_form(
        client,
        "/office/checkpoints",
        {"name": "G25 彰武北", "kind": "expressway_exit", "county": ""},
        page="/office/checkpoints",
    )
    assert response.status_code == 302
    point = db.session.scalar(select(Checkpoint).where(Checkpoint.name == "G25 彰武北"))
    assert point.office_id == world["official"].organisation_id
    assert point.county_code == world["official"].organisation.county_code
    refused = post_form(
        client,
        "/office/checkpoints",
        {"name": "南昌站", "kind": "other", "county": "东湖区"},
        page="/office/checkpoints",
        headers=ZH,
    )
    assert refused.status_code == 422
    assert "辖区" in refused.get_data(as_text=True)
    assert not db.session.scalar(select(Checkpoint).where(Checkpoint.name == "南昌站"))
    response = post_form(
        client, f"/office/checkpoints/{point.id}/retire", {}, page="/office/checkpoints"
    )
    assert response.status_code == 302
    assert fresh(Checkpoint, point.id).retired_at is not None
    # another office's checkpoint is not this one's to retire
    other = world["entry_point"].id
    response = post_form(client, f"/office/checkpoints/{other}/retire", {}, page="/")
    assert response.status_code == 403
    assert fresh(Checkpoint, other).retired_at is None


# --- suspensions ----------------------------------------------------------------------------


def test_suspend_and_lift_through_the_pages(app, world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    client = logged_in(app, "official")
    page = client.get(
        f"/office/suspensions?organisation={row.applicant_org_id}", headers=ZH
    ).get_data(as_text=True)
    assert f'<option selected value="{row.applicant_org_id}">' in page
    no_reason = post_form(
        client,
        "/office/suspensions",
        {"organisation": str(row.applicant_org_id), "reason": ""},
        page="/office/suspensions",
    )
    assert no_reason.status_code == 422
    assert db.session.scalar(select(func.count(Suspension.id))) == 0
    unknown = post_form(
        client,
        "/office/suspensions",
        {"organisation_name": "没有这家", "reason": "超载"},
        page="/office/suspensions",
    )
    assert unknown.status_code == 422
    response = post_form(
        client,
        "/office/suspensions",
        {"organisation_name": "彰武顺达物流", "reason": "超载运输"},
        page="/office/suspensions",
    )
    assert response.status_code == 302
    assert fresh(TransportPass, row.id).status is PassStatus.suspended
    suspension = db.session.scalar(select(Suspension))
    assert "超载运输" in client.get("/office/suspensions").get_data(as_text=True)
    # only its office lifts it
    other = logged_in(app, "jiangxi")
    lifted = post_form(other, f"/office/suspensions/{suspension.id}/lift", {}, page="/")
    assert lifted.status_code == 403
    response = post_form(
        client, f"/office/suspensions/{suspension.id}/lift", {}, page="/office/suspensions"
    )
    assert response.status_code == 302
    assert fresh(Suspension, suspension.id).lifted_at is not None
    assert fresh(TransportPass, row.id).status is PassStatus.approved


# --- the scan -------------------------------------------------------------------------------


def test_checkpoint_staff_record_a_passage(app, world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    client = logged_in(app, "gate")
    response = post_form(
        client,
        f"/v/{row.code}/passages",
        {"checkpoint": str(world["exit_point"].id), "direction": "out", "note": "已查验"},
        page="/office/scan",
    )
    assert response.status_code == 302 and response.location.endswith(f"/v/{row.code}")
    row = fresh(TransportPass, row.id)
    assert row.exited_at is not None and scans_of(row) == 1
    messages = client.get("/office/scan", headers=ZH).get_data(as_text=True)
    assert "已记录：" in messages
    with client.session_transaction() as session:
        assert session["scan_checkpoint"] == world["exit_point"].id


def test_a_wrong_checkpoint_or_an_invalid_pass_is_refused(app, world):
    row = apply(world["haulier"])
    client = logged_in(app, "gate")
    pending = post_form(
        client,
        f"/v/{row.code}/passages",
        {"checkpoint": str(world["exit_point"].id), "direction": "out"},
        page="/office/scan",
    )
    assert pending.status_code == 302
    assert scans_of(row) == 0
    passes.approve(world["official"], row)
    db.session.commit()
    wrong = post_form(
        client,
        f"/v/{row.code}/passages",
        {"checkpoint": str(world["entry_point"].id), "direction": "in"},
        page="/office/scan",
        headers=ZH,
    )
    assert wrong.status_code == 302
    assert scans_of(row) == 0
    page = client.get("/office/scan", headers=ZH).get_data(as_text=True)
    assert "本单位的检查点" in page
    no_direction = post_form(
        client,
        f"/v/{row.code}/passages",
        {"checkpoint": str(world["exit_point"].id), "direction": "sideways"},
        page="/office/scan",
    )
    assert no_direction.status_code == 302 and scans_of(row) == 0
    # not a scanner at all
    coop = logged_in(app, "coop")
    response = post_form(
        coop,
        f"/v/{row.code}/passages",
        {"checkpoint": str(world["exit_point"].id), "direction": "out"},
        page="/",
    )
    assert response.status_code in (403, 404) and scans_of(row) == 0
    assert post_form(client, "/v/unknown/passages", {}, page="/").status_code == 404


def _panel(app, user, row) -> str:
    with app.test_request_context("/v/" + row.code, headers=ZH):
        login_user(user)
        return render_template("passes/_scan_panel.html", tpass=row)


def test_the_scan_panel_offers_two_buttons_or_says_no(app, world):
    row = apply(world["haulier"])
    html = _panel(app, world["gate"], row)  # pending: not yet valid, it may not pass
    assert "不得放行" in html and "记录出口" not in html
    passes.approve(world["official"], row)
    db.session.commit()
    html = _panel(app, world["gate"], row)
    assert "记录出口（出）" in html and "记录入口（进）" in html
    assert 'capture="environment"' in html and "彰武高速出口" in html
    second = passes.add_checkpoint(world["official"], "彰武县界卡口", "county_border", PlaceInput())
    db.session.commit()
    html = _panel(app, world["gate"], row)  # two: none chosen for the staff
    assert '<option selected value="">' in html
    with app.test_request_context("/v/" + row.code, headers=ZH):
        login_user(world["gate"])
        session["scan_checkpoint"] = second.id  # the one used last
        html = render_template("passes/_scan_panel.html", tpass=row)
    assert f'<option selected value="{second.id}">' in html
    assert _panel(app, world["coop"], row).strip() == ""
    passes.revoke(world["official"], row, "违规")
    db.session.commit()
    html = _panel(app, world["gate"], row)
    assert "不得放行" in html and "记录出口" not in html


def test_the_office_actions_match_the_viewer(app, world):
    row = apply(world["haulier"])

    def actions(user) -> str:
        with app.test_request_context(f"/passes/{row.id}", headers=ZH):
            login_user(user)
            return render_template("passes/_office_actions.html", tpass=row)

    assert f"/passes/{row.id}/approve" in actions(world["official"])
    assert "/approve" not in actions(world["other_official"])
    for who in ("gate", "coop", "haulier", "admin"):
        assert actions(world[who]).strip() == "", who
    passes.approve(world["official"], row)
    db.session.commit()
    assert f"/passes/{row.id}/revoke" in actions(world["other_official"])
    assert "/office/suspensions?organisation=" in actions(world["official"])


def test_a_passage_with_a_photo_from_the_camera(app, world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    client = logged_in(app, "jiangxi")  # an official of an office with a checkpoint scans too
    response = post_form(
        client,
        f"/v/{row.code}/passages",
        {
            "checkpoint": str(world["entry_point"].id),
            "direction": "in",
            "photo": (io.BytesIO(jpeg_bytes()), "plate.jpg"),
        },
        page="/office/scan",
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    scan = db.session.scalar(select(PassScan).where(PassScan.pass_id == row.id))
    assert scan.kind.value == "entry" and scan.photo_key is not None
    assert fresh(TransportPass, row.id).expected_by is not None


def test_the_queue_in_english(app, world):
    row = apply(world["haulier"])
    row.created_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    html = logged_in(app, "official").get("/office/passes", headers=EN).get_data(as_text=True)
    assert "Waiting for 1 minute" in html and ">Reject<" in html and "Pass approvals" in html
