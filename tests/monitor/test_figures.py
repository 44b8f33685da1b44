"""Every figure of the dashboard against sums worked out by hand on the fixed data set."""

from __future__ import annotations

from decimal import Decimal

from produce_match.monitor import queries
from produce_match.monitor.models import ProblemCategory
from tests.conftest import login
from tests.factories import PASSWORD
from tests.monitor.conftest import T


def test_the_county_figures(users, world):
    scope = queries.resolve_scope(users["official"])
    assert (scope.county_code, scope.name) == (world["beans"].county_code, "彰武县")
    f = queries.figures(scope, queries.parse_period(None, None))
    assert f.lots_open == 3  # beans, corn, peanuts
    assert f.g_open == 40 * T + 10 * T + (5 * T - 1 * T - T // 2)  # 2 t rejected came back
    assert f.g_at_risk_3d == 40 * T  # beans: 2 days left
    assert f.g_at_risk_7d == 50 * T  # and corn: 6 days
    assert [(r.lot.title, r.days_left, r.buyers) for r in f.lots_at_risk_7d] == [
        ("道亭村黑豆", 2, 1),  # the Shenyang delivery takes black beans
        ("玉米", 6, 0),
    ]
    assert f.g_ordered == 1 * T + T // 2  # the rejected 2 t are not "ordered"
    assert f.g_paid == 1 * T
    assert f.g_dispatched == 1 * T
    assert f.g_delivered == 900_000
    assert f.paid_out_fen == 720_000  # the payout of 40 days ago is outside the period
    assert f.days_to_payout == Decimal("3.0")  # dispatched 4 days ago, paid out 1 day ago
    # 1 t of peanuts at 8.00 yuan/kg against the local 6.40 yuan/kg
    assert (f.achieved_fen, f.reference_fen) == (800_000, 640_000)
    assert (f.premium_fen, f.premium_percent) == (160_000, Decimal("25.0"))
    assert (f.problems_open, f.problems_closed) == (1, 1)  # Jinzhou's is not Zhangwu's
    assert f.days_to_close == Decimal("2.0")
    by_category = {c: (o, k) for c, o, k in f.problems_by_category}
    assert by_category[ProblemCategory.no_buyer] == (0, 1)
    assert by_category[ProblemCategory.transport] == (1, 0)
    assert {
        r.name: (r.lots_open, r.g_open, r.g_ordered, r.paid_out_fen) for r in f.by_commodity
    } == {
        "黑豆": (1, 40 * T, 0, 0),
        "玉米": (1, 10 * T, 0, 0),
        "花生": (1, 3_500_000, 1_500_000, 720_000),
    }
    assert {r.name: (r.lots_open, r.g_open, r.paid_out_fen) for r in f.by_place} == {
        "梁家子镇 道亭村": (2, 43_500_000, 720_000),
        "梁家子镇 新村": (1, 10 * T, 0),
    }


def test_the_province_adds_its_other_counties(users, world):
    scope = queries.resolve_scope(users["province_official"])
    assert scope.county_code is None
    f = queries.figures(scope, queries.parse_period(None, None))
    assert f.lots_open == 4
    assert f.g_open == 53_500_000 + 2 * T
    assert f.g_at_risk_3d == 42 * T  # the cherries have 3 days
    assert f.g_at_risk_7d == 52 * T
    assert f.paid_out_fen == 720_000
    assert (f.problems_open, f.problems_closed) == (2, 1)


def test_the_figures_match_only_the_lots_they_list(users, world, monkeypatch):
    """The buyers are counted for the lots spoiling within 7 days, the only ones listed; the
    other open lots are counted, not matched (that is the lots-at-risk page's work)."""
    asked = []
    real = queries.matching.compatible_with

    def spy(lots, *, best=20):
        asked.append([lot.title for lot in lots])
        return real(lots, best=best)

    monkeypatch.setattr(queries.matching, "compatible_with", spy)
    scope = queries.resolve_scope(users["province_official"])
    f = queries.figures(scope, queries.parse_period(None, None))
    assert f.lots_open == 4
    assert asked == [["道亭村黑豆", "樱桃", "玉米"]]  # not the peanuts: 30 days left
    assert [(r.lot.title, r.buyers) for r in f.lots_at_risk_7d] == [
        ("道亭村黑豆", 1),
        ("樱桃", 0),
        ("玉米", 0),
    ]
    # the dashboard lists the soonest only, and says how many there are
    asked.clear()
    f = queries.figures(scope, queries.parse_period(None, None), at_risk_limit=2)
    assert asked == [["道亭村黑豆", "樱桃"]]
    assert [r.lot.title for r in f.lots_at_risk_7d] == ["道亭村黑豆", "樱桃"]
    assert (f.lots_at_risk_7d_count, f.g_at_risk_7d, f.lots_open) == (3, 52 * T, 4)
    asked.clear()
    f = queries.figures(scope, queries.parse_period(None, None), at_risk_limit=0)
    assert (asked, f.lots_at_risk_7d, f.lots_at_risk_7d_count) == ([], [], 3)
    # at_risk() matches every open lot, from plain columns (no lot objects handed over)
    asked.clear()
    rows = queries.at_risk(scope)
    assert asked == []
    assert [r.lot.title for r in rows] == ["道亭村黑豆", "樱桃", "玉米", "花生"]
    assert [r.buyers for r in rows] == [1, 0, 0, 0]


def test_the_api_gives_the_same_figures(client, users, world):
    token = client.post(
        "/api/v1/tokens", json={"login": "official", "password": PASSWORD, "name": "t"}
    ).json["token"]
    response = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["lots_open"] == 3
    assert body["kg_open"] == "53500"
    assert body["kg_at_risk_7d"] == "50000"
    assert body["kg_ordered"] == "1500"
    assert body["kg_paid"] == "1000"
    assert body["kg_delivered"] == "900"
    assert body["paid_out_yuan"] == "7200.00"
    assert body["paid_out_fen"] == 720_000
    assert (body["problems_open"], body["problems_closed"]) == (1, 1)
    assert body["premium_percent"] == "25.0"


def test_the_dashboard_shows_them_in_the_units_people_write(client, users, world):
    login(client, "official", PASSWORD)
    page = client.get("/monitor/", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert '<dd id="lots-open">3</dd>' in page
    # each amount in one element that keeps it on one line with its unit (test_officials_pages)
    assert '<dd id="kg-open"><span class="amount">53.5 吨</span></dd>' in page
    assert '<dd id="kg-risk-7"><span class="amount">50 吨</span></dd>' in page
    assert '<dd id="paid-out"><span class="amount">7,200.00 元</span></dd>' in page
    assert "<svg" in page and "<script" not in page.split("<main", 1)[-1]


def test_the_period_is_calendar_days_in_china(users, world):
    from datetime import date, datetime, timedelta, timezone

    from produce_match.extensions import db
    from produce_match.payments.models import EntryKind, LedgerEntry

    day = date(2026, 3, 20)
    china = timezone(timedelta(hours=8))
    for key, instant, fen in (
        ("early", datetime(2026, 3, 20, 0, 10, tzinfo=china), 100),  # 19 March 16:10 UTC
        ("late", datetime(2026, 3, 20, 23, 50, tzinfo=china), 20),
        ("next", datetime(2026, 3, 21, 0, 10, tzinfo=china), 3),  # still 20 March in UTC
    ):
        db.session.add(
            LedgerEntry(
                order_id=world["paid"].id, kind=EntryKind.payout, amount_fen=fen,
                provider="transfer", key=f"payout:{key}", created_at=instant,
            )
        )  # fmt: skip
    db.session.commit()
    scope = queries.resolve_scope(users["official"])
    f = queries.figures(scope, queries.Period(day, day))
    assert f.paid_out_fen == 120
