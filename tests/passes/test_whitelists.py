"""The office's pages: the whitelist (add, remove, read another's), its import, recognition of
other offices' whitelists, and the checkpoint staff's accounts."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import Forbidden

from produce_match.accounts.models import Role, User
from produce_match.audit.models import AuditEvent
from produce_match.dates import local_today
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.passes import operations as passes
from produce_match.passes.models import PassStatus, Recognition, WhitelistEntry
from produce_match.storage import get_storage
from tests.conftest import login, post_form
from tests.factories import PASSWORD
from tests.passes.conftest import apply
from tests.sms import sms_outbox, with_code  # noqa: F401 (fixture)

EN = {"Accept-Language": "en"}


def entries(office_id: int | None = None) -> list[WhitelistEntry]:
    query = select(WhitelistEntry).order_by(WhitelistEntry.id)
    if office_id is not None:
        query = query.where(WhitelistEntry.office_id == office_id)
    return list(db.session.scalars(query))


def as_user(client: Any, who: str) -> Any:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, who, PASSWORD)
    return client


def add(client: Any, **fields: Any) -> Any:
    today = local_today()
    data = {
        "organisation": "彰武顺达物流",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=30)).isoformat(),
        "reason": "保供重点运输企业",
        **fields,
    }
    return post_form(client, "/office/whitelist", data, page="/office/whitelist")


# --- the whitelist ----------------------------------------------------------------------------


def test_an_official_adds_and_removes_an_entry(client, world):
    as_user(client, "official")
    page = client.get("/office/whitelist")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # the registered organisations are suggested, offices are not
    assert '<option value="彰武顺达物流">' in html and '<option value="道亭村合作社">' in html
    assert '<option value="东湖区商务局">' not in html

    response = add(client)
    assert response.status_code == 302
    (entry,) = entries()
    assert entry.office_id == world["official"].organisation_id
    assert entry.organisation_id == world["haulier"].organisation_id
    html = client.get("/office/whitelist").get_data(as_text=True)
    assert "彰武顺达物流" in html and "in force" in html and "保供重点运输企业" in html

    removed = post_form(
        client, f"/office/whitelist/{entry.id}/remove", {}, page="/office/whitelist"
    )
    assert removed.status_code == 302
    db.session.refresh(entry)
    assert entry.removed_at is not None
    assert "removed" in client.get("/office/whitelist").get_data(as_text=True)
    actions = [
        e.action
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type == "whitelist_entries")
        )
    ]
    assert actions == ["created", "removed"]


def test_bad_input_is_explained_and_nothing_is_added(client, world):
    as_user(client, "official")
    response = add(client, organisation="没有这个单位")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "No cooperative, buyer or haulier of that name is registered." in html
    assert entries() == []
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    response = add(client, valid_from=yesterday, valid_until=yesterday)
    assert response.status_code == 422 and "would have ended already" in response.get_data(
        as_text=True
    )
    assert entries() == []


def test_the_page_is_in_chinese(client, world):
    login(client, "official", PASSWORD)
    html = client.get("/office/whitelist", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert "白名单" in html and "列入理由" in html


def test_another_office_reads_our_whitelist_but_cannot_remove_from_it(client, world, app):
    entry = passes.add_entry(
        world["official"],
        passes.EntryInput(
            "彰武顺达物流", valid_until=local_today() + timedelta(days=9), reason="保供"
        ),
    )
    db.session.commit()
    office_id = world["official"].organisation_id
    as_user(client, "jiangxi")
    page = client.get(f"/office/whitelist/{office_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "彰武顺达物流" in html
    assert f"/office/whitelist/{entry.id}/remove" not in html  # read-only
    refused = post_form(client, f"/office/whitelist/{entry.id}/remove", {}, page="/office/staff")
    assert refused.status_code == 403
    db.session.refresh(entry)
    assert entry.removed_at is None


@pytest.mark.parametrize("who", ["gate", "coop", "buyer", "haulier"])
def test_staff_and_traders_are_refused(app, world, who):
    client = app.test_client()
    as_user(client, world[who].login)
    office_id = world["official"].organisation_id
    for path in (
        "/office/whitelist",
        f"/office/whitelist/{office_id}",
        "/office/whitelist/import",
        "/office/recognitions",
        "/office/staff",
    ):
        assert client.get(path).status_code == 403, path
    assert add(client).status_code == 403
    assert entries() == []


# --- importing --------------------------------------------------------------------------------


ZH = ["单位名称", "生效日期", "截止日期", "列入理由"]


def rows_until(days: int = 60) -> list[list[str]]:
    today = local_today()
    until = (today + timedelta(days=days)).isoformat()
    return [
        ["彰武顺达物流", today.isoformat(), until, "保供重点运输企业"],
        ["道亭村合作社", "", until, "黑豆保供合作社"],
    ]


def csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue().encode("utf-8")


def xlsx_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: Any, name: str, data: bytes) -> Any:
    return post_form(
        client,
        "/office/whitelist/import",
        {"file": (io.BytesIO(data), name)},
        page="/office/whitelist/import",
        content_type="multipart/form-data",
    )


def token_of(response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    match = re.fullmatch(r"/office/whitelist/import/([0-9a-f]{32})", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def confirm(client: Any, token: str) -> Any:
    page = f"/office/whitelist/import/{token}"
    return post_form(client, f"{page}/confirm", {}, page=page)


def test_an_xlsx_whitelist_is_previewed_then_imported(client, world):
    as_user(client, "official")
    token = token_of(upload(client, "白名单.xlsx", xlsx_bytes(ZH, rows_until())))
    assert get_storage().exists(f"whitelist-imports/{world['official'].id}/{token}.xlsx")
    page = client.get(f"/office/whitelist/import/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "2 rows can be imported" in html
    assert entries() == []  # the preview adds nothing

    done = confirm(client, token)
    assert done.status_code == 302 and done.headers["Location"] == "/office/whitelist"
    added = entries()
    assert [e.organisation.name for e in added] == ["彰武顺达物流", "道亭村合作社"]
    assert added[1].valid_from == local_today()  # empty: today
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "whitelist_entries")
    ).all()
    assert len(events) == 2 and all(e.changes.get("via") == "import" for e in events)
    # confirmed once: the stored file is gone
    assert client.get(f"/office/whitelist/import/{token}").status_code == 404


def test_english_headers_and_csv_are_read(client, world):
    as_user(client, "official")
    header = ["Organisation", "Valid from", "Valid until", "Reason"]
    token = token_of(upload(client, "list.csv", csv_bytes(header, rows_until())))
    assert confirm(client, token).status_code == 302
    assert len(entries()) == 2


def test_one_bad_row_imports_nothing(client, world):
    as_user(client, "official")
    rows = [
        *rows_until(),
        ["没有这个单位", "", "2099-01-01", "理由"],
        ["道亭村合作社", "", "2099-01-01", "又一次"],
    ]
    token = token_of(upload(client, "list.csv", csv_bytes(ZH, rows)))
    html = client.get(f"/office/whitelist/import/{token}").get_data(as_text=True)
    assert "2 rows have errors" in html
    assert 'id="line-4"' in html and "No cooperative, buyer or haulier" in html
    assert "names this organisation on line 3 already" in html  # twice in one file
    assert f"/office/whitelist/import/{token}/confirm" not in html
    response = confirm(client, token)
    assert response.status_code == 422
    assert entries() == []


def test_a_header_error_stops_the_import(client, world):
    as_user(client, "official")
    header = ["单位名称", "生效日期", "截至日期", "列入理由"]  # a typo: 截至
    token = token_of(upload(client, "list.csv", csv_bytes(header, rows_until())))
    html = client.get(f"/office/whitelist/import/{token}").get_data(as_text=True)
    assert "The columns are not right" in html and "截至日期: Unknown column" in html
    assert confirm(client, token).status_code == 422
    assert entries() == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("list.pdf", b"%PDF-1.4", "Upload a .csv or .xlsx file."),
        ("list.xlsx", b"not a workbook at all", "not an Excel workbook we can read"),
        ("list.csv", b"", "The file is empty."),
        ("list.csv", "单位名称,截止日期,列入理由\r\n".encode(), "no organisations under it"),
    ],
)
def test_bad_files_are_explained(client, world, name, data, message):
    as_user(client, "official")
    response = upload(client, name, data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_a_file_too_large_is_refused(client, world, monkeypatch):
    # (small here: the test client spools a real 2 MB upload to a file it does not close)
    monkeypatch.setattr("produce_match.passes.imports.MAX_BYTES", 100)
    as_user(client, "official")
    response = upload(client, "list.csv", csv_bytes(ZH, rows_until()) + b" " * 100)
    assert response.status_code == 422
    assert "The file is larger than" in response.get_data(as_text=True)


def test_too_many_rows_are_refused(client, world, monkeypatch):
    monkeypatch.setattr("produce_match.passes.imports.MAX_ROWS", 2)
    as_user(client, "official")
    rows = [[f"单位{n}", "", "2099-01-01", "理由"] for n in range(3)]
    response = upload(client, "list.csv", csv_bytes(ZH, rows))
    assert response.status_code == 422
    assert "more than 2 rows" in response.get_data(as_text=True)


def test_the_template_has_the_chinese_headers_and_imports_as_is(client, world):
    as_user(client, "official")
    response = client.get("/office/whitelist/import/template.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8-sig")
    assert text.splitlines()[0] == ",".join(ZH)
    # the example names an organisation that is not registered here: one error, nothing added
    token = token_of(upload(client, "template.csv", response.get_data()))
    assert confirm(client, token).status_code == 422


def test_another_officials_upload_is_not_found(app, world):
    first = as_user(app.test_client(), "official")
    token = token_of(upload(first, "list.csv", csv_bytes(ZH, rows_until())))
    other = as_user(app.test_client(), "provincial")
    assert other.get(f"/office/whitelist/import/{token}").status_code == 404


# --- recognition (互认) -----------------------------------------------------------------------


def test_recognising_another_whitelist_approves_its_entries_at_once(client, world):
    # Donghu puts the Zhangwu haulier on its whitelist; the haulier's pass from Zhangwu waits...
    passes.add_entry(
        world["other_official"],
        passes.EntryInput(
            "彰武顺达物流", valid_until=local_today() + timedelta(days=9), reason="保供"
        ),
    )
    db.session.commit()
    assert apply(world["haulier"]).status is PassStatus.pending

    # ...until Zhangwu recognises Donghu's whitelist
    as_user(client, "official")
    page = client.get("/office/recognitions")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "东湖区商务局" in html and "江西省" in html
    donghu = world["other_official"].organisation_id
    response = post_form(
        client, "/office/recognitions", {"office": donghu}, page="/office/recognitions"
    )
    assert response.status_code == 302
    row = apply(world["haulier"], plate="辽A54321")
    assert row.status is PassStatus.approved and row.whitelist_entry_id is not None

    # Donghu sees who recognises it
    other = as_user(client.application.test_client(), "jiangxi")
    assert "彰武县电商办" in other.get("/office/recognitions").get_data(as_text=True)

    # stopping: the next pass waits again
    (recognition,) = db.session.scalars(select(Recognition)).all()
    ended = post_form(
        client,
        f"/office/recognitions/{recognition.id}/end",
        {},
        page="/office/recognitions",
    )
    assert ended.status_code == 302
    assert db.session.scalars(select(Recognition)).all() == []
    assert apply(world["haulier"], plate="辽A11111").status is PassStatus.pending


def test_an_office_cannot_end_another_offices_recognition(client, world):
    recognition = passes.recognise(world["official"], world["other_official"].organisation)
    db.session.commit()
    as_user(client, "jiangxi")
    response = post_form(
        client, f"/office/recognitions/{recognition.id}/end", {}, page="/office/recognitions"
    )
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Recognition)) == 1


def test_recognising_oneself_or_a_cooperative_is_refused(client, world):
    as_user(client, "official")
    for target in (world["official"].organisation_id, world["coop"].organisation_id):
        response = post_form(
            client, "/office/recognitions", {"office": target}, page="/office/recognitions"
        )
        assert response.status_code == 302
        assert "Choose another office." in client.get("/office/recognitions").get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Recognition)) == 0


# --- checkpoint staff -------------------------------------------------------------------------


def test_an_official_adds_staff_who_set_their_password_by_code(client, world, sms_outbox):  # noqa: F811
    as_user(client, "official")
    data = {"name": "赵卡口", "phone": "139 1111 2222"}
    response = post_form(client, "/office/staff", data, page="/office/staff")
    assert response.status_code == 302
    staff = db.session.scalar(select(User).where(User.login == "13911112222"))
    assert staff.role is Role.checkpoint
    assert staff.organisation_id == world["official"].organisation_id
    html = client.get("/office/staff").get_data(as_text=True)
    assert "赵卡口" in html and "Forgot your password?" in html

    # the staff member sets a password with the code texted to the number, and logs in
    newcomer = client.application.test_client()
    reset = {"phone": "13911112222", "new_password": "kakou-2026", "confirm": "kakou-2026"}
    done = with_code(newcomer, "/password/reset", reset, sms_outbox, page="/password/reset")
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    login(newcomer, "13911112222", "kakou-2026")
    db.session.refresh(staff)
    assert staff.phone_verified_at is not None

    # a number that has an account already is refused
    again = post_form(client, "/office/staff", data, page="/office/staff")
    assert again.status_code == 422 and "already has an account" in again.get_data(as_text=True)


def test_an_official_disables_only_the_own_offices_staff(app, world):
    gate, other_gate = world["gate"], world["other_gate"]
    client = as_user(app.test_client(), "official")
    refused = post_form(
        client, f"/office/staff/{other_gate.id}/disable", {"disabled": "1"}, page="/office/staff"
    )
    assert refused.status_code == 404  # not one's to know of
    # nor another official of the office, nor a trader
    for user in (world["province_official"], world["coop"]):
        response = post_form(
            client, f"/office/staff/{user.id}/disable", {"disabled": "1"}, page="/office/staff"
        )
        assert response.status_code == 404
    done = post_form(
        client, f"/office/staff/{gate.id}/disable", {"disabled": "1"}, page="/office/staff"
    )
    assert done.status_code == 302
    db.session.refresh(gate)
    db.session.refresh(other_gate)
    assert gate.disabled_at is not None and other_gate.disabled_at is None
    # the staff member can no longer log in; enabled again, they can
    staff_client = app.test_client()
    failed = post_form(staff_client, "/login", {"login": "gate", "password": PASSWORD})
    assert failed.status_code != 302
    post_form(client, f"/office/staff/{gate.id}/disable", {"disabled": "0"}, page="/office/staff")
    login(staff_client, "gate", PASSWORD)


def test_the_disable_rule(world):
    from produce_match.policy import can

    official, gate = world["official"], world["gate"]
    assert can(official, "disable", gate)
    assert not can(official, "disable", world["other_gate"])
    assert not can(world["other_official"], "disable", gate)
    assert not can(world["province_official"], "disable", gate)  # another office
    assert not can(official, "disable", world["province_official"])
    assert not can(official, "disable", world["coop"])
    assert not can(gate, "disable", gate) and not can(gate, "disable", official)
    assert can(world["admin"], "disable", gate)


def test_bad_staff_input_is_explained(client, world):
    as_user(client, "official")
    response = post_form(
        client, "/office/staff", {"name": "赵卡口", "phone": "12345"}, page="/office/staff"
    )
    assert response.status_code == 422
    assert "11-digit mobile number" in response.get_data(as_text=True)
    count = db.session.scalar(select(func.count()).where(User.role == Role.checkpoint))
    assert count == 2  # the world's two


def test_the_import_operation_adds_all_rows_or_none(world):
    good = passes.EntryInput(
        "彰武顺达物流", valid_until=local_today() + timedelta(days=9), reason="保供"
    )
    bad = passes.EntryInput(
        "没有这个单位", valid_until=local_today() + timedelta(days=9), reason="x"
    )
    with pytest.raises(ValidationFailed):
        passes.add_entries(world["official"], [good, bad])
    db.session.rollback()
    assert entries() == []
    with pytest.raises(Forbidden):
        passes.add_entries(world["gate"], [good])
    assert len(passes.add_entries(world["official"], [good])) == 1


def test_hauliers_are_not_offered_trading(app, world):
    client = as_user(app.test_client(), "haulier")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/passes"' in html and 'href="/passes/new"' in html
    assert "Post a lot" not in html and 'href="/orders"' not in html
    assert client.get("/lots/new").status_code in (403, 404)
    assert client.get("/demands/new").status_code in (403, 404)
