"""The open lots of a place are counted, summed and paged in the database, exactly as the rule
`can_sell` judges each lot where it is (its own time zone's today)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, LotStatus, can_sell
from produce_match.lots.updates import update_lots
from produce_match.monitor import queries
from tests.factories import make_lot

#: far behind and far ahead of China: on most hours their day is not China's
ZONES = ["Asia/Shanghai", "Pacific/Honolulu", "Pacific/Kiritimati", "Europe/London"]


def _lots_everywhere_in_time(users):
    """Lots spoiling from the day before yesterday to in 9 days, in four time zones, and some
    that are not on offer (withdrawn, nothing left)."""
    today = local_today()
    made = []
    for days in range(-2, 10):
        for zone in ZONES:
            lot = make_lot(users["coop"], title=f"{zone} {days}", spoil_by=today + timedelta(30))
            made.append((lot.id, zone, today + timedelta(days=days)))
    for lot_id, zone, spoil_by in made:
        update_lots(update(Lot).where(Lot.id == lot_id).values(timezone=zone, spoil_by=spoil_by))
    first, second = made[20][0], made[21][0]
    update_lots(update(Lot).where(Lot.id == first).values(status=LotStatus.withdrawn))
    update_lots(update(Lot).where(Lot.id == second).values(remaining_g=0))
    db.session.commit()
    db.session.expire_all()


def test_open_lots_are_those_can_sell_takes_in_every_time_zone(users, world):
    _lots_everywhere_in_time(users)
    scope = queries.resolve_scope(users["province_official"])
    every = db.session.scalars(
        select(Lot).where(Lot.province_code == scope.province_code).order_by(Lot.spoil_by, Lot.id)
    ).all()
    expected = [lot for lot in every if can_sell(lot)]
    assert 20 < len(expected) < len(every)
    lots = queries.OpenLots(scope)
    assert [lot.id for lot in queries.open_lots(scope)] == [lot.id for lot in expected]
    assert lots.count() == len(expected)
    pages = [lots.page(n, 7) for n in range(1, -(-len(expected) // 7) + 1)]
    assert [lot.id for page in pages for lot in page] == [lot.id for lot in expected]
    assert all(len(page) == 7 for page in pages[:-1])

    f = queries.figures(scope, queries.parse_period(None, None))
    assert f.lots_open == len(expected)
    assert f.g_open == sum(lot.remaining_g for lot in expected)
    assert f.g_at_risk_3d == sum(lot.remaining_g for lot in expected if lot.days_left <= 3)
    assert f.g_at_risk_7d == sum(lot.remaining_g for lot in expected if lot.days_left <= 7)
    soon = [lot.id for lot in expected if lot.days_left <= 7]
    assert [r.lot.id for r in f.lots_at_risk_7d] == soon
    assert f.lots_at_risk_7d_count == len(soon)
    by_commodity: dict[str, list[int]] = {}
    by_place: dict[str, list[int]] = {}
    for lot in expected:
        c = by_commodity.setdefault(lot.commodity.name_zh, [0, 0])
        p = by_place.setdefault(queries.place_name(lot), [0, 0])
        for row in (c, p):
            row[0] += 1
            row[1] += lot.remaining_g
    assert {r.name: [r.lots_open, r.g_open] for r in f.by_commodity} == by_commodity
    got = {r.name: [r.lots_open, r.g_open] for r in f.by_place if r.lots_open}
    assert got == by_place


def test_the_dashboard_lists_the_soonest_and_links_to_the_rest(app, users, world, monkeypatch):
    from produce_match.web import monitor as views
    from tests.conftest import login
    from tests.factories import PASSWORD

    monkeypatch.setattr(views, "DASHBOARD_AT_RISK", 1)
    client = app.test_client()
    login(client, "provincial", PASSWORD)
    page = client.get("/monitor/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "道亭村黑豆" in page and "樱桃" not in page.split('id="more-at-risk"')[0]
    assert "The 1 soonest of 3: every lot at risk" in page
    zh = client.get("/monitor/", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "仅列出最早到期的 1 批（共 3 批），查看全部风险批次" in zh
    monkeypatch.setattr(views, "DASHBOARD_AT_RISK", 50)
    page = client.get("/monitor/").get_data(as_text=True)
    assert "樱桃" in page and 'id="more-at-risk"' not in page


def test_lots_at_risk_from_columns_are_those_of_the_lot_objects(users, world, monkeypatch):
    """at_risk() reads the lots as plain columns and builds objects only for what is read: the
    same facts, days, takings, buyers and best matches as the lots' objects give, item by
    item, in slices, in chunks and as plain tuples."""
    import random

    from produce_match.matching import queries as matching
    from tests.factories import make_demand

    _lots_everywhere_in_time(users)
    rng = random.Random(15)
    for _ in range(12):
        make_demand(
            users["buyer"],
            max_price=f"{rng.choice([5, 6, 7, 8])}.{rng.randrange(100):02d}",
            min_quantity=str(rng.choice([1, 10, 30])),
            max_quantity=str(rng.choice([35, 40, 80])),
        )
    db.session.expire_all()
    scope = queries.resolve_scope(users["province_official"])
    lots = queries.open_lots(scope)
    days = matching.lot_days(lots)
    facts, facts_days = matching.lot_facts_where(*queries.OpenLots(scope).where)
    assert facts == [matching.lot_facts(lot, day) for lot, day in zip(lots, days, strict=True)]
    assert facts_days == days

    def key(items):
        return [
            (
                r.lot.id,
                r.days_left,
                r.taken,
                r.buyers,
                [(f.demand.id, f.match) for f in r.matches],
            )
            for r in items
        ]

    monkeypatch.setattr(queries.AtRiskLots, "CHUNK", 5)
    for best in (0, 3, None):
        expected = queries.at_risk_of(lots, best=best)
        assert any(r.matches for r in expected) or best == 0
        assert any(r.taken for r in expected)
        rows = queries.at_risk(scope, best=best)
        assert len(rows) == len(expected)
        plain = [
            (r.lot.id, r.days_left, r.taken, r.buyers,
             tuple((f.demand.id, f.match.score.total) for f in r.matches))
            for r in expected
        ]  # fmt: skip
        assert rows.rows() == plain  # before any object is built
        assert key(rows[7:12]) == key(expected[7:12])
        assert key([rows[-1], rows[0]]) == key([expected[-1], expected[0]])
        assert key(rows) == key(expected)
        assert key(queries.at_risk(scope, best=best)) == key(expected)  # iterated in chunks
