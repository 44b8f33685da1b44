"""Importing lots from spreadsheets: reading, checking, the command and the pages."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import event, func, select
from werkzeug.exceptions import Forbidden

from produce_match.accounts.models import Organisation, OrgKind
from produce_match.audit.operations import history
from produce_match.catalog import regions
from produce_match.dates import local_today
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots import imports
from produce_match.lots.models import Lot
from produce_match.storage import get_storage
from tests.conftest import login, post_form
from tests.factories import PASSWORD

TODAY = local_today()
NOT_IN_CATALOGUE = (
    "%(name)s is not in our catalogue. Check the name, or choose its kind to post it as it is."
)
SOON = (TODAY + timedelta(days=20)).isoformat()
PAST = (TODAY - timedelta(days=2)).isoformat()

EN = [
    "cooperative",
    "commodity",
    "quantity",
    "unit",
    "price",
    "price_unit",
    "province",
    "county",
    "spoil_by",
    "contact_person",
    "phone",
]
ZH = [
    "合作社",
    "品类",
    "数量",
    "单位",
    "价格",
    "计价单位",
    "省",
    "县",
    "最迟销售日期",
    "联系人",
    "电话",
]

GOOD = [
    ["道亭村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],
    [
        "新民村合作社",
        "大白菜",
        "20000",
        "斤",
        "0.6",
        "斤",
        "辽宁",
        "彰武",
        "",
        "王五",
        "13900001111",
    ],
]


# --- helpers ----------------------------------------------------------------------------------


def csv_bytes(header: list[str], rows: list[list[Any]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.create_sheet("ignored").append(["not", "read"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def jsonl_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    lines = [json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False) for row in rows]
    return ("\n".join(lines) + "\n").encode()


MAKERS = {"csv": csv_bytes, "xlsx": xlsx_bytes, "jsonl": jsonl_bytes}


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Lot)),
        db.session.scalar(select(func.count()).select_from(Organisation)),
    )


def run_import(runner: Any, tmp_path: Path, name: str, data: bytes, *args: str) -> Any:
    path = tmp_path / name
    path.write_bytes(data)
    db.session.commit()  # the command runs in the test's session: leave it nothing pending
    result = runner.invoke(args=["lots", "import", str(path), *args])
    db.session.commit()
    return result


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("line ", "第 "))]


def org_named(name: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.name == name))


# --- good files -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
@pytest.mark.parametrize("header", [EN, ZH], ids=["english", "chinese"])
def test_good_file_is_imported(users, runner, tmp_path, fmt, header):
    result = run_import(
        runner, tmp_path, f"lots.{fmt.upper()}", MAKERS[fmt](header, GOOD), "--lang", "en"
    )
    assert result.exit_code == 0, result.output
    assert "2 lots imported." in result.output
    assert "1 new cooperative created (unverified)." in result.output

    beans, cabbage = db.session.scalars(select(Lot).order_by(Lot.id)).all()
    assert beans.cooperative.name == "道亭村合作社"
    assert beans.commodity.code == "black_bean"
    assert (beans.quantity_g, beans.price_fen, beans.price_fen_per_t) == (40_000_000, 680, 680_000)
    assert (beans.province.name, beans.county.name) == ("辽宁省", "彰武县")
    assert beans.spoil_by == date.fromisoformat(SOON)
    assert beans.title == "彰武黑豆 40 吨"
    assert beans.created_by_id is None  # the command line
    # the empty spoil-by takes the commodity's shelf life, as in the form
    assert cabbage.spoil_by == TODAY + timedelta(days=cabbage.commodity.shelf_life_days)
    assert (cabbage.quantity_g, cabbage.price_fen_per_t) == (10_000_000, 120_000)
    new = cabbage.cooperative
    assert (new.name, new.kind, new.verified) == ("新民村合作社", OrgKind.cooperative, False)
    assert (new.contact_person, new.phone, new.county.name) == ("王五", "13900001111", "彰武县")
    assert [e.action for e in history(new)] == ["created"]


def test_xlsx_numbers_and_dates_are_read_as_people_typed_them(users):
    spoil = TODAY + timedelta(days=30)
    midnight = datetime.combine(spoil, datetime.min.time())  # what Excel stores for a date
    data = xlsx_bytes(
        EN,
        [
            ["道亭村合作社", "黑豆", 40, "吨", 6.8, "公斤", "辽宁", "彰武", midnight, "", ""],
            ["道亭村合作社", "黑豆", 2.5, "t", 12, "kg", "辽宁", "彰武", spoil, "", ""],
        ],
    )
    rows = imports.read_file("lots.xlsx", data)
    assert [r.line for r in rows] == [2, 3]
    assert rows[0].cells["quantity"] == "40" and rows[0].cells["price"] == "6.8"
    assert rows[0].cells["spoil_by"] == rows[1].cells["spoil_by"] == spoil.isoformat()
    report = imports.check(rows, None)
    assert report.errors == []
    assert imports.apply(report, None) == 2
    assert [
        (lot.quantity_g, lot.price_fen) for lot in db.session.scalars(select(Lot).order_by(Lot.id))
    ] == [(40_000_000, 680), (2_500_000, 1200)]


@pytest.mark.parametrize(("value", "text"), [
    (40.0, "40"), (6.8, "6.8"), (0.1, "0.1"), (13800138000.0, "13800138000"), (12, "12"),
    (1e20, "100000000000000000000"), (Decimal("6.80"), "6.8"), (None, ""),
    (datetime(2026, 3, 1, 0, 0), "2026-03-01"), (date(2026, 3, 1), "2026-03-01"),
])  # fmt: skip
def test_cell_text(value, text):
    assert imports.cell_text(value) == text


def test_csv_with_bom_gb18030_and_blank_rows(users):
    body = csv_bytes(ZH, GOOD)
    rows = imports.read_file("a.csv", codecs.BOM_UTF8 + body)
    assert [r.line for r in rows] == [2, 3] and "合作社" in rows[0].cells
    gb = csv_bytes(ZH, [GOOD[0], [""] * len(ZH), GOOD[1]], encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        gb.decode("utf-8")  # really not UTF-8: the fallback is what reads it
    rows = imports.read_file("a.csv", gb)
    assert [r.line for r in rows] == [2, 4]  # the blank row is skipped, the numbers stay
    assert rows[1].cells["合作社"] == "新民村合作社"
    report = imports.check(rows, None)
    assert report.errors == [] and imports.apply(report, None) == 2


def test_gb18030_csv_through_the_command(users, runner, tmp_path):
    result = run_import(runner, tmp_path, "村里.csv", csv_bytes(ZH, GOOD, "gb18030"))
    assert result.exit_code == 0, result.output
    assert counts()[0] == 2


def test_jsonl_lines_blank_lines_and_lines_that_are_not_objects(users):
    good = json.dumps(dict(zip(EN, GOOD[0], strict=True)), ensure_ascii=False)
    data = "\n".join([good, "", "[1, 2]", "not json", good, "   "]).encode()
    with force_locale("en"):
        report = imports.check(imports.read_file("lots.jsonl", data), None)
        assert str(report.errors[0]) == "line 3: This line is not a JSON object."
    assert [r.line for r in report.rows] == [1, 3, 4, 5]
    assert [(e.line, e.column) for e in report.errors] == [(3, ""), (4, "")]
    assert len(report.good) == 2


def test_unreadable_files(users, runner, tmp_path):
    with pytest.raises(imports.ImportFileError):
        imports.read_file("lots.xls", b"\xd0\xcf\x11\xe0")
    with pytest.raises(imports.ImportFileError):
        imports.read_file("lots.xlsx", b"this is no workbook")
    with pytest.raises(imports.ImportFileError):
        imports.read_file("lots.csv", b"")
    with pytest.raises(imports.ImportFileError):
        imports.read_file("lots.csv", csv_bytes(EN, []))
    result = run_import(runner, tmp_path, "lots.txt", b"hello", "--lang", "en")
    assert result.exit_code == 1
    assert "lots.txt is not a file we can read" in result.output


# --- errors -----------------------------------------------------------------------------------

BAD = [
    GOOD[0],  # line 2: good
    ["道亭村合作社", "火星果", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],  # 3
    ["道亭村合作社", "黑豆", "-5", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],  # 4
    ["道亭村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武X", SOON, "", ""],  # 5
    ["道亭村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", PAST, "", ""],  # 6
    ["道亭村合作社", "黑豆", "40", "箱", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],  # 7
    ["南昌粮油公司", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],  # 8: a buyer
    GOOD[1],  # line 9: good, and a new cooperative
]


def expected_errors(header: list[str], lang: str) -> list[str]:
    """The errors of BAD, rendered in `lang` from the rules' own messages."""
    col = dict(zip(EN, header, strict=True))
    with force_locale(lang):
        return [
            _("line %(line)d, %(column)s: %(message)s", line=n, column=col[c], message=m)
            for n, c, m in [
                (3, "commodity", _(NOT_IN_CATALOGUE, name="火星果")),
                (4, "quantity", _("The quantity must be more than zero.")),
                (
                    5,
                    "county",
                    _(
                        "%(county)s is not a county of %(province)s.",
                        county="彰武X",
                        province="辽宁省",
                    ),
                ),
                (6, "spoil_by", _("This date has passed: a spoiled lot cannot be offered.")),
                (7, "unit", _("Unknown unit: %(unit)s. Use 斤, 公斤 (kg) or 吨 (t).", unit="箱")),
                (
                    8,
                    "cooperative",
                    _("%(name)s is registered, but not as a cooperative.", name="南昌粮油公司"),
                ),
            ]
        ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("header", "lang"), [(EN, "en"), (ZH, "zh"), (ZH, "en")])
def test_bad_rows_are_reported_and_nothing_is_imported(users, runner, tmp_path, fmt, header, lang):
    before = counts()
    result = run_import(runner, tmp_path, f"bad.{fmt}", MAKERS[fmt](header, BAD), "--lang", lang)
    assert result.exit_code == 1
    assert error_lines(result.output) == expected_errors(header, lang)
    assert counts() == before
    assert org_named("新民村合作社") is None


def test_messages_really_are_in_the_chosen_language(users, runner, tmp_path):
    data = csv_bytes(ZH, BAD)
    zh = error_lines(run_import(runner, tmp_path, "bad.csv", data).output)  # zh by default
    en = error_lines(run_import(runner, tmp_path, "bad.csv", data, "--lang", "en").output)
    assert len(zh) == len(en) == 6
    assert "第 5 行，县：彰武X不属于辽宁省。" in zh
    assert "line 5, 县: 彰武X is not a county of 辽宁省." in en
    # the rules' messages (lines 3 to 7); line 8's is new and awaits its translation
    assert all(z != e for z, e in zip(zh[:5], en[:5], strict=True))


def test_jsonl_errors_have_the_file_line_and_key(users):
    data = jsonl_bytes(EN, BAD[:3]).replace(b"\n", b"\n\n", 1)  # a blank line after line 1
    report = imports.check(imports.read_file("bad.jsonl", data), None)
    assert [(e.line, e.column) for e in report.errors] == [(3, "commodity"), (4, "quantity")]


def test_skip_invalid_imports_exactly_the_good_rows(users, runner, tmp_path):
    orgs_before = counts()[1]
    result = run_import(
        runner, tmp_path, "bad.csv", csv_bytes(EN, BAD), "--skip-invalid", "--lang", "en"
    )
    assert result.exit_code == 0, result.output
    assert error_lines(result.output) == expected_errors(EN, "en")
    assert "2 lots imported." in result.output
    assert "6 rows with errors skipped." in result.output
    lots = db.session.scalars(select(Lot).order_by(Lot.id)).all()
    assert [(lot.cooperative.name, lot.commodity.code) for lot in lots] == [
        ("道亭村合作社", "black_bean"),
        ("新民村合作社", "napa_cabbage"),
    ]
    assert counts()[1] == orgs_before + 1


def test_header_errors_stop_the_import_even_when_skipping(users, runner, tmp_path):
    header = ["合作社", "品类", "quantty", "单位", "计价单位", "省", "县", "最迟销售日期", "备注"]
    rows = [
        ["道亭村合作社", "黑豆", "40", "吨", "公斤", "辽宁", "彰武", SOON, "x"],
        ["道亭村合作社", "火星果", "40", "吨", "公斤", "辽宁", "彰武", SOON, "y"],
    ]
    before = counts()
    result = run_import(
        runner, tmp_path, "cols.csv", csv_bytes(header, rows), "--skip-invalid", "--lang", "en"
    )
    assert result.exit_code == 1
    lines = error_lines(result.output)
    assert lines[:4] == [
        "line 1, quantty: Unknown column. Did you mean quantity?",
        "line 1, 备注: Unknown column. The columns are listed on the import page and in the "
        "template.",
        "line 1, 数量: This column is required.",
        "line 1, 价格: This column is required.",
    ]
    # the rows are still checked, without repeating what the missing columns explain
    assert lines[4:] == ["line 3, 品类: " + NOT_IN_CATALOGUE % {"name": "火星果"}]
    assert counts() == before


def test_repeated_column_and_cells_without_header(users):
    header = ["cooperative", "合作社", "commodity", "quantity", "price", "province", "county", ""]
    data = csv_bytes(header, [["道亭村合作社", "x", "黑豆", "40", "7", "辽宁", "彰武", "oops"]])
    with force_locale("en"):
        report = imports.check(imports.read_file("a.csv", data), None)
    assert [(e.line, e.column) for e in report.errors] == [(1, "合作社"), (2, "column H")]
    assert not report.importable


def test_a_new_cooperative_named_three_times_is_created_once(users):
    rows = [
        [
            "新民村合作社",
            "黑豆",
            str(n),
            "吨",
            "6.8",
            "公斤",
            "辽宁",
            "彰武",
            SOON,
            "王五" if n == 2 else "",
            "",
        ]
        for n in (1, 2, 3)
    ]
    report = imports.check(imports.read_file("a.csv", csv_bytes(EN, rows)), users["official"])
    assert report.errors == [] and report.new_cooperatives == ["新民村合作社"]
    assert imports.apply(report, users["official"]) == 3
    db.session.commit()
    org = org_named("新民村合作社")
    assert (org.kind, org.verified, org.contact_person) == (OrgKind.cooperative, False, "王五")
    assert (org.province.name, org.county.name) == ("辽宁省", "彰武县")
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Organisation)
            .where(Organisation.name == "新民村合作社")
        )
        == 1
    )
    assert {lot.cooperative_id for lot in db.session.scalars(select(Lot))} == {org.id}
    assert history(org)[0].actor_id == users["official"].id


def test_lookups_are_remembered_for_one_import_only(users):
    rows = imports.read_file("a.csv", csv_bytes(EN, [GOOD[0]] * 50))
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        report = imports.check(rows, None)
        during = len(statements)
        regions.find_counties("彰武")
        regions.find_counties("彰武")
        after = len(statements) - during
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(report.good) == 50
    assert during < 10  # not 3 lookups a row: the commodity, province and county once each
    assert after == 2  # outside an import nothing is remembered


# --- who may import what ----------------------------------------------------------------------


def test_a_cooperative_imports_only_its_own_lots(users):
    rows = [
        ["", "黑豆", "40", "吨", "6.8", "公斤", "", "", SOON, "", ""],  # blank: its own
        ["道亭村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],
        ["金州樱桃合作社", "樱桃", "800", "斤", "15", "斤", "辽宁", "金州区", SOON, "", ""],
        ["新民村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],
    ]
    coop = users["coop"]
    report = imports.check(imports.read_file("a.csv", csv_bytes(EN, rows)), coop)
    assert [(e.line, e.column) for e in report.errors] == [(4, "cooperative"), (5, "cooperative")]
    assert "道亭村合作社" in report.errors[0].message
    assert report.new_cooperatives == []
    with pytest.raises(ValidationFailed) as refused:
        imports.apply(report, coop)
    assert refused.value.code == "import_invalid" and counts()[0] == 0
    assert imports.apply(report, coop, skip_invalid=True) == 2
    db.session.commit()
    lots = db.session.scalars(select(Lot)).all()
    assert {lot.cooperative_id for lot in lots} == {coop.organisation_id}
    assert {lot.created_by_id for lot in lots} == {coop.id}
    assert lots[0].county.name == "彰武县"  # the cooperative's own place


def test_an_official_imports_only_within_the_jurisdiction(users):
    rows = [
        ["道亭村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],
        ["金州樱桃合作社", "樱桃", "800", "斤", "15", "斤", "辽宁", "金州区", SOON, "", ""],
        ["新民村合作社", "黑豆", "40", "吨", "6.8", "公斤", "江西", "东湖区", SOON, "", ""],
        ["金州樱桃合作社", "樱桃", "800", "斤", "15", "斤", "", "", "2000-01-01", "", ""],
    ]
    data = csv_bytes(EN, rows)
    report = imports.check(imports.read_file("a.csv", data), users["official"])
    outside = _("This place is outside your office's jurisdiction.")
    not_ours = _("This cooperative is outside your office's jurisdiction.")
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (3, "cooperative", not_ours),  # 金州区: the cooperative, whatever the lot's place
        (4, "province", outside),
        (5, "spoil_by", _("This date has passed: a spoiled lot cannot be offered.")),
        (5, "cooperative", not_ours),
    ]
    assert len(report.good) == 1
    provincial = imports.check(imports.read_file("a.csv", data), users["province_official"])
    assert [(e.line, e.column) for e in provincial.errors] == [(4, "province"), (5, "spoil_by")]


def test_an_official_imports_no_lot_for_a_cooperative_outside_the_jurisdiction(users):
    """A lot placed in the office's county still belongs to its cooperative: the Zhangwu office
    may not post one for the Jinzhou cooperative, nor may an office of another province."""
    rows = [
        ["金州樱桃合作社", "樱桃", "800", "斤", "15", "斤", "辽宁", "彰武", SOON, "", ""],
        ["道亭村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],
    ]
    data = csv_bytes(EN, rows)
    report = imports.check(imports.read_file("a.csv", data), users["official"])
    outside = _("This cooperative is outside your office's jurisdiction.")
    assert [(e.line, e.column, e.message) for e in report.errors] == [(2, "cooperative", outside)]
    with pytest.raises(ValidationFailed):
        imports.apply(report, users["official"])
    assert imports.apply(report, users["official"], skip_invalid=True) == 1
    db.session.commit()
    assert {lot.cooperative.name for lot in db.session.scalars(select(Lot))} == {"道亭村合作社"}
    # the province's office covers both; an office in Jiangxi neither
    provincial = imports.check(imports.read_file("a.csv", data), users["province_official"])
    assert provincial.errors == []
    jiangxi = imports.check(imports.read_file("a.csv", data), users["other_official"])
    assert {(e.line, e.column) for e in jiangxi.errors} >= {(2, "cooperative"), (3, "cooperative")}


def test_an_officials_new_cooperative_takes_a_place_within_the_jurisdiction(users):
    rows = [
        ["外村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "金州区", SOON, "", ""],
        ["外村合作社", "黑豆", "40", "吨", "6.8", "公斤", "辽宁", "彰武", SOON, "", ""],
    ]
    official = users["official"]
    report = imports.check(imports.read_file("a.csv", csv_bytes(EN, rows)), official)
    assert [(e.line, e.column) for e in report.errors] == [(2, "county")]
    assert imports.apply(report, official, skip_invalid=True) == 1
    db.session.commit()
    assert org_named("外村合作社").county.name == "彰武县"


def test_buyers_and_administrators_may_not_import(users):
    rows = imports.read_file("a.csv", csv_bytes(EN, GOOD))
    for who in ("buyer", "admin"):
        with pytest.raises(Forbidden):
            imports.check(rows, users[who])


# --- the pages --------------------------------------------------------------------------------


def upload(client: Any, name: str, data: bytes) -> Any:
    return post_form(
        client,
        "/lots/import",
        {"file": (io.BytesIO(data), name)},
        page="/lots/import",
        content_type="multipart/form-data",
    )


def token_of(response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    match = re.fullmatch(r"/lots/import/([0-9a-f]{32})", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def test_official_uploads_previews_and_confirms(client, users, app):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "official", PASSWORD)
    rows = [GOOD[0], BAD[1], GOOD[1]]
    token = token_of(upload(client, "村里的货.xlsx", xlsx_bytes(ZH, rows)))
    key = f"imports/{users['official'].id}/{token}.xlsx"
    assert get_storage().exists(key)

    page = client.get(f"/lots/import/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2 rows can be imported" in html and "1 row has errors" in html
    assert 'id="line-3"' in html and "品类: 火星果 is not in our catalogue." in html
    assert "新民村合作社" in html and "40 t" in html and "skip_invalid" in html

    before = counts()
    refused = post_form(client, f"/lots/import/{token}/confirm", {}, page=f"/lots/import/{token}")
    assert refused.status_code == 422
    assert counts() == before

    done = post_form(
        client, f"/lots/import/{token}/confirm", {"skip_invalid": "y"}, page=f"/lots/import/{token}"
    )
    assert done.status_code == 302 and done.headers["Location"] == "/lots"
    assert counts() == (before[0] + 2, before[1] + 1)
    assert not get_storage().exists(key)
    listing = client.get("/lots").get_data(as_text=True)
    assert "2 lots imported. 1 row with errors skipped." in listing
    assert client.get(f"/lots/import/{token}").status_code == 404  # used up


def test_cooperative_imports_through_the_pages(client, users):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "coop", PASSWORD)
    page = client.get("/lots/import")
    assert page.status_code == 200 and "最迟销售日期" in page.get_data(as_text=True)
    template = client.get("/lots/import/template.csv")
    assert template.mimetype == "text/csv" and template.data.startswith(codecs.BOM_UTF8)
    lines = template.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("合作社,标题,品类") and len(lines) == 3
    assert lines[1].startswith("道亭村合作社,")  # the cooperative's own name

    token = token_of(upload(client, "template.csv", template.data))  # the template imports as is
    assert "2 rows can be imported" in client.get(f"/lots/import/{token}").get_data(as_text=True)
    done = post_form(client, f"/lots/import/{token}/confirm", {}, page=f"/lots/import/{token}")
    assert done.status_code == 302 and done.headers["Location"] == "/my/lots"
    assert "2 lots imported." in client.get("/my/lots").get_data(as_text=True)
    lots = db.session.scalars(select(Lot)).all()
    assert len(lots) == 2
    assert {lot.cooperative_id for lot in lots} == {users["coop"].organisation_id}


def test_upload_errors_stay_on_the_form(client, users):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "coop", PASSWORD)
    response = upload(client, "lots.pdf", b"%PDF")
    assert response.status_code == 422
    assert "Upload a .csv, .xlsx or .jsonl file." in response.get_data(as_text=True)
    response = upload(client, "lots.csv", csv_bytes(EN, []))
    assert response.status_code == 422
    assert "no rows of lots" in response.get_data(as_text=True)


def test_buyer_gets_403(client, users):
    login(client, "buyer", PASSWORD)
    assert client.get("/lots/import").status_code == 403
    assert client.get("/lots/import/template.csv").status_code == 403


def test_another_users_token_is_404(client, app, users):
    login(client, "coop", PASSWORD)
    token = token_of(upload(client, "a.csv", csv_bytes(EN, GOOD[:1])))
    other = app.test_client()
    login(other, "official", PASSWORD)
    assert other.get(f"/lots/import/{token}").status_code == 404
    url = f"/lots/import/{token}/confirm"
    assert post_form(other, url, {}, page="/lots/import").status_code == 404
    assert (
        post_form(other, "/lots/import/not-a-token/confirm", {}, page="/lots/import").status_code
        == 404
    )
    assert counts()[0] == 0
    assert client.get(f"/lots/import/{token}").status_code == 200  # still there for its owner


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_control_character_in_a_cell_is_that_cells_error(users, fmt):
    """Text no column can hold is refused in a file as in a form (then no export breaks on it)."""
    header = [*EN, "description"]
    rows = [[*GOOD[0], "晒干\t无霉变\r\n第二行"], [*GOOD[1], "黑豆\x01"]]
    with force_locale("en"):
        report = imports.check(imports.read_file(f"lots.{fmt}", MAKERS[fmt](header, rows)), None)
    assert [(e.line, e.column) for e in report.errors] == [
        (3 if fmt == "csv" else 2, "description")
    ]
    assert "control character" in report.errors[0].message
    assert len(report.good) == 1  # tabs and line breaks are text like any other
    assert "第二行" in report.good[0].cells["description"]


def test_a_jsonl_line_nested_too_deeply_is_a_line_error(users):
    good = json.dumps(dict(zip(EN, GOOD[0], strict=True)), ensure_ascii=False)
    data = "\n".join([good, "[" * 100_000 + "]" * 100_000]).encode()
    with force_locale("en"):
        report = imports.check(imports.read_file("lots.jsonl", data), None)
        assert [str(e) for e in report.errors] == ["line 2: This line is not a JSON object."]


def test_a_new_cooperatives_phone_has_ascii_digits_only(users):
    rows = [[*GOOD[1][:-1], "١٣٩٠٠٠٠١١١١"], [*GOOD[1][:-2], "赵六", "１３９００００２２２２"]]
    rows[1][0] = "另一个村合作社"
    with force_locale("en"):
        report = imports.check(imports.read_file("lots.csv", csv_bytes(EN, rows)), None)
    assert [(e.line, e.column) for e in report.errors] == [(2, "phone")]
    assert "digits 0-9" in report.errors[0].message
    assert report.good[0].cooperative.phone == "13900002222"


# --- what the preview promises ----------------------------------------------------------------


class _ConfirmForm(HTMLParser):
    """The preview's confirm form as a browser submits it: its inputs and its button's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.inside = False
        self.fields: dict[str, str] = {}
        self.button = ""
        self.in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("action") or "").endswith("/confirm"):
            self.action, self.inside = a["action"], True
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[a["name"]] = a.get("value") or ""
        elif self.inside and tag == "button":
            self.in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "button":
            self.in_button = False

    def handle_data(self, data: str) -> None:
        if self.in_button:
            self.button += data


NO_PROVINCE = [c for c in EN if c != "province"]


@pytest.mark.parametrize(
    ("header", "rows"),
    [
        (EN, GOOD),
        (EN, [GOOD[0], BAD[1], GOOD[1]]),
        (NO_PROVINCE, [[c for c, h in zip(r, EN, strict=True) if h != "province"] for r in GOOD]),
    ],
    ids=["all-good", "one-bad-row", "a-required-column-missing"],
)
def test_the_previews_count_is_what_its_button_imports(client, users, header, rows):
    """ "N rows can be imported", the button's number and what submitting it imports agree."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "official", PASSWORD)
    token = token_of(upload(client, "a.csv", csv_bytes(header, rows)))
    html = client.get(f"/lots/import/{token}").get_data(as_text=True)
    promised = int(re.search(r"(\d+) rows? can be imported", html).group(1))
    form = _ConfirmForm()
    form.feed(html)
    before = counts()[0]
    if form.action is None:  # nothing to import, and no button to try
        assert promised == 0
        return
    assert re.search(rf"\bImport {promised} lots?\b", form.button)
    done = client.post(form.action, data=form.fields)
    assert done.status_code == 302
    assert counts()[0] == before + promised > before


def test_a_cooperatives_file_may_leave_out_its_name_and_place(client, users):
    """The help says 合作社, 省 and 县 are optional for a cooperative: a file without them
    imports, in the cooperative's own county."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "coop", PASSWORD)
    help_page = client.get("/lots/import").get_data(as_text=True)
    for column in ("合作社", "省", "县"):
        item = re.search(rf"<strong>{column}</strong>[^\n]*", help_page).group(0)
        assert "required" not in item
    assert re.search(r"<strong>品类</strong>[^\n]*required", help_page)

    header = ["品类", "数量", "单位", "价格", "计价单位"]
    rows = [["黑豆", "40", "吨", "6.8", "公斤"], ["大白菜", "20000", "斤", "0.6", "斤"]]
    token = token_of(upload(client, "mine.csv", csv_bytes(header, rows)))
    html = client.get(f"/lots/import/{token}").get_data(as_text=True)
    assert "2 rows can be imported" in html and "Import 2 lots" in html
    assert "This column is required" not in html
    done = post_form(client, f"/lots/import/{token}/confirm", {}, page=f"/lots/import/{token}")
    assert done.status_code == 302
    lots = db.session.scalars(select(Lot)).all()
    assert len(lots) == 2
    assert {(lot.cooperative_id, lot.county.name) for lot in lots} == {
        (users["coop"].organisation_id, "彰武县")
    }
    # an office still names the cooperative and the place of every row
    official = imports.check(imports.read_file("a.csv", csv_bytes(header, rows)), users["official"])
    assert {e.column for e in official.file_errors} == {"合作社", "省", "县"}


def test_the_preview_shows_every_column_it_imports(client, users):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "official", PASSWORD)
    header = [*EN, "title", "variety", "grade", "township", "village", "available_from"]
    header += ["storage_notes", "description"]
    row = [*GOOD[1], "新民村白菜", "北京小杂", "一等", "梁家子镇", "新民村", SOON]
    row += ["地窖，恒温", "今年新菜，包心紧实"]
    token = token_of(upload(client, "a.csv", csv_bytes(header, [row])))
    html = client.get(f"/lots/import/{token}").get_data(as_text=True)
    for shown in (
        "新民村合作社",
        "王五",
        "13900001111",
        "新民村白菜",
        "Chinese cabbage",
        "北京小杂",
        "一等",
        "20,000 jin",
        "辽宁省 彰武县 梁家子镇 新民村",
        "地窖，恒温",
        "今年新菜，包心紧实",
    ):
        assert shown in html, shown


# --- settlement terms (结算方式) and the holdback (扣留比例) ------------------------------------

TERMS_EN = [*EN, "settlement_terms", "holdback_percent"]
TERMS_ZH = [*ZH, "结算方式", "扣留比例"]


def bean_row(terms: Any, holdback: Any) -> list[Any]:
    return [*GOOD[0], terms, holdback]


def offered(lot: Lot) -> tuple[tuple[str, ...], int]:
    return tuple(s.value for s in lot.settlements), lot.holdback_pct


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
@pytest.mark.parametrize("header", [TERMS_EN, TERMS_ZH], ids=["english", "chinese"])
def test_settlement_terms_and_holdback_as_a_cooperative_writes_them(
    users, runner, tmp_path, fmt, header
):
    rows = [
        bean_row("两者皆可", "5"),  # both, 5% held
        bean_row("装车结算", ""),  # on loading, the form's default holdback
        bean_row("收货后结算", ""),  # on delivery, nothing held
        bean_row("", ""),  # empty: on delivery, as in the form
        bean_row("on loading", "3%"),
        bean_row("Either", "0"),
        bean_row("收货后结算、装车结算", "１０％"),  # full-width, as Chinese input methods type
    ]
    result = run_import(runner, tmp_path, f"terms.{fmt}", MAKERS[fmt](header, rows), "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "7 lots imported." in result.output
    both, loading = ("on_delivery", "on_loading"), ("on_loading",)
    assert [offered(lot) for lot in db.session.scalars(select(Lot).order_by(Lot.id))] == [
        (both, 5),
        (loading, 5),
        (("on_delivery",), 0),
        (("on_delivery",), 0),
        (loading, 3),
        (both, 0),
        (both, 10),
    ]


def test_a_percent_formatted_excel_cell_is_read_as_shown(users):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(TERMS_ZH)
    sheet.append(bean_row("装车结算", 0.05))
    sheet.append(bean_row("装车结算", 0.055))
    sheet["M2"].number_format = sheet["M3"].number_format = "0%"  # Excel shows 5% and 6%
    out = io.BytesIO()
    book.save(out)
    rows = imports.read_file("lots.xlsx", out.getvalue())
    assert [r.cells["扣留比例"] for r in rows] == ["5%", "5.5%"]
    report = imports.check(rows, None)
    assert [(e.line, e.column) for e in report.errors] == [(3, "扣留比例")]  # not a whole one
    assert report.rows[0].values["holdback_pct"] == 5


BAD_TERMS = [
    bean_row("两者皆可", "5"),  # line 2: good
    bean_row("现金", ""),  # 3: not a way of being paid
    bean_row("装车结算", "11"),  # 4: over 10
    bean_row("装车结算", "5.5"),  # 5: not whole
    bean_row("装车结算", "五"),  # 6: not a number
    bean_row("收货后结算", "5"),  # 7: a holdback on lots paid on delivery only
    bean_row("月结", "12"),  # 8: both cells wrong
]


def expected_terms_errors(header: list[str], lang: str) -> list[str]:
    col = dict(zip(TERMS_EN, header, strict=True))
    with force_locale(lang):
        unknown = (
            "“%(value)s” is not a way of being paid that we know: write 收货后结算 (on "
            "delivery), 装车结算 (on loading) or 两者皆可 (either)."
        )
        whole = _("Write a whole percent from 0 to %(max)d, e.g. 5 or 5%%.", max=10)
        only_loading = _(
            "A holdback is kept only when paid on loading: write 装车结算 or 两者皆可 as "
            "the settlement terms, or leave the holdback empty."
        )
        return [
            _("line %(line)d, %(column)s: %(message)s", line=n, column=col[c], message=m)
            for n, c, m in [
                (3, "settlement_terms", _(unknown, value="现金")),
                (4, "holdback_percent", whole),
                (5, "holdback_percent", whole),
                (6, "holdback_percent", whole),
                (7, "holdback_percent", only_loading),
                (8, "settlement_terms", _(unknown, value="月结")),
                (8, "holdback_percent", whole),
            ]
        ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("header", "lang"), [(TERMS_EN, "en"), (TERMS_ZH, "zh")])
def test_bad_terms_are_reported_per_row_and_nothing_is_imported(
    users, runner, tmp_path, fmt, header, lang
):
    before = counts()
    data = MAKERS[fmt](header, BAD_TERMS)
    result = run_import(runner, tmp_path, f"bad.{fmt}", data, "--lang", lang)
    assert result.exit_code == 1
    assert error_lines(result.output) == expected_terms_errors(header, lang)
    assert counts() == before
    if lang == "zh":  # in the reader's words, not the rules' English
        assert "第 3 行，结算方式：无法识别的结算方式“现金”" in result.output
        assert "第 4 行，扣留比例：请填写 0 到 10 的整数百分比，如 5 或 5%。" in result.output

    skipped = run_import(runner, tmp_path, f"bad.{fmt}", data, "--lang", lang, "--skip-invalid")
    assert skipped.exit_code == 0, skipped.output
    [lot] = db.session.scalars(select(Lot)).all()  # only line 2: no bad row half-imported
    assert offered(lot) == (("on_delivery", "on_loading"), 5)


def test_without_the_columns_a_lot_is_paid_on_delivery(users):
    report = imports.check(imports.read_file("a.csv", csv_bytes(ZH, GOOD)), None)
    assert report.errors == []
    assert imports.apply(report, None) == 2
    lots = db.session.scalars(select(Lot)).all()
    assert [offered(lot) for lot in lots] == [(("on_delivery",), 0)] * 2
    # a holdback alone is for lots paid on loading: without the terms, it is refused
    rows = [[*GOOD[0], "5"], [*GOOD[0], "0"]]
    report = imports.check(imports.read_file("a.csv", csv_bytes([*EN, "holdback"], rows)), None)
    assert [(e.line, e.column) for e in report.errors] == [(2, "holdback")]
    assert [row.ok for row in report.rows] == [False, True]


def test_the_preview_and_the_template_show_the_terms(client, users):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    login(client, "coop", PASSWORD)
    page = client.get("/lots/import").get_data(as_text=True)
    assert "结算方式" in page and "扣留比例" in page and "两者皆可" in page
    template = client.get("/lots/import/template.csv").data.decode("utf-8-sig")
    header, beans, cabbage = list(csv.reader(io.StringIO(template)))
    assert header[-2:] == ["结算方式", "扣留比例"]
    assert (beans[-2:], cabbage[-2:]) == (["两者皆可", "5"], ["收货后结算", ""])

    token = token_of(upload(client, "template.csv", template.encode()))
    html = client.get(f"/lots/import/{token}").get_data(as_text=True)
    terms = re.findall(r'<dd class="settlement">(.*?)</dd>', html)
    assert terms == [
        "收货后结算或装车结算（款到发货；5% 扣留至收货）",
        "收货后结算",
    ]  # as on the lot
    done = post_form(client, f"/lots/import/{token}/confirm", {}, page=f"/lots/import/{token}")
    assert done.status_code == 302
    lots = db.session.scalars(select(Lot).order_by(Lot.id)).all()
    assert [offered(lot) for lot in lots] == [
        (("on_delivery", "on_loading"), 5),
        (("on_delivery",), 0),
    ]

    bad = csv_bytes(TERMS_ZH, [bean_row("现金", "")])
    html = client.get(f"/lots/import/{token_of(upload(client, 'b.csv', bad))}").get_data(
        as_text=True
    )
    assert "结算方式: 无法识别的结算方式“现金”" in html
    assert re.findall(r'<dd class="settlement">(.*?)</dd>', html) == ["现金"]
