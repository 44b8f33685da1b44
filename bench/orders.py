"""Benchmark: concurrent order placement against a gunicorn server on loopback.

    .venv/bin/python bench/orders.py                      # temporary SQLite file
    .venv/bin/python bench/orders.py --database-url postgresql://postgres@127.0.0.1/pm_bench
    .venv/bin/python bench/orders.py --clients 16 --orders 2000 --workers 4
    .venv/bin/python bench/orders.py --database-url postgresql://... --search-backend postgres

It builds a fresh database (migrated, reference data, one cooperative with one lot, and
--buyers buyers with API tokens), starts gunicorn with the app on a free loopback port, and has
--clients threads place --orders orders of 1-4 kg through POST /api/v1/orders as fast as the
server answers. The lot holds about half of what is asked for, so the second half of the run
is answered 409 insufficient_quantity: both answers are timed separately, and orders placed per
second are counted over the whole run and over the time until the lot sold out (the last 201).

Before the server starts, the same request is made in-process on a second lot (--probe orders):
the statements per order, the CPU time per order, and how long the lot's row is held (from the
guarded UPDATE to the COMMIT, during which every other order of the lot waits).

Afterwards it checks what matters more than speed: every order the server accepted is in the
database, the lot sold exactly what the accepted orders hold and never more, no request got
a server error, and the search index catches up with the lots once the queue is applied (the
worker's task, run here in-process). A --database-url database is migrated and written to:
give it an empty database of its own. Nothing leaves the machine: the server listens on
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from bench.server import Gunicorn, app_config, report_head  # noqa: E402
from produce_match import create_app  # noqa: E402

PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway database


def prepare(config: dict, buyers: int, stock_kg: int) -> tuple[int, int, list[str]]:
    """Migrate, load reference data, create the lot (and one for the probe), the buyers' tokens."""
    from produce_match import setup
    from produce_match.accounts import operations as accounts
    from produce_match.accounts.models import Role
    from produce_match.extensions import db
    from produce_match.lots import operations as lots

    app = create_app(config)
    with app.app_context():
        setup.initialise(demo=False)
        coop = accounts.create_user(
            login="bench-coop",
            password=PASSWORD,
            role=Role.cooperative,
            org_name="彰武县道亭村黑豆种植专业合作社",
            name="coop",
            place=accounts.PlaceInput("辽宁", "彰武"),
        )
        lot, probe = (
            lots.create_lot(
                coop,
                coop.organisation,
                lots.LotInput(
                    commodity="黑豆", quantity=str(kg), unit="kg", price="6.80", price_unit="kg"
                ),
            )
            for kg in (stock_kg, 100_000)
        )
        tokens = []
        for i in range(buyers):
            buyer = accounts.create_user(
                login=f"bench-buyer-{i}",
                password=PASSWORD,
                role=Role.buyer,
                org_name=f"采购商 {i}",
                name=f"buyer {i}",
                phone=f"1380000{i:04d}",  # the receiver's phone of its orders
                place=accounts.PlaceInput("江西", "东湖区"),
            )
            tokens.append(accounts.issue_token(buyer, "bench")[1])
        db.session.commit()
        lot_id, probe_id = lot.id, probe.id
        db.session.remove()
        db.engine.dispose()
    return lot_id, probe_id, tokens


def probe(config: dict, lot_id: int, token: str, orders: int) -> dict:
    """Place `orders` orders in-process, one at a time: statements, CPU, the row lock held."""
    from sqlalchemy import event

    from produce_match.extensions import db

    app = create_app(config)
    logging.getLogger("produce_match.requests").setLevel(logging.WARNING)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"lot_id": lot_id, "quantity": "1", "unit": "kg"}
    statements: list[str] = []
    held: list[float] = []
    taken: list[float] = []

    def on_execute(_conn, _cursor, statement: str, *_args) -> None:
        statements.append(statement)
        if statement.startswith("UPDATE lots SET remaining_g"):
            taken.append(time.perf_counter())

    def on_commit(_conn) -> None:
        if taken:
            held.append(time.perf_counter() - taken.pop())

    with app.app_context():
        engine = db.engine
    for _ in range(5):  # warm-up: caches, prepared statements
        assert client.post("/api/v1/orders", json=body, headers=headers).status_code == 201
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    cpu = time.process_time()
    for _ in range(orders):
        assert client.post("/api/v1/orders", json=body, headers=headers).status_code == 201
    cpu = time.process_time() - cpu
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)
    with app.app_context():
        db.engine.dispose()
    return {
        "orders": orders,
        "statements_per_order": round(len(statements) / orders, 1),
        "cpu_ms_per_order": round(cpu * 1000 / orders, 2),
        "row_held_ms": summary(held),
    }


def check(config: dict, lot_id: int, accepted: dict[int, int]) -> dict:
    from sqlalchemy import func, select

    from produce_match.extensions import db
    from produce_match.lots.models import Lot
    from produce_match.orders.models import Order
    from produce_match.search.service import service

    app = create_app(config)
    with app.app_context():
        applied = service().process_queue()  # what the worker does with the queue
        index_clean = service().check(repair=False).clean
        lot = db.session.get(Lot, lot_id)
        rows = {
            order_id: grams
            for order_id, grams in db.session.execute(
                select(Order.id, Order.quantity_g).where(Order.lot_id == lot_id)
            )
        }
        held = db.session.scalar(
            select(func.coalesce(func.sum(Order.quantity_g), 0)).where(Order.lot_id == lot_id)
        )
        result = {
            "posted_g": lot.quantity_g,
            "remaining_g": lot.remaining_g,
            "in_orders_g": int(held),
            "oversold_g": max(0, int(held) - lot.quantity_g),
            "conserved": lot.remaining_g + int(held) == lot.quantity_g,
            "never_negative": lot.remaining_g >= 0,
            "every_201_in_db": all(rows.get(i) == g for i, g in accepted.items()),
            "no_unacknowledged_orders": set(rows) == set(accepted),
            "index_in_step": index_clean,
        }
        result["queued_lot_changes_applied_after_the_run"] = applied
        db.session.remove()
        db.engine.dispose()
    return result


def drive(port: int, lot_id: int, tokens: list[str], clients: int, orders: int) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/orders"
    lock = threading.Lock()
    todo = iter(range(orders))
    timings: dict[int, list[float]] = {}
    accepted: dict[int, int] = {}
    other: list[str] = []
    last_placed = [0.0]

    def client(number: int) -> None:
        session = requests.Session()
        rng = random.Random(number)
        headers = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            kg = rng.randint(1, 4)
            started = time.perf_counter()
            response = session.post(
                url, json={"lot_id": lot_id, "quantity": str(kg), "unit": "kg"}, headers=headers
            )
            elapsed = time.perf_counter() - started
            with lock:
                timings.setdefault(response.status_code, []).append(elapsed)
                if response.status_code == 201:
                    accepted[response.json()["id"]] = kg * 1000
                    last_placed[0] = time.perf_counter()
                elif response.status_code != 409:
                    other.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "seconds": time.perf_counter() - started,
        "selling_seconds": last_placed[0] - started,
        "timings": timings,
        "accepted": accepted,
        "other": other,
    }


def ceiling(port: int, clients: int, requests_: int) -> float:
    """GET /healthz (no database, no template) with the same clients: the server's ceiling."""
    url = f"http://127.0.0.1:{port}/healthz"
    lock = threading.Lock()
    todo = iter(range(requests_))

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            session.get(url).raise_for_status()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return requests_ / (time.perf_counter() - started)


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--orders", type=int, default=2000, help="orders to place in all")
    parser.add_argument("--buyers", type=int, default=8)
    parser.add_argument("--search-backend", choices=("whoosh", "postgres"), default="whoosh")
    parser.add_argument("--probe", type=int, default=50, help="orders placed in-process first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pm-bench-orders-") as tmp:
        instance = Path(tmp) / "instance"
        url = args.database_url or f"sqlite:///{instance / 'bench.sqlite3'}"
        instance.mkdir()
        config = {**app_config(url, instance), "SEARCH_BACKEND": args.search_backend}
        stock_kg = int(args.orders * 2.5 / 2)  # orders are 1-4 kg, 2.5 on average: half fit
        lot_id, probe_id, tokens = prepare(config, args.buyers, stock_kg)
        in_process = probe(config, probe_id, tokens[0], args.probe)
        log = Path(tmp) / "gunicorn.log"
        with Gunicorn(config, workers=args.workers, log=log) as server:
            run = drive(server.port, lot_id, tokens, args.clients, args.orders)
            healthz = ceiling(server.port, args.clients, args.orders)
        checks = check(config, lot_id, run["accepted"])
        errors_in_log = [
            line for line in log.read_text().splitlines() if "database is locked" in line
        ]
    created = run["timings"].get(201, [])
    report = {
        **report_head(url, args.workers, args.clients),
        "search_backend": args.search_backend,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "requests": sum(len(v) for v in run["timings"].values()),
        "seconds": round(run["seconds"], 2),
        "requests_per_second": round(
            sum(len(v) for v in run["timings"].values()) / run["seconds"], 1
        ),
        "orders_placed": len(created),
        "orders_per_second": round(len(created) / run["seconds"], 1),
        "orders_per_second_until_sold_out": round(len(created) / run["selling_seconds"], 1),
        "healthz_per_second": round(healthz, 1),
        "orders_until_sold_out_as_share_of_healthz": round(
            len(created) / run["selling_seconds"] / healthz, 3
        ),
        "placed_201": summary(created),
        "refused_409": summary(run["timings"].get(409, [])),
        "other_answers": run["other"][:5],
        "database_is_locked_in_log": len(errors_in_log),
        "in_process": in_process,
        "checks": checks,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    ok = (
        all(value for value in checks.values() if isinstance(value, bool))
        and not run["other"]
        and not errors_in_log
        and checks["remaining_g"] < 4000  # the lot sold out (less than one more order is left)
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
