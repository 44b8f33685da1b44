"""The embedded search backend on Whoosh (whoosh-reloaded). All Whoosh code lives here.

Where the time goes, and what this does about it:
- Analysis runs once, in Python, before Whoosh sees a lot (`analysis.py`, cached per word);
  Whoosh fields take pre-split tokens, so indexing is tokenising on spaces.
- Filters, facets and non-relevance sorts do not go through Whoosh's query and facet machinery:
  every document's filterable values are kept in plain arrays, built once per index segment from
  Whoosh's columns and reused until the segment changes; a query is matched by Whoosh (posting
  lists), and the rest is a pass over those arrays.
- One writer at a time: `ix.writer()` fails at once when the lock is held; `apply` turns that into
  IndexBusy and the change stays in the database's queue. A web request never waits.
- Each process shares one searcher and refreshes it at most once a second.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh import query as Q  # noqa: N812 - Whoosh's own convention
from whoosh.fields import ID, KEYWORD, NUMERIC, Schema
from whoosh.writing import LockError

from produce_match.catalog.regions import great_circle_km
from produce_match.search.analysis import AnalysedQuery, Analyzer
from produce_match.search.backend import (
    FACETS,
    Hit,
    IndexBusy,
    LotDocument,
    SearchRequest,
    SearchResult,
)

#: how much each way of matching counts: the commodity itself above a word in the text, exact
#: Chinese and English above pinyin, pinyin above initials, a fuzzy pinyin match least
BOOST = {"commodity": 12.0, "zh": 3.0, "en": 3.0, "py": 2.0, "ini": 1.0, "fuzzy": 0.4}
REFRESH_SECONDS = 1.0
_COLUMNS = (
    "lot",
    "commodity",
    "province",
    "county",
    "grade",
    "status",
    "spoil_by",
    "price",
    "remaining",
    "created",
    "lat",
    "lng",
)


def _schema() -> Schema:
    tokens = {"scorable": True, "lowercase": False}
    return Schema(
        id=ID(stored=True, unique=True),
        version=NUMERIC(int, bits=64, stored=True),
        zh=KEYWORD(**tokens),
        py=KEYWORD(**tokens),
        ini=KEYWORD(**tokens),
        en=KEYWORD(**tokens),
        lot=NUMERIC(int, bits=64, sortable=True),
        commodity=ID(sortable=True),
        province=ID(sortable=True),
        county=ID(sortable=True),
        grade=ID(sortable=True),
        status=ID(sortable=True),
        spoil_by=NUMERIC(int, sortable=True),
        price=NUMERIC(int, bits=64, sortable=True),
        remaining=NUMERIC(int, bits=64, sortable=True),
        created=NUMERIC(int, bits=64, sortable=True),
        # coordinates in millionths of a degree (Whoosh's float columns do not take a default)
        lat=NUMERIC(int, sortable=True),
        lng=NUMERIC(int, sortable=True),
    )


def _fields(doc: LotDocument) -> dict[str, Any]:
    return {
        "id": str(doc.lot_id),
        "version": doc.version,
        **{name: " ".join(tokens) for name, tokens in doc.tokens.items()},
        "lot": doc.lot_id,
        "commodity": doc.commodity,
        "province": doc.province,
        "county": doc.county,
        "grade": doc.grade or "-",
        "status": doc.status,
        "spoil_by": doc.spoil_by,
        "price": doc.price_fen_per_t,
        "remaining": doc.remaining_g,
        "created": doc.created,
        "lat": round(doc.lat * 1_000_000),
        "lng": round(doc.lng * 1_000_000),
    }


class _Writer:
    def __init__(self, writer: Any, generation: Path) -> None:
        self._writer = writer
        #: the index generation written to; if it is no longer live afterwards, a rebuild
        #: swapped in another one meanwhile and the same changes must go there too
        self.generation = generation
        self.changed = False

    def upsert(self, doc: LotDocument) -> None:
        self._writer.update_document(**_fields(doc))
        self.changed = True

    def delete(self, lot_id: int) -> None:
        self._writer.delete_by_term("id", str(lot_id))
        self.changed = True


@dataclass
class _Table:
    """Every document's filterable values, by global document number."""

    columns: dict[str, list[Any]]
    size: int


class WhooshBackend:
    def __init__(self, root: str | os.PathLike[str], analyzer: Analyzer) -> None:
        self.root = Path(root)
        self.analyzer = analyzer
        self._lock = threading.Lock()
        self._search_lock = threading.Lock()
        self._searcher: Any = None
        self._ix: Any = None
        self._searcher_generation: Path | None = None
        self._checked = 0.0
        self._segments: dict[str, dict[str, list[Any]]] = {}
        self._table: tuple[Any, _Table] | None = None

    # --- the index on disk: root/current -> root/gen-<n> ---------------------------------

    @property
    def live(self) -> Path:
        return self.root / "current"

    def exists(self) -> bool:
        return self.live.exists()

    def generation(self) -> Path:
        """The directory the live index is in now."""
        if not self.live.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            target = self._new_generation()
            whoosh_index.create_in(target, _schema())
            self._point_to(target)
        return self.live.resolve()

    def _ensure(self) -> Any:
        # open the generation itself, never through the link: a writer that started before a
        # swap must finish in the index it started in, not write half into the new one
        return whoosh_index.open_dir(str(self.generation()))

    def _new_generation(self) -> Path:
        path = self.root / f"gen-{time.time_ns()}"
        path.mkdir(parents=True)
        return path

    def _point_to(self, target: Path) -> None:
        """Swap the live index atomically: readers see the old one or the new one, never none."""
        temp = self.root / f".current-{os.getpid()}-{time.time_ns()}"
        os.symlink(target.name, temp)
        os.replace(temp, self.live)
        # searchers refresh within a second, but one may still be reading an older generation:
        # keep the previous one, and any replaced less than a minute ago
        generations = sorted(p for p in self.root.glob("gen-*") if p.is_dir())
        cutoff = time.time() - 60
        for old in generations[:-2]:
            if old != target and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)

    # --- writing ---------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[_Writer]:
        """Hold the index's one writer: fails at once (IndexBusy) if another process has it."""
        generation = self.generation()
        ix = whoosh_index.open_dir(str(generation))
        try:
            writer = ix.writer()
        except LockError:
            raise IndexBusy() from None
        wrapped = _Writer(writer, generation)
        try:
            yield wrapped
        except BaseException:
            writer.cancel()
            raise
        if not wrapped.changed:
            writer.cancel()  # nothing to write: no new index generation
            return
        writer.commit()
        self._checked = 0.0  # this process sees its own write at once

    def rebuild(
        self,
        documents: Iterable[LotDocument],
        total: int,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._new_generation()
        ix = whoosh_index.create_in(target, _schema())
        writer = ix.writer(limitmb=256)
        done = 0
        for doc in documents:
            writer.add_document(**_fields(doc))
            done += 1
            if progress and done % 500 == 0:
                progress(500)
        writer.commit(optimize=True)
        if progress:
            progress(done % 500)
        self._point_to(target)
        self._checked = 0.0

    def versions(self) -> dict[int, int]:
        with self._search_lock:
            searcher = self.searcher()
            return {int(f["id"]): f["version"] for f in searcher.all_stored_fields()}

    # --- reading ---------------------------------------------------------------------------

    def searcher(self) -> Any:
        """The process's shared searcher, brought up to date at most once a second.

        A new searcher is opened when the index changed, rather than `refresh()`: Whoosh's
        refresh reuses segment readers with their old deletions, so a document replaced by
        `update_document` would be found twice. Callers hold `_search_lock`.
        """
        now = time.monotonic()
        with self._lock:
            if self._searcher is None or now - self._checked >= REFRESH_SECONDS:
                generation = self.generation()
                if generation != self._searcher_generation:
                    self._ix = whoosh_index.open_dir(str(generation))
                    self._searcher_generation = generation
                if self._searcher is None or (
                    self._ix.latest_generation() != self._searcher.reader().generation()
                ):
                    old, self._searcher = self._searcher, self._ix.searcher()
                    if old is not None:
                        old.close()
            self._checked = now
            return self._searcher

    def _table_for(self, searcher: Any) -> _Table:
        """The arrays of filterable values, rebuilt only for segments this process has not seen."""
        if self._table and self._table[0] is searcher:
            return self._table[1]
        columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
        seen = {}
        leaves = searcher.leaf_searchers()
        for leaf, _offset in leaves:
            reader = leaf.reader()
            if reader.doc_count_all() == 0:  # an empty index has no columns
                continue
            segment = reader.segment() if hasattr(reader, "segment") else None
            name = segment.segment_id() if segment is not None else str(id(reader))
            arrays = self._segments.get(name)
            if arrays is None:
                arrays = {c: list(reader.column_reader(c)) for c in _COLUMNS}
                arrays = {
                    c: [v.decode() if isinstance(v, bytes) else v for v in values]
                    for c, values in arrays.items()
                }
            seen[name] = arrays
            for c in _COLUMNS:
                columns[c].extend(arrays[c])
        self._segments = seen
        table = _Table(columns=columns, size=len(columns["lot"]))
        self._table = (searcher, table)
        return table

    def search(self, request: SearchRequest) -> SearchResult:
        analysed = self.analyzer.query(request.text)
        with self._search_lock:  # threads of one process take turns on the shared searcher
            return self._search(request, analysed)

    def _search(self, request: SearchRequest, analysed: AnalysedQuery) -> SearchResult:
        searcher = self.searcher()
        with self._lock:
            table = self._table_for(searcher)
        places = analysed.places
        keep = self._filter(table, request)
        matched = self._matched(searcher, self._match(searcher, analysed, every_term=True), keep)
        if places:  # place words narrow, unless nothing of the rest is there
            narrowed = self._in_places(matched, table, places)
            if narrowed or not analysed.content_terms:
                matched = narrowed
        relaxed = False
        if not matched and len(analysed.content_terms) > 1:
            matched = self._matched(
                searcher, self._match(searcher, analysed, every_term=False), keep
            )
            relaxed = bool(matched)
        suggestion = None
        if not matched and request.text.strip():
            suggestion = self._suggest(searcher, analysed)
        facets = self._facets(table, matched) if request.facets else {}
        ordered = self._sort(matched, table, request)
        start = (request.page - 1) * request.per_page
        page = ordered[start : start + request.per_page]
        hits = [
            Hit(lot_id=table.columns["lot"][doc], score=score, distance_km=distance)
            for doc, score, distance in page
        ]
        return SearchResult(
            hits=hits, total=len(ordered), facets=facets, suggestion=suggestion, relaxed=relaxed
        )

    # --- matching ---------------------------------------------------------------------------

    def _term_query(self, term: Any) -> Q.Query:
        alternatives: list[Q.Query] = []
        for code in term.commodities:
            alternatives.append(Q.Term("commodity", code, boost=BOOST["commodity"]))
        alternatives += [Q.Term("zh", w, boost=BOOST["zh"]) for w in term.zh]
        for p in term.py:
            alternatives.append(Q.Term("py", p, boost=BOOST["py"]))
            if len(p) >= 5:  # one wrong pinyin letter is forgiven
                alternatives.append(
                    Q.FuzzyTerm("py", p, boost=BOOST["fuzzy"], maxdist=1, prefixlength=1)
                )
        alternatives += [Q.Term("ini", i, boost=BOOST["ini"]) for i in term.ini]
        if term.en:
            english = [Q.Term("en", e, boost=BOOST["en"]) for e in term.en]
            alternatives.append(english[0] if len(english) == 1 else Q.And(english))
        return Q.Or(alternatives)

    def _match(
        self, searcher: Any, analysed: AnalysedQuery, every_term: bool
    ) -> dict[int, float] | None:
        """doc number -> score for the query's words; None when the query has none."""
        terms = analysed.content_terms
        if not terms:
            return None
        parts = [self._term_query(t) for t in terms]
        query = parts[0] if len(parts) == 1 else (Q.And(parts) if every_term else Q.Or(parts))
        results = searcher.search(query, limit=None, terms=False)
        return {hit.docnum: hit.score for hit in results}

    @staticmethod
    def _in_places(scores: dict[int, float], table: _Table, places: list[Any]) -> dict[int, float]:
        counties = {p.code for p in places if p.level == "county"}
        provinces = {p.code for p in places if p.level == "province"}
        county_col, province_col = table.columns["county"], table.columns["province"]
        return {
            d: s
            for d, s in scores.items()
            if county_col[d] in counties
            or province_col[d] in provinces
            or (not counties and not provinces)
        }

    def _filter(self, table: _Table, request: SearchRequest) -> Callable[[int], bool]:
        cols = table.columns
        checks: list[Callable[[int], bool]] = []
        statuses = set(request.statuses)
        status, spoil = cols["status"], cols["spoil_by"]
        today = request.today.toordinal() if request.today is not None else None

        def status_ok(d: int) -> bool:
            s = status[d]
            if s == "open" and today is not None and spoil[d] < today:
                s = "expired"  # past its spoil-by date, whether or not that is recorded yet
            return s in statuses

        checks.append(status_ok)
        for name in ("commodity", "province", "county", "grade"):
            wanted = getattr(request, name)
            if wanted:
                col = cols[name]
                checks.append(lambda d, col=col, wanted=wanted: col[d] == wanted)
        if request.min_remaining_g:
            remaining, minimum = cols["remaining"], request.min_remaining_g
            checks.append(lambda d: remaining[d] >= minimum)
        if request.max_price_fen_per_t:
            price, maximum = cols["price"], request.max_price_fen_per_t
            checks.append(lambda d: price[d] <= maximum)
        if request.spoil_from:
            spoil, start = cols["spoil_by"], request.spoil_from.toordinal()
            checks.append(lambda d: spoil[d] >= start)
        if request.spoil_to:
            spoil, end = cols["spoil_by"], request.spoil_to.toordinal()
            checks.append(lambda d: spoil[d] <= end)
        return lambda d: all(check(d) for check in checks)

    @staticmethod
    def _matched(
        searcher: Any, scores: dict[int, float] | None, keep: Callable[[int], bool]
    ) -> dict[int, float]:
        if scores is None:  # no words: every live document
            docs = searcher.docs_for_query(Q.Every())
            return {d: 0.0 for d in docs if keep(d)}
        return {d: s for d, s in scores.items() if keep(d)}

    @staticmethod
    def _facets(table: _Table, matched: dict[int, float]) -> dict[str, list[tuple[str, int]]]:
        out = {}
        for name in FACETS:
            col = table.columns[name]
            counts = Counter(col[d] for d in matched)
            counts.pop("-", None)
            out[name] = counts.most_common(30)
        return out

    @staticmethod
    def _sort(
        matched: dict[int, float], table: _Table, request: SearchRequest
    ) -> list[tuple[int, float, float | None]]:
        cols = table.columns
        spoil, price, created = cols["spoil_by"], cols["price"], cols["created"]
        docs = list(matched)
        distances: dict[int, float] = {}
        if request.sort == "distance" and request.origin:
            lat0, lng0 = request.origin
            lat, lng = cols["lat"], cols["lng"]
            distances = {
                d: great_circle_km(lat0, lng0, lat[d] / 1_000_000, lng[d] / 1_000_000) for d in docs
            }
            docs.sort(key=lambda d: (distances[d], spoil[d]))
        elif request.sort == "urgency":
            docs.sort(key=lambda d: (spoil[d], -matched[d]))
        elif request.sort == "price":
            docs.sort(key=lambda d: (price[d], spoil[d]))
        elif request.sort == "price_desc":
            docs.sort(key=lambda d: (-price[d], spoil[d]))
        elif request.sort == "newest":
            docs.sort(key=lambda d: -created[d])
        else:  # relevance; equal scores: the more urgent first
            docs.sort(key=lambda d: (-round(matched[d], 6), spoil[d]))
        return [(d, matched[d], distances.get(d)) for d in docs]

    def _suggest(self, searcher: Any, analysed: AnalysedQuery) -> str | None:
        """A query that would find something: each word replaced by its nearest known form."""
        vocab = self.analyzer.vocabulary
        corrector = searcher.corrector("py")
        words = []
        changed = False
        for term in analysed.terms:
            replacement = term.text
            if not term.is_place and term.py:
                for candidate in corrector.suggest(term.py[0], limit=1, maxdist=2):
                    code = vocab.commodity_of.get(candidate)
                    replacement = vocab.display.get(code, candidate) if code else candidate
                    changed = changed or replacement != term.text
            words.append(replacement)
        return " ".join(words) if changed else None
