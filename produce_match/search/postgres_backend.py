"""The search backend on PostgreSQL (`SEARCH_BACKEND=postgres`): for several web nodes on one
database, with nothing kept on a node's disk.

What it keeps. One row per lot in `search_documents` (`models.SearchDocument`): the lot's tokens
from the shared analysis (`analysis.py`: jieba segmentation, simplified characters, pinyin,
initials, the commodity's every name, stemmed English) in a `tsvector` with a GIN index, and
plain columns for what filters, facets and sorts need. Stock PostgreSQL cannot segment Chinese
and pg_trgm does not help two-character words, so no text search configuration ever parses
anything: the tsvector is written literally (`'z:黑豆':3B,9B 'p:heidou':14C …`, each lexeme
prefixed by its field) and queries are written as literal tsqueries of the same lexemes. The
field is in the lexeme (z Chinese, e English, p pinyin, i initials, c commodity, k category) and
its weight in the position: A for the commodity and its category, B for Chinese and English, C
for pinyin, D for initials, so that `ts_rank_cd` with the weights {D, C, B, A} = Whoosh's field
boosts (`backend.BOOST`) / 12 ranks as Whoosh does: the commodity itself above a word in the
text, exact words above pinyin, pinyin above initials. `search_words` lists every pinyin word of
the documents, for the one-letter slips (heidoo); "did you mean" is the service's, from the
catalogue, as for Whoosh.

In step with the lots: through the queue, as for Whoosh. A flush or statement that writes a lot
queues its id in `search_outbox` in the lot's own transaction; the worker's task `search.apply`
(and its sweep) writes the documents of the queued lots in batches (`writing()`), off the
request path, so that nothing is analysed or upserted while a request holds a lot's row.
Documents are upserted only over an older or equal version (the lot's updated_at), so that a
writer (or a rebuild) that read a lot before a transaction changed it never overwrites the newer
document.

Matching and ranking follow the Whoosh backend term for term (`_alternatives` there, `_Term`
here): every query word must match in one of its forms (place words narrow unless nothing of the
rest is there; with nothing matching every word, lots matching some of them, `relaxed`); a
commodity's other names and a category word's text matches find lots but do not rank; a pinyin
word of five letters or more forgives one wrong letter (the words within one edit, same first
letter, from `search_words`, counting 0.4 as Whoosh's fuzzy term). The relevance score is the
sum over the query's words of `ts_rank_cd` (normalisation 0: the weights of the matching
positions), times `urgency_factor` with the default sort; equal scores go by urgency, as in
Whoosh. Filters, facets (one GROUPING SETS query; with words, over the same materialised step
as the page, in the page's own statement) and every sort, distance included, are SQL.

Where the time goes (100,000 lots; figures in the README): a search with words reads the GIN
index's bitmap (forced: the planner's estimate for an OR of a commodity's names is five times too
high, see `search`), then every match's row once, into a materialised step of narrow rows where
they are counted (and their facets). Ranking (`ts_rank_cd`, about 2 µs a call) is what costs:
up to RANK_ALL_UP_TO matches every one is ranked; a broad word's (急售, 27,000 lots) only the
RANKED_AT_MOST best by a pre-score from the columns (`_ranked_page`). Reading the matches' rows
(wide: the tokens are kept inline) is then the floor: about 1 µs a match. A search without words
never touches the tokens: counts, facets and pages come from a covering index on (status,
spoil_by); by distance, from an index on (lat, lng) through a box around the buyer
(`_nearest_first`). `rebuild` ends with VACUUM (ANALYZE).

Writing never waits for an index lock: `writing()` never raises IndexBusy (row locks are
PostgreSQL's). A rebuild upserts every lot's document in batches of its own transactions (a
search sees each lot throughout, old document or new), from a process per core when there are
many, leaving a document that is already right as it is (no new row version, no GIN entries),
then deletes the documents of lots that no longer exist; `versions()` is one query, so
`flask search check` works as for Whoosh.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.engine import Connection

from produce_match.geo import EARTH_RADIUS_KM
from produce_match.search.analysis import AnalysedQuery, Analyzer, Place, QueryTerm
from produce_match.search.backend import (
    BOOST,
    FACETS,
    URGENCY_DAYS,
    URGENCY_WEIGHT,
    DocumentPart,
    Hit,
    LotDocument,
    SearchRequest,
    SearchResult,
    today_of,
)
from produce_match.search.models import SearchDocument, SearchWord
from produce_match.search.parallel import Progress, run_parts

DOCS = SearchDocument.__table__
WORDS = SearchWord.__table__
#: the documents again, for ranking the candidates of a page through their row address (made
#: once: an alias of the table is a copy of its every column)
RANKED_DOC = DOCS.alias("ranked_doc")

#: each field's lexeme prefix and tsvector weight
PREFIX = {"commodity": "c", "category": "k", "zh": "z", "en": "e", "py": "p", "ini": "i"}
WEIGHT = {"commodity": "A", "category": "A", "zh": "B", "en": "B", "py": "C", "ini": "D"}
_TOP = BOOST["commodity"]
#: ts_rank_cd's weights of D, C, B, A: the field boosts (at most 1, as PostgreSQL requires)
RANK_WEIGHTS = "{%s}" % ",".join(  # noqa: UP031 - braces of an array
    f"{BOOST[f] / _TOP:g}" for f in ("ini", "py", "zh", "commodity")
)
#: a tsvector's largest position, and most positions of one lexeme
MAX_POSITION = 16383
MAX_POSITIONS = 256
#: pinyin words this long forgive one wrong letter (as the Whoosh backend's fuzzy term)
FUZZY_FROM = 5
BATCH = 500
FACET_LIMIT = 30
#: By relevance, a word search ranks every match when there are at most RANK_ALL_UP_TO of them;
#: more (a broad word: 急售 in a third of all titles) and only the RANKED_AT_MOST best by a
#: pre-score read from the columns (the commodities and categories the words name, times the
#: urgency) are ranked, the rest following them in that pre-score's order (see `_page`)
RANK_ALL_UP_TO = 4000
RANKED_AT_MOST = 1000
#: the planner reads the GIN index's bitmap only (see `search`): the settings before, in one
#: statement; and putting them back
_BITMAP_ONLY = sa.text(
    "SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan'),"
    " set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)"
)
_PUT_BACK = sa.text(
    "SELECT set_config('enable_seqscan', :seqscan, true),"
    " set_config('enable_indexscan', :indexscan, true)"
)
#: how many searches' words are remembered as having few matches (then all cleared)
NARROW_KEPT = 4096
#: a search without words by distance looks for its page within this radius first (km), four
#: times wider each time it holds too few lots, up to the last (then among every lot)
NEAREST_FIRST_KM = 100.0
NEAREST_LAST_KM = 6400.0
#: facet name -> (value, count), the most frequent first
_Facets = dict[str, list[tuple[str, int]]]


def _box(lat: float, lng: float, km: float) -> tuple[tuple[float, float], ...] | None:
    """Latitudes and longitudes (degrees) of a box holding every point within `km` of a point
    on the sphere, a little wider for rounding; None when it would reach a pole or cross the
    180th meridian (the caller reads every lot instead)."""
    angle = km / EARTH_RADIUS_KM * 1.01
    phi = math.radians(lat)
    south, north = phi - angle, phi + angle
    if south <= -math.pi / 2 or north >= math.pi / 2:
        return None
    spread = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(phi))))
    west, east = lng - spread, lng + spread
    if west < -180 or east > 180:
        return None
    return (math.degrees(south), math.degrees(north)), (west, east)


def _quote(lexeme: str) -> str:
    """A lexeme as tsvector and tsquery input write it: quoted, nothing parsed."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _lexeme(field_name: str, token: str) -> str:
    return _quote(f"{PREFIX[field_name]}:{token}")


def tsvector_text(doc: LotDocument) -> str:
    """The document's tokens as tsvector input: each lexeme with its positions and weight."""
    positions: dict[str, list[str]] = {}
    position = 0

    def add(field_name: str, token: str) -> None:
        nonlocal position
        if not token:
            return
        position = min(position + 1, MAX_POSITION)
        found = positions.setdefault(_lexeme(field_name, token), [])
        if len(found) < MAX_POSITIONS:
            found.append(f"{position}{WEIGHT[field_name]}")

    add("commodity", doc.commodity)
    add("category", doc.category)
    for field_name in ("zh", "en", "py", "ini"):
        for token in doc.tokens.get(field_name, []):
            add(field_name, token)
    return " ".join(f"{lexeme}:{','.join(where)}" for lexeme, where in positions.items())


def _row(doc: LotDocument) -> dict[str, Any]:
    return {
        "lot_id": doc.lot_id,
        "version": doc.version,
        "tokens": tsvector_text(doc),
        "commodity": doc.commodity,
        "category": doc.category or "",
        "province": doc.province,
        "prefecture": doc.prefecture or "",
        "county": doc.county,
        "grade": (doc.grade or "").strip(),
        "status": doc.status,
        "spoil_by": doc.spoil_by,
        "price_fen_per_t": doc.price_fen_per_t,
        "remaining_g": doc.remaining_g,
        "created": doc.created,
        "lat": doc.lat,
        "lng": doc.lng,
    }


_COLUMNS = [c.name for c in DOCS.columns]
_VALUES = ["CAST(:tokens AS tsvector)" if c == "tokens" else f":{c}" for c in _COLUMNS]
#: an upsert that never replaces a newer document by an older one (the names are the table's)
_UPSERT = sa.text(
    " ".join(
        [
            f"INSERT INTO search_documents ({', '.join(_COLUMNS)})",  # noqa: S608
            "VALUES (" + ", ".join(_VALUES) + ")",
            "ON CONFLICT (lot_id) DO UPDATE SET",
            ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "lot_id"),
            "WHERE search_documents.version <= excluded.version",
        ]
    )
)
#: a rebuild's upsert: the same, leaving a document as it is when it is already what the
#: rebuild would write (no new row version, no index entries: a rebuild of documents that are
#: in step writes almost nothing)
_REBUILD_UPSERT = sa.text(
    _UPSERT.text
    + " AND (search_documents.version < excluded.version"
    + " OR search_documents IS DISTINCT FROM excluded)"
)
#: new pinyin words, in one order everywhere (two transactions adding the same new words wait
#: for each other instead of deadlocking)
_ADD_WORDS = sa.text(
    "INSERT INTO search_words (word) SELECT w FROM unnest(CAST(:words AS text[])) "
    "WITH ORDINALITY AS t(w, n) ORDER BY n ON CONFLICT (word) DO NOTHING"
)


def write_documents(
    connection: Connection,
    upserts: Sequence[LotDocument],
    deletes: Iterable[int] = (),
    *,
    rebuilding: bool = False,
) -> None:
    """Write documents (and delete others) through a connection, in its transaction (for a
    rebuild: leaving those that are already as written)."""
    deleted = sorted(set(deletes))
    if deleted:
        connection.execute(sa.delete(DOCS).where(DOCS.c.lot_id.in_(deleted)))
    if not upserts:
        return
    docs = sorted(upserts, key=lambda d: d.lot_id)
    connection.execute(_REBUILD_UPSERT if rebuilding else _UPSERT, [_row(d) for d in docs])
    # (no cache of the words known: a word noted by a transaction that then rolled back would
    # be missing for good; a conflict that does nothing costs an index probe)
    words = {w for d in docs for w in d.tokens.get("py", []) if w and len(w) <= 80}
    if words:
        connection.execute(_ADD_WORDS, {"words": sorted(words)})  # distinct, in code point order


def within(a: str, b: str, limit: int) -> bool:
    """Is the Levenshtein distance between a and b at most `limit`?"""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


# --- queries ----------------------------------------------------------------------------------


def _tsquery(alternatives: Sequence[str | tuple[str, ...]], joiner: str = " | ") -> str:
    """Alternatives (a lexeme, or a group that must all match) as tsquery input."""
    parts = [
        alt if isinstance(alt, str) else "(" + " & ".join(alt) + ")"
        for alt in dict.fromkeys(alternatives)
    ]
    return joiner.join(parts)


@dataclass
class _Term:
    """One query word in every form that matches it, and the forms that rank."""

    every: list[str | tuple[str, ...]] = field(default_factory=list)
    ranked: list[str | tuple[str, ...]] = field(default_factory=list)
    #: pinyin words within one letter: they match, and rank at the fuzzy weight
    fuzzy: list[str] = field(default_factory=list)
    fuzzy_ranks: bool = False
    fuzzy_factor: float = 0.0
    #: the commodities and categories the word names: their lexemes rank at weight A (1.0)
    #: and are the document's own columns too (the bounded ranking's pre-score)
    commodities: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)

    def match_query(self) -> str:
        return _tsquery([*self.every, *self.fuzzy])

    def rank_query(self) -> str:
        return _tsquery([*self.ranked, *(self.fuzzy if self.fuzzy_ranks else [])])

    @property
    def every_form_ranks(self) -> bool:
        """Does whatever matches this word rank too? (Then ranking needs no test of its own.)"""
        return len(self.ranked) == len(self.every) and (self.fuzzy_ranks or not self.fuzzy)


def _term(term: QueryTerm, fuzzy: dict[str, list[str]]) -> _Term:
    """As the Whoosh backend's `_alternatives`: a commodity's other names and a category word's
    text matches find lots without ranking them."""
    text_ranks = not (term.categories and not term.commodities)
    out = _Term()

    def add(alternative: str | tuple[str, ...], ranks: bool) -> None:
        out.every.append(alternative)
        if ranks:
            out.ranked.append(alternative)

    for code in term.commodities:
        add(_lexeme("commodity", code), True)
        out.commodities.append(code)
    for code in term.categories:
        add(_lexeme("category", code), True)
        out.categories.append(code)
    for i, word in enumerate(term.zh):
        add(_lexeme("zh", word), text_ranks and (i == 0 or not term.commodities))
    for p in term.py:
        add(_lexeme("py", p), text_ranks)
        if len(p) >= FUZZY_FROM:
            words = fuzzy.get(p, [])
            out.fuzzy += [_lexeme("py", w) for w in words]
            out.fuzzy_ranks = text_ranks
            # Whoosh's fuzzy term counts 0.4 where the pinyin counts 2; one word is a plain term
            boost = BOOST["fuzzy"] if len(words) > 1 else 1.0
            out.fuzzy_factor = boost / BOOST["py"]
    for i in term.ini:
        add(_lexeme("ini", i), text_ranks)
    if term.en:
        english = tuple(_lexeme("en", e) for e in term.en)
        add(english[0] if len(english) == 1 else english, text_ranks)
    return out


def _matches(query: str, tokens: Any = DOCS.c.tokens) -> sa.ColumnElement[bool]:
    return tokens.op("@@")(sa.cast(sa.literal(query), TSQUERY))


def _rank(query: str, tokens: Any = DOCS.c.tokens) -> sa.ColumnElement[float]:
    return sa.func.ts_rank_cd(
        sa.literal_column(f"'{RANK_WEIGHTS}'::real[]"),
        tokens,
        sa.cast(sa.literal(query), TSQUERY),
    )


class PostgresBackend:
    """Search documents in PostgreSQL, written by the queue's task (see the module's note)."""

    def __init__(
        self,
        analyzer: Analyzer,
        connection: Callable[[], Connection],
        begin: Callable[[], Any],
        autocommit: Callable[[], Any],
    ) -> None:
        self.analyzer = analyzer
        #: the current session's connection (searches read in the request's transaction)
        self._connection = connection
        #: a transaction of its own (`engine.begin()`): writers and rebuilds commit their own
        self._begin = begin
        #: a connection outside any transaction (VACUUM)
        self._autocommit = autocommit
        #: searches (words and filters) last seen with at most RANK_ALL_UP_TO matches: ranked
        #: as they are read (see `_page`); a hint only, the results are the same either way
        self._narrow: dict[str, bool] = {}

    # --- the documents ------------------------------------------------------------------------

    def write(
        self, connection: Connection, upserts: Sequence[LotDocument], deletes: Iterable[int] = ()
    ) -> None:
        """Write documents in the caller's transaction."""
        write_documents(connection, upserts, deletes)

    @contextmanager
    def writing(self) -> Iterator[_Writer]:
        """A writer in a transaction of its own, committed on exit. Never busy: PostgreSQL
        locks rows, not the index."""
        with self._begin() as connection:
            writer = _Writer(self, connection)
            yield writer
            writer.flush()

    def exists(self) -> bool:
        """Are the documents built: any written, or no lot to write one for? (Lots and no
        documents: a database that used another backend; `flask init-db` rebuilds.)"""
        built = sa.exists().select_from(DOCS)
        no_lots = ~sa.exists().select_from(sa.table("lots"))
        return bool(self._connection().scalar(sa.select(sa.or_(built, no_lots))))

    def generation(self) -> str:
        """One live set of documents, always: a rebuild upserts in place."""
        return "postgres"

    def versions(self) -> dict[int, int]:
        rows = self._connection().execute(sa.select(DOCS.c.lot_id, DOCS.c.version))
        return {lot_id: version for lot_id, version in rows}

    def rebuild(
        self,
        documents: Iterable[LotDocument],
        total: int,
        progress: Callable[[int], None] | None = None,
        parts: Sequence[DocumentPart] = (),
    ) -> None:
        """Upsert every lot's document, a batch per transaction, then delete the documents of
        lots that are gone. Lots written meanwhile keep their newer documents (the version
        guard); documents of lots created meanwhile are kept. Given `parts`, each part's
        documents are written by a process of its own, on connections of its own."""
        with self._begin() as connection:
            before = set(connection.scalars(sa.select(DOCS.c.lot_id)))
        seen: set[int] = set()
        if parts:

            def write(part: DocumentPart, done: Progress) -> list[int]:
                return self._write_batches(part(), done.add)

            for ids in run_parts(parts, write, progress):
                seen.update(ids)
        else:
            seen.update(self._write_batches(documents, progress))
        gone = sorted(before - seen)
        for start in range(0, len(gone), 10_000):
            with self._begin() as connection:
                self.write(connection, [], gone[start : start + 10_000])
        # the planner's statistics for the new documents, and the visibility map that lets a
        # search without words read the covering index alone (VACUUM: outside a transaction)
        with self._autocommit() as connection:
            connection.execute(sa.text("VACUUM (ANALYZE) search_documents"))
            connection.execute(sa.text("ANALYZE search_words"))

    def _write_batches(
        self, documents: Iterable[LotDocument], progress: Callable[[int], None] | None
    ) -> list[int]:
        """Upsert documents a batch per transaction; the lots written."""
        seen: list[int] = []
        batch: list[LotDocument] = []
        for doc in documents:
            batch.append(doc)
            seen.append(doc.lot_id)
            if len(batch) >= BATCH:
                with self._begin() as connection:
                    write_documents(connection, batch, rebuilding=True)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            with self._begin() as connection:
                write_documents(connection, batch, rebuilding=True)
            if progress:
                progress(len(batch))
        return seen

    # --- searching ------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResult:
        analysed = self.analyzer.query(request.text)
        connection = self._connection()
        if not analysed.content_terms:
            return self._search(connection, request, analysed)
        # Word searches read the GIN index's bitmap, always. The planner takes a commodity's
        # names (玉米 | 苞米 | 包谷 …) for independent words and expects a quarter of all lots to
        # match, where every lot of the commodity carries all of them (5% do): it would read
        # the whole table instead (110-240 ms at 100,000 lots, against 23 ms).
        # (set for the transaction: should the search fail, the rollback that must follow
        # undoes it too; one round trip each way, the settings as they were put back after)
        before = connection.execute(_BITMAP_ONLY).one()
        result = self._search(connection, request, analysed)
        connection.execute(_PUT_BACK, {"seqscan": before[0], "indexscan": before[1]})
        return result

    def _search(
        self, connection: Connection, request: SearchRequest, analysed: AnalysedQuery
    ) -> SearchResult:
        terms = analysed.content_terms
        fuzzy = self._fuzzy_words(connection, terms)
        parts = [_term(t, fuzzy) for t in terms]
        filters = self._filters(request)

        #: the facets counted by the last attempt's own statement (words only), if asked for
        counted: list[_Facets | None] = [None]

        def attempt(condition: sa.ColumnElement[bool], every_term: bool) -> tuple[list[Hit], int]:
            hits, total, counted[0] = self._page(connection, request, condition, parts, every_term)
            return hits, total

        if parts:
            every = " & ".join(f"({p.match_query()})" for p in parts)
            matched = sa.and_(filters, _matches(every))
        else:
            matched = filters
        found: tuple[list[Hit], int] | None = None
        if analysed.places:  # place words narrow, unless nothing of the rest is there
            narrowed = sa.and_(matched, self._in_places(analysed.places))
            found = attempt(narrowed, True)
            if found[1] or not parts:
                matched = narrowed
            else:
                found = None
        if found is None:
            found = attempt(matched, True)
        hits, total = found
        relaxed = False
        if not total and len(parts) > 1 and not request.any_match:  # lots with some words
            matched = sa.and_(filters, _matches(" | ".join(f"({p.match_query()})" for p in parts)))
            hits, total = attempt(matched, False)
            relaxed = bool(total)
        facets = {}
        if request.facets:
            if not total:
                facets = {n: [] for n in FACETS}
            elif counted[0] is not None:
                facets = counted[0]
            else:
                facets = self._facets(connection, matched)
        return SearchResult(hits=hits, total=total, facets=facets, relaxed=relaxed)

    def _fuzzy_words(self, connection: Connection, terms: list[QueryTerm]) -> dict[str, list[str]]:
        """Each long pinyin word -> the indexed words within one letter of it (same first
        letter), itself included if indexed."""
        wanted = {p for t in terms for p in t.py if len(p) >= FUZZY_FROM}
        out: dict[str, list[str]] = {}
        for p in sorted(wanted):
            candidates = connection.scalars(
                sa.select(WORDS.c.word).where(
                    WORDS.c.word.like(p[0] + "%"),
                    sa.func.length(WORDS.c.word).between(len(p) - 1, len(p) + 1),
                )
            )
            out[p] = sorted(w for w in candidates if within(p, w, 1))
        return out

    @staticmethod
    def _filters(request: SearchRequest) -> sa.ColumnElement[bool]:
        c = DOCS.c
        today = request.today.toordinal() if request.today is not None else None
        statuses = []
        for status in sorted(set(request.statuses)):
            if today is not None and status == "open":
                statuses.append(sa.and_(c.status == "open", c.spoil_by >= today))
            elif today is not None and status == "expired":
                # past its spoil-by date, whether or not that is recorded yet
                statuses.append(
                    sa.or_(c.status == "expired", sa.and_(c.status == "open", c.spoil_by < today))
                )
            else:
                statuses.append(c.status == status)
        conditions = [sa.or_(*statuses) if statuses else sa.false()]
        for name in ("commodity", "province", "county", "grade"):
            wanted = getattr(request, name)
            if wanted:
                conditions.append(c[name] == wanted)
        if request.min_remaining_g:
            conditions.append(c.remaining_g >= request.min_remaining_g)
        if request.max_price_fen_per_t:
            conditions.append(c.price_fen_per_t <= request.max_price_fen_per_t)
        if request.spoil_from:
            conditions.append(c.spoil_by >= request.spoil_from.toordinal())
        if request.spoil_to:
            conditions.append(c.spoil_by <= request.spoil_to.toordinal())
        return sa.and_(*conditions)

    @staticmethod
    def _in_places(places: list[Place]) -> sa.ColumnElement[bool]:
        """In any of the places: a county, a prefecture, a province."""
        columns = {"county": DOCS.c.county, "prefecture": DOCS.c.prefecture}
        columns["province"] = DOCS.c.province
        conditions = [columns[p.level] == p.code for p in places if p.level in columns]
        return sa.or_(*conditions) if conditions else sa.false()

    @staticmethod
    def _facets(connection: Connection, matched: sa.ColumnElement[bool]) -> _Facets:
        """Counts per commodity, province, county and grade of the matches, in one query."""
        columns = [DOCS.c[name] for name in FACETS]
        rows = connection.execute(
            sa.select(*columns, sa.func.count())
            .where(matched)
            .group_by(sa.func.grouping_sets(*[sa.tuple_(c) for c in columns]))
        )
        return PostgresBackend._facet_counts(tuple(row) for row in rows)

    @staticmethod
    def _facet_counts(rows: Iterable[tuple[Any, ...]]) -> _Facets:
        """The GROUPING SETS rows (a value per facet, one of them set, and a count) as facets."""
        counts: dict[str, list[tuple[str, int]]] = {name: [] for name in FACETS}
        for row in rows:
            *values, n = row
            for name, value in zip(FACETS, values, strict=True):
                if value is not None and not (name == "grade" and value == ""):
                    counts[name].append((value, n))
        return {
            name: sorted(found, key=lambda vn: (-vn[1], vn[0]))[:FACET_LIMIT]
            for name, found in counts.items()
        }

    def _page(
        self,
        connection: Connection,
        request: SearchRequest,
        matched: sa.ColumnElement[bool],
        parts: list[_Term],
        every_term: bool,
    ) -> tuple[list[Hit], int, _Facets | None]:
        """The page's hits in the request's order, ordered and cut by PostgreSQL, how many
        match in all (counted by the same query) and, for words with facets asked for, the
        facets (counted by the same statement too, from the same pass over the matches)."""
        if request.any_match:  # only whether any ("did you mean" asks so of each name)
            found = sa.select(sa.exists().where(matched))
            return [], int(bool(connection.scalar(found))), None
        if request.per_page <= 0:  # only how many
            count = sa.select(sa.func.count()).select_from(DOCS).where(matched)
            return [], connection.scalar(count) or 0, None
        start = max(0, (request.page - 1) * request.per_page)
        c = DOCS.c
        score: sa.ColumnElement[Any] = sa.literal(0.0)
        distance: sa.ColumnElement[Any] | None = None
        #: (name, descending): the keys are worked out once per match, below
        order: list[tuple[str, bool]]
        if request.sort == "distance" and request.origin:
            distance = self._km(*request.origin)
            order = [("km", False), ("spoil_by", False), ("lot_id", False)]
        elif request.sort == "price":
            order = [("price_fen_per_t", False), ("spoil_by", False), ("lot_id", False)]
        elif request.sort == "price_desc":
            order = [("price_fen_per_t", True), ("spoil_by", False), ("lot_id", False)]
        elif request.sort == "newest":
            order = [("created", True), ("lot_id", False)]
        elif not parts:  # no words: by relevance is by urgency
            order = [("spoil_by", False), ("lot_id", False)]
        else:
            joiner = " & " if every_term else " | "
            ranked = _matches(joiner.join(f"({p.rank_query()})" for p in parts))
            total_rank = sum((self._term_rank(p) for p in parts), start=sa.literal(0.0, sa.Float))
            if all(p.every_form_ranks for p in parts):  # every match is a ranked one
                score = total_rank
            else:
                score = sa.case((ranked, total_rank), else_=sa.literal(0.0))
            if request.sort == "urgency":  # the most urgent; on the same day the better match
                order = [("spoil_by", False), ("score", True), ("lot_id", False)]
            else:  # the best matches, urgency weighing in; then the rest by urgency
                score = score * self._urgency(today_of(request).toordinal())
                order = [("score", True), ("spoil_by", False), ("lot_id", False)]
        keys = {name for name, _desc in order} - {"score", "km"}
        columns = [c.lot_id, score.label("score"), *(c[k] for k in sorted(keys - {"lot_id"}))]
        if distance is not None:
            columns.append(distance.label("km"))
        page = max(1, request.per_page)
        facets: _Facets | None = None
        by_relevance = bool(parts) and request.sort == "relevance"
        # the words and every filter: what decides how many match (places only narrow)
        seen = repr(
            (
                every_term,
                [p.match_query() for p in parts],
                [getattr(request, n) for n in ("commodity", "province", "county", "grade")],
                (request.min_remaining_g, request.max_price_fen_per_t, request.statuses),
                (request.spoil_from, request.spoil_to, request.today),
            )
        )
        if by_relevance and not self._narrow.get(seen):
            rows, facets = self._ranked_page(connection, request, matched, parts, every_term)
        elif parts:
            # words: every match is read to be ranked anyway; the ranks (and distances) are
            # worked out once, in a materialised step of narrow rows that are then counted and
            # ordered (the tokens are never carried into the sort); with facets, their columns
            # are kept in that step too and counted from it, in the same statement
            wanted = [c[n] for n in FACETS if n not in keys] if request.facets else []
            keyed = (
                sa.select(*columns, *wanted)
                .where(matched)
                .cte("matched")
                .prefix_with("MATERIALIZED")
            )
            page_columns = [keyed.c[col.name] for col in columns]
            ordering = [keyed.c[k].desc() if d else keyed.c[k] for k, d in order]
            query = (
                sa.select(*page_columns, sa.func.count().over().label("total"))
                .order_by(*ordering)
                .offset(start)
                .limit(page)
            )
            if request.facets:
                numbered = query.add_columns(
                    sa.func.row_number().over(order_by=ordering).label("n")
                )
                rows, facets = self._page_and_facets(connection, keyed, numbered)
            else:
                rows = connection.execute(query).all()
            if by_relevance and rows and rows[0].total > RANK_ALL_UP_TO:
                # few matches when last seen, many now: the order every page of them follows
                rows, facets = self._ranked_page(connection, request, matched, parts, every_term)
        else:
            # no words: counted apart, from the covering index alone, the page read in order
            by = [c[k].desc() if d else c[k] for k, d in order if k != "km"]
            if distance is not None:
                by.insert(0, distance)
            query = sa.select(*columns).where(matched).order_by(*by).offset(start).limit(page)
            if distance is not None and request.origin:
                rows = self._nearest_first(connection, query, distance, request.origin, page)
            else:
                rows = connection.execute(query).all()
        if rows and parts:
            total = rows[0].total
        elif rows or start:
            count = sa.select(sa.func.count()).select_from(DOCS).where(matched)
            total = connection.scalar(count) or 0
        else:
            total = 0
        if by_relevance and (rows or not start):
            # Ranking as the matches are read costs less (no second visit of each row) and is
            # the same order when every match is ranked: the next search of the same words
            # does so if they had few matches (`_narrow`, kept for the last searches' words)
            if len(self._narrow) >= NARROW_KEPT:
                self._narrow.clear()
            self._narrow[seen] = total <= RANK_ALL_UP_TO
        hits = [
            Hit(
                lot_id=row.lot_id,
                score=float(row.score or 0.0),
                distance_km=float(row.km) if distance is not None else None,
            )
            for row in rows[: max(0, request.per_page)]
        ]
        return hits, total, facets

    def _ranked_page(
        self,
        connection: Connection,
        request: SearchRequest,
        matched: sa.ColumnElement[bool],
        parts: list[_Term],
        every_term: bool,
    ) -> tuple[list[Any], _Facets | None]:
        """A page of words by relevance: the best matches first, urgency weighing in.

        The matches are read once into a materialised step of narrow rows (no rank yet): they
        are counted there (and their facets). Ranking is what costs (`ts_rank_cd`, two calls on
        each match of a word with a fuzzy pinyin): of at most RANK_ALL_UP_TO matches every one
        is ranked, which is exact; of more, only the RANKED_AT_MOST best by a pre-score read
        from the step's columns (the commodities and categories the words name, weight 1 as
        their lexemes, times the urgency), each through its row's address (ctid: no index, the
        page is in the buffers). Those come first by their full score, the rest after them by
        the pre-score, so that every page of the same search follows one order."""
        c = DOCS.c
        start = max(0, (request.page - 1) * request.per_page)
        page = max(1, request.per_page)
        today = today_of(request).toordinal()
        named = [
            *(
                sa.case((c.commodity.in_(p.commodities), 1.0), else_=0.0)
                for p in parts
                if p.commodities
            ),
            *(
                sa.case((c.category.in_(p.categories), 1.0), else_=0.0)
                for p in parts
                if p.categories
            ),
        ]
        wanted = [c[n] for n in FACETS] if request.facets else []
        # words naming no commodity or category (急售): the pre-score is the urgency alone, the
        # order of the days left; it is then not worked out for every match
        pre_columns = (
            [(sum(named, start=sa.literal(0.0, sa.Float)) * self._urgency(today)).label("pre")]
            if named
            else []
        )
        keyed = (
            sa.select(
                c.lot_id,
                c.spoil_by,
                sa.literal_column("search_documents.ctid").label("row_id"),
                *pre_columns,
                *wanted,
            )
            .where(matched)
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )
        pre: Any = keyed.c.pre if named else sa.literal(0.0, sa.Float)
        # counted once, for the total and for how many to rank
        counted = sa.select(sa.func.count().label("n")).select_from(keyed).cte("counted")
        count = sa.select(counted.c.n).scalar_subquery()
        how_many = sa.select(
            sa.case((counted.c.n <= RANK_ALL_UP_TO, counted.c.n), else_=RANKED_AT_MOST)
        )
        by_pre = [*([pre.desc()] if named else []), keyed.c.spoil_by, keyed.c.lot_id]
        best = (
            sa.select(keyed.c.lot_id, keyed.c.spoil_by, keyed.c.row_id)
            .order_by(*by_pre)
            .limit(how_many.scalar_subquery())
            .subquery("best")
        )
        doc = RANKED_DOC
        joiner = " & " if every_term else " | "
        rank_matches = _matches(joiner.join(f"({p.rank_query()})" for p in parts), doc.c.tokens)
        total_rank = sum(
            (self._term_rank(p, doc.c.tokens) for p in parts), start=sa.literal(0.0, sa.Float)
        )
        score = (
            total_rank
            if all(p.every_form_ranks for p in parts)
            else sa.case((rank_matches, total_rank), else_=sa.literal(0.0))
        )
        score = score * self._urgency(today, best.c.spoil_by)
        ranked = sa.select(
            sa.literal(0).label("tier"),
            best.c.lot_id,
            score.label("score"),
            best.c.spoil_by,
        ).select_from(best.join(doc, sa.literal_column("ranked_doc.ctid") == best.c.row_id))
        tiers: Any = ranked
        if start + page > RANKED_AT_MOST:  # a page past the ranked ones: the rest, in order
            rest = (
                sa.select(sa.literal(1).label("tier"), keyed.c.lot_id, pre, keyed.c.spoil_by)
                .order_by(*by_pre)
                .offset(how_many.scalar_subquery())
            )
            tiers = sa.union_all(ranked, rest)
        both = tiers.subquery("tiers")
        ordering = [both.c.tier, both.c.score.desc(), both.c.spoil_by, both.c.lot_id]
        query = (
            sa.select(both.c.lot_id, both.c.score, both.c.spoil_by, count.label("total"))
            .order_by(*ordering)
            .offset(start)
            .limit(page)
        )
        if request.facets:
            numbered = query.add_columns(sa.func.row_number().over(order_by=ordering).label("n"))
            return self._page_and_facets(connection, keyed, numbered)
        return connection.execute(query).all(), None

    @staticmethod
    def _nearest_first(
        connection: Connection,
        query: sa.Select[Any],
        distance: sa.ColumnElement[float],
        origin: tuple[float, float],
        page: int,
    ) -> list[Any]:
        """The page of a search without words by distance, from the lots within a radius of
        the origin: read from the index on latitude and longitude through the box around that
        circle, the radius growing until the circle holds every lot up to the page's last, so
        that the page is the one ordering every lot by distance would give. Lots are at their
        county's centre: the nearest 20 are usually within the first radius."""
        lat, lng = origin
        radius = NEAREST_FIRST_KM
        while radius <= NEAREST_LAST_KM:
            box = _box(lat, lng, radius)
            if box is None:
                break
            (south, north), (west, east) = box
            c = DOCS.c
            within = query.where(
                c.lat.between(south, north), c.lng.between(west, east), distance <= radius
            )
            rows = connection.execute(within).all()
            # a full page (after its offset) within the circle: every lot outside is further
            if len(rows) == page:
                return rows
            radius *= 4
        return connection.execute(query).all()

    @staticmethod
    def _page_and_facets(
        connection: Connection, keyed: Any, query: sa.Select[Any]
    ) -> tuple[list[Any], _Facets]:
        """The page's rows (`query`, numbered `n` in its order) and the facet counts of the
        matches in `keyed` (a materialised step), in one statement: the page's rows in order,
        then the GROUPING SETS rows."""
        paged = query.subquery("paged")
        facet_columns = [keyed.c[name] for name in FACETS]
        page_part = sa.select(
            sa.literal(0).label("part"),
            *paged.c,
            *(sa.cast(sa.null(), sa.Text).label(f"f_{i}") for i in range(len(FACETS))),
        )
        counts = sa.select(
            sa.literal(1).label("part"),
            *(
                sa.func.count().label("total") if col.name == "total" else sa.null()
                for col in paged.c
            ),
            *facet_columns,
        ).group_by(sa.func.grouping_sets(*[sa.tuple_(c) for c in facet_columns]))
        both = sa.union_all(page_part, counts).subquery("both")
        out = connection.execute(sa.select(both).order_by(both.c.part, both.c.n)).all()
        rows = [row for row in out if row.part == 0]
        facet_rows = [(*row[-len(FACETS) :], row.total) for row in out if row.part == 1]
        return rows, PostgresBackend._facet_counts(facet_rows)

    @staticmethod
    def _urgency(today: int, spoil_by: Any = DOCS.c.spoil_by) -> sa.ColumnElement[float]:
        """`backend.urgency_factor` of each document's days left, in SQL."""
        days = sa.func.greatest(spoil_by - today, 0)
        weight = sa.literal(URGENCY_WEIGHT * URGENCY_DAYS, sa.Float)
        return 1.0 + weight / (sa.literal(float(URGENCY_DAYS), sa.Float) + days)

    @staticmethod
    def _term_rank(part: _Term, tokens: Any = DOCS.c.tokens) -> sa.ColumnElement[float]:
        rank = _rank(_tsquery(part.ranked), tokens) if part.ranked else sa.literal(0.0)
        if part.fuzzy and part.fuzzy_ranks:
            rank = rank + _rank(_tsquery(part.fuzzy), tokens) * part.fuzzy_factor
        return rank

    @staticmethod
    def _km(lat: float, lng: float) -> sa.ColumnElement[float]:
        """Great-circle distance from a point (haversine, as geo.great_circle_km)."""
        c = DOCS.c
        p1 = sa.func.radians(sa.literal(lat))
        p2 = sa.func.radians(c.lat)
        half_dp = (p2 - p1) / 2
        half_dl = sa.func.radians(c.lng - lng) / 2
        a = sa.func.power(sa.func.sin(half_dp), 2) + sa.func.cos(p1) * sa.func.cos(
            p2
        ) * sa.func.power(sa.func.sin(half_dl), 2)
        return 2 * EARTH_RADIUS_KM * sa.func.asin(sa.func.least(1.0, sa.func.sqrt(a)))


class _Writer:
    """Upserts and deletes, written together when the writer closes."""

    generation = "postgres"

    def __init__(self, backend: PostgresBackend, connection: Connection) -> None:
        self._backend = backend
        self._connection = connection
        self._upserts: dict[int, LotDocument] = {}
        self._deletes: set[int] = set()

    def upsert(self, doc: LotDocument) -> None:
        self._deletes.discard(doc.lot_id)
        self._upserts[doc.lot_id] = doc

    def delete(self, lot_id: int) -> None:
        self._upserts.pop(lot_id, None)
        self._deletes.add(lot_id)

    def flush(self) -> None:
        self._backend.write(self._connection, list(self._upserts.values()), self._deletes)
        self._upserts.clear()
        self._deletes.clear()
