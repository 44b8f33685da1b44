"""Benchmark: build a corpus, rebuild the search index, and time every class of query.

    .venv/bin/python bench/search.py                       # 100,000 lots, temporary SQLite file
    .venv/bin/python bench/search.py --n 20000 --repeat 50
    .venv/bin/python bench/search.py --profile broad       # cProfile one class (top 25 cumulative)
    .venv/bin/python bench/search.py --profile broad,synonym --repeat 10
    .venv/bin/python bench/search.py --database-url postgresql://user@127.0.0.1/pm_bench
    .venv/bin/python bench/search.py --backend postgres --database-url postgresql://…/pm_bench
    .venv/bin/python bench/search.py --workdir /tmp/pm100k  # keep it; run again: no rebuild
    .venv/bin/python bench/search.py --backend both --rebuild --database-url …/pm_bench

Latency is measured with time.perf_counter() around `service().search(SearchRequest(...))`, the
path the pages and the API take (it first applies any stale search queue, then asks the backend);
one class is also timed through `pages.results_page`, which adds loading the page's lots, their
highlights and the facet labels from the database. Each class runs once to warm up, then
--repeat times. Only the classes that say "facets" ask for them (the pages always do).

The setup of an app starts by building the index if there is none (`flask init-db` does the
same): time a rebuild with --rebuild. A --database-url database is migrated and written to: give
it an empty database of its own.
--backend postgres (PostgreSQL only) searches the documents kept in the database instead of the
Whoosh index; a database this script filled can be reused for either backend (its documents or
index are rebuilt when missing). --backend both runs Whoosh, then PostgreSQL, in one run. Each
table ends with the goal check (every class's p95 at most 30 ms on Whoosh, 50 ms on PostgreSQL).
A PostgreSQL rebuild leaves the documents that are already right as they are: --fresh empties
them first, to time the first build.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import pstats
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from sqlalchemy import func, select, text  # noqa: E402

from bench.corpus import BROAD_WORD, SEED, build_app, generate, print_header  # noqa: E402
from produce_match.catalog.models import Commodity, Region  # noqa: E402
from produce_match.dates import local_today  # noqa: E402
from produce_match.extensions import db  # noqa: E402
from produce_match.lots.models import Lot, LotStatus  # noqa: E402
from produce_match.search.backend import SearchRequest, SearchResult  # noqa: E402
from produce_match.search.service import service  # noqa: E402

#: the goal for every class's p95, per backend (issue 15), in milliseconds
GOAL_MS = {"whoosh": 30.0, "postgres": 50.0}
#: 沈阳 (Shenyang), where a buyer measures distances from
ORIGIN = (41.8057, 123.4315)


@dataclass
class Case:
    """One class of query, as the benchmark runs it."""

    name: str
    request: SearchRequest
    #: time results_page (search + loading the lots from the database) instead of the search
    page: bool = False

    @property
    def label(self) -> str:
        """The query and its options, as the table shows them."""
        r = self.request
        parts = [repr(r.text) if r.text else "(no text)"]
        if r.province:
            parts.append(f"province={r.province}")
        if r.max_price_fen_per_t:
            parts.append(f"price<={r.max_price_fen_per_t / 100_000:g}元/kg")
        if r.min_remaining_g:
            parts.append(f">={r.min_remaining_g / 1_000_000:g}t")
        if r.facets:
            parts.append("facets")
        if r.sort != "relevance":
            parts.append(f"sort={r.sort}")
        return " ".join(parts)


def _commodity_and_place() -> str:
    """彰武黑豆 if the corpus has open lots of it, else its most common county + commodity."""
    open_lots = select(Lot).where(Lot.status == LotStatus.open).subquery()
    found = db.session.scalar(
        select(func.count())
        .select_from(open_lots)
        .join(Commodity, Commodity.id == open_lots.c.commodity_id)
        .where(Commodity.code == "black_bean", open_lots.c.county_code == "210922")
    )
    if found:
        return "彰武黑豆"
    row = db.session.execute(
        select(Region.short_name, Commodity.name_zh, func.count().label("n"))
        .select_from(open_lots)
        .join(Commodity, Commodity.id == open_lots.c.commodity_id)
        .join(Region, Region.code == open_lots.c.county_code)
        .group_by(Region.short_name, Commodity.name_zh)
        .order_by(func.count().desc())
        .limit(1)
    ).one()
    return f"{row.short_name}{row.name_zh}"


def cases() -> list[Case]:
    """Every class of query, in the order the table shows them."""
    today = local_today()

    def ask(text: str = "", **kwargs: Any) -> SearchRequest:
        """A request as the pages make it (today's date), facets only when asked."""
        return SearchRequest(text=text, today=today, facets=kwargs.pop("facets", False), **kwargs)

    return [
        Case("commodity", ask("黑豆")),
        Case("commodity+facets", ask("黑豆", facets=True)),
        Case("commodity (page)", ask("黑豆", facets=True), page=True),
        Case("commodity+place", ask(_commodity_and_place())),
        Case("pinyin", ask("heidou")),
        Case("initials", ask("hd")),
        Case("synonym", ask("乌豆")),
        Case("synonym", ask("马铃薯")),
        Case("typo (homophone)", ask("黑逗")),
        Case("typo (pinyin)", ask("heidoo")),
        Case("english", ask("black beans")),
        Case(
            "filtered",
            ask(
                "玉米",
                province="210000",
                max_price_fen_per_t=280_000,  # 2.80 元/公斤
                min_remaining_g=10_000_000,  # 10 吨
            ),
        ),
        Case("faceted", ask("玉米", facets=True)),
        Case("broad", ask(BROAD_WORD)),
        Case("distance", ask("玉米", sort="distance", origin=ORIGIN)),
        Case("distance (no text)", ask("", sort="distance", origin=ORIGIN)),
        Case("browse (urgency)", ask("", sort="urgency")),
        Case("no result", ask("榴莲")),
    ]


def run_once(case: Case) -> SearchResult | Any:
    """Run a case's query once, as the service (or the results page) does."""
    if case.page:
        from produce_match.search.pages import results_page

        return results_page(replace(case.request), lang="zh")
    return service().search(replace(case.request))


def _after(case: Case) -> None:
    """End the 'request': a page's lots stay in the session otherwise."""
    if case.page:
        db.session.remove()


def timings(case: Case, repeat: int) -> list[float]:
    """Milliseconds per run, after one warm-up run."""
    run_once(case)
    _after(case)
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        run_once(case)
        out.append((time.perf_counter() - started) * 1000)
        _after(case)
    return out


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _index_size(root: Path) -> int:
    """Bytes of the live index: the Whoosh generation, or PostgreSQL's documents table with its
    indexes and the word list."""
    if service().in_database:
        size = db.session.scalar(
            text(
                "SELECT pg_total_relation_size('search_documents') "
                "+ pg_total_relation_size('search_words')"
            )
        )
        db.session.rollback()
        return int(size or 0)
    live = root / "current"
    target = live.resolve() if live.exists() else root
    return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())


def profile(case: Case, repeat: int, top: int = 25) -> None:
    """cProfile `repeat` runs of a case (after a warm-up) and print the top functions."""
    run_once(case)
    _after(case)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        run_once(case)
        _after(case)
    profiler.disable()
    print(f"\nprofile of {case.name}: {case.label}, {repeat} runs")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(top)


def _summary_of(result: Any) -> tuple[int, str]:
    """A result's total and a note (relaxed, did you mean)."""
    total = result.total
    note = []
    if getattr(result, "relaxed", False):
        note.append("relaxed")
    if getattr(result, "suggestion", None):
        note.append(f"did you mean {result.suggestion}")
    return total, ", ".join(note)


def run(
    n: int,
    repeat: int,
    database_url: str | None,
    only: str | None,
    workdir: Path | None = None,
    backend: str = "whoosh",
    rebuild: bool = False,
    fresh: bool = False,
) -> None:
    """Build everything (or reuse a workdir's), then print the table or the profiles (of each
    backend in turn with "both")."""
    with tempfile.TemporaryDirectory(prefix="pm-bench-search-") as tmp:
        folder = workdir or Path(tmp)
        for each in ("whoosh", "postgres") if backend == "both" else (backend,):
            _run_backend(n, repeat, database_url, only, folder, each, rebuild, fresh)


def _run_backend(
    n: int,
    repeat: int,
    database_url: str | None,
    only: str | None,
    folder: Path,
    backend: str,
    rebuild: bool,
    fresh: bool = False,
) -> None:
    """One backend's part of the run: the corpus (made or reused), the rebuild, the table."""
    started = time.perf_counter()
    app = build_app(folder, database_url, search_backend=backend)
    setup = time.perf_counter() - started
    with app.app_context():
        print_header(setup)
        print(f"search    {backend} backend")
        existing = db.session.scalar(select(func.count()).select_from(Lot)) or 0
        db.session.rollback()
        if existing and existing != n:
            raise SystemExit(f"{folder} holds {existing:,} lots, not {n:,}: use another")
        if existing:
            print(f"corpus    {existing:,} lots, reused from {folder}")
            if rebuild or not service().backend.exists() or not service().check(repair=False).clean:
                if fresh and service().in_database:
                    db.session.execute(text("TRUNCATE search_documents"))
                    db.session.commit()
                    print("documents emptied first (--fresh)")
                _rebuild(existing, Path(app.config["SEARCH_INDEX_DIR"]))
        else:
            _build(n, Path(app.config["SEARCH_INDEX_DIR"]))
        all_cases = cases()
        if only:
            for case in _chosen(all_cases, only):
                profile(case, repeat)
        else:
            _table(all_cases, repeat, GOAL_MS[backend])
        db.session.remove()
        db.engine.dispose()


def _build(n: int, index_dir: Path) -> None:
    """Generate the corpus and rebuild the index, reporting both."""
    summary = generate(n, seed=SEED)
    print(
        f"corpus    {summary.lots:,} lots, {summary.cooperatives} cooperatives in "
        f"{summary.counties} counties, inserted in {summary.seconds:.2f} s "
        f"({summary.lots_per_second:,.0f} lots/s); {summary.statuses}"
    )
    print(
        f"broad     {summary.broad_titles:,} titles say {BROAD_WORD} "
        f"({summary.broad_titles / max(1, summary.lots):.0%})"
    )
    _rebuild(summary.lots, index_dir)


def _rebuild(lots: int, index_dir: Path) -> None:
    """Rebuild the index, reporting how long it took and its size."""
    started = time.perf_counter()
    cpu = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    service().rebuild()
    build = time.perf_counter() - started
    cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    forked = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    print(
        f"index     rebuilt in {build:.2f} s ({lots / build:,.0f} lots/s), "
        f"{_index_size(index_dir) / 1e6:,.1f} MB on disk; CPU {cpu:.1f} s in this process, "
        f"{forked:.1f} s in {_processes(lots)} forked ({os.getloadavg()[0]:.2f} load after)"
    )


def _processes(lots: int) -> int:
    """How many processes a rebuild of `lots` forks (0: none, it runs in this one)."""
    from produce_match.search.parallel import PROCESSES
    from produce_match.search.service import REBUILD_PART_MIN

    count = min(PROCESSES, lots // REBUILD_PART_MIN)
    return count if count >= 2 else 0


def _table(all_cases: list[Case], repeat: int, goal: float) -> None:
    """Time every case and print one row each, with the goal check of its p95."""
    print(f"\n{repeat} runs per class after one warm-up; milliseconds; goal: p95 <= {goal:g} ms")
    header = f"{'class':<20} {'query':<44} {'hits':>7} {'p50':>8} {'p95':>8} {'goal':>5}  note"
    print(header)
    print("-" * len(header))
    over = 0
    for case in all_cases:
        ms = timings(case, repeat)
        total, note = _summary_of(run_once(case))
        _after(case)
        p95 = percentile(ms, 95)
        over += p95 > goal
        print(
            f"{case.name:<20} {_clip(case.label, 44)} {total:>7,} "
            f"{percentile(ms, 50):>8.1f} {p95:>8.1f} {'ok' if p95 <= goal else 'OVER':>5}  {note}",
            flush=True,
        )
    print(f"goal      {len(all_cases) - over} of {len(all_cases)} classes at p95 <= {goal:g} ms")


def _chosen(all_cases: list[Case], only: str) -> list[Case]:
    """The cases named (or begun) by a comma-separated list of class names."""
    chosen = []
    for wanted in only.split(","):
        found = [c for c in all_cases if c.name == wanted.strip()] or [
            c for c in all_cases if c.name.startswith(wanted.strip())
        ]
        if not found:
            names = ", ".join(dict.fromkeys(c.name for c in all_cases))
            raise SystemExit(f"no class {wanted!r}; the classes: {names}")
        chosen += [c for c in found if c not in chosen]
    return chosen


def _clip(text: str, width: int) -> str:
    """Cut to `width` display columns (a CJK character takes two)."""
    out, used = "", 0
    for ch in text:
        w = 2 if ord(ch) > 0x2E80 else 1
        if used + w > width:
            break
        out, used = out + ch, used + w
    return out + " " * (width - used)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="lots (default 100000)")
    parser.add_argument("--repeat", type=int, default=30, help="runs per class (default 30)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument(
        "--profile", metavar="CLASS", help="cProfile a class (or several, comma-separated) instead"
    )
    parser.add_argument(
        "--backend",
        choices=("whoosh", "postgres", "both"),
        default="whoosh",
        help="the search backend, or both in turn (postgres needs a PostgreSQL --database-url)",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="with a reused --workdir: rebuild the index anyway (and time it)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="with --rebuild on PostgreSQL: empty the documents first (time a first build)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the database and index here; a second run with the same --n reuses them",
    )
    args = parser.parse_args(argv)
    run(
        args.n,
        args.repeat,
        args.database_url,
        args.profile,
        args.workdir,
        args.backend,
        args.rebuild,
        args.fresh,
    )


if __name__ == "__main__":
    main()
