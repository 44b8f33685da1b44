"""UPDATE and DELETE statements of lots: run through one helper, so that no index goes stale.

The ORM's flushes are seen by whoever watches the session (the search index queues every lot a
flush touches); a statement changes rows without objects, so it goes through `update_lots`,
which learns the lots it wrote from RETURNING and sends `events.lots_written` with their ids.
A statement writing lots without it is refused (produce_match.search.service).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Delete, Row, Update

from produce_match.extensions import db
from produce_match.lots.events import lots_written
from produce_match.lots.models import Lot

#: the execution option `update_lots` marks its statements with
QUEUED_OPTION = "search_queued"


def prepared(statement: Update | Delete) -> Update | Delete:
    """`statement` as `update_lots` runs it (the lot's id returned last, marked as queued): for
    a statement built once and run many times with `update_lots(..., params=...)`."""
    return statement.returning(Lot.__table__.c.id).execution_options(**{QUEUED_OPTION: True})


def update_lots(
    statement: Update | Delete,
    *,
    only: Collection[int] | None = None,
    params: dict[str, Any] | None = None,
) -> list[Row[Any]]:
    """Run an UPDATE (or DELETE) of lots and tell who listens which lots it wrote.

    Returns the statement's rows: its own RETURNING columns first, then the lot's id last.
    `params`: the values of the statement's bound parameters (one built once: `prepared`).

    `only`: the lots the statement can write at most (its WHERE names them). They are announced
    before it runs, so that a guarded statement can be the last of its transaction (a hot lot's
    row is then held from the statement to the commit and no longer); announcing a lot the
    statement then leaves alone costs the index one needless rewrite. A statement that wrote any
    other lot is an error.
    """
    if not statement.get_execution_options().get(QUEUED_OPTION):
        statement = prepared(statement)
    if only is not None:
        lots_written.send(None, lot_ids=sorted(set(only)))
    db.session.flush()  # the session's pending changes first, as the ORM's execute would
    # on the session's connection: a statement of the lots table, past the ORM's execute (the
    # guarded UPDATE of every order placed goes through here)
    rows = list(db.session.connection().execute(statement, params).all())
    written = sorted({row[-1] for row in rows})
    if only is None:
        lots_written.send(None, lot_ids=written)
    elif not set(written) <= set(only):
        raise RuntimeError(f"update_lots(only={sorted(only)}) wrote lots {written}")
    return rows
