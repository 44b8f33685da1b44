"""Benchmark: what checking a transport pass costs per request, as ratios to /healthz in one run.

    .venv/bin/python bench/passes.py                  # temporary SQLite file, the demo world
    .venv/bin/python bench/passes.py --rounds 200

In one process, through the app's test client (no network, no server: the cost of the code),
on the demo world, each path is asked --rounds times in turn and its CPU time per request is
reported with its ratio to /healthz's, asked in the same rounds:

* the public verification page `/v/<code>` of the demo's three passes, as anyone who scans the
  QR code opens it: one valid (approved at once by the whitelist), one waiting for approval, one
  in transit (approved, scanned out of Zhangwu and into Donghu: the timeline has two passages);
* the same page for a code that is no pass (404: what guessing codes costs);
* `GET /api/v1/passes/verify/<code>`, the same facts as JSON, for the pass in transit.

A path the app does not serve (404 where a pass's page is expected) is listed under
`not_served` and left out. Machine and Python are printed with the figures. Measure on a quiet
machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import app_config  # noqa: E402
from produce_match import create_app  # noqa: E402


def _per_request(client, path: str, rounds: int, *, status: int = 200) -> float:
    """CPU seconds per GET of `path` (which must answer `status`)."""
    spent = 0.0
    for _ in range(rounds):
        started = time.process_time()
        response = client.get(path)
        spent += time.process_time() - started
        if response.status_code != status:
            raise SystemExit(f"{path}: {response.status_code}")
    return spent / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()

    from produce_match import demo, setup
    from produce_match.accounts.models import Organisation
    from produce_match.extensions import db
    from produce_match.passes.models import TransportPass

    with tempfile.TemporaryDirectory() as folder:
        config = app_config(f"sqlite:///{folder}/bench.sqlite3", Path(folder) / "instance")
        app = create_app({**config, "TESTING": True})
        with app.app_context():
            setup.initialise(demo=False)
            demo.load()
            db.session.commit()
            codes = dict(
                db.session.execute(
                    db.select(Organisation.name, TransportPass.code).join(
                        Organisation, Organisation.id == TransportPass.applicant_org_id
                    )
                ).all()
            )
        client = app.test_client()
        valid = codes["彰武顺达物流有限公司"]
        waiting = codes["彰武县道亭村黑豆种植专业合作社"]
        moving = codes["江西南昌粮油批发有限公司"]
        paths = {
            "/healthz": {"path": "/healthz"},
            "/v/<code> valid": {"path": f"/v/{valid}"},
            "/v/<code> waiting": {"path": f"/v/{waiting}"},
            "/v/<code> in transit (2 passages)": {"path": f"/v/{moving}"},
            "/v/<code> no such pass (404)": {"path": "/v/NoSuchPass0000", "status": 404},
            "/api/v1/passes/verify/<code> in transit": {"path": f"/api/v1/passes/verify/{moving}"},
        }
        not_served = []
        for name, spec in list(paths.items()):  # warm: templates compiled
            answered = client.get(spec["path"]).status_code
            if answered == 404 and spec.get("status", 200) != 404:
                not_served.append(name)
                del paths[name]
        if "/v/<code> valid" in not_served:  # then every /v/ answers the site's own 404
            not_served.append("/v/<code> no such pass (404)")
            del paths["/v/<code> no such pass (404)"]
        figures = {}
        for name, spec in paths.items():
            figures[name] = _per_request(
                client, spec["path"], args.rounds, status=spec.get("status", 200)
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
                "not_served": not_served,
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
