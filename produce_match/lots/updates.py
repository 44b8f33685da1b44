"""UPDATE and DELETE statements of lots: run through one helper, so that no index goes stale.

The ORM's flushes are seen by whoever watches the session (the search index queues every lot a
flush touches); a statement changes rows without objects, so it goes through `update_lots`,
which learns the lots it wrote from RETURNING and sends `events.lots_written` with their ids.
A statement writing lots without it is refused (produce_match.search.service).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Row, Update

from produce_match.extensions import db
from produce_match.lots.events import lots_written
from produce_match.lots.models import Lot

#: the execution option `update_lots` marks its statements with
QUEUED_OPTION = "search_queued"


def update_lots(statement: Update | Delete) -> list[Row[Any]]:
    """Run an UPDATE (or DELETE) of lots and tell who listens which lots it wrote.

    Returns the statement's rows: its own RETURNING columns first, then the lot's id last.
    """
    lots = Lot.__table__
    rows = list(
        db.session.execute(
            statement.returning(lots.c.id).execution_options(**{QUEUED_OPTION: True})
        ).all()
    )
    lots_written.send(None, lot_ids=sorted({row[-1] for row in rows}))
    return rows
