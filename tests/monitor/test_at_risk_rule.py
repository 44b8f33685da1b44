"""A province's lots at risk (the rule over arrays, the demands kept between requests) are
exactly what the per-pair rule gives each lot, and follow every commit that changes a demand
or its buyer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, update

from produce_match.accounts.models import Organisation
from produce_match.dates import local_today
from produce_match.demands.models import Demand, DemandStatus
from produce_match.extensions import db
from produce_match.matching import queries as matching
from produce_match.monitor import queries
from tests.factories import make_demand, make_lot

COMMODITIES = ["黑豆", "玉米", "花生"]
#: (province, county): the buyer's own, near the lots, far from them
PLACES = [("江西", "东湖区"), ("辽宁", "于洪区"), ("湖北", "江岸区"), ("辽宁", "彰武")]


def _per_pair(rows):
    """Each lot's line as the per-pair rule (`matches_for_lot`) gives it."""
    out = []
    for r in rows:
        found = matching.matches_for_lot(r.lot, limit=None)
        buyers = len({f.demand.buyer_org_id for f in found})
        out.append((r.lot.id, buyers, [(f.demand.id, f.match.score) for f in found]))
    return out


def _key(rows):
    return [(r.lot.id, r.buyers, [(f.demand.id, f.match.score) for f in r.matches]) for r in rows]


def _random_world(users, rng):
    today = local_today()
    inside = []
    for i in range(14):
        coop = users["coop"] if i % 2 else users["coop2"]
        lot = make_lot(
            coop,
            title=f"批次{i}",
            commodity=rng.choice(COMMODITIES),
            grade=rng.choice([None, "一等", "特级"]),
            quantity=str(rng.choice([5, 20, 40])),
            price=f"{rng.choice([2, 5, 6, 7])}.{rng.randrange(100):02d}",
            spoil_by=today + timedelta(days=rng.randint(2, 40)),
        )
        inside.append(lot.id)
    for _ in range(25):
        province, county = rng.choice(PLACES)
        make_demand(
            users["buyer"],
            commodity=rng.choice(COMMODITIES),
            grades=rng.choice(["", "", "一等", "特级、一等"]),
            max_price=f"{rng.choice([3, 6, 7, 8])}.{rng.randrange(100):02d}",
            min_quantity=str(rng.choice([1, 10, 30])),
            max_quantity=str(rng.choice([35, 40, 80])),
            province=province,
            county=county,
            needed_by=(today + timedelta(days=rng.randint(3, 50))).isoformat(),
        )
    return inside


def test_a_provinces_lots_at_risk_are_the_per_pair_rules(users):
    rng = random.Random(20261207)
    inside = _random_world(users, rng)
    scope = queries.resolve_scope(users["province_official"])
    assert scope.province_code is not None and scope.county_code is None
    for best in (None, 3):
        rows = queries.at_risk(scope, best=best)
        assert sorted(r.lot.id for r in rows) == sorted(inside)
        expected = _per_pair(rows)
        if best is not None:
            expected = [(i, n, found[:best]) for i, n, found in expected]
        assert _key(rows) == expected
        assert sum(len(found) for _, _, found in expected) >= 10  # real matches, not none
        assert rows.rows() == [
            (i, r.days_left, r.taken, n, tuple((d, s.total) for d, s in found))
            for (i, n, found), r in zip(expected, rows, strict=True)
        ]
    # a county of it: the same lines for its lots
    county = queries.resolve_scope(users["official"])
    assert _key(queries.at_risk(county, best=None)) == _per_pair(queries.at_risk(county))


def _demand_reads(statements):
    """The reads of every active demand's facts (their buyers' verification as a column)."""
    return [s for s in statements if "FROM demands" in s and "AS verified" in s]


def test_the_kept_demands_follow_every_commit(users):
    """The active demands are read once for a generation of the data; a commit that writes a
    demand or a buyer, and the request's own unsaved writes, are seen at once."""
    today = local_today()
    lot = make_lot(users["coop"], spoil_by=today + timedelta(days=5))  # 40 t at 6.80/kg
    first = make_demand(users["buyer"])
    scope = queries.resolve_scope(users["province_official"])

    def line():
        (row,) = queries.at_risk(scope, best=None)
        assert row.lot.id == lot.id
        assert _key([row]) == _per_pair([row])
        return [(f.demand.id, f.match.score.total) for f in row.matches]

    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        assert [d for d, _ in line()] == [first.id]
        assert len(_demand_reads(statements)) == 1
        statements.clear()
        assert [d for d, _ in line()] == [first.id]
        assert _demand_reads(statements) == []  # kept: the same generation of the data

        second = make_demand(users["buyer"], max_price="9.00", county="于洪区", province="辽宁")
        assert sorted(d for d, _ in line()) == sorted([first.id, second.id])

        before = dict(line())
        db.session.execute(
            update(Organisation)
            .where(Organisation.id == users["buyer"].organisation.id)
            .values(verified_at=datetime.now(UTC))
        )
        db.session.commit()
        after = dict(line())
        assert all(after[d] > before[d] for d in before)  # a verified buyer scores higher

        db.session.execute(
            update(Demand).where(Demand.id == second.id).values(status=DemandStatus.paused)
        )
        db.session.commit()
        assert [d for d, _ in line()] == [first.id]

        # the request's own writes, not yet committed: read again, not the kept table
        db.session.get(Demand, second.id).status = DemandStatus.active
        db.session.flush()
        statements.clear()
        assert sorted(d for d, _ in line()) == sorted([first.id, second.id])
        assert len(_demand_reads(statements)) == 1
        db.session.rollback()
        assert [d for d, _ in line()] == [first.id]
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
