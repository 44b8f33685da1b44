"""Exports: what a spreadsheet would run as a formula stays text; the filters apply; the command
line writes the same report."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from produce_match.extensions import db
from produce_match.monitor import exports
from tests.conftest import login
from tests.factories import PASSWORD, make_lot

NASTY = ['=HYPERLINK("http://evil.example","点我")', "+1+2", "-3", "@SUM(A1)", "\t=1", "\r=1"]


def test_neutralise_every_formula_start():
    assert [exports.neutralise(v) for v in NASTY] == ["'" + v for v in NASTY]
    assert exports.neutralise("道亭村黑豆 =") == "道亭村黑豆 ="
    assert exports.neutralise(-3) == -3  # numbers are numbers
    assert exports.neutralise("") == ""


def _client(app, who="official"):
    client = app.test_client()
    login(client, who, PASSWORD)
    return client


def test_a_formula_in_a_lot_title_stays_text_in_xlsx_and_csv(app, users):
    for title in NASTY[:4]:
        make_lot(users["coop"], title=title)
    client = _client(app)
    response = client.get("/monitor/export/lots.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    cells = [sheet.cell(row=r, column=2) for r in range(2, sheet.max_row + 1)]
    assert sorted(c.value for c in cells) == sorted("'" + t for t in NASTY[:4])
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    rows = list(
        csv.reader(io.StringIO(client.get("/monitor/export/lots.csv").data.decode("utf-8-sig")))
    )  # noqa: E501
    assert sorted(r[1] for r in rows[1:]) == sorted("'" + t for t in NASTY[:4])


def test_deal_export_applies_the_filters(app, users, world):
    client = _client(app)
    everything = client.get("/monitor/export/deals.csv").data.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(everything)))) == 1 + 3
    rejected = client.get("/monitor/export/deals.csv?status=rejected").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(rejected)))
    assert [int(r[0]) for r in rows[1:]] == [world["rejected"].id]
    nowhere = client.get("/monitor/export/deals.csv?place=新村").data.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(nowhere)))) == 1


def test_payments_and_ledger_exports(app, users, world):
    client = _client(app)
    rows = list(
        csv.reader(io.StringIO(client.get("/monitor/export/payments.csv").data.decode("utf-8-sig")))
    )
    payouts = [r for r in rows[1:] if r[8] == "720000"]
    assert len(payouts) == 1 and payouts[0][6] == "道亭村"
    rows = list(
        csv.reader(io.StringIO(client.get("/monitor/export/problems.csv").data.decode("utf-8-sig")))
    )
    assert len(rows) == 1 + 2  # Zhangwu's two entries, not Jinzhou's
    closed = client.get("/monitor/export/problems.csv?status=closed").data.decode("utf-8-sig")
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
