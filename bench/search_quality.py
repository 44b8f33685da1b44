"""Search quality: nDCG@10 and recall@50 of the labelled queries on a generated corpus.

    .venv/bin/python bench/search_quality.py               # 20,000 lots, temporary SQLite file
    .venv/bin/python bench/search_quality.py --n 5000 --show 20
    .venv/bin/python bench/search_quality.py --backend both --database-url postgresql://…/pm_q

Every query of tests/search/queries.json runs through `service().search(...)` as the pages ask
it (today's date, so that lots past their spoil-by date count as expired), 50 lots a page; each
returned lot is graded by the query's rules over the lot's attributes. nDCG@10 uses the gain
2^grade - 1 and the ideal ranking of every lot in the corpus; recall@50 is the relevant lots
(grade > 0) in the first 50 over min(50, relevant lots in the corpus). A query without any
relevant lot in the corpus counts in neither mean (it is listed apart).

With --backend postgres (a PostgreSQL --database-url) the PostgreSQL backend answers; with
--backend both, each backend in turn over the same corpus in the same database, and a last line
compares their overall nDCG@10.

The scoring functions are importable (tests/search/test_quality.py uses them).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from produce_match.catalog.regions import great_circle_km  # noqa: E402

QUERIES = ROOT / "tests" / "search" / "queries.json"
NDCG_AT = 10
RECALL_AT = 50
#: the keys a rule may use besides "grade"
RULE_KEYS = frozenset(
    {
        "commodity",
        "category",
        "province",
        "county",
        "prefecture",
        "status",
        "title",
        "lot_grade",
        "max_price_fen_per_t",
        "min_remaining_g",
        "near",
    }
)
#: SearchRequest fields a query may set besides its text
REQUEST_KEYS = frozenset(
    {
        "commodity",
        "province",
        "county",
        "grade",
        "min_remaining_g",
        "max_price_fen_per_t",
        "sort",
        "origin",
        "facets",
    }
)


# --- the labelled queries --------------------------------------------------------------------


@dataclass(frozen=True)
class LotFacts:
    """What the rules may look at in a lot."""

    id: int
    commodity: str
    category: str
    province: str
    county: str
    prefecture: str
    #: the status as of today: an open lot past its spoil-by date is "expired"
    status: str
    title: str
    lot_grade: str
    price_fen_per_t: int
    remaining_g: int
    lat: float
    lng: float


@dataclass
class LabelledQuery:
    """One query of the set: its text, class, rules and request options."""

    query: str
    cls: str
    rules: list[dict[str, Any]]
    request: dict[str, Any] = field(default_factory=dict)
    suggestion: str | None = None
    note: str = ""


@dataclass
class QuerySet:
    """The labelled queries, and whether only lots a default search shows count."""

    queries: list[LabelledQuery]
    only_open: bool = True


def load_queries(path: Path = QUERIES) -> QuerySet:
    """Read and check the labelled query set."""
    raw = json.loads(path.read_text("utf-8"))
    queries = []
    for item in raw["queries"]:
        for rule in item["grades"]:
            unknown = set(rule) - RULE_KEYS - {"grade"}
            if unknown or rule.get("grade") not in (0, 1, 2):
                raise ValueError(f"bad rule for {item['query']!r}: {rule}")
        unknown = set(item.get("request", {})) - REQUEST_KEYS
        if unknown:
            raise ValueError(f"bad request for {item['query']!r}: {sorted(unknown)}")
        queries.append(
            LabelledQuery(
                query=item["query"],
                cls=item["class"],
                rules=item["grades"],
                request=item.get("request", {}),
                suggestion=item.get("suggestion"),
                note=item.get("note", ""),
            )
        )
    return QuerySet(queries=queries, only_open=raw.get("only_open", True))


def _any_of(value: Any) -> tuple[Any, ...]:
    """A rule value as a tuple of accepted values."""
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def rule_matches(rule: Mapping[str, Any], lot: LotFacts) -> bool:
    """Do all of a rule's conditions hold for the lot?"""
    for key, wanted in rule.items():
        if key == "grade":
            continue
        if key == "title":
            if not any(part in lot.title for part in _any_of(wanted)):
                return False
        elif key == "max_price_fen_per_t":
            if lot.price_fen_per_t > wanted:
                return False
        elif key == "min_remaining_g":
            if lot.remaining_g < wanted:
                return False
        elif key == "near":
            if great_circle_km(wanted["lat"], wanted["lng"], lot.lat, lot.lng) > wanted["km"]:
                return False
        elif getattr(lot, key) not in _any_of(wanted):
            return False
    return True


def grade(rules: Sequence[Mapping[str, Any]], lot: LotFacts, only_open: bool = True) -> int:
    """The grade of the first rule the lot matches; 0 if none (or if it may not be shown)."""
    if only_open and lot.status != "open":
        return 0
    for rule in rules:
        if rule_matches(rule, lot):
            return int(rule["grade"])
    return 0


# --- the measures ----------------------------------------------------------------------------


def dcg(grades: Sequence[int], k: int = NDCG_AT) -> float:
    """Discounted cumulative gain of the first k grades (gain 2^g - 1, discount log2(rank+1))."""
    return sum((2**g - 1) / math.log2(rank + 2) for rank, g in enumerate(grades[:k]))


def ndcg(ranked: Sequence[int], pool: Iterable[int], k: int = NDCG_AT) -> float | None:
    """nDCG@k of the grades in ranked order, against the best order of every grade in `pool`
    (the whole corpus); None when nothing in the pool is relevant."""
    ideal = dcg(sorted((g for g in pool if g > 0), reverse=True), k)
    if ideal == 0:
        return None
    return dcg(ranked, k) / ideal


def recall(ranked: Sequence[int], relevant: int, k: int = RECALL_AT) -> float | None:
    """Relevant results in the first k over min(k, relevant lots); None when there are none."""
    if relevant <= 0:
        return None
    found = sum(1 for g in ranked[:k] if g > 0)
    return found / min(k, relevant)


# --- running the set on a corpus -------------------------------------------------------------


@dataclass
class QueryScore:
    """How one query did."""

    query: LabelledQuery
    ndcg: float | None
    recall: float | None
    relevant: int
    total: int
    #: (lot id, grade) of the returned lots, best first
    returned: list[tuple[int, int]]
    suggestion: str | None
    relaxed: bool
    seconds: float

    @property
    def suggestion_ok(self) -> bool | None:
        """Was the expected 'did you mean' given? None when none is expected."""
        if self.query.suggestion is None:
            return None
        return self.suggestion == self.query.suggestion


def load_lots(today: date) -> dict[int, LotFacts]:
    """Every lot's facts, read once (inside an app context)."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from produce_match.catalog.models import Commodity, Region
    from produce_match.extensions import db
    from produce_match.lots.models import Lot, LotStatus

    county = aliased(Region)
    rows = db.session.execute(
        select(
            Lot.id,
            Commodity.code,
            Commodity.category,
            Lot.province_code,
            Lot.county_code,
            county.parent_code,
            Lot.status,
            Lot.spoil_by,
            Lot.title,
            Lot.grade,
            Lot.price_fen_per_t,
            Lot.remaining_g,
            county.lat,
            county.lng,
        )
        .join(Commodity, Commodity.id == Lot.commodity_id)
        .join(county, county.code == Lot.county_code)
    ).all()
    db.session.rollback()
    out = {}
    for r in rows:
        status = r.status
        if status is LotStatus.open and r.spoil_by < today:
            status = LotStatus.expired
        out[r.id] = LotFacts(
            id=r.id,
            commodity=r.code,
            category=r.category.value,
            province=r.province_code,
            county=r.county_code,
            prefecture=r.parent_code or "",
            status=status.value,
            title=r.title,
            lot_grade=(r.grade or "").strip(),
            price_fen_per_t=r.price_fen_per_t,
            remaining_g=r.remaining_g,
            lat=r.lat,
            lng=r.lng,
        )
    return out


def request_for(query: LabelledQuery, today: date) -> Any:
    """The SearchRequest a query runs as: 50 a page, no facets unless asked, today's date."""
    from produce_match.search.backend import SearchRequest

    options = dict(query.request)
    if "origin" in options:
        options["origin"] = tuple(options["origin"])
    options.setdefault("facets", False)
    return SearchRequest(text=query.query, per_page=RECALL_AT, today=today, **options)


def evaluate(
    query_set: QuerySet, today: date | None = None, lots: dict[int, LotFacts] | None = None
) -> list[QueryScore]:
    """Run every query through the search service and score it (inside an app context)."""
    from produce_match.dates import local_today
    from produce_match.search.service import service

    today = today or local_today()
    lots = lots if lots is not None else load_lots(today)
    search = service()
    scores = []
    for query in query_set.queries:
        pool = [grade(query.rules, lot, query_set.only_open) for lot in lots.values()]
        relevant = sum(1 for g in pool if g > 0)
        started = time.perf_counter()
        result = search.search(request_for(query, today))
        seconds = time.perf_counter() - started
        returned = [
            (
                h.lot_id,
                grade(query.rules, lots[h.lot_id], query_set.only_open) if h.lot_id in lots else 0,
            )
            for h in result.hits
        ]
        ranked = [g for _id, g in returned]
        scores.append(
            QueryScore(
                query=query,
                ndcg=ndcg(ranked, pool),
                recall=recall(ranked, relevant),
                relevant=relevant,
                total=result.total,
                returned=returned,
                suggestion=result.suggestion,
                relaxed=result.relaxed,
                seconds=seconds,
            )
        )
    return scores


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None (None if there are none)."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


@dataclass
class ClassSummary:
    """The mean scores of one class of queries."""

    cls: str
    queries: int
    scored: int
    ndcg: float | None
    recall: float | None


def summarise(scores: Sequence[QueryScore]) -> list[ClassSummary]:
    """Mean nDCG@10 and recall@50 per class, in first-seen order, and "overall" last."""
    by_class: dict[str, list[QueryScore]] = defaultdict(list)
    for s in scores:
        by_class[s.query.cls].append(s)
    out = []
    for cls, group in [*by_class.items(), ("overall", list(scores))]:
        out.append(
            ClassSummary(
                cls=cls,
                queries=len(group),
                scored=sum(1 for s in group if s.ndcg is not None),
                ndcg=mean(s.ndcg for s in group),
                recall=mean(s.recall for s in group),
            )
        )
    return out


def overall_ndcg(scores: Sequence[QueryScore]) -> float:
    """Mean nDCG@10 over the queries that have relevant lots."""
    value = mean(s.ndcg for s in scores)
    return value if value is not None else 0.0


def worst(scores: Sequence[QueryScore], how_many: int = 10) -> list[QueryScore]:
    """The queries with the lowest nDCG@10 (then recall@50)."""
    scored = [s for s in scores if s.ndcg is not None]
    return sorted(scored, key=lambda s: (s.ndcg or 0.0, s.recall or 0.0))[:how_many]


# --- the report ------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    """A score, or a dash when there is none."""
    return "   -  " if value is None else f"{value:6.3f}"


def report(
    scores: Sequence[QueryScore], lots: Mapping[int, LotFacts], show: int = 10, out: Any = None
) -> None:
    """Print the per-class table, the worst queries and the suggestions."""
    out = out or sys.stdout
    print(f"\n{'class':<20} {'queries':>7} {'scored':>6} {'nDCG@10':>8} {'recall@50':>9}", file=out)
    print("-" * 54, file=out)
    for row in summarise(scores):
        if row.cls == "overall":
            print("-" * 54, file=out)
        print(
            f"{row.cls:<20} {row.queries:>7} {row.scored:>6} {_fmt(row.ndcg):>8} "
            f"{_fmt(row.recall):>9}",
            file=out,
        )
    print(f"\nthe {show} worst queries (nDCG@10, recall@50, relevant in corpus, found):", file=out)
    for s in worst(scores, show):
        extra = " relaxed" if s.relaxed else ""
        extra += f" suggestion={s.suggestion}" if s.suggestion else ""
        print(
            f"  {s.query.query!r:<14} [{s.query.cls}] nDCG {_fmt(s.ndcg)} recall "
            f"{_fmt(s.recall)}  relevant {s.relevant:,}  found {s.total:,}{extra}",
            file=out,
        )
        for lot_id, g in s.returned[:5]:
            lot = lots.get(lot_id)
            if lot is not None:
                print(f"      {g}  {lot.commodity:<14} {lot.county} {lot.title}", file=out)
    unscored = [s for s in scores if s.ndcg is None]
    if unscored:
        print("\nqueries without relevant lots in this corpus (not in the means):", file=out)
        for s in unscored:
            print(
                f"  {s.query.query!r} [{s.query.cls}] found {s.total}, suggestion {s.suggestion!r}",
                file=out,
            )
    expected = [s for s in scores if s.suggestion_ok is not None]
    if expected:
        print("\nexpected suggestions:", file=out)
        for s in expected:
            print(
                f"  {s.query.query!r}: expected {s.query.suggestion!r}, got {s.suggestion!r}, "
                f"found {s.total}",
                file=out,
            )


def _lot_count() -> int:
    """How many lots the database holds."""
    from sqlalchemy import func, select

    from produce_match.extensions import db
    from produce_match.lots.models import Lot

    count = db.session.scalar(select(func.count()).select_from(Lot)) or 0
    db.session.rollback()
    return count


def main(argv: list[str] | None = None) -> None:
    """Build the corpus, run the labelled set and print the report."""
    from bench.corpus import SEED, build_app, generate
    from produce_match.dates import local_today
    from produce_match.extensions import db
    from produce_match.search.service import service

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="lots (default 20000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--show", type=int, default=10, help="how many worst queries to list")
    parser.add_argument(
        "--database-url",
        help="default: a temporary SQLite file; an empty database, or one this script filled",
    )
    parser.add_argument(
        "--backend",
        choices=("whoosh", "postgres", "both"),
        default="whoosh",
        help="the search backend (postgres and both need a PostgreSQL --database-url)",
    )
    args = parser.parse_args(argv)

    query_set = load_queries(args.queries)
    backends = ["whoosh", "postgres"] if args.backend == "both" else [args.backend]
    overall: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pm-bench-quality-") as tmp:
        for backend in backends:
            app = build_app(tmp, args.database_url, search_backend=backend)
            with app.app_context():
                existing = _lot_count()
                if existing and existing != args.n:
                    raise SystemExit(f"the database holds {existing:,} lots, not {args.n:,}")
                if not existing:
                    generate(args.n, seed=args.seed)
                started = time.perf_counter()
                service().rebuild()
                build = time.perf_counter() - started
                today = local_today()
                lots = load_lots(today)
                scores = evaluate(query_set, today, lots)
                overall[backend] = overall_ndcg(scores)
                print(
                    f"\n== backend {backend}: corpus {args.n:,} lots (seed {args.seed}), "
                    f"index rebuilt in {build:.1f} s; {len(query_set.queries)} queries in "
                    f"{sum(s.seconds for s in scores):.2f} s"
                )
                report(scores, lots, args.show)
                db.session.remove()
                db.engine.dispose()
    if len(overall) > 1:
        print(
            "\noverall nDCG@10: "
            + ", ".join(f"{name} {value:.3f}" for name, value in overall.items())
            + f"; difference {overall['postgres'] - overall['whoosh']:+.3f}"
        )


if __name__ == "__main__":
    main()
