"""The embedded search backend on Whoosh (whoosh-reloaded). All Whoosh code lives here.

Where the time goes, and what this does about it (measured at 100,000 lots, 2 cores; the
figures in `bench/search.py`):
- Analysis runs once, in Python, before Whoosh sees a lot (`analysis.py`, cached per word);
  Whoosh fields take pre-split tokens, so indexing is tokenising on spaces.
- Indexing is postings: only the words people search are indexed fields (zh, py, ini, en, and
  commodity and category, which queries name). Everything lots are filtered, sorted or counted
  by is a column only (`COLUMN`: numbers in `NumericColumn`s, codes in `RefBytesColumn`s), the
  version is stored only: they used to be indexed fields writing 8-16 terms per lot that no
  query ever searched (60% of the postings). Whoosh's commit looked up the field length of
  every posting's document one at a time in the column file; `_Lengths` reads them in bulk.
  With all postings of a rebuild sorted in memory (`REBUILD_MB`), a rebuild went from 327 s to
  72 s. A rebuild of many lots runs in a process per core (`parallel.run_parts`): each loads
  and analyses its share and writes a segment of its own, counting the pre-split words at once
  (`_counting_schema`: Whoosh's analysis chain made a token object per word, a fifth of the
  time); the segments are committed together, unmerged.
- Filters, facets and non-relevance sorts do not go through Whoosh's query and facet machinery.
  Every document's values are kept in plain lists, read once per index segment (numbers straight
  from the column's bytes) and reused until the segment changes; per searcher, `_Table` derives
  on first use value -> set of documents (status, commodity, places, grade), the documents in
  each sort order, and the open ones as of a day. Filtering is set intersections (numbers are
  compared only over what is left), facets a count over the matches, a sort walks its order
  keeping the matches until the page is full, and distance is worked out once per place (a
  county's centre), not per lot.
- Matching is unscored: each term's documents straight from its posting lists, as sets. A
  segment's postings never change: they are decoded once into numpy arrays and kept between
  searches (`POSTINGS_CACHED`), and a query word's matches are kept with the searcher
  (`MATCHES_CACHED`). Only the page is ranked: `_scores` computes Whoosh's own BM25F (the same
  operations in the same order, so the same numbers as a posting at a time; the tests compare
  them) over a whole posting list at once in numpy, for the matches the ranking query has, and
  only the scores that can make the page are sorted. Facets are counts of the columns' codes
  (`numpy.bincount`). Before this, the broad word below took 66-116 ms, mostly decoding postings
  and scoring them one by one in Python. Whoosh's collectors score one posting at a time through a
  tree of matchers, and their top-N optimisation skips almost nothing for a broad word whose
  lots all score alike (急售: 27,000 lots, 400-600 ms before, under 100 ms now).
- The ranking query is smaller than the matching one: a commodity's lots carry all its names,
  so its other names (乌豆 for 黑豆) would only add the same to each of them: they still find
  lots that merely mention them, which come after the scored ones. A category word (水果) ranks
  by the category alone.
- One writer at a time: `ix.writer()` fails at once when the lock is held; `apply` turns that into
  IndexBusy and the change stays in the database's queue. A web request never waits.
- Each process shares one searcher and refreshes it at most once a second.

The bulk paths read Whoosh 2.7's own layout (`W3LeafMatcher` blocks, the `W3PerDocReader`
length columns; the version is pinned) and fall back to the public matcher interface
otherwise. An index built before this layout is refused with "run flask search rebuild".
"""

from __future__ import annotations

import copy
import heapq
import itertools
import os
import re
import shutil
import sys
import threading
import time
import types
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import index as whoosh_index
from whoosh import query as Q  # noqa: N812 - Whoosh's own convention
from whoosh.analysis import RegexTokenizer
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, W3PerDocReader
from whoosh.columns import NumericColumn, RefBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, Schema
from whoosh.formats import Frequency
from whoosh.matching.wrappers import FilterMatcher
from whoosh.scoring import BM25FScorer, WeightScorer
from whoosh.system import pack_uint
from whoosh.util.numeric import byte_to_length
from whoosh.writing import LockError, SegmentWriter

from produce_match.catalog.regions import great_circle_km
from produce_match.search.analysis import AnalysedQuery, Analyzer, Place, QueryTerm
from produce_match.search.backend import (
    BOOST,
    FACETS,
    DocumentPart,
    Hit,
    IndexBusy,
    LotDocument,
    SearchRequest,
    SearchResult,
    today_of,
    urgency_factor,
)
from produce_match.search.parallel import Progress, run_parts

REFRESH_SECONDS = 1.0
#: memory for a rebuild's postings before Whoosh sorts them out to disk: 100,000 lots fit
#: (about 1.5 GB in fact); past it, Whoosh's external merge sort makes the rebuild take twice
#: as long (256 MB: 97 s at 100,000 lots, this: about 60 s)
REBUILD_MB = 2048
#: per-document values kept in columns (not indexed: nothing searches them as words)
_NUMBERS = {
    "lot": "q",
    "spoil_by": "i",
    "price": "q",
    "remaining": "q",
    "created": "q",
    # coordinates in millionths of a degree
    "lat": "i",
    "lng": "i",
}
_CODES = ("commodity", "province", "county", "prefecture", "grade", "status")
_COLUMNS = (*_NUMBERS, *_CODES)
#: the places a place word may name, and the column that holds each
_PLACE_COLUMNS = {"county": "county", "prefecture": "prefecture", "province": "province"}
#: decoded postings kept between searches (a segment's postings never change): at most this
#: many postings in all, about 12 bytes each
POSTINGS_CACHED = 4_000_000
#: query words whose matches each searcher keeps
MATCHES_CACHED = 256
#: tries at opening the index while writers replace its table of contents, and the wait between
OPEN_ATTEMPTS = 10
OPEN_RETRY_SECONDS = 0.02


def _schema() -> Schema:
    tokens = {"scorable": True, "lowercase": False}
    return Schema(
        id=ID(stored=True, unique=True),
        version=STORED(),
        zh=KEYWORD(**tokens),
        py=KEYWORD(**tokens),
        ini=KEYWORD(**tokens),
        en=KEYWORD(**tokens),
        # searched (Term("commodity", code) is the strongest match) and a column
        commodity=ID(sortable=RefBytesColumn()),
        category=ID(),
        **{name: COLUMN(NumericColumn(code)) for name, code in _NUMBERS.items()},
        **{name: COLUMN(RefBytesColumn()) for name in _CODES if name != "commodity"},
    )


def _fields(doc: LotDocument) -> dict[str, Any]:
    return {
        "id": str(doc.lot_id),
        "version": doc.version,
        **{name: " ".join(tokens) for name, tokens in doc.tokens.items()},
        "commodity": doc.commodity,
        "category": doc.category or None,
        "lot": doc.lot_id,
        "spoil_by": doc.spoil_by,
        "price": doc.price_fen_per_t,
        "remaining": doc.remaining_g,
        "created": doc.created,
        "lat": round(doc.lat * 1_000_000),
        "lng": round(doc.lng * 1_000_000),
        "province": doc.province.encode(),
        "county": doc.county.encode(),
        "prefecture": doc.prefecture.encode(),
        "grade": (doc.grade or "-").encode(),
        "status": doc.status.encode(),
    }


class _Lengths:
    """A new segment's field lengths, read in bulk, for the writer's commit: Whoosh looks up
    the length of every posting's document one at a time in the column file (a seek and an
    unpack per posting: a fifth of a rebuild)."""

    def __init__(self, perdoc: Any) -> None:
        self._perdoc = perdoc
        self._lengths: dict[str, list[int | None]] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: Any = None) -> Any:
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            column = self._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
            encoded = _numbers(column) if column is not None else None
            if encoded is None:
                return self._perdoc.doc_field_length(docnum, fieldname, default)
            # as Whoosh's own: None for a length of 0 (no posting has that)
            lengths = self._lengths[fieldname] = [_LENGTH_OF_BYTE[b] or None for b in encoded]
        return lengths[docnum]

    def close(self) -> None:
        self._perdoc.close()


def _fast_lengths(writer: Any) -> None:
    """Give a segment writer's commit the bulk field lengths (when this Whoosh has them)."""
    reader_of = getattr(writer, "per_document_reader", None)
    if reader_of is not None and hasattr(W3PerDocReader, "_cached_reader"):
        writer.per_document_reader = lambda: _Lengths(reader_of())


def _open_dir(path: Path) -> Any:
    """Open an index directory. Whoosh finds the newest table of contents by its name, then
    opens it: a writer committing in between has just deleted it (a new one stands). Tried
    again, as Whoosh's own readers do; a directory that is really gone fails at the last try."""
    for _attempt in range(OPEN_ATTEMPTS - 1):
        try:
            return whoosh_index.open_dir(str(path))
        except FileNotFoundError:
            time.sleep(OPEN_RETRY_SECONDS)
    return whoosh_index.open_dir(str(path))


def _current_layout(schema: Any) -> bool:
    return "prefecture" in schema and isinstance(schema["lat"], COLUMN)


_WORD = re.compile(r"[^ \t\r\n]+")  # Whoosh's SpaceSeparatedTokenizer


def _count_words(field: Any, value: str, **_kwargs: Any) -> list[tuple[bytes, int, float, bytes]]:
    """A KEYWORD field's `index()` for words already split by spaces, counted at once: the same
    (word, frequency, weight, encoded frequency) items as Whoosh's analysis chain makes one
    token object at a time (a fifth of a rebuild)."""
    boost = field.format.field_boost
    return [
        (word.encode("utf-8"), n, float(n) * boost, pack_uint(n))
        for word, n in Counter(_WORD.findall(value)).items()
    ]


def _counting_schema(schema: Schema) -> Schema:
    """A copy of the schema whose space-separated KEYWORD fields count their words at once
    (for writing segments only: the index's own schema stays Whoosh's)."""
    schema = copy.deepcopy(schema)
    for name in schema.names():
        field = schema[name]
        analyzer = getattr(field, "analyzer", None)
        if (
            isinstance(field, KEYWORD)
            and isinstance(field.format, Frequency)
            and isinstance(analyzer, RegexTokenizer)
            and analyzer.expression.pattern == _WORD.pattern
        ):
            field.index = types.MethodType(_count_words, field)
    return schema


def _write_segment(
    target: Path, documents: Iterable[LotDocument], limitmb: int, add: Callable[[int], None]
) -> Any:
    """Write documents as one new segment of the index in `target`, without its lock (the
    process that commits the segments holds it); the segment, None if there were none."""
    ix = whoosh_index.open_dir(str(target))
    writer = SegmentWriter(ix, _lk=False, limitmb=limitmb)
    _fast_lengths(writer)
    writer.schema = _counting_schema(writer.schema)  # a segment only: no schema is saved
    done = 0
    for doc in documents:
        writer.add_document(**_fields(doc))
        done += 1
        if done % 500 == 0:
            add(500)
    add(done % 500)
    if not done:
        writer.cancel()
        return None
    return writer._finalize_segment()


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


_EMPTY: frozenset[int] = frozenset()
#: sort keys that make one number of (value, spoil-by): spoil-by dates are < 2**20 days
_DAY_BITS = 20


class _Table:
    """Every document's filterable values by global document number, and what is derived from
    them on first use: value -> documents, the live documents in each sort order, the open ones
    as of a day. Kept as long as its searcher; read-only once built (callers never mutate
    the sets it hands out)."""

    def __init__(
        self,
        columns: dict[str, list[Any]],
        live: set[int],
        segments: list[dict[str, Any]] | None = None,
    ) -> None:
        self.columns = columns
        #: each segment's own values (in document order), where what is worked out per
        #: segment is kept for the next searcher: a write adds a segment, the others stay
        self._segments = segments if segments is not None else [columns]
        self.size = len(columns["lot"])
        self.live = live
        self._sets: dict[str, dict[Any, set[int]]] = {}
        self._orders: dict[str, tuple[list[int], list[int]]] = {}
        self._open: tuple[int, set[int]] | None = None
        self._locations: tuple[list[int], list[tuple[int, int]], list[list[int]]] | None = None
        self._codes: dict[str, tuple[np.ndarray, list[Any]]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._urgency: tuple[int, np.ndarray] | None = None
        #: a query word's matches (`WhooshBackend._term_docs`), for the words asked most
        self.matches: OrderedDict[Any, tuple[set[int], set[int]]] = OrderedDict()

    def array(self, name: str) -> np.ndarray:
        """A numeric column as a numpy array."""
        found = self._arrays.get(name)
        if found is None:
            parts = [np.zeros(0, dtype=np.int64)]
            for arrays in self._segments:
                key = f"_array_{name}"
                if key not in arrays:
                    arrays[key] = np.asarray(arrays[name], dtype=np.int64)
                parts.append(arrays[key])
            found = self._arrays[name] = np.concatenate(parts)
        return found

    def codes(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """A column as small integers (the index of each document's value) and the values."""
        found = self._codes.get(name)
        if found is None:
            numbers: dict[Any, int] = {}
            parts = [np.zeros(0, dtype=np.int32)]
            for arrays in self._segments:
                key = f"_codes_{name}"
                if key not in arrays:
                    arrays[key] = _codes(arrays[name])
                local, values = arrays[key]
                # the segment's codes -> the table's
                remap = np.array([numbers.setdefault(v, len(numbers)) for v in values], np.int32)
                parts.append(remap[local] if len(local) else local)
            found = self._codes[name] = (np.concatenate(parts), list(numbers))
        return found

    def urgency(self, today: int) -> np.ndarray:
        """`urgency_factor` of every document's days left on day `today` (worked out once per
        spoil-by day: lots share a few hundred days)."""
        if self._urgency is None or self._urgency[0] != today:
            days, where = np.unique(self.array("spoil_by"), return_inverse=True)
            factors = np.array([urgency_factor(int(day) - today) for day in days], dtype=float)
            self._urgency = (today, factors[where.reshape(-1)])
        return self._urgency[1]

    def docs_with(self, name: str, value: Any) -> set[int] | frozenset[int]:
        """The live documents whose `name` is `value`."""
        index = self._sets.get(name)
        if index is None:
            index = {}
            col = self.columns[name]
            for d in sorted(self.live):
                found = index.get(col[d])
                if found is None:
                    index[col[d]] = {d}
                else:
                    found.add(d)
            self._sets[name] = index
        return index.get(value, _EMPTY)

    def open_on(self, today: int) -> set[int]:
        """The documents that are open and not past their spoil-by date on day `today`."""
        if self._open is None or self._open[0] != today:
            spoil = self.columns["spoil_by"]
            self._open = (today, {d for d in self.docs_with("status", "open") if spoil[d] >= today})
        return self._open[1]

    def order(self, sort: str) -> tuple[list[int], list[int]]:
        """(sort key per document, the live documents in key order, equal keys by number)."""
        found = self._orders.get(sort)
        if found is None:
            cols = self.columns
            spoil = cols["spoil_by"]
            if sort == "urgency":
                key = spoil
            elif sort == "price":
                key = [(p << _DAY_BITS) + s for p, s in zip(cols["price"], spoil, strict=True)]
            elif sort == "price_desc":
                key = [(-p << _DAY_BITS) + s for p, s in zip(cols["price"], spoil, strict=True)]
            elif sort == "newest":
                key = [-c for c in cols["created"]]
            else:
                raise ValueError(sort)
            found = (key, sorted(sorted(self.live), key=key.__getitem__))
            self._orders[sort] = found
        return found

    def first(self, sort: str, docs: set[int], count: int) -> list[int]:
        """The first `count` of `docs` in a sort order."""
        key, order = self.order(sort)
        if len(docs) * len(docs) < count * len(order):  # few documents: sort them
            return heapq.nsmallest(count, sorted(docs), key=key.__getitem__)
        out: list[int] = []  # many: walk the order, keeping theirs
        for d in order:
            if d in docs:
                out.append(d)
                if len(out) >= count:
                    break
        return out

    def locations(self) -> tuple[list[int], list[tuple[int, int]], list[list[int]]]:
        """Where documents are (a county's centre): the location of each document, each
        location's coordinates, and each location's live documents in urgency order."""
        if self._locations is None:
            lat, lng = self.columns["lat"], self.columns["lng"]
            ids: dict[tuple[int, int], int] = {}
            groups: list[list[int]] = []
            where = [0] * self.size
            for d in self.order("urgency")[1]:
                point = (lat[d], lng[d])
                i = ids.get(point)
                if i is None:
                    i = ids[point] = len(groups)
                    groups.append([])
                groups[i].append(d)
                where[d] = i
            self._locations = (where, list(ids), groups)
        return self._locations


def _codes(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Values as small integers (the index of each one's value) and the values."""
    numbers: dict[Any, int] = {}
    codes = np.fromiter(
        (numbers.setdefault(v, len(numbers)) for v in values), dtype=np.int32, count=len(values)
    )
    return codes, list(numbers)


def _numbers(column: Any) -> list[int] | None:
    """A numeric column's values straight from its bytes (Whoosh would unpack them one call per
    document); None if it is not one."""
    if not isinstance(column, NumericColumn.Reader):
        return None
    count = column._count
    values = array(column._typecode)
    values.frombytes(column._dbfile.get(column._basepos, count * column._fixedlen))
    if sys.byteorder == "little":
        values.byteswap()  # Whoosh writes them big-endian
    out = values.tolist()
    out.extend([column._default] * (column._doccount - count))
    return out


def _read_column(reader: Any, name: str) -> list[Any]:
    """A segment's column as a list, codes decoded."""
    column = reader.column_reader(name, translate=False)
    numbers = _numbers(column)
    if numbers is not None:
        return numbers
    return [v.decode() if isinstance(v, bytes) else v for v in column]


def _read_lengths(reader: Any, fieldname: str) -> list[int] | None:
    """A segment's field length per document (what BM25 normalises by), or None if this
    Whoosh keeps them otherwise."""
    perdoc = getattr(reader, "_perdoc", None)
    if perdoc is None or not hasattr(perdoc, "_cached_reader"):
        return None
    column = perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
    if column is None:
        return [0] * reader.doc_count_all()
    encoded = _numbers(column)
    if encoded is None:
        return None
    return [_LENGTH_OF_BYTE[b] for b in encoded]


_LENGTH_OF_BYTE = [byte_to_length(b) for b in range(256)]


def _postings(reader: Any, fieldname: str, text: str) -> Iterator[tuple[Iterable[int], Any]]:
    """A term's postings, a block of (document numbers, weights) at a time. Deleted documents
    are included: callers keep only documents of a set of live ones."""
    matcher = reader.postings(fieldname, text)
    while isinstance(matcher, FilterMatcher):  # the deletions wrapper
        matcher = matcher.child
    if isinstance(matcher, W3LeafMatcher):  # a block at a time (Whoosh 2.7's own layout)
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_weights()
            yield matcher._ids, matcher._weights
            matcher._next_block()
        return
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    yield ids, weights


def _segment_name(reader: Any) -> str:
    segment = reader.segment() if hasattr(reader, "segment") else None
    return segment.segment_id() if segment is not None else str(id(reader))


def _intersect(sets: list[set[int]]) -> set[int]:
    ordered = sorted(sets, key=len)
    return ordered[0].intersection(*ordered[1:])


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
        #: decoded postings by (segment, field, word): (document numbers in the segment,
        #: weights), kept between searches, least recently used dropped past POSTINGS_CACHED
        self._postings: OrderedDict[tuple[str, str, Any], tuple[np.ndarray, np.ndarray]] = (
            OrderedDict()
        )
        self._postings_size = 0
        #: a fuzzy term's words in a segment, by (segment, field, text, distance, prefix)
        self._fuzzy: dict[tuple[Any, ...], list[Any]] = {}

    # --- the index on disk: root/current -> root/gen-<n> ---------------------------------

    @property
    def live(self) -> Path:
        return self.root / "current"

    def exists(self) -> bool:
        """Is there a live index of the current layout? (`flask init-db` rebuilds if not.)"""
        if not self.live.exists():
            return False
        return _current_layout(_open_dir(self.live.resolve()).schema)

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
        return _open_dir(self.generation())

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
        ix = _open_dir(generation)
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
        parts: Sequence[DocumentPart] = (),
    ) -> None:
        """Build a new index generation and swap it in. Given `parts`, each part writes a
        segment of its own in a process of its own, and the segments are committed together
        (no merge: a search reads a few segments as fast as one)."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._new_generation()
        ix = whoosh_index.create_in(target, _schema())
        if parts:
            limitmb = max(256, REBUILD_MB // len(parts))

            def write(part: DocumentPart, done: Progress) -> Any:
                return _write_segment(target, part(), limitmb, done.add)

            segments = [s for s in run_parts(parts, write, progress) if s is not None]
            writer = SegmentWriter(ix)  # takes the new index's lock
            writer._close_segment()  # its own (empty) segment: nothing to keep
            writer._commit_toc(segments)
            writer._finish()
        else:
            writer = ix.writer(limitmb=REBUILD_MB)
            _fast_lengths(writer)
            done = 0
            for doc in documents:
                writer.add_document(**_fields(doc))
                done += 1
                if progress and done % 500 == 0:
                    progress(500)
            writer.commit()  # one writer, one segment: nothing to merge
            if progress:
                progress(done % 500)
        self._point_to(target)
        self._checked = 0.0

    def versions(self) -> dict[int, int]:
        """Every document's lot and version, read from the live index as it is now (a searcher
        of its own: the shared one may be up to a second old, and a check must see the last
        write)."""
        with _open_dir(self.generation()).searcher() as searcher:
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
                    self._ix = _open_dir(generation)
                    self._searcher_generation = generation
                if self._searcher is None or (
                    self._ix.latest_generation() != self._searcher.reader().generation()
                ):
                    old, self._searcher = self._searcher, self._ix.searcher()
                    if old is not None:
                        old.close()
                # the time of the last look at the index, not of the last search: a process
                # that searches more than once a second must still see others' writes
                self._checked = now
            return self._searcher

    def _table_for(self, searcher: Any) -> _Table:
        """The table of filterable values, read only from segments this process has not seen."""
        if self._table and self._table[0] is searcher:
            return self._table[1]
        if not _current_layout(searcher.schema):
            raise RuntimeError("the search index is of an older version: run flask search rebuild")
        columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
        live: set[int] = set()
        seen = {}
        parts = []
        for leaf, offset in searcher.leaf_searchers():
            reader = leaf.reader()
            size = reader.doc_count_all()
            if size == 0:  # an empty index has no columns
                continue
            name = _segment_name(reader)
            arrays = self._segments.get(name)
            if arrays is None:
                arrays = {c: _read_column(reader, c) for c in _COLUMNS}
            seen[name] = arrays
            parts.append(arrays)
            for c in _COLUMNS:
                columns[c].extend(arrays[c])
            if reader.has_deletions():
                live.update(offset + d for d in reader.all_doc_ids())
            else:
                live.update(range(offset, offset + size))
        self._segments = seen
        table = _Table(columns, live, parts)
        self._table = (searcher, table)
        return table

    def search(self, request: SearchRequest) -> SearchResult:
        analysed = self.analyzer.query(request.text)
        with self._search_lock:  # threads of one process take turns on the shared searcher
            return self._search(request, analysed)

    def _search(self, request: SearchRequest, analysed: AnalysedQuery) -> SearchResult:
        return self._search_with(request, analysed)

    def _search_with(self, request: SearchRequest, analysed: AnalysedQuery) -> SearchResult:
        searcher = self.searcher()
        with self._lock:
            table = self._table_for(searcher)
        terms = analysed.content_terms
        # every term must match; `ranked` are the matches the ranking query scores (the rest
        # only mention a commodity's other name or a category word, and come after them)
        found = [self._term_docs(searcher, table, t) for t in terms]
        query = self._ranking_query(terms, every_term=True)
        if terms:
            matched = self._filter(table, request, _intersect([f[0] for f in found]))
            ranked = _intersect([f[1] for f in found])
        else:
            matched, ranked = self._filter(table, request, None), set()
        if analysed.places:  # place words narrow, unless nothing of the rest is there
            narrowed = matched & self._in_places(table, analysed.places)
            if narrowed or not terms:
                matched = narrowed
        if request.any_match:  # only whether any lot matches every word
            return SearchResult(hits=[], total=len(matched))
        relaxed = False
        if not matched and len(terms) > 1:  # nothing has every word: lots with some of them
            matched = self._filter(table, request, set().union(*[f[0] for f in found]))
            ranked = set().union(*[f[1] for f in found])
            query = self._ranking_query(terms, every_term=False)
            relaxed = bool(matched)
        facets = self._facets(table, matched) if request.facets else {}
        page = self._page(searcher, table, request, matched, query, ranked & matched)
        lot = table.columns["lot"]
        hits = [Hit(lot_id=lot[d], score=score, distance_km=km) for d, score, km in page]
        return SearchResult(hits=hits, total=len(matched), facets=facets, relaxed=relaxed)

    # --- matching ---------------------------------------------------------------------------

    @staticmethod
    def _alternatives(term: QueryTerm) -> list[tuple[Q.Query, bool]]:
        """Every way a term matches, each with whether it counts in the ranking.

        A commodity's lots carry all its names, so its other names (乌豆 for 黑豆) find the
        same lots as the commodity term and would only add the same amount to each: they find
        lots that merely mention them, but do not rank."""
        # a category word ranks by the category alone: a text that says 水果 (水果黄瓜, a
        # cucumber) is found, after every lot of the category
        text_ranks = not (term.categories and not term.commodities)
        out: list[tuple[Q.Query, bool]] = []
        for code in term.commodities:
            out.append((Q.Term("commodity", code, boost=BOOST["commodity"]), True))
        for code in term.categories:
            out.append((Q.Term("category", code, boost=BOOST["category"]), True))
        for i, word in enumerate(term.zh):
            ranks = text_ranks and (i == 0 or not term.commodities)  # zh[0] is the word typed
            out.append((Q.Term("zh", word, boost=BOOST["zh"]), ranks))
        for p in term.py:
            out.append((Q.Term("py", p, boost=BOOST["py"]), text_ranks))
            if len(p) >= 5:  # one wrong pinyin letter is forgiven
                fuzzy = Q.FuzzyTerm("py", p, boost=BOOST["fuzzy"], maxdist=1, prefixlength=1)
                out.append((fuzzy, text_ranks))
        out += [(Q.Term("ini", i, boost=BOOST["ini"]), text_ranks) for i in term.ini]
        if term.en:
            english = [Q.Term("en", e, boost=BOOST["en"]) for e in term.en]
            out.append((english[0] if len(english) == 1 else Q.And(english), text_ranks))
        return out

    def _ranking_query(self, terms: list[QueryTerm], every_term: bool) -> Q.Query | None:
        """What orders the matches by relevance (None: the query has no words)."""
        if not terms:
            return None
        parts = [Q.Or([q for q, ranks in self._alternatives(t) if ranks]) for t in terms]
        if len(parts) == 1:
            return parts[0]
        return Q.And(parts) if every_term else Q.Or(parts)

    def _term_docs(
        self, searcher: Any, table: _Table, term: QueryTerm
    ) -> tuple[set[int], set[int]]:
        """The documents a term matches, and those of them its ranking alternatives match.

        Kept with the searcher for the words asked most (the index is the same until the
        searcher changes): a broad word's sets take longer to build than to use. Callers never
        change the sets."""
        alternatives = self._alternatives(term)
        key = tuple((repr(query), ranks) for query, ranks in alternatives)
        found = table.matches.get(key)
        if found is not None:
            table.matches.move_to_end(key)
            return found
        every = np.zeros(table.size, dtype=bool)
        ranked = np.zeros(table.size, dtype=bool)
        for query, ranks in alternatives:
            docs = self._doc_numbers(searcher, query)
            every[docs] = True
            if ranks:
                ranked[docs] = True
        found = (set(np.flatnonzero(every).tolist()), set(np.flatnonzero(ranked).tolist()))
        table.matches[key] = found
        if len(table.matches) > MATCHES_CACHED:
            table.matches.popitem(last=False)
        return found

    def _doc_numbers(self, searcher: Any, query: Q.Query) -> np.ndarray:
        """The documents a query matches, as an array of global document numbers."""
        if isinstance(query, Q.Term | Q.MultiTerm):
            parts = [np.zeros(0, dtype=np.int64)]
            for leaf, offset in searcher.leaf_searchers():
                for word, _boost in self._words(leaf, query):
                    ids, _weights = self._blocks(leaf, query.field(), word)
                    parts.append(ids + offset if offset else ids)
            return np.concatenate(parts)
        docs = self._docs(searcher, query)
        return np.fromiter(docs, dtype=np.int64, count=len(docs))

    def _docs(self, searcher: Any, query: Q.Query) -> set[int]:
        """The documents a query matches, unscored, straight from the postings (deleted ones
        too: every set of matches is cut down to live documents by the filters)."""
        if isinstance(query, Q.Term | Q.MultiTerm):
            out: set[int] = set()
            for leaf, offset in searcher.leaf_searchers():
                for word, _boost in self._words(leaf, query):
                    ids, _weights = self._blocks(leaf, query.field(), word)
                    out.update((ids + offset if offset else ids).tolist())
            return out
        if isinstance(query, Q.And):
            return _intersect([self._docs(searcher, q) for q in query.subqueries])
        return set(searcher.docs_for_query(query))

    def _words(self, leaf: Any, query: Q.Term | Q.MultiTerm) -> list[tuple[Any, float]]:
        """(word, boost) a term stands for in a segment: itself, or a fuzzy term's words (the
        segment's word list never changes: looked up once)."""
        if isinstance(query, Q.Term):
            return [(query.text, query.boost)]
        reader = leaf.reader()
        key: tuple[Any, ...] = (_segment_name(reader), query.field(), query.text)
        key += (getattr(query, "maxdist", None), getattr(query, "prefixlength", None))
        words = self._fuzzy.get(key)
        if words is None:
            words = [w for w in query._btexts(reader) if w]
            if len(self._fuzzy) > 10_000:
                self._fuzzy.clear()
            self._fuzzy[key] = words
        boost = query.boost if len(words) > 1 else 1.0  # Whoosh: one word is a plain Term
        return [(w, boost) for w in words]

    def _blocks(self, leaf: Any, fieldname: str, text: Any) -> tuple[np.ndarray, np.ndarray]:
        """A term's postings in a segment: (document numbers in the segment, weights), decoded
        once and kept between searches (a segment's postings never change; deleted documents
        are among them, as the filters cut every set of matches down to live documents)."""
        reader = leaf.reader()
        key = (_segment_name(reader), fieldname, text)
        found = self._postings.get(key)
        if found is not None:
            self._postings.move_to_end(key)
            return found
        ids: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        if (fieldname, text) in reader:
            for block_ids, block_weights in _postings(reader, fieldname, text):
                ids.append(np.asarray(block_ids, dtype=np.int64))
                weights.append(np.asarray(block_weights, dtype=float))
        found = (
            np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64),
            np.concatenate(weights) if weights else np.zeros(0, dtype=float),
        )
        self._postings[key] = found
        self._postings_size += len(found[0])
        while self._postings_size > POSTINGS_CACHED and len(self._postings) > 1:
            _key, (old, _w) = self._postings.popitem(last=False)
            self._postings_size -= len(old)
        return found

    @staticmethod
    def _in_places(table: _Table, places: list[Place]) -> set[int]:
        """The documents in any of the places: a county, a prefecture, a province."""
        out: set[int] = set()
        for place in places:
            column = _PLACE_COLUMNS.get(place.level)
            if column:
                out |= table.docs_with(column, place.code)
        return out

    @staticmethod
    def _statuses(table: _Table, request: SearchRequest) -> set[int] | frozenset[int]:
        today = request.today.toordinal() if request.today is not None else None
        out: set[int] | frozenset[int] = _EMPTY
        for status in sorted(set(request.statuses)):
            if today is not None and status == "open":
                part = table.open_on(today)
            elif today is not None and status == "expired":
                # past its spoil-by date, whether or not that is recorded yet
                part = table.docs_with("status", "expired") | (
                    table.docs_with("status", "open") - table.open_on(today)
                )
            else:
                part = table.docs_with("status", status)
            out = part if not out else out | part
        return out

    def _filter(
        self, table: _Table, request: SearchRequest, candidates: set[int] | None
    ) -> set[int]:
        """The documents (of the candidates, or of all) that pass the request's filters: set
        intersections for the codes, then the numbers over what is left."""
        sets = [self._statuses(table, request)]
        for name in ("commodity", "province", "county", "grade"):
            wanted = getattr(request, name)
            if wanted:
                sets.append(table.docs_with(name, wanted))
        if candidates is not None:
            sets.append(candidates)
        kept = _intersect(sets)  # a new set, always
        cols = table.columns
        if request.min_remaining_g:
            remaining, minimum = cols["remaining"], request.min_remaining_g
            kept = {d for d in kept if remaining[d] >= minimum}
        if request.max_price_fen_per_t:
            price, maximum = cols["price"], request.max_price_fen_per_t
            kept = {d for d in kept if price[d] <= maximum}
        spoil = cols["spoil_by"]
        if request.spoil_from:
            start = request.spoil_from.toordinal()
            kept = {d for d in kept if spoil[d] >= start}
        if request.spoil_to:
            end = request.spoil_to.toordinal()
            kept = {d for d in kept if spoil[d] <= end}
        return kept

    @staticmethod
    def _facets(table: _Table, matched: set[int]) -> dict[str, list[tuple[str, int]]]:
        """The 30 most frequent values of each facet among the matches (equal counts: by
        value, as the PostgreSQL backend orders them), counted over the columns' codes."""
        docs = np.fromiter(matched, dtype=np.int64, count=len(matched))
        out = {}
        for name in FACETS:
            codes, values = table.codes(name)
            counts = np.bincount(codes[docs], minlength=len(values))
            found = [(values[i], int(counts[i])) for i in np.flatnonzero(counts)]
            found = [(v, n) for v, n in found if v != "-"]
            out[name] = sorted(found, key=lambda vn: (-vn[1], vn[0]))[:30]
        return out

    # --- ordering: only as far as the page asked for -----------------------------------------

    def _page(
        self,
        searcher: Any,
        table: _Table,
        request: SearchRequest,
        matched: set[int],
        query: Q.Query | None,
        ranked: set[int],
    ) -> list[tuple[int, float, float | None]]:
        """(document, score, distance) of the page's hits, in the request's order."""
        start = max(0, (request.page - 1) * request.per_page)
        end = start + request.per_page
        if start >= len(matched) or end <= 0:
            return []
        if request.sort == "distance" and request.origin:
            return self._nearest(table, request.origin, matched, end)[start:]
        if request.sort in ("price", "price_desc", "newest"):
            return [(d, 0.0, None) for d in table.first(request.sort, matched, end)[start:]]
        if query is None:  # no words: by relevance is by urgency
            return [(d, 0.0, None) for d in table.first("urgency", matched, end)[start:]]
        if request.sort == "urgency":
            return self._urgent(searcher, table, query, matched, ranked, end)[start:]
        today = today_of(request).toordinal()
        return self._best(searcher, table, query, matched, ranked, end, today)[start:]

    def _best(
        self,
        searcher: Any,
        table: _Table,
        query: Q.Query,
        matched: set[int],
        ranked: set[int],
        end: int,
        today: int,
    ) -> list[tuple[int, float, float | None]]:
        """The `end` best matches, urgency weighing in (`urgency_factor`; equal scores: the
        more urgent first), then the matches the ranking query does not score, the more urgent
        first."""
        best: list[tuple[int, float]] = []
        scored: np.ndarray = np.zeros(0, dtype=np.int64)
        if ranked:
            values, present = self._scores(searcher, table, query, ranked)
            scored = np.flatnonzero(present)
        if scored.size:
            spoil = table.columns["spoil_by"]
            scores = values[scored] * table.urgency(today)[scored]
            # only what can make the page is sorted: scores down to the end-th best
            if scores.size > end:
                floor = np.partition(scores, scores.size - end)[scores.size - end] - 1e-6
            else:
                floor = scores.min() - 1e-6
            keep = scores >= floor
            candidates = list(zip(scored[keep].tolist(), scores[keep].tolist(), strict=True))
            candidates.sort(key=lambda ds: (-round(ds[1], 6), spoil[ds[0]], ds[0]))
            best = candidates[:end]
        if len(best) < end:
            rest = table.first("urgency", matched - set(scored.tolist()), end - len(best))
            best += [(d, 0.0) for d in rest]
        return [(d, score, None) for d, score in best]

    def _urgent(
        self,
        searcher: Any,
        table: _Table,
        query: Q.Query,
        matched: set[int],
        ranked: set[int],
        end: int,
    ) -> list[tuple[int, float, float | None]]:
        """The `end` most urgent matches; on the same day, the better match first."""
        spoil = table.columns["spoil_by"]
        first = table.first("urgency", matched, end)
        if not first:
            return []
        last = spoil[first[-1]]
        days = {d for d in matched if spoil[d] <= last}  # the whole of the last day
        scores: dict[int, float] = {}
        if days & ranked:
            values, present = self._scores(searcher, table, query, days & ranked)
            where = np.flatnonzero(present)
            scores = dict(zip(where.tolist(), values[where].tolist(), strict=True))
        chosen = sorted(days, key=lambda d: (spoil[d], -scores.get(d, 0.0), d))[:end]
        return [(d, scores.get(d, 0.0), None) for d in chosen]

    # --- scoring: Whoosh's BM25F, a term's postings at a time, in numpy ----------------------

    def _scores(
        self, searcher: Any, table: _Table, query: Q.Query, docs: set[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whoosh's BM25F score of each of `docs` the query matches: (score per document,
        which documents the query matched).

        The same sums Whoosh's matchers make, in the same order (so the same floating point
        numbers), but worked out over a term's whole posting list at once: Whoosh scores one
        posting at a time through a tree of matchers, and its top-N cannot skip much when every
        lot that says 急售 scores about alike (a broad word: 27,000 lots, 400 ms). Terms, And,
        Or and the fuzzy (multi-word) terms are what the queries hold."""
        wanted = np.zeros(table.size, dtype=bool)
        wanted[np.fromiter(docs, dtype=np.int64, count=len(docs))] = True
        return self._query_scores(searcher, table, query, wanted, 1.0)

    def _query_scores(
        self, searcher: Any, table: _Table, query: Q.Query, wanted: np.ndarray, boost: float
    ) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros(table.size, dtype=float)
        present = np.zeros(table.size, dtype=bool)
        self._add_scores(searcher, table, query, wanted, boost, out, present)
        return out, present

    def _add_scores(
        self,
        searcher: Any,
        table: _Table,
        query: Q.Query,
        wanted: np.ndarray,
        boost: float,
        out: np.ndarray,
        present: np.ndarray,
    ) -> None:
        """Add the query's scores (times `boost`) into `out`, marking the documents in
        `present`."""
        if isinstance(query, Q.Term | Q.MultiTerm):
            for leaf, offset in searcher.leaf_searchers():
                for word, own in self._words(leaf, query):
                    factor = boost * own
                    self._add_term_scores(
                        searcher, leaf, offset, query.field(), word, factor, wanted, out, present
                    )
        elif isinstance(query, Q.Or):  # a sum of what matches
            for sub in query.subqueries:
                self._add_scores(searcher, table, sub, wanted, boost * query.boost, out, present)
        elif isinstance(query, Q.And):  # a sum, where all match
            parts = [
                self._query_scores(searcher, table, sub, wanted, 1.0) for sub in query.subqueries
            ]
            if not parts:
                return
            every = parts[0][1].copy()
            for _values, found in parts[1:]:
                every &= found
            where = np.flatnonzero(every)
            total = np.zeros(where.size, dtype=float)
            for values, _found in parts:
                total = total + values[where]
            out[where] = out[where] + total * (boost * query.boost)
            present[where] = True
        else:  # nothing the queries hold: Whoosh's own scoring
            docs = set(np.flatnonzero(wanted).tolist())
            for hit in searcher.search(query, limit=None, filter=docs, terms=False):
                out[hit.docnum] = out[hit.docnum] + hit.score * boost
                present[hit.docnum] = True

    def _add_term_scores(
        self,
        searcher: Any,
        leaf: Any,
        offset: int,
        fieldname: str,
        text: Any,
        boost: float,
        wanted: np.ndarray,
        out: np.ndarray,
        present: np.ndarray,
    ) -> None:
        ids, weights = self._blocks(leaf, fieldname, text)
        if not ids.size:
            return
        reader = leaf.reader()
        scorer = searcher.weighting.scorer(leaf, fieldname, text)
        keep = wanted[ids + offset]
        local = ids[keep]
        tf = weights[keep]
        where = local + offset
        if isinstance(scorer, WeightScorer):  # an unscored field (commodity): the weight
            out[where] = out[where] + tf * boost
            present[where] = True
            return
        if not isinstance(scorer, BM25FScorer):
            raise TypeError(f"no bulk scoring for {scorer!r}")
        lengths = self._lengths(reader, fieldname)
        if lengths is None:
            lengths = np.asarray(
                [leaf.doc_field_length(d, fieldname, 1) for d in range(reader.doc_count_all())],
                dtype=np.int64,
            )
        # whoosh.scoring.bm25 (idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgfl)))
        # times the term's boost, as Whoosh's wrapping matcher multiplies it: the same
        # operations in the same order as Whoosh's, element by element
        idf, avgfl, b, k1 = scorer.idf, scorer.avgfl, scorer.B, scorer.K1
        length = lengths[local]
        score = idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / avgfl)))
        out[where] = out[where] + score * boost
        present[where] = True

    def _lengths(self, reader: Any, fieldname: str) -> np.ndarray | None:
        """A segment's field lengths, read once per segment."""
        arrays = self._segments.get(_segment_name(reader))
        if arrays is None:  # a segment the table has not seen (cannot happen): no cache
            found = _read_lengths(reader, fieldname)
            return None if found is None else np.asarray(found, dtype=np.int64)
        key = f"_len_{fieldname}"
        if key not in arrays:
            found = _read_lengths(reader, fieldname)
            arrays[key] = None if found is None else np.asarray(found, dtype=np.int64)
        return arrays[key]

    @staticmethod
    def _nearest(
        table: _Table, origin: tuple[float, float], matched: set[int], end: int
    ) -> list[tuple[int, float, float | None]]:
        """The `end` nearest matches, the more urgent first at the same distance. Documents
        are where their county is: a distance is worked out once per place, not per lot."""
        where, points, groups = table.locations()
        lat0, lng0 = origin
        km = [great_circle_km(lat0, lng0, lat / 1_000_000, lng / 1_000_000) for lat, lng in points]
        spoil = table.columns["spoil_by"]
        chosen: list[int] = []
        if len(matched) * len(matched) < end * table.size:  # few: sort them
            chosen = heapq.nsmallest(end, sorted(matched), key=lambda d: (km[where[d]], spoil[d]))
        else:  # many: walk the places from the nearest, keeping the matches
            by_distance = sorted(range(len(points)), key=km.__getitem__)
            for _km, same in itertools.groupby(by_distance, key=km.__getitem__):
                places = list(same)
                docs = (
                    groups[places[0]]
                    if len(places) == 1
                    else heapq.merge(*(groups[p] for p in places), key=lambda d: (spoil[d], d))
                )
                for d in docs:
                    if d in matched:
                        chosen.append(d)
                        if len(chosen) >= end:
                            break
                if len(chosen) >= end:
                    break
        return [(d, 0.0, km[where[d]]) for d in chosen]
