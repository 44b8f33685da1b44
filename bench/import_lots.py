"""Benchmark: import N realistic lots from a CSV into a fresh database, timed by phase.

    .venv/bin/python bench/import_lots.py                 # 10,000 lots, temporary SQLite file
    .venv/bin/python bench/import_lots.py --n 2000
    .venv/bin/python bench/import_lots.py --database-url postgresql://user@127.0.0.1/pm_bench

The lots spread over most of the catalogue's commodities, about 30 counties from the regions
data and a few hundred cooperatives, none registered yet (so the import creates them, as when an
official brings in a village survey). The import runs as the command line does (no user):
read and check, then create and commit once.

A --database-url database is migrated and written to: give it an empty database of its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from produce_match import create_app  # noqa: E402
from produce_match.dates import local_today  # noqa: E402

DATA = ROOT / "produce_match" / "catalog" / "data"
HEADER = [
    "合作社",
    "品类",
    "品种",
    "等级",
    "数量",
    "单位",
    "价格",
    "计价单位",
    "省",
    "县",
    "乡镇",
    "村",
    "可供日期",
    "最迟销售日期",
    "储存条件",
    "联系人",
    "电话",
]
GRADES = ["", "一等", "二等", "特级", "统货"]
VILLAGES = [
    "道亭",
    "新民",
    "红旗",
    "东升",
    "前进",
    "胜利",
    "永安",
    "太平",
    "长兴",
    "和平",
    "双河",
    "三合",
    "富民",
    "兴隆",
    "柳树",
    "杨树",
    "榆树",
    "石桥",
    "高台",
    "南岗",
]
STORAGE = ["", "冷库", "干燥仓库", "地窖", "常温", "通风库"]
#: a plausible price in yuan per jin, by category (the bench only needs realistic spreads)
PRICE_PER_JIN = {
    "grain": (0.9, 2.0),
    "bean": (2.5, 6.0),
    "vegetable": (0.3, 3.0),
    "fruit": (1.5, 15.0),
    "nut": (8.0, 40.0),
    "mushroom": (3.0, 30.0),
    "egg": (3.5, 8.0),
    "honey": (20.0, 80.0),
    "tea": (30.0, 300.0),
    "herb": (10.0, 200.0),
    "oilseed": (2.5, 8.0),
    "spice": (10.0, 40.0),
    "other": (1.0, 10.0),
}
UNIT_ZH = {"jin": "斤", "kg": "公斤", "t": "吨"}
JIN_PER = {"jin": 1, "kg": 2, "t": 2000}


def counties(rng: random.Random, how_many: int) -> list[tuple[str, str]]:
    """(province short name, county name) of counties whose name is unique in their province."""
    with (DATA / "regions.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    provinces = {r["code"]: r["short_name"] or r["name"] for r in rows if r["level"] == "province"}
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["level"] == "county":
            key = (r["code"][:2] + "0000", r["name"])
            seen[key] = seen.get(key, 0) + 1
    unique = [(provinces[p], name) for (p, name), n in seen.items() if n == 1 and p in provinces]
    return rng.sample(sorted(unique), how_many)


def generate(path: Path, n: int, seed: int = 2020) -> int:
    """Write `n` lots to a CSV with Chinese headers; returns the number of cooperatives."""
    rng = random.Random(seed)
    catalogue = [
        c
        for c in json.loads((DATA / "commodities.json").read_text("utf-8"))
        if c.get("active", True)
    ]
    places = counties(rng, 30)
    coops = []
    for i in range(300):
        province, county = places[i % len(places)]
        village = VILLAGES[(i // len(places)) % len(VILLAGES)]
        coops.append((f"{county}{village}村第{i + 1}专业合作社", province, county, village))
    today = local_today()
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for _ in range(n):
            name, province, county, village = rng.choice(coops)
            c = rng.choice(catalogue)
            unit = c["unit"]
            quantity = rng.randint(1, 200) if unit == "t" else rng.randint(50, 50_000)
            low, high = PRICE_PER_JIN.get(c["category"], (1.0, 10.0))
            price_unit = rng.choice(["jin", "kg", "t"]) if unit != "t" else "t"
            price = round(rng.uniform(low, high) * JIN_PER[price_unit], 2)
            shelf = max(1, min(c["shelf_life_days"], 365))
            spoil_by = (
                ""
                if rng.random() < 0.3
                else (today + timedelta(days=rng.randint(1, shelf))).isoformat()
            )
            writer.writerow(
                [
                    name,
                    c["name_zh"],
                    "",
                    rng.choice(GRADES),
                    quantity,
                    UNIT_ZH[unit],
                    f"{price:.2f}",
                    UNIT_ZH[price_unit],
                    province,
                    county,
                    "",
                    f"{village}村",
                    today.isoformat(),
                    spoil_by,
                    rng.choice(STORAGE),
                    "",
                    "",
                ]
            )
    return len(coops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="lots to import (default 10000)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "lots.csv"
        cooperatives = generate(csv_path, args.n)
        size = csv_path.stat().st_size
        url = args.database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
        started = time.perf_counter()
        app = create_app(
            {
                "DATABASE_URL": url,
                "AUTO_SETUP": True,
                "LOAD_DEMO": False,
                "INSTANCE_PATH": str(folder),
                "SECRET_KEY": "bench-secret-key",
                "UPLOAD_DIR": str(folder / "uploads"),
                "SEARCH_INDEX_DIR": str(folder / "index"),
            }
        )
        setup = time.perf_counter() - started

        from sqlalchemy import func, select

        from produce_match.extensions import db
        from produce_match.lots import imports
        from produce_match.lots.models import Lot

        with app.app_context():
            before = db.session.scalar(select(func.count()).select_from(Lot))
            t0 = time.perf_counter()
            rows = imports.read_file(csv_path.name, csv_path.read_bytes())
            t1 = time.perf_counter()
            report = imports.check(rows, None)
            t2 = time.perf_counter()
            if report.errors:
                for error in report.errors[:20]:
                    print(error, file=sys.stderr)
                raise SystemExit(f"{len(report.errors)} errors in the generated file")
            count = imports.apply(report, None)
            t3 = time.perf_counter()
            db.session.commit()
            t4 = time.perf_counter()
            after = db.session.scalar(select(func.count()).select_from(Lot))
            dialect = db.engine.dialect.name
            server = ".".join(str(v) for v in db.engine.dialect.server_version_info or ())
            db.session.remove()
            db.engine.dispose()
        assert after - before == count == args.n, (before, after, count)

    total = t4 - t0
    print(
        f"machine   {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"database  {dialect} {server}")
    print(f"input     {args.n} lots, {cooperatives} new cooperatives, a CSV of {size:,} bytes")
    print(f"setup     {setup:7.2f} s  (migrations, regions, catalogue; not counted)")
    print(f"read      {t1 - t0:7.2f} s")
    print(f"check     {t2 - t1:7.2f} s")
    print(f"import    {t3 - t2:7.2f} s  (cooperatives and lots created, flushed)")
    print(f"commit    {t4 - t3:7.2f} s")
    print(f"total     {total:7.2f} s  read + check + import + commit: {args.n / total:,.0f} lots/s")


if __name__ == "__main__":
    main()
