"""The officials' figures of passes on a crafted set (the median, the whitelist's approvals, the
vehicles on the road), for each scope; the officials' page and the export of the passes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from produce_match.accounts.operations import PlaceInput
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.monitor import queries
from produce_match.passes import operations as passes
from produce_match.passes.figures import on_the_road, pass_figures
from tests.conftest import export_file, login
from tests.factories import PASSWORD
from tests.passes.conftest import shipment


@pytest.fixture
def crafted(world):
    """From Zhangwu to Donghu: five passes an official approved after 10, 30, 100, 50 and 20
    minutes (the last revoked), one rejected, one pending; four of the whitelisted haulier
    (approved at once): one exited, one entered, one delivered, one not started; and one
    pending from Jinzhou."""
    official, coop = world["official"], world["coop"]
    asked = utcnow() - timedelta(hours=6)
    made = {}
    for name, minutes in (("a", 10), ("b", 30), ("c", 100), ("d", 50), ("v", 20)):
        row = passes.apply(coop, shipment(), now=asked)
        passes.approve(official, row, now=asked + timedelta(minutes=minutes))
        made[name] = row
    passes.revoke(official, made["v"], "超载")
    made["r"] = passes.apply(coop, shipment(), now=asked)
    passes.reject(official, made["r"], "货物与申报不符", now=asked + timedelta(minutes=5))
    made["p"] = passes.apply(coop, shipment(), now=asked)
    today = local_today()
    passes.add_entry(
        official, passes.EntryInput("彰武顺达物流", today, today + timedelta(days=30), "保供")
    )
    for name in ("w1", "w2", "w3", "w4"):
        made[name] = passes.apply(world["haulier"], shipment(plate="辽A54321"), now=asked)
    passes.record_passage(world["gate"], made["w1"], world["exit_point"], "out")
    passes.record_passage(world["other_gate"], made["w2"], world["entry_point"], "in")
    passes.record_step(world["haulier"], made["w3"], "delivery")
    made["j"] = passes.apply(
        world["coop2"], shipment(origin=PlaceInput(province="辽宁", county="金州区"))
    )
    db.session.commit()
    return made


def _scope(user, **kwargs):
    return queries.resolve_scope(user, **kwargs)


def test_the_county_office_figures(world, crafted):
    f = pass_figures(_scope(world["official"]), queries.parse_period(None, None))
    assert (f.asked, f.approved, f.approved_at_once) == (11, 9, 4)
    assert (f.rejected, f.revoked, f.pending, f.completed) == (1, 1, 1, 1)
    assert (f.in_transit, f.overdue) == (2, 0)
    # the officials' approvals only: 10, 20, 30, 50, 100 minutes
    assert sorted(f.minutes_to_approve) == [10, 20, 30, 50, 100]
    assert f.median_minutes_to_approve == Decimal("30.0")
    assert [(r.county_code, r.name, r.asked) for r in f.by_county] == [("210922", "彰武县", 11)]


def test_the_median_of_an_even_number_is_the_mean_of_the_middle_two(world, crafted):
    passes.withdraw(world["coop"], crafted["p"])
    asked = utcnow() - timedelta(hours=6)
    row = passes.apply(world["coop"], shipment(), now=asked)
    passes.approve(world["official"], row, now=asked + timedelta(minutes=45))
    db.session.commit()
    f = pass_figures(_scope(world["official"]), queries.parse_period(None, None))
    assert f.median_minutes_to_approve == Decimal("37.5")  # 10 20 (30 45) 50 100
    assert f.pending == 0


def test_a_vehicle_past_its_time_is_overdue(world, crafted):
    late = crafted["w2"].expected_by + timedelta(minutes=1)
    f = pass_figures(_scope(world["official"]), queries.parse_period(None, None), now=late)
    assert (f.in_transit, f.overdue) == (2, 1)
    road = on_the_road(_scope(world["other_official"]), now=late)
    assert road[0].id == crafted["w2"].id and {p.id for p in road} == {
        crafted["w1"].id,
        crafted["w2"].id,
    }
    crafted["w1"].overdue_at = utcnow()  # flagged: overdue whatever the time
    db.session.commit()
    assert pass_figures(_scope(world["official"]), queries.parse_period(None, None)).overdue == 1


def test_the_province_sees_each_county_and_the_destination_its_vehicles(world, crafted):
    period = queries.parse_period(None, None)
    province = pass_figures(_scope(world["province_official"]), period)
    assert province.asked == 12 and province.pending == 2
    assert [(r.name, r.asked, r.pending) for r in province.by_county] == [
        ("彰武县", 11, 1),
        ("金州区", 1, 1),
    ]
    donghu = pass_figures(_scope(world["other_official"]), period)
    assert (donghu.asked, donghu.approved, donghu.pending) == (0, 0, 0)
    assert donghu.by_county == []
    assert donghu.in_transit == 2  # from Zhangwu, on their way to Donghu
    everywhere = pass_figures(_scope(world["admin"]), period)
    assert everywhere.asked == 12 and len(everywhere.by_county) == 2


def test_the_period_counts_what_happened_in_it(world, crafted):
    f = pass_figures(_scope(world["official"]), queries.parse_period("2020-01-01", "2020-01-31"))
    assert (f.asked, f.approved, f.rejected, f.revoked, f.completed) == (0, 0, 0, 0, 0)
    assert f.median_minutes_to_approve is None
    assert (f.pending, f.in_transit) == (1, 2)  # now, whenever asked


def test_the_officials_page(app, world, crafted):
    client = app.test_client()
    login(client, "official", PASSWORD)
    page = client.get("/monitor/passes", headers={"Accept-Language": "zh"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="passes-asked">11<' in text and 'id="passes-median">30.0<' in text
    assert "通行证" in text and "彰武县" in text
    assert crafted["w2"].number in text
    for who in ("coop", "buyer", "haulier", "gate"):
        other = app.test_client()
        login(other, who, PASSWORD)
        assert other.get("/monitor/passes").status_code == 404, who
    past = client.get("/monitor/passes?from=2020-01-01&to=2020-01-31")
    assert 'id="passes-asked">0<' in past.get_data(as_text=True)


def test_the_export_of_the_passes(app, world, crafted):
    client = app.test_client()
    login(client, "official", PASSWORD)
    response = export_file(client, "passes.csv", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Pass number", "Status", "Applicant", "Plate"]
    assert "Overdue" in header and "Minutes to decide" in header
    assert len(body) == 11  # from or to Zhangwu: not Jinzhou's
    by_number = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    a = by_number[crafted["a"].number]
    assert a["Minutes to decide"] == "10" and a["Plate"] == "辽A12345"
    assert by_number[crafted["w1"].number]["Approved by"] == "whitelist"
    assert by_number[crafted["w1"].number]["Exit (China time)"]
    text = response.data.decode("utf-8-sig")
    assert "13912345678" not in text and "王师傅" not in text  # no driver's phone or name
    book = export_file(client, "passes.xlsx")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.data)).worksheets[0]
    assert sheet.max_row == 12
    donghu = app.test_client()
    login(donghu, "jiangxi", PASSWORD)
    theirs = export_file(donghu, "passes.csv").data.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(theirs)))) == 13  # every one goes to Donghu
    assert export_file(donghu, "passes.csv?county=210922").status_code == 404
