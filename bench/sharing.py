"""Benchmark: what reaching buyers costs per request, as ratios to /healthz in one run.

    .venv/bin/python bench/sharing.py                 # temporary SQLite file, the demo world
    .venv/bin/python bench/sharing.py --rounds 200

In one process, through the app's test client (no network, no server: the cost of the code),
on the demo world, each path is asked --rounds times in turn and its CPU time per request is
reported with its ratio to /healthz's, asked in the same rounds:

* the lot page a visitor opens from a shared link, and the short link's redirect itself (which
  only enqueues the visit: the tests' immediate queue records it in the same request here, so the
  figure includes the worker's part);
* a poster drawn (the page cache cleared before every request) and a poster kept;
* a county shop, the JSON Feed and the Atom feed, as visitors and feed readers ask for them.

Machine and Python are printed with the figures. Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import app_config  # noqa: E402
from produce_match import create_app  # noqa: E402


def _per_request(client, path: str, rounds: int, *, before=None, headers=None) -> float:
    """CPU seconds per GET of `path` (`before` runs untimed before each request)."""
    spent = 0.0
    for _ in range(rounds):
        if before is not None:
            before()
        started = time.process_time()
        response = client.get(path, headers=headers or {})
        spent += time.process_time() - started
        if response.status_code >= 400:
            raise SystemExit(f"{path}: {response.status_code}")
    return spent / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()

    from produce_match import demo, setup
    from produce_match.cache import bump
    from produce_match.extensions import db
    from produce_match.lots.models import Lot
    from produce_match.search.service import service

    with tempfile.TemporaryDirectory() as folder:
        config = app_config(f"sqlite:///{folder}/bench.sqlite3", Path(folder) / "instance")
        app = create_app({**config, "TESTING": True})
        with app.app_context():
            setup.initialise(demo=False)
            demo.load()
            db.session.commit()
            service().process_queue()
            lot_id = db.session.scalar(
                db.select(Lot.id).where(Lot.title == "彰武道亭村黑豆 40吨 急售")
            )
        client = app.test_client()
        kit = client.get(f"/lots/{lot_id}/share?channel=wechat_group").get_data(as_text=True)
        short = re.search(r"/s/\w+", kit).group()
        office = re.search(
            r'href="/shops/(\d+)"', client.get(f"/lots/{lot_id}").get_data(as_text=True)
        )
        shop = f"/shops/{office.group(1)}"
        poster = f"/lots/{lot_id}/poster.png?channel=wechat_group"
        browser = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) Mobile"}

        def forget_pages() -> None:
            with app.app_context():
                bump()

        paths = {
            "/healthz": {},
            f"/lots/{lot_id} (visitor)": {"path": f"/lots/{lot_id}"},
            "/s/<code> (redirect, visit recorded)": {"path": short, "headers": browser},
            "poster drawn": {"path": poster, "before": forget_pages},
            "poster kept": {"path": poster},
            f"{shop} (visitor)": {"path": shop},
            "/feeds/lots.json": {"path": "/feeds/lots.json"},
            "/feeds/lots.atom": {"path": "/feeds/lots.atom"},
        }
        for spec in paths.values():  # warm: templates compiled, pages kept
            client.get(spec.get("path", "/healthz"))
        figures = {}
        for name, spec in paths.items():
            figures[name] = _per_request(
                client,
                spec.get("path", "/healthz"),
                args.rounds if "drawn" not in name else max(5, args.rounds // 10),
                before=spec.get("before"),
                headers=spec.get("headers"),
            )
    base = figures["/healthz"]
    print(
        json.dumps(
            {
                "machine": f"{platform.system()} {platform.machine()}, Python "
                f"{platform.python_version()}",
                "rounds": args.rounds,
                "cpu_ms_per_request": {k: round(v * 1000, 2) for k, v in figures.items()},
                "ratio_to_healthz": {k: round(v / base, 1) for k, v in figures.items()},
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
