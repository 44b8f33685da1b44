"""Matches for many lots at once (the officials' lots at risk) are exactly the one-lot matches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import event, select

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, LotStatus
from produce_match.matching import queries, vector
from tests.factories import make_demand, make_lot


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def test_matches_for_many_lots_are_each_lots_own_in_few_queries(app, runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    g.pop("search_pending", None)
    lots = list(
        db.session.scalars(
            select(Lot).where(Lot.status == LotStatus.open).order_by(Lot.spoil_by, Lot.id)
        )
    )
    one_by_one = {lot.id: queries.matches_for_lot(lot, limit=None) for lot in lots}
    assert sum(1 for found in one_by_one.values() if found) >= 5  # the demo has real matches

    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        together = queries.matches_for_lots(lots, limit=None)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)

    def key(found):
        return [(f.demand.id, f.match.score.total) for f in found]

    assert {i: key(f) for i, f in together.items()} == {i: key(f) for i, f in one_by_one.items()}
    assert len(statements) <= 7  # not one query per lot (one of them: the cooperatives' records)
    assert queries.matches_for_lots([]) == {}


def test_the_rule_is_asked_only_about_demands_the_one_lot_query_gives(users, monkeypatch):
    """Many lots' demands come in one query of the commodities; the pairs are then narrowed
    as candidate_demands narrows them in SQL, before the rule is asked."""
    lot = make_lot(users["coop"], spoil_by=local_today() + timedelta(days=21))  # 40 t, 6.80/kg
    fits = make_demand(users["buyer"])  # 10-40 t, up to 7.50 yuan/kg
    make_demand(users["buyer"], max_price="6.00")  # pays less than the lot asks
    make_demand(users["buyer"], min_quantity="50", max_quantity="60")  # more than it holds
    asked = []
    real = vector.evaluate

    def spy(lots, demands, today, pairs=None):
        found = real(lots, demands, today, pairs)
        asked.extend(demands[j].id for j in found.demand.tolist())  # the pairs evaluated
        return found

    monkeypatch.setattr(vector, "evaluate", spy)
    found = queries.matches_for_lots([lot], limit=None)[lot.id]
    assert [f.demand.id for f in found] == [fits.id]
    assert asked == [fits.id] == [d.id for d in queries.candidate_demands(lot)]


def test_the_delivery_places_come_with_the_demands(users):
    """The pages show each demand's place (province and county): loaded with the demands, not
    one query per province."""
    lot_id = make_lot(users["coop"], spoil_by=local_today() + timedelta(days=21)).id
    for province, county in (("江西", "东湖区"), ("辽宁", "于洪区"), ("湖北", "江岸区")):
        make_demand(users["buyer"], province=province, county=county)
    db.session.expunge_all()  # nothing in the session yet, as at the start of a request
    lot = db.session.get(Lot, lot_id)
    found = queries.matches_for_lots([lot], limit=None)[lot_id]
    assert len(found) == 3
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        places = sorted(f.demand.place for f in found)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert places == ["江西省 东湖区", "湖北省 江岸区", "辽宁省 于洪区"]
    assert statements == []
