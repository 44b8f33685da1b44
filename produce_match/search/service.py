"""Keeping the index in step with the database, and answering searches with lots.

Two backends (`SEARCH_BACKEND`): Whoosh, a local index beside one node (`whoosh_backend.py`), and
PostgreSQL (`postgres_backend.py`), documents in the database itself. Both are kept in step the
same way, off the request path:

The database is the truth. Every flush that touches a lot (and every statement that writes lots,
through `lots.updates.update_lots`) queues the lot's id in `search_outbox` in the same
transaction, and asks for the task `search.apply` once it commits (see tasks.py): the worker
applies the queue to the index in batches, each lot once however often it was queued, through
the index's one writer (Whoosh) or one transaction of upserts (PostgreSQL). A crash between
commit and index write loses nothing: the queue is in the database, and the worker's periodic
sweep applies it. A document is never replaced by an older version of its lot: Whoosh's one
writer reads the lots while it holds the index, PostgreSQL's upsert is guarded by the version
(the lot's `updated_at`). Searches only read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from itertools import chain
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Select, bindparam, delete, event, insert, select
from sqlalchemy.orm import ORMExecuteState, Session, joinedload, selectinload

from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lots.events import lots_written
from produce_match.lots.models import Lot
from produce_match.lots.updates import QUEUED_OPTION
from produce_match.queue import after_commit
from produce_match.search.analysis import Analyzer, Vocabulary
from produce_match.search.backend import (
    CheckReport,
    DocumentPart,
    IndexBusy,
    LotDocument,
    SearchBackend,
    SearchRequest,
    SearchResult,
)
from produce_match.search.models import SearchOutbox
from produce_match.search.parallel import PROCESSES

log = logging.getLogger(__name__)

BATCH = 2000
#: a rebuild is shared between processes when each gets at least this many lots
REBUILD_PART_MIN = 5000


def _version(lot: Lot) -> int:
    stamp = lot.updated_at
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1_000_000)


class SearchService:
    """One per app: the analyzer, the backend, and the queue between database and index."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._analyzer: Analyzer | None = None
        self._backend: SearchBackend | None = None

    @property
    def analyzer(self) -> Analyzer:
        if self._analyzer is None:
            self._analyzer = Analyzer(Vocabulary.from_database())
        return self._analyzer

    @property
    def backend(self) -> SearchBackend:
        if self._backend is None:
            if self.in_database:
                from produce_match.search.postgres_backend import PostgresBackend

                self._backend = PostgresBackend(
                    self.analyzer,
                    connection=lambda: db.session.connection(),
                    begin=lambda: db.engine.begin(),
                    autocommit=lambda: db.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT"
                    ),
                )
            else:
                from produce_match.search.whoosh_backend import WhooshBackend

                self._backend = WhooshBackend(self.app.config["SEARCH_INDEX_DIR"], self.analyzer)
        return self._backend

    def ready(self) -> bool:
        """Can searches be answered (the index exists and opens)?"""
        return bool(self.backend.exists())

    def after_fork(self) -> None:
        """In a new worker process: keep the loaded dictionaries, reopen the index's files."""
        self._backend = None

    @property
    def in_database(self) -> bool:
        """Are the documents kept in the database (PostgreSQL), not in a local index?"""
        return self.app.config.get("SEARCH_BACKEND") == "postgres"

    def vocabulary_changed(self) -> None:
        """The catalogue or the regions changed: analyse with the new words from now on."""
        self._analyzer = None
        if self._backend is not None:
            self._backend.analyzer = self.analyzer  # type: ignore[attr-defined]

    # --- documents ------------------------------------------------------------------------

    def document(self, lot: Lot) -> LotDocument:
        tokens = self.analyzer.document(
            commodity_code=lot.commodity.code,
            title=lot.title,
            typed_name=lot.commodity_name,
            # not the cooperative's name: 黑豆合作社's corn is not black beans
            texts=[lot.variety, lot.grade, lot.description, lot.storage_notes],
            places=[
                lot.province.name,
                lot.province.short_name,
                lot.county.name,
                lot.county.short_name,
                lot.township,
                lot.village,
            ],
        )
        created = lot.created_at if lot.created_at.tzinfo else lot.created_at.replace(tzinfo=UTC)
        return LotDocument(
            lot_id=lot.id,
            version=_version(lot),
            tokens=tokens,
            commodity=lot.commodity.code,
            province=lot.province_code,
            county=lot.county_code,
            grade=(lot.grade or "").strip(),
            status=lot.status.value,
            spoil_by=lot.spoil_by.toordinal(),
            price_fen_per_t=lot.price_fen_per_t,
            remaining_g=lot.remaining_g,
            created=int(created.timestamp()),
            lat=lot.county.lat,
            lng=lot.county.lng,
            category=lot.commodity.category.value,
            prefecture=lot.county.parent_code or "",
        )

    @staticmethod
    def _load(ids: list[int], *, session: Any = None) -> list[Lot]:
        """Lots with their commodity, cooperative and regions (what documents read), in a few
        queries."""
        options = [
            selectinload(Lot.commodity),
            selectinload(Lot.cooperative),
            selectinload(Lot.province),
            selectinload(Lot.county),
        ]
        session = session if session is not None else db.session
        return list(session.scalars(select(Lot).where(Lot.id.in_(ids)).options(*options)))

    # --- the queue --------------------------------------------------------------------------

    def process_queue(self) -> int:
        """Apply queued changes to the index; 0 if another process holds the writer."""
        done = 0
        db.session.rollback()  # start from a fresh snapshot, holding nothing
        try:
            while True:
                with self.backend.writing() as writer:
                    rows = db.session.execute(
                        select(SearchOutbox.id, SearchOutbox.lot_id)
                        .order_by(SearchOutbox.id)
                        .limit(BATCH)
                    ).all()
                    ids = sorted({lot_id for _id, lot_id in rows})
                    found = {lot.id: lot for lot in self._load(ids)}
                    for lot_id in ids:
                        if lot_id in found:
                            writer.upsert(self.document(found[lot_id]))
                        else:
                            writer.delete(lot_id)
                db.session.rollback()  # end the read; what follows begins with a write
                if not rows:
                    break
                if writer.generation != self.backend.generation():
                    # a rebuild swapped in a new index while we wrote the old one
                    self.queue(ids)
                # exactly the rows read: on PostgreSQL a lower id may commit after a higher one
                # was read, and must stay queued rather than be deleted unapplied
                done_ids = [row_id for row_id, _lot in rows]
                db.session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(done_ids)))
                db.session.commit()
                done += len(rows)
        except IndexBusy:
            db.session.rollback()
        return done

    def pending(self) -> bool:
        """Are changes queued for the index (read in a transaction of its own)?"""
        found = db.session.scalar(select(SearchOutbox.id).limit(1)) is not None
        db.session.rollback()
        return found

    def queue(self, lot_ids: list[int]) -> None:
        """Queue lots for the index explicitly (`update_lots` does, for its statements)."""
        if not lot_ids:
            return
        # a plain INSERT on the session's connection (not the ORM's bulk path): it is on the
        # path of every order placed
        db.session.connection().execute(
            insert(SearchOutbox.__table__), [{"lot_id": i, "queued_at": utcnow()} for i in lot_ids]
        )
        after_commit("search.apply")

    # --- searching ------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResult:
        result = self.backend.search(request)
        if request.text.strip() and (not result.total or result.relaxed):
            self._suggest(request, result)
        return result

    def _suggest(self, request: SearchRequest, result: SearchResult) -> None:
        """ "Did you mean": the catalogue's nearest names (the same on every backend), those
        that find lots with the same filters. When nothing matched every word, a suggestion
        that does find lots replaces the lots that match only some words: "blak bean" shows
        the black beans, not every lot that says "bean"."""
        found = []
        for words in self.analyzer.suggestions(request.text):
            probe = self.backend.search(
                replace(request, text=words, page=1, per_page=0, facets=False, any_match=True)
            )
            if probe.total and not probe.relaxed:
                found.append(words)
        result.suggestions = found
        result.suggestion = found[0] if found else None
        if found and result.relaxed:
            instead = self.backend.search(replace(request, text=found[0]))
            result.hits, result.total, result.facets = instead.hits, instead.total, instead.facets
            result.relaxed, result.corrected = False, True

    def lots_for(self, result: SearchResult) -> list[Lot]:
        """The hits' lots from the database, in the hits' order (skipping any gone since): in
        two queries, the lots joined to what a result shows of them (commodity, cooperative,
        province, county: one row each), then their photos."""
        ids = [h.lot_id for h in result.hits]
        if not ids:
            return []
        found = {lot.id: lot for lot in db.session.scalars(_result_lots(), {"ids": ids})}
        return [found[i] for i in ids if i in found]

    # --- rebuild and check ----------------------------------------------------------------

    def _all_documents(self, since: datetime | None = None) -> Iterator[LotDocument]:
        query = select(Lot.id).order_by(Lot.id)
        if since is not None:
            query = query.where(Lot.updated_at >= since)
        ids = list(db.session.scalars(query))
        for start in range(0, len(ids), 1000):
            for lot in self._load(ids[start : start + 1000]):
                yield self.document(lot)
            db.session.expunge_all()

    def _documents_in_process(self, ids: list[int]) -> Iterator[LotDocument]:
        """The lots' documents, read in a forked process (a rebuild's part): through
        connections of its own, never the parent's (dropped unclosed: they are the parent's)."""
        db.engine.dispose(close=False)
        with Session(db.engine) as session:
            for start in range(0, len(ids), 1000):
                for lot in self._load(ids[start : start + 1000], session=session):
                    yield self.document(lot)
                session.expunge_all()

    def _parts(self, ids: list[int]) -> list[DocumentPart]:
        """A rebuild's lots in a part per process (consecutive ids), none for a small rebuild
        or a database a forked process cannot open again (SQLite in memory)."""
        count = min(PROCESSES, len(ids) // REBUILD_PART_MIN)
        if count < 2 or db.engine.url.database in (None, "", ":memory:"):
            return []
        size = -(-len(ids) // count)
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
        return [partial(self._documents_in_process, chunk) for chunk in chunks]

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Build a fresh index from the database beside the live one and swap it in (its
        documents made in a process per core, when there are enough)."""
        started = datetime.now(UTC) - timedelta(seconds=5)
        ids = list(db.session.scalars(select(Lot.id).order_by(Lot.id)))
        total = len(ids)
        parts = self._parts(ids)
        if parts:
            self.analyzer  # noqa: B018 - loaded once here, shared by the forked processes
            db.session.rollback()  # nothing held open across the fork
            self.backend.rebuild((), total, progress, parts=parts)
        else:
            self.backend.rebuild(self._all_documents(), total, progress)
        # whatever changed while the new index was being built goes through the queue again
        changed = list(db.session.scalars(select(Lot.id).where(Lot.updated_at >= started)))
        db.session.rollback()
        if changed:
            self.queue(changed)
            db.session.commit()
        self.process_queue()
        return total

    def check(self, repair: bool = True) -> CheckReport:
        """Every difference between the index and the database; repaired unless asked not to."""
        self.process_queue()
        indexed = self.backend.versions()
        report = CheckReport()
        truth: dict[int, int] = {}
        for lot_id, updated_at in db.session.execute(select(Lot.id, Lot.updated_at)):
            stamp = updated_at if updated_at.tzinfo else updated_at.replace(tzinfo=UTC)
            truth[lot_id] = int(stamp.timestamp() * 1_000_000)
        report.missing = sorted(set(truth) - set(indexed))
        report.extra = sorted(set(indexed) - set(truth))
        report.stale = sorted(i for i in set(truth) & set(indexed) if truth[i] != indexed[i])
        db.session.rollback()
        if repair and not report.clean:
            self.queue([*report.missing, *report.stale, *report.extra])
            db.session.commit()
            self.process_queue()
        return report


@cache
def _result_lots() -> Select[tuple[Lot]]:
    """The statement `lots_for` runs, made once (its loader options' cache key too)."""
    return (
        select(Lot)
        .where(Lot.id.in_(bindparam("ids", expanding=True)))
        .options(
            joinedload(Lot.commodity, innerjoin=True),
            joinedload(Lot.cooperative, innerjoin=True),
            joinedload(Lot.province, innerjoin=True),
            joinedload(Lot.county, innerjoin=True),
            selectinload(Lot.photos),
        )
    )


def service() -> SearchService:
    return current_app.extensions["search"]


# --- statements that write lots: queued through one helper ----------------------------------


@lots_written.connect
def _queue_written_lots(_sender: Any, lot_ids: list[int], **_: Any) -> None:
    """Lots an UPDATE or DELETE wrote (`lots.updates.update_lots`) go to the index's queue."""
    service().queue(lot_ids)


@event.listens_for(Session, "do_orm_execute")
def _refuse_unqueued_lot_statements(state: ORMExecuteState) -> None:
    """A statement writing lots past `update_lots` would leave the index stale: refuse it."""
    if not (state.is_update or state.is_delete) or state.execution_options.get(QUEUED_OPTION):
        return
    # the statement's table is an annotated copy of the lots table: compare names
    if getattr(getattr(state.statement, "table", None), "name", None) == Lot.__tablename__:
        raise RuntimeError(
            "UPDATE and DELETE of lots go through produce_match.lots.updates.update_lots(), "
            "which queues the lots they write for the search index."
        )


# --- the database side: queue every lot a flush touches -------------------------------------


@event.listens_for(Session, "after_flush")
def _queue_flushed_lots(session: Session, _context: Any) -> None:
    ids = {
        obj.id
        for obj in chain(session.new, session.dirty, session.deleted)
        if isinstance(obj, Lot)
        and obj.id is not None
        and (obj in session.new or obj in session.deleted or session.is_modified(obj))
    }
    if not ids:
        return
    session.connection().execute(insert(SearchOutbox), [{"lot_id": i} for i in sorted(ids)])
    after_commit("search.apply", session=session)


def init_app(app: Flask) -> None:
    app.extensions["search"] = SearchService(app)
