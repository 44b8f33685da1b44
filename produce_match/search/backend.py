"""The search backend interface, and what passes through it.

A backend indexes lots as `LotDocument`s and answers `SearchRequest`s with `SearchResult`s. The
database stays the truth: every backend can be rebuilt from it and checked against it. The
embedded default is Whoosh (`whoosh_backend.py`); another engine plugs in beside it by
implementing `SearchBackend` and passing the same tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from produce_match.dates import local_today

#: the statuses a search shows unless asked for others
DEFAULT_STATUSES = ("open",)
SORTS = ("relevance", "urgency", "price", "price_desc", "newest", "distance")
FACETS = ("commodity", "province", "county", "grade")

#: how much each way of matching counts: the commodity itself above a word in the text, exact
#: Chinese and English above pinyin, pinyin above initials, a fuzzy pinyin match least; a
#: category word (水果) counts its category as a commodity word counts the commodity
BOOST = {
    "commodity": 12.0,
    "category": 12.0,
    "zh": 3.0,
    "en": 3.0,
    "py": 2.0,
    "ini": 1.0,
    "fuzzy": 0.4,
}

#: With the default sort urgency weighs in: a match's score is multiplied by
#: 1 + URGENCY_WEIGHT * URGENCY_DAYS / (URGENCY_DAYS + days left), the matching score's urgency
#: curve: 1.5 for a lot spoiling today, 1.2 with 21 days left, 1.02 with a year. Of two lots that
#: match alike the one spoiling sooner comes first; a strong match (the commodity asked for, at
#: least twice the score of a word in a text) still beats a weak one.
URGENCY_WEIGHT = 0.5
URGENCY_DAYS = 14


def urgency_factor(days_left: int) -> float:
    """How much a match's score grows for a lot `days_left` days from its spoil-by date."""
    return 1.0 + URGENCY_WEIGHT * URGENCY_DAYS / (URGENCY_DAYS + max(0, days_left))


def today_of(request: SearchRequest) -> date:
    """The day a request's urgency is counted from (the pages give the lots' own today)."""
    return request.today or local_today()


@dataclass
class LotDocument:
    """What the index keeps of a lot: its tokens and the values filters, facets and sorts need."""

    lot_id: int
    #: changes whenever the lot changes (its updated_at, in microseconds): `check` compares it
    version: int
    #: tokens per field (zh, py, ini, en), from the shared analysis
    tokens: dict[str, list[str]]
    commodity: str
    province: str
    county: str
    grade: str
    status: str
    spoil_by: int  # date.toordinal()
    price_fen_per_t: int
    remaining_g: int
    created: int  # epoch seconds
    lat: float
    lng: float
    #: the commodity's category (fruit, vegetable ...): a category word finds the lot
    category: str = ""
    #: the county's parent region (烟台市 for 福山区): a prefecture's name narrows to it
    prefecture: str = ""


@dataclass
class SearchRequest:
    """A query with its filters, sort and page."""

    text: str = ""
    commodity: str | None = None  # commodity code
    province: str | None = None  # region codes
    county: str | None = None
    grade: str | None = None
    min_remaining_g: int | None = None
    max_price_fen_per_t: int | None = None
    spoil_from: date | None = None
    spoil_to: date | None = None
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    #: only lots whose spoil-by date is on or after this day count as open (today)
    today: date | None = None
    sort: str = "relevance"
    #: for sort="distance": the point to measure from
    origin: tuple[float, float] | None = None
    page: int = 1
    per_page: int = 20
    facets: bool = True
    #: only whether any lot matches every word ("did you mean" probes each name so): no hits,
    #: no facets, no relaxing; `total` is 0, or at least 1 (a backend may stop at the first)
    any_match: bool = False


@dataclass
class Hit:
    lot_id: int
    score: float
    distance_km: float | None = None


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    #: facet -> [(value, count)], most frequent first
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: "did you mean": a better query when this one found nothing (the first of suggestions)
    suggestion: str | None = None
    #: when nothing matched every word: lots matching some of them
    relaxed: bool = False
    #: every "did you mean", nearest first; each finds lots (set by the search service)
    suggestions: list[str] = field(default_factory=list)
    #: nothing matched every word, and these are the lots of the suggestion instead
    corrected: bool = False


@dataclass
class CheckReport:
    missing: list[int] = field(default_factory=list)  # in the database, not in the index
    stale: list[int] = field(default_factory=list)  # in both, with another version
    extra: list[int] = field(default_factory=list)  # in the index, no longer in the database

    @property
    def clean(self) -> bool:
        return not (self.missing or self.stale or self.extra)


#: a share of a rebuild's documents: called in a process of its own, it yields them
DocumentPart = Callable[[], Iterable["LotDocument"]]


class IndexBusy(Exception):
    """Another process holds the index writer; the change stays queued."""


class IndexWriter(Protocol):
    #: which index was written: if it is no longer the live one afterwards, a rebuild swapped
    #: in another meanwhile and the same changes must be applied again
    generation: object

    def upsert(self, doc: LotDocument) -> None:
        """Add or replace a lot's document."""

    def delete(self, lot_id: int) -> None:
        """Remove a lot's document (if any)."""


class SearchBackend(Protocol):
    def writing(self) -> AbstractContextManager[IndexWriter]:
        """The one writer: raises IndexBusy at once if another holds it, commits on exit."""

    def search(self, request: SearchRequest) -> SearchResult:
        """Answer a query."""

    def exists(self) -> bool:
        """Has an index been built?"""

    def generation(self) -> object:
        """Which index is live now (changes when a rebuild swaps one in)."""

    def versions(self) -> dict[int, int]:
        """lot_id -> version of every document in the index."""

    def rebuild(
        self,
        documents: Iterable[LotDocument],
        total: int,
        progress: Callable[[int], None] | None = None,
        parts: Sequence[DocumentPart] = (),
    ) -> None:
        """Build a fresh index beside the live one and swap it in atomically: of `documents`,
        or, given `parts`, of the documents of every part, each part in a process of its own
        (`parallel.run_parts`)."""
