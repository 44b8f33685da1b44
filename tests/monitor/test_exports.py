"""Exports: what a spreadsheet would run as a formula stays text; the filters apply; the command
line writes the same report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import update

from produce_match import spreadsheets
from produce_match.accounts.models import Organisation
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.lots.updates import update_lots
from produce_match.monitor import exports
from produce_match.monitor import operations as monitor
from produce_match.monitor.models import FollowUp, Problem
from produce_match.orders.models import Order
from produce_match.payments.models import LedgerEntry
from tests.conftest import export_file, login
from tests.factories import PASSWORD, make_lot

NASTY = ['=HYPERLINK("http://evil.example","点我")', "+1+2", "-3", "@SUM(A1)", "\t=1", "\r=1"]


def test_neutralise_every_formula_start():
    assert [spreadsheets.neutralise(v) for v in NASTY] == ["'" + v for v in NASTY]
    assert spreadsheets.neutralise("道亭村黑豆 =") == "道亭村黑豆 ="
    assert spreadsheets.neutralise(-3) == -3  # numbers are numbers
    assert spreadsheets.neutralise("") == ""


def _client(app, who="official"):
    client = app.test_client()
    login(client, who, PASSWORD)
    return client


def test_a_formula_in_a_lot_title_stays_text_in_xlsx_and_csv(app, users):
    for title in NASTY[:4]:
        make_lot(users["coop"], title=title)
    client = _client(app)
    response = export_file(client, "lots.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    cells = [sheet.cell(row=r, column=2) for r in range(2, sheet.max_row + 1)]
    assert sorted(c.value for c in cells) == sorted("'" + t for t in NASTY[:4])
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    rows = list(csv.reader(io.StringIO(export_file(client, "lots.csv").data.decode("utf-8-sig"))))  # noqa: E501
    assert sorted(r[1] for r in rows[1:]) == sorted("'" + t for t in NASTY[:4])


def test_deal_export_applies_the_filters(app, users, world):
    client = _client(app)
    everything = export_file(client, "deals.csv").data.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(everything)))) == 1 + 3
    rejected = export_file(client, "deals.csv?status=rejected").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(rejected)))
    assert [int(r[0]) for r in rows[1:]] == [world["rejected"].id]
    nowhere = export_file(client, "deals.csv?place=新村").data.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(nowhere)))) == 1


def test_payments_and_ledger_exports(app, users, world):
    client = _client(app)
    rows = list(
        csv.reader(io.StringIO(export_file(client, "payments.csv").data.decode("utf-8-sig")))
    )
    payouts = [r for r in rows[1:] if r[8] == "720000"]
    assert len(payouts) == 1 and payouts[0][6] == "道亭村"
    rows = list(
        csv.reader(io.StringIO(export_file(client, "problems.csv").data.decode("utf-8-sig")))
    )
    assert len(rows) == 1 + 2  # Zhangwu's two entries, not Jinzhou's
    closed = export_file(client, "problems.csv?status=closed").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(closed)))
    assert [int(r[0]) for r in rows[1:]] == [world["problems"][0].id]


def test_the_report_from_the_command_line(app, users, world, runner, tmp_path):
    out = tmp_path / "zhangwu.xlsx"
    result = runner.invoke(args=["monitor", "report", "--county", "彰武县", "--out", str(out)])
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert [s.title for s in book.worksheets] == ["汇总", "货源", "订单", "付款记录", "问题台账"]
    summary = {row[0].value: row[1].value for row in book.worksheets[0].iter_rows(min_row=2)}
    assert summary["向村里结算（分）"] == 720_000
    assert summary["开放批次"] == 3
    bad = runner.invoke(args=["monitor", "report", "--county", "不存在县", "--out", str(out)])
    assert bad.exit_code != 0
    db.session.remove()


def test_reference_prices_recorded_and_imported(app, users):
    client = _client(app)
    from tests.conftest import post_form

    response = post_form(
        client,
        "/monitor/prices",
        {"county": "210922", "commodity": "黑豆", "price": "6.00", "unit": "kg",
         "valid_from": "2026-03-01"},
        page="/monitor/prices",
    )  # fmt: skip
    assert response.status_code == 302
    data = "commodity,county,price,unit,valid_from\n花生,彰武县,4.20,jin,2026-03-01\n"
    response = post_form(
        client,
        "/monitor/prices",
        {"file": (io.BytesIO(data.encode()), "prices.csv")},
        page="/monitor/prices",
    )
    assert response.status_code == 302
    page = client.get("/monitor/prices").get_data(as_text=True)
    assert "6.00 元/公斤" in page and "4.20 元/斤" in page
    # outside the jurisdiction: refused
    data = "commodity,county,price,unit,valid_from\n花生,东湖区,4.20,jin,2026-03-01\n"
    refused = post_form(
        client, "/monitor/prices", {"file": (io.BytesIO(data.encode()), "p.csv")},
        page="/monitor/prices", follow_redirects=True,
    )  # fmt: skip
    assert "东湖区不在您的管辖范围内" in refused.get_data(as_text=True)
    from sqlalchemy import func, select

    from produce_match.monitor.models import ReferencePrice

    assert db.session.scalar(select(func.count(ReferencePrice.id))) == 2  # nothing more


# --- what a spreadsheet shows: look-alike formulas, stored control characters, China time -------

#: cells that spreadsheet programs may still read as formulas once they drop invisible characters
#: or fold full-width forms (＝ is what a Chinese keyboard types)
LOOK_ALIKES = [
    '＝HYPERLINK("http://evil.example")',  # full-width equals sign
    "﹦1+1",  # small equals sign
    "＋1+2",
    "－3+4",
    "＠SUM(A1)",
    "\u200b=1+1",  # a zero-width space before "="
    "\ufeff=1+1",  # a byte-order mark before "="
    "\u200b\ufeff\u2060＝1+1",
    "\u202e=1+1",  # a right-to-left override
    " =1+1",
    "\u3000=1+1",  # an ideographic space
    "\x7f=1+1",
]


def test_look_alike_formulas_are_neutralised_too():
    assert [spreadsheets.neutralise(v) for v in LOOK_ALIKES] == ["'" + v for v in LOOK_ALIKES]
    # what only looks unusual stays as it is
    for text in ["１００斤黑豆", "黑豆 ＝ 好豆", "\u200b黑豆", "（一等）", ""]:
        assert spreadsheets.neutralise(text) == text


def test_what_a_file_cannot_hold_is_replaced_and_shown():
    stored = "黑豆\x00\x01\x08\x0b\x0c\x0e\x1f\ud800\ufffe\uffff好"
    assert spreadsheets.writable(stored) == "黑豆" + "\ufffd" * 10 + "好"
    kept = "一行\n二行\t三\r\x7f\x85\u200b"  # what XML carries stays as it is
    assert spreadsheets.writable(kept) == kept
    # replaced first, then judged: "\x01=" is no formula, and cannot become one
    assert spreadsheets.cell("\x01=1+1") == "\ufffd=1+1"
    assert spreadsheets.cell("\x7f=1+1") == "'\x7f=1+1"
    assert spreadsheets.cell(7) == 7


def test_a_cell_too_long_for_a_workbook_is_cut_and_says_so():
    sheet = exports.Sheet("货源", ["描述"], [["黑" * 40_000], ["=" + "1" * 40_000]])
    book = load_workbook(io.BytesIO(exports.to_xlsx([sheet])))
    first, second = (row[0] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert len(first) == exports.XLSX_CELL_MAX and first.endswith("黑…")
    assert len(second) == exports.XLSX_CELL_MAX and second.startswith("'=1")


def _csv(client, url, **headers):
    """An export's rows (`deals.csv?...`, asked for as a job), or a page's CSV (`/lots/...`)."""
    if url.startswith("/"):
        response = client.get(url, headers=headers)
    else:
        response = export_file(client, url, headers=headers)
    assert response.status_code == 200, url
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


def _xlsx(client, url, **headers):
    response = export_file(client, url, headers=headers)
    assert response.status_code == 200, url
    book = load_workbook(io.BytesIO(response.data))
    out = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        out[sheet.title] = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    return out


def test_a_look_alike_formula_in_a_lot_title_stays_text(app, users):
    for title in LOOK_ALIKES[:5]:
        make_lot(users["coop"], title=title)
    client = _client(app)
    titles = sorted(r["标题"] for r in _csv(client, "lots.csv"))
    assert titles == sorted("'" + t for t in LOOK_ALIKES[:5])
    (rows,) = _xlsx(client, "lots.xlsx").values()
    assert sorted(r["标题"] for r in rows) == titles


EXPORTS = [
    f"{kind}.{fmt}"
    for kind in ("lots", "deals", "payments", "problems", "report")
    for fmt in ("xlsx", "csv")
    if (kind, fmt) != ("report", "csv")
]


def test_control_characters_already_stored_never_break_an_export(app, users, world):
    """Text stored before control characters were refused: every export still opens, and shows
    where a character could not be written."""
    beans, (p1, p2, _) = world["beans"], world["problems"]
    monitor.follow_up(users["official"], p2, "已联系交通局")
    db.session.commit()
    # as old rows may hold them (and NUL, which PostgreSQL cannot store, only on SQLite)
    nul = "\x00" if db.engine.dialect.name == "sqlite" else ""
    update_lots(update(Lot).where(Lot.id == beans.id).values(title=f"道亭村黑豆\x01{nul}"))
    db.session.execute(
        update(Organisation)
        .where(Organisation.id == users["coop"].organisation_id)
        .values(name="道亭村\x1b合作社")
    )
    db.session.execute(update(Problem).where(Problem.id == p1.id).values(description="\x0b=1+1"))
    db.session.execute(update(FollowUp).values(note="打了电话\x08"))
    db.session.commit()
    client = _client(app)
    for url in EXPORTS:
        reader = _xlsx if url.endswith(".xlsx") else lambda c, u: {"": _csv(c, u)}
        sheets = reader(client, url)
        cells = [v for rows in sheets.values() for row in rows for v in row.values()]
        texts = [v for v in cells if isinstance(v, str)]
        assert not any(ch in t for t in texts for ch in "\x00\x01\x08\x0b\x1b"), url
        if "/lots." in url or "/report." in url:
            assert f"道亭村黑豆\ufffd{nul and chr(0xFFFD)}" in texts, url
        if "/problems." in url or "/report." in url:
            assert "\ufffd=1+1" in texts, url
            assert any("打了电话\ufffd" in t for t in texts), url
        assert "道亭村\ufffd合作社" in texts, url


def test_exports_say_china_time_and_show_it(app, users, world):
    """Instants are written as the clock in China shows them, and the column says so."""
    # 17:30 UTC yesterday is 01:30 today in China: the date changes too
    yesterday = utcnow() - timedelta(days=1)
    instant = datetime(yesterday.year, yesterday.month, yesterday.day, 17, 30, 5, 123, tzinfo=UTC)
    china = instant.replace(tzinfo=None, microsecond=0) + timedelta(hours=8)
    paid, p1 = world["paid"], world["problems"][0]
    db.session.execute(update(Order).where(Order.id == paid.id).values(created_at=instant))
    db.session.execute(
        update(LedgerEntry).where(LedgerEntry.order_id == paid.id).values(created_at=instant)
    )
    db.session.execute(
        update(Problem).where(Problem.id == p1.id).values(raised_at=instant, closed_at=instant)
    )
    db.session.commit()
    client = _client(app)
    shown = china.isoformat(sep=" ")

    deals = {int(r["订单"]): r for r in _csv(client, "deals.csv")}
    assert deals[paid.id]["下单时间（北京时间）"] == shown
    entries = _csv(client, "payments.csv")
    assert {r["时间（北京时间）"] for r in entries if int(r["订单"]) == paid.id} == {shown}
    problems = {int(r["编号"]): r for r in _csv(client, "problems.csv")}
    assert problems[p1.id]["登记时间（北京时间）"] == shown
    assert problems[p1.id]["销号时间（北京时间）"] == shown

    book = _xlsx(client, "report.xlsx")
    assert {r["下单时间（北京时间）"] for r in book["订单"] if r["订单"] == paid.id} == {china}
    assert {r["时间（北京时间）"] for r in book["付款记录"] if r["订单"] == paid.id} == {china}
    (entry,) = [r for r in book["问题台账"] if r["编号"] == p1.id]
    assert entry["登记时间（北京时间）"] == entry["销号时间（北京时间）"] == china

    english = _csv(client, "payments.csv", **{"Accept-Language": "en"})
    assert {r["When (China time)"] for r in english if int(r["Order"]) == paid.id} == {shown}


def test_payment_channels_are_in_words(app, users, world):
    client = _client(app)
    entries = _csv(client, "payments.csv")
    assert entries and {r["支付渠道"] for r in entries} == {"银行转账"}
    english = _csv(client, "payments.csv", **{"Accept-Language": "en"})
    assert {r["Payment channel"] for r in english} == {"Bank transfer"}
    (rows,) = _xlsx(client, "payments.xlsx").values()
    assert {r["支付渠道"] for r in rows} == {"银行转账"}


def test_the_problems_export_has_the_lot_title_and_the_follow_ups(app, users, world):
    p1, p2, _ = world["problems"]
    official = users["official"]
    first = monitor.follow_up(official, p2, "已联系交通局")
    monitor.follow_up(official, p2, "通行证已办好\n明天发车")
    db.session.commit()
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.id == first.id)
        .values(created_at=datetime(2026, 3, 1, 17, 30, tzinfo=UTC))
    )
    db.session.commit()
    client = _client(app)
    rows = {int(r["编号"]): r for r in _csv(client, "problems.csv")}
    assert rows[p1.id]["货源标题"] == "道亭村黑豆"
    assert rows[p2.id]["货源标题"] == ""  # not about a lot
    who = official.name or official.login
    notes = rows[p2.id]["跟进内容"].split("\n")
    assert notes[0] == f"2026-03-02 01:30 {who}：已联系交通局"
    assert notes[1].endswith(f" {who}：通行证已办好") and notes[2] == "明天发车"
    assert rows[p2.id]["跟进记录"] == "2" and rows[p1.id]["跟进内容"] == ""
    english = _csv(client, "problems.csv", **{"Accept-Language": "en"})
    (entry,) = [r for r in english if int(r["Entry"]) == p2.id]
    assert entry["Follow-up notes"].startswith(f"2026-03-02 01:30 {who}: 已联系交通局\n")
    assert entry["Lot title"] == ""
    book = _xlsx(client, "problems.xlsx")
    (entry,) = [r for r in next(iter(book.values())) if r["编号"] == p2.id]
    assert entry["跟进内容"] == rows[p2.id]["跟进内容"]


def test_the_lots_import_template_writes_the_cooperative_name_as_every_cell(app, users):
    """The template carries the cooperative's own name: it is written by the same rules."""
    coop = users["coop"]
    db.session.execute(
        update(Organisation)
        .where(Organisation.id == coop.organisation_id)
        .values(name='＝HYPERLINK("http://evil.example")\x01合作社')
    )
    db.session.commit()
    rows = _csv(_client(app, "coop"), "/lots/import/template.csv")
    assert {r["合作社"] for r in rows} == {'\'＝HYPERLINK("http://evil.example")\ufffd合作社'}


def test_a_workbook_keeps_text_as_text_and_shows_every_line():
    """Cells are written row by row: text stays text (never a formula), several lines wrap,
    numbers stay numbers."""
    body = exports.to_xlsx(
        [exports.Sheet("表", ["=title", "n"], [["一行\n两行", 5], ["=1+1", 2.5], [None, "x"]])]
    )
    ws = load_workbook(io.BytesIO(body)).active
    rows = [list(row) for row in ws.iter_rows()]
    assert [[c.value for c in row] for row in rows] == [
        ["'=title", "n"],
        ["一行\n两行", 5],
        ["'=1+1", 2.5],
        [None, "x"],
    ]
    assert rows[1][0].alignment.wrap_text and not rows[2][0].alignment.wrap_text
    assert [c.data_type for c in rows[2]] == ["s", "n"]
    assert ws.title == "表"
