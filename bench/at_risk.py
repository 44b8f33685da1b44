"""Benchmark: the officials' lots at risk and dashboard on N open lots and M active demands.

    .venv/bin/python bench/at_risk.py                     # 10,000 lots, 5,000 demands, SQLite
    .venv/bin/python bench/at_risk.py --lots 2000 --demands 1000 --repeat 5
    .venv/bin/python bench/at_risk.py --database-url postgresql://user@127.0.0.1/pm_bench_atrisk
    .venv/bin/python bench/at_risk.py --profile            # cProfile the province's query and page

The lots are bench/corpus.py's (fixed seed), all open: 300 cooperatives in about 250 counties,
commodities weighted as sellers post them. The demands come from a few hundred buyers in
city districts all over the country, over the same commodities in the same proportions, each with
a price ceiling, a quantity range, a needed-by date and sometimes grades and a maximum distance,
drawn so that a lot fits a few tens of demands (the bench prints how many). Rows go in with bulk
inserts of the same values the operations write; the officials are created by the operation.

Timed, each --repeat times in a fresh session (the median and the fastest wall-clock time, and
the median CPU time of this process: steadier on a shared machine, but without the database
server's own work on PostgreSQL):
- `monitor.queries.at_risk(scope)` (the rule and the score over arrays, matching/vector.py) for
  an administrator (everywhere), the province office of the province with the most lots and the
  county office of its busiest county, with the active demands kept by the process (as every
  request after the first in a generation of the data finds them) and read again (as the first
  request after a commit does: "demands read"); and `at_risk(scope, best=0)` (the number of
  buyers only, as the lots export and the dashboard ask);
- the same rows computed as before, the per-pair rule (`rules.rank`) lot by lot over the same
  demands, checked equal, with the ratio;
- the same rows the older way, `matching.queries.matches_for_lot(lot, limit=None)` for each
  lot (skipped where it would take more than --old-limit seconds), checked equal;
- GET /monitor/at-risk and GET /monitor/ through the Flask test client, logged in as each;
- the lots export (XLSX, everywhere) asked for as the administrator and built as the worker
  builds it (`export_jobs.build`), now and with the per-pair rule, with the ratio.
SQL = statements sent to the database during one run (a `before_cursor_execute` listener).

A --database-url database is migrated and written to: give it an empty database of its own.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import math
import os
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from bench.corpus import (  # noqa: E402
    PRICE_OVERRIDE,
    PRICE_PER_JIN,
    QUANTITY_JIN,
    SEED,
    SURNAMES,
    _round_quantity,
    build_app,
    generate,
    print_header,
)
from produce_match.accounts import operations as accounts  # noqa: E402
from produce_match.accounts.models import Organisation, OrgKind, Role, User  # noqa: E402
from produce_match.catalog.models import Commodity, Region, RegionLevel  # noqa: E402
from produce_match.dates import local_today  # noqa: E402
from produce_match.demands.models import MATCHED, Demand, DemandStatus  # noqa: E402
from produce_match.extensions import db  # noqa: E402
from produce_match.lots.models import Lot  # noqa: E402
from produce_match.matching import queries as matching  # noqa: E402
from produce_match.matching import rules  # noqa: E402
from produce_match.monitor import export_jobs, exports  # noqa: E402
from produce_match.monitor import queries as monitor  # noqa: E402
from produce_match.monitor.models import ExportJob  # noqa: E402
from produce_match.units import MassUnit, fen_per_tonne  # noqa: E402

PASSWORD = "bench-password-1"
BUYERS = 400
INSERT_CHUNK = 5000
#: what buyers are: wholesale markets, supermarkets, canteens, processors, traders
BUYER_KINDS = [
    "农产品批发市场",
    "生鲜超市",
    "食品有限公司",
    "餐饮管理有限公司",
    "学校食堂",
    "粮油贸易有限公司",
    "果蔬配送中心",
    "供应链管理有限公司",
]
#: the grades a demand accepts (most accept any)
DEMAND_GRADES: list[tuple[list[str], float]] = [
    ([], 0.65),
    (["一等", "特级"], 0.12),
    (["一等", "二等", "特级"], 0.1),
    (["统货", "二等"], 0.08),
    (["特级"], 0.05),
]
#: a maximum distance, when the buyer names one (km)
DISTANCES = [300, 500, 800, 1000, 1500, 2000]
NOTES = ["", "", "需提供检测报告", "要求统一包装", "可长期合作", "先看样品", "分批送货"]
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class Official:
    """Who looks at the pages, and the scope `resolve_scope` gives them."""

    label: str
    login: str
    scope: monitor.Scope


@dataclass
class Timing:
    """One line of the table."""

    case: str
    who: str
    lots: int
    #: wall-clock seconds of each run, and this process's CPU seconds of each run
    seconds: list[float]
    cpu: list[float]
    statements: int
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _pick(rng: random.Random, choices: list[tuple[Any, float]]) -> Any:
    roll = rng.random()
    for value, weight in choices:
        if roll < weight:
            return value
        roll -= weight
    return choices[-1][0]


def _buyers(rng: random.Random, how_many: int) -> list[int]:
    """Insert buyer organisations in city districts across the country; their ids."""
    rows = db.session.execute(
        select(Region.code, Region.name, Region.short_name, Region.province_code)
        .where(Region.level == RegionLevel.county, Region.name.endswith("区"))
        .order_by(Region.code)
    ).all()
    districts = rng.sample(rows, min(len(rows), 160))
    now = datetime.now(UTC)
    orgs, names = [], set()
    for i in range(how_many):
        place = districts[i % len(districts)]
        short = place.short_name or place.name
        name = f"{short}{rng.choice(SURNAMES)}记{rng.choice(BUYER_KINDS)}"
        if name in names:
            name = f"{place.name}{rng.choice(BUYER_KINDS)}第{i + 1}分公司"
        names.add(name)
        orgs.append(
            {
                "name": name,
                "kind": OrgKind.buyer,
                "contact_person": f"{rng.choice(SURNAMES)}经理",
                "phone": f"138{rng.randrange(10**8):08d}",
                "province_code": place.province_code,
                "county_code": place.code,
                "verified_at": now if rng.random() < 0.7 else None,
                "created_at": now - timedelta(days=rng.randint(10, 400)),
            }
        )
    conn = db.session.connection()
    conn.execute(Organisation.__table__.insert(), orgs)
    return list(
        conn.scalars(
            select(Organisation.id).where(Organisation.name.in_(names)).order_by(Organisation.id)
        ).all()
    )


def _price_unit(rng: random.Random, unit: MassUnit) -> MassUnit:
    """As buyers quote: per tonne or jin for bulk, per kilogram for dear goods, else per jin."""
    if unit is MassUnit.t:
        return MassUnit.t if rng.random() < 0.6 else MassUnit.jin
    if unit is MassUnit.kg:
        return MassUnit.kg
    return MassUnit.jin if rng.random() < 0.85 else MassUnit.kg


def generate_demands(m: int, seed: int = SEED) -> dict[str, int]:
    """Insert `m` active demands of BUYERS buyers over the open lots' commodities, in the lots'
    proportions; commits. Returns how many buyers and commodities."""
    rng = random.Random(seed + 1)
    buyer_ids = _buyers(rng, BUYERS)
    counts = dict(
        db.session.execute(select(Lot.commodity_id, func.count()).group_by(Lot.commodity_id)).all()
    )
    commodities = list(
        db.session.scalars(select(Commodity).where(Commodity.id.in_(counts)).order_by(Commodity.id))
    )
    region_of = dict(
        db.session.execute(
            select(Organisation.id, Organisation.county_code).where(Organisation.id.in_(buyer_ids))
        ).all()
    )
    province_of = dict(
        db.session.execute(
            select(Region.code, Region.province_code).where(Region.code.in_(region_of.values()))
        ).all()
    )
    weights = [counts[c.id] for c in commodities]
    today = local_today()
    now = datetime.now(UTC)
    conn = db.session.connection()
    batch: list[dict[str, Any]] = []
    for _ in range(m):
        c = rng.choices(commodities, weights)[0]
        buyer = rng.choice(buyer_ids)
        unit = c.unit
        low, high = QUANTITY_JIN.get(c.category.value, (1_000, 50_000))
        jin = math.exp(rng.uniform(math.log(low), math.log(high)))
        most = _round_quantity(jin * 500 / unit.grams)
        least = min(most, _round_quantity(most * rng.uniform(0.05, 0.5)))
        low_p, high_p = PRICE_OVERRIDE.get(c.code, PRICE_PER_JIN.get(c.category.value, (1, 10)))
        per_jin = rng.uniform(low_p + 0.25 * (high_p - low_p), high_p * 1.1)
        price_unit = _price_unit(rng, unit)
        per_unit = per_jin * price_unit.grams / 500
        price_fen = max(1, round(per_unit * 100) if per_unit < 100 else round(per_unit) * 100)
        created = now - timedelta(minutes=rng.randint(60, 60 * 24 * 30))
        county = region_of[buyer]
        batch.append(
            {
                "buyer_org_id": buyer,
                "commodity_id": c.id,
                "grades": list(_pick(rng, DEMAND_GRADES)),
                "min_quantity_g": least * unit.grams,
                "max_quantity_g": most * unit.grams,
                "quantity_unit": unit,
                "max_price_fen": price_fen,
                "price_unit": price_unit,
                "max_price_fen_per_t": fen_per_tonne(price_fen, price_unit),
                "province_code": province_of[county],
                "county_code": county,
                "needed_by": today + timedelta(days=rng.randint(5, 60)),
                "max_distance_km": None if rng.random() < 0.55 else rng.choice(DISTANCES),
                "notes": rng.choice(NOTES) or None,
                "status": DemandStatus.active,
                "created_by_id": None,
                "created_at": created,
                "updated_at": created,
            }
        )
        if len(batch) >= INSERT_CHUNK:
            conn.execute(Demand.__table__.insert(), batch)
            batch = []
    if batch:
        conn.execute(Demand.__table__.insert(), batch)
    db.session.commit()
    return {"buyers": len(buyer_ids), "commodities": len(commodities)}


def _officials() -> list[Official]:
    """An administrator, the office of the province with the most lots and that of the busiest
    county in it, created by the operation; committed."""
    province = db.session.execute(
        select(Lot.province_code, func.count())
        .group_by(Lot.province_code)
        .order_by(func.count().desc(), Lot.province_code)
    ).first()[0]
    county = db.session.execute(
        select(Lot.county_code, func.count())
        .where(Lot.province_code == province)
        .group_by(Lot.county_code)
        .order_by(func.count().desc(), Lot.county_code)
    ).first()[0]
    p, c = db.session.get(Region, province), db.session.get(Region, county)
    made = [
        ("everywhere", "bench-admin", Role.admin, None, None),
        ("province", "bench-province", Role.official, f"{p.name}农业农村厅", (p.code, None)),
        ("county", "bench-county", Role.official, f"{c.name}电商办", (p.code, c.code)),
    ]
    out = []
    for label, login, role, org, place in made:
        user = accounts.create_user(
            login=login,
            password=PASSWORD,
            role=role,
            org_name=org,
            name=login,
            place=accounts.PlaceInput(*place) if place else None,
        )
        out.append(Official(label, login, monitor.resolve_scope(user)))
    db.session.commit()
    return out


class Statements:
    """Counts the statements the engine sends."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


def old_at_risk(scope: monitor.Scope, *, best: int = 3) -> list[monitor.AtRisk]:
    """`monitor.queries.at_risk` as it was: `matches_for_lot` for each lot (a query of its
    demands narrowed by price and quantity, their buyers and places, and the buyers' records)."""
    lots = monitor.open_lots(scope)
    taken = monitor._taken_lot_ids([lot.id for lot in lots])
    rows = []
    for lot in lots:
        found = matching.matches_for_lot(lot, limit=None)
        buyers = len({f.demand.buyer_org_id for f in found})
        rows.append(monitor.AtRisk(lot, lot.days_left, lot.id in taken, found[:best], buyers))
    return rows


def per_pair_at_risk(scope: monitor.Scope, *, best: int = 3) -> list[monitor.AtRisk]:
    """`monitor.queries.at_risk` as it was before the rule ran over arrays: the same few
    queries (every active demand of the lots' commodities at once), then `rules.rank`, the
    per-pair rule, for each lot over its demands narrowed by price and quantity."""
    lots = monitor.open_lots(scope)
    taken = monitor._taken_lot_ids([lot.id for lot in lots])
    commodity_ids = {lot.commodity_id for lot in lots}
    demands = list(
        db.session.scalars(
            select(Demand)
            .where(Demand.status.in_(sorted(MATCHED)), Demand.commodity_id.in_(commodity_ids))
            .options(*matching.DEMAND_LOADS)
            .order_by(Demand.id)
        )
    )
    records = matching.buyer_records(d.buyer_org_id for d in demands)
    by_id = {d.id: d for d in demands}
    by_commodity: dict[int, list[Any]] = {}
    for d in demands:
        by_commodity.setdefault(d.commodity_id, []).append(matching.demand_facts(d, records))
    rows = []
    sellers = matching.seller_records(lot.cooperative_id for lot in lots)
    for lot in lots:
        facts = matching.lot_facts(lot, None, sellers)
        pairs = (
            (facts, d)
            for d in by_commodity.get(lot.commodity_id, [])
            if d.max_price_fen_per_t >= facts.price_fen_per_t and d.min_g <= facts.remaining_g
        )
        found = [matching.Found(m, lot, by_id[m.demand.id]) for m in rules.rank(pairs, lot.today())]
        buyers = len({f.demand.buyer_org_id for f in found})
        rows.append(monitor.AtRisk(lot, lot.days_left, lot.id in taken, found[:best], buyers))
    return rows


def demands_read(scope: monitor.Scope) -> list[monitor.AtRisk]:
    """`at_risk(scope)` as the first request after a commit runs it: the active demands read
    from the database again (the process keeps them for one generation of the data)."""
    matching._KEPT.clear()
    return monitor.at_risk(scope)


def buyers_only(scope: monitor.Scope) -> list[monitor.AtRisk]:
    """`at_risk(scope, best=0)`: each lot's number of compatible buyers, not who they are (what
    the lots export and the dashboard use)."""
    return monitor.at_risk(scope, best=0)


def first_page(scope: monitor.Scope) -> list[monitor.AtRisk]:
    """`at_risk(scope)` and its first 50 lots built as a page shows them (their `Lot`
    objects, their best matches with their demands); the other lots stay plain columns."""
    rows = monitor.at_risk(scope)
    rows[:50]
    return rows


def _same(new: list[monitor.AtRisk], old: list[monitor.AtRisk]) -> bool:
    def key(rows: list[monitor.AtRisk]) -> list[Any]:
        return [
            (r.lot.id, r.buyers, [(f.demand.id, f.match.score.total) for f in r.matches])
            for r in rows
        ]

    return key(new) == key(old)


def time_query(
    app: Flask,
    counter: Statements,
    fn: Callable[[monitor.Scope], list[monitor.AtRisk]],
    scope: monitor.Scope,
    repeat: int,
) -> tuple[list[float], list[float], int, list[monitor.AtRisk]]:
    """Run `fn(scope)` `repeat` times, each in a fresh app context (and session)."""
    seconds, cpu, rows, statements = [], [], [], 0
    for _ in range(repeat):
        with app.app_context():
            before = counter.count
            t0, c0 = time.perf_counter(), time.process_time()
            rows = fn(scope)
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            statements = counter.count - before
            db.session.remove()
    return seconds, cpu, statements, rows


def logged_in(app: Flask, login: str) -> FlaskClient:
    """A test client with a session, logged in through the form as a browser would."""
    client = app.test_client()
    token = _CSRF.search(client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on /login"
    response = client.post(
        "/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, response.status_code
    return client


def time_page(
    client: FlaskClient, counter: Statements, url: str, repeat: int
) -> tuple[list[float], list[float], int, int]:
    """GET `url` `repeat` times: seconds, CPU seconds, statements of the last run, bytes."""
    seconds, cpu, statements, size = [], [], 0, 0
    for _ in range(repeat):
        before = counter.count
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert response.status_code == 200, (url, response.status_code)
        statements, size = counter.count - before, len(response.data)
    return seconds, cpu, statements, size


def _build(n_lots: int, n_demands: int) -> list[Official]:
    """The lots, the demands and the officials; prints what was made."""
    summary = generate(n_lots, seed=SEED, open_only=True)
    t0 = time.perf_counter()
    made = generate_demands(n_demands, seed=SEED)
    seconds = time.perf_counter() - t0
    print(
        f"lots      {summary.lots:,} open lots of {len(summary.commodities)} commodities, "
        f"{summary.cooperatives} cooperatives in {summary.counties} counties "
        f"({summary.seconds:.1f} s)"
    )
    print(
        f"demands   {n_demands:,} active demands of {made['buyers']} buyers over "
        f"{made['commodities']} commodities ({seconds:.1f} s)"
    )
    officials = _officials()
    for o in officials:
        print(f"official  {o.label:<10} {o.login:<15} scope {o.scope.name or '(everywhere)'}")
    return officials


def _pairs(lots: list[Lot]) -> str:
    """How many pairs the rule is asked about and how many fit (counted once, not timed)."""
    found = matching.matches_for_lots(lots, limit=None)
    per_lot = [len(f) for f in found.values()]
    demands: dict[int, list[tuple[int, int]]] = {}
    for commodity, price, least in db.session.execute(
        select(Demand.commodity_id, Demand.max_price_fen_per_t, Demand.min_quantity_g).where(
            Demand.status == DemandStatus.active
        )
    ):
        demands.setdefault(commodity, []).append((price, least))
    same = narrowed = 0
    for lot in lots:
        mine = demands.get(lot.commodity_id, [])
        same += len(mine)
        narrowed += sum(
            1 for price, least in mine if price >= lot.price_fen_per_t and least <= lot.remaining_g
        )
    with_one = sum(1 for n in per_lot if n)
    return (
        f"{same:,} same-commodity pairs, {narrowed:,} within price and quantity (the rule is "
        f"asked), {sum(per_lot):,} compatible: {statistics.mean(per_lot):.1f} per lot "
        f"(median {statistics.median(per_lot):.0f}); {with_one / len(per_lot):.0%} of lots fit "
        "at least one demand"
    )


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="pm-bench-atrisk-") as tmp:
        started = time.perf_counter()
        app = build_app(tmp, args.database_url)
        setup = time.perf_counter() - started
        logging.getLogger("produce_match.requests").setLevel(logging.WARNING)  # a line a request
        with app.app_context():
            print_header(setup)
            if db.session.scalar(select(func.count()).select_from(Lot)):
                raise SystemExit("the database already holds lots: give an empty one")
            officials = _build(args.lots, args.demands)
            everywhere = next(o for o in officials if o.label == "everywhere")
            print(f"matches   {_pairs(monitor.open_lots(everywhere.scope))}")
            db.session.remove()
            counter = Statements(db.engine)
        if args.profile:
            profile(app, officials, args.profile)
        else:
            table(app, counter, officials, args)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def table(app: Flask, counter: Statements, officials: list[Official], args: Any) -> None:
    """Time everything and print the table."""
    results: list[Timing] = []
    ratio: float | None = None  # seconds per lot of the one-query-per-lot way
    order = {"county": 0, "province": 1, "everywhere": 2}
    _print_header()
    for o in sorted(officials, key=lambda o: order[o.label]):
        seconds, cpu, statements, new = time_query(
            app, counter, monitor.at_risk, o.scope, args.repeat
        )
        results.append(Timing("at_risk() arrays", o.label, len(new), seconds, cpu, statements))
        _print(results[-1])
        fast = results[-1]
        seconds, cpu, statements, cold = time_query(
            app, counter, demands_read, o.scope, args.repeat
        )
        with app.app_context():
            note = "same rows" if _same(cold, new) else "DIFFERENT ROWS"
        results.append(Timing("at_risk(), demands read", o.label, len(cold), seconds, cpu,
                              statements, note))  # fmt: skip
        _print(results[-1])
        seconds, cpu, statements, _rows = time_query(app, counter, first_page, o.scope, args.repeat)
        results.append(Timing("at_risk(), 50 built", o.label, len(new), seconds, cpu, statements))
        _print(results[-1])
        seconds, cpu, statements, _rows = time_query(
            app, counter, buyers_only, o.scope, args.repeat
        )
        results.append(Timing("at_risk(best=0)", o.label, len(new), seconds, cpu, statements))
        _print(results[-1])
        seconds, cpu, statements, old = time_query(
            app, counter, per_pair_at_risk, o.scope, args.repeat
        )
        with app.app_context():
            same = _same(new, old)
        note = (
            f"{'same rows' if same else 'DIFFERENT ROWS'}; arrays "
            f"{statistics.median(seconds) / fast.median:.1f}x faster "
            f"(CPU {statistics.median(cpu) / statistics.median(fast.cpu):.1f}x)"
        )
        results.append(Timing("per-pair rule (before)", o.label, len(old), seconds, cpu,
                              statements, note))  # fmt: skip
        _print(results[-1])
        estimate = ratio * len(new) if ratio is not None else 0.0
        if estimate > args.old_limit:
            note = f"skipped: about {estimate:.0f} s a run (--old-limit {args.old_limit:g})"
            skipped = Timing("old: matches_for_lot", o.label, len(new), [], [], 0, note)
            results.append(skipped)
        else:
            seconds, cpu, statements, old = time_query(
                app, counter, old_at_risk, o.scope, args.repeat
            )
            with app.app_context():
                same = _same(new, old)
            note = "same rows" if same else "DIFFERENT ROWS"
            results.append(
                Timing("old: matches_for_lot", o.label, len(old), seconds, cpu, statements, note)
            )
            ratio = statistics.median(seconds) / max(1, len(old))
        _print(results[-1])
    for o in sorted(officials, key=lambda o: order[o.label]):
        client = logged_in(app, o.login)
        for url, name in (
            ("/monitor/at-risk", "GET /monitor/at-risk"),
            ("/monitor/", "GET /monitor/"),
        ):
            seconds, cpu, statements, size = time_page(client, counter, url, args.repeat)
            lots = next(r.lots for r in results if r.who == o.label)
            note = f"{size:,} bytes"
            results.append(Timing(name, o.label, lots, seconds, cpu, statements, note))
            _print(results[-1])
    everywhere = next(o for o in officials if o.label == "everywhere")
    lots = next(r.lots for r in results if r.who == "everywhere")
    fast = time_export(app, counter, everywhere.login, args.repeat, None)
    results.append(Timing("export lots.xlsx", "everywhere", lots, *fast))
    _print(results[-1])
    slow = time_export(app, counter, everywhere.login, 1, per_pair_at_risk)
    note = (
        f"{fast[3]}; now {statistics.median(slow[0]) / statistics.median(fast[0]):.1f}x faster"
        f" (CPU {statistics.median(slow[1]) / statistics.median(fast[1]):.1f}x)"
    )
    results.append(Timing("export, per-pair rule", "everywhere", lots, *slow[:3], note))
    _print(results[-1])
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\nload average at the end: {load}")


def time_export(
    app: Flask,
    counter: Statements,
    login: str,
    repeat: int,
    at_risk: Callable[..., list[monitor.AtRisk]] | None,
) -> tuple[list[float], list[float], int, str]:
    """Ask for the lots export (XLSX, everywhere) as `login` and build it as the worker does
    (`export_jobs.build`, the task's body), `repeat` times: seconds, CPU seconds and statements
    of the build, and the job's progress as its page shows it. `at_risk` stands in for
    `monitor.queries.at_risk` (the way before) when given."""
    seconds, cpu, statements, progress = [], [], 0, ""
    real = exports.queries.at_risk
    for _ in range(repeat):
        with app.app_context():
            user = db.session.scalar(select(User).where(User.login == login))
            job = export_jobs.request_export(user, "lots", "xlsx", {}, "zh")
            db.session.commit()  # the task goes to the queue (a file here: not consumed)
            job_id = job.id
            db.session.remove()
        with app.app_context():
            if at_risk is not None:
                exports.queries.at_risk = lambda scope, best=3: at_risk(scope)  # type: ignore[assignment]
            try:
                before = counter.count
                t0, c0 = time.perf_counter(), time.process_time()
                export_jobs.build(job_id)
                seconds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                statements = counter.count - before
            finally:
                exports.queries.at_risk = real  # type: ignore[assignment]
            done = db.session.get(ExportJob, job_id)
            assert done.status.value == "ready", (done.status, done.error)
            progress = f"{done.status.value}, {done.done}/{done.total} sheets"
            db.session.remove()
    return seconds, cpu, statements, progress


def _print_header() -> None:
    print("\nmedian and fastest of the runs (wall clock), median CPU time of this process;")
    print("SQL: statements in one run")
    header = (
        f"{'case':<24} {'scope':<11} {'lots':>7} {'median s':>9} {'min s':>7} {'cpu s':>7} "
        f"{'SQL':>6}  note"
    )
    print(header)
    print("-" * len(header))


def _print(t: Timing) -> None:
    """One line of the table."""
    if not t.seconds:
        print(
            f"{t.case:<24} {t.who:<11} {t.lots:>7,} {'-':>9} {'-':>7} {'-':>7} {'-':>6}  {t.note}"
        )
        return
    print(
        f"{t.case:<24} {t.who:<11} {t.lots:>7,} {t.median:>9.3f} {min(t.seconds):>7.3f} "
        f"{statistics.median(t.cpu):>7.3f} {t.statements:>6,}  {t.note}",
        flush=True,
    )


def profile(app: Flask, officials: list[Official], who: str) -> None:
    """cProfile `at_risk(scope)` and GET /monitor/at-risk for one official (top 25 cumulative)."""
    o = next(o for o in officials if o.label == who)
    with app.app_context():
        profiler = cProfile.Profile()
        profiler.enable()
        monitor.at_risk(o.scope)
        profiler.disable()
        db.session.remove()
    print(f"\nat_risk({o.scope.name or 'everywhere'}): top 25 by cumulative time")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    client = logged_in(app, o.login)
    profiler = cProfile.Profile()
    profiler.enable()
    client.get("/monitor/at-risk")
    profiler.disable()
    print(f"\nGET /monitor/at-risk as {o.login}: top 25 by cumulative time")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    print("by own time")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lots", type=int, default=10_000, help="open lots (default 10000)")
    parser.add_argument("--demands", type=int, default=5_000, help="demands (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case (default 3)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument(
        "--old-limit",
        type=float,
        default=60.0,
        help="skip the old way on a scope where one run would take longer (default 60 s)",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="province",
        choices=("everywhere", "province", "county"),
        help="cProfile one scope's query and page instead of the table (default: province)",
    )
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
