"""Matches for many lots at once (the officials' lots at risk) are exactly the one-lot matches."""

from __future__ import annotations

from flask import g
from sqlalchemy import event, select

from produce_match.extensions import db
from produce_match.lots.models import Lot, LotStatus
from produce_match.matching import queries


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
    assert len(statements) <= 6  # not one query per lot
    assert queries.matches_for_lots([]) == {}
