"""Benchmark: photo uploads at their worst, against gunicorn, while /healthz is polled.

    .venv/bin/python bench/photos.py                                 # temporary SQLite file
    .venv/bin/python bench/photos.py --database-url postgresql://postgres@127.0.0.1/pm_photos
    .venv/bin/python bench/photos.py --clients 4 --rounds 3

gunicorn runs with the project's gunicorn.conf.py and as many workers as it would choose on this
machine. --clients cooperatives (4) each post --rounds lots through the lot form, every one with
six photos in the one request, all at the same time, while another thread asks for /healthz every
0.2 s. Two sets of six photos are sent, each for every round:

* "issue": six PNGs of 6324 x 6324 (113 KiB each), the photos of the report that killed every
  worker: now refused from their headers;
* "accepted": the costliest photos still accepted, one of each kind at its limit: a baseline JPEG
  of 8192 x 6144, a progressive JPEG, a PNG (with transparency), a WebP and a GIF of
  4096 x 3072, and a JPEG turned by its EXIF orientation.

Reported: the requests' statuses and latencies, the slowest /healthz answer, and whether any
worker was killed or restarted (worker pids before and after, and the log). The upload limits per
account and address are raised for the run: they are not what is measured. Exit status 1 if a
worker died, a request failed with 5xx, or /healthz took a second or more.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import Gunicorn, app_config, report_head  # noqa: E402
from produce_match import create_app  # noqa: E402

PASSWORD = "bench-password-42"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A smooth image: small files (as a bomb is), but every pixel must still be decoded."""
    ramp = Image.linear_gradient("L").resize(size, Image.Resampling.NEAREST)
    image = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM), ramp))
    if mode == "RGBA":
        image.putalpha(ramp.transpose(Image.Transpose.TRANSPOSE).resize(size))
    return image


def issue_photos() -> list[tuple[str, bytes]]:
    """Six PNGs of 6324 x 6324, as in the report."""
    data = _encode(_gradient((6324, 6324)), "PNG", optimize=False)
    return [(f"issue-{n}.png", data) for n in range(6)]


def accepted_photos() -> list[tuple[str, bytes]]:
    """The costliest photo of each kind that is still accepted, six in all."""
    whole = (4096, 3072)  # lots/photos.py: MAX_PIXELS, for what is decoded whole
    jpeg_size = (8192, 6144)  # MAX_JPEG_PIXELS, for a baseline JPEG
    turned = Image.Exif()
    turned[0x0112] = 6  # the camera was held upright
    return [
        ("baseline.jpg", _encode(_gradient(jpeg_size), "JPEG", quality=90)),
        ("progressive.jpg", _encode(_gradient(whole), "JPEG", progressive=True)),
        ("alpha.png", _encode(_gradient(whole, "RGBA"), "PNG")),
        ("photo.webp", _encode(_gradient(whole), "WEBP", quality=80)),
        ("photo.gif", _encode(_gradient(whole).convert("P"), "GIF")),
        ("turned.jpg", _encode(_gradient(jpeg_size), "JPEG", quality=90, exif=turned)),
    ]


def prepare(config: dict, clients: int) -> list[str]:
    """The database, and one cooperative per client; their logins."""
    from sqlalchemy import select

    from produce_match import setup
    from produce_match.accounts import operations as accounts
    from produce_match.accounts.models import Role, User
    from produce_match.extensions import db

    app = create_app(config)
    logins = [f"coop{n}" for n in range(clients)]
    with app.app_context():
        setup.initialise(demo=False)
        known = set(db.session.scalars(select(User.login).where(User.login.in_(logins))))
        for login in sorted(set(logins) - known):  # a database of an earlier run keeps them
            accounts.create_user(
                login=login,
                password=PASSWORD,
                role=Role.cooperative,
                org_name=f"{login}合作社",
                name=login,
                place=accounts.PlaceInput(province="辽宁", county="彰武"),
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return logins


def logged_in(url: str, login: str) -> requests.Session:
    session = requests.Session()
    token = _CSRF.search(session.get(f"{url}/login").text).group(1)
    response = session.post(
        f"{url}/login",
        data={"login": login, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def post_lot(url: str, session: requests.Session, photos: list[tuple[str, bytes]]) -> int:
    token = _CSRF.search(session.get(f"{url}/lots/new").text).group(1)
    fields = {
        "commodity": "黑豆",
        "quantity": "40",
        "unit": "t",
        "price": "6.80",
        "price_unit": "kg",
        "csrf_token": token,
    }
    files = [("photos", (name, data)) for name, data in photos]
    response = session.post(f"{url}/lots/new", data=fields, files=files, allow_redirects=False)
    return response.status_code


def scenario(
    server: Gunicorn, logins: list[str], photos: list[tuple[str, bytes]], rounds: int
) -> dict:
    sessions = [logged_in(server.url, login) for login in logins]
    before = sorted(server.worker_pids())
    results: list[tuple[int, float]] = []
    health: list[float] = []
    health_errors: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def upload(session: requests.Session) -> None:
        for _ in range(rounds):
            started = time.perf_counter()
            try:
                status = post_lot(server.url, session, photos)
            except requests.RequestException as exc:  # a worker killed mid-request
                status = 599
                print(f"request failed: {exc}", file=sys.stderr)
            with lock:
                results.append((status, time.perf_counter() - started))

    def poll() -> None:
        while not done.is_set():
            started = time.perf_counter()
            try:
                ok = requests.get(f"{server.url}/healthz", timeout=10).ok
                if not ok:
                    health_errors.append("not ok")
            except requests.RequestException as exc:
                health_errors.append(repr(exc))
            health.append(time.perf_counter() - started)
            time.sleep(0.2)

    poller = threading.Thread(target=poll)
    poller.start()
    threads = [threading.Thread(target=upload, args=(s,)) for s in sessions]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    done.set()
    poller.join()
    after = sorted(server.worker_pids())
    latencies = sorted(seconds for _status, seconds in results)
    statuses: dict[str, int] = {}
    for status, _seconds in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(results),
        "photos_per_request": len(photos),
        "request_bytes": sum(len(d) for _n, d in photos),
        "statuses": statuses,
        "request_p50_s": round(statistics.median(latencies), 2),
        "request_max_s": round(latencies[-1], 2),
        "wall_s": round(wall, 1),
        "healthz_polls": len(health),
        "healthz_max_s": round(max(health), 3),
        "healthz_p50_s": round(statistics.median(health), 3),
        "healthz_errors": health_errors,
        "workers_replaced": sorted(set(before) - set(after)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2 * (os.cpu_count() or 1) + 1, 12),
        help="default: what gunicorn.conf.py chooses on this machine",
    )
    args = parser.parse_args()

    sets = {"issue": issue_photos(), "accepted": accepted_photos()}
    with tempfile.TemporaryDirectory(prefix="pm-bench-photos-") as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        url = args.database_url or f"sqlite:///{instance / 'photos.sqlite3'}"
        config = {
            **app_config(url, instance),
            "PHOTO_UPLOAD_LIMIT": 100_000,
            "PHOTO_IP_UPLOAD_LIMIT": 100_000,
        }
        logins = prepare(config, args.clients)
        log = Path(tmp) / "gunicorn.log"
        with Gunicorn(config, workers=args.workers, log=log) as server:
            runs = {
                name: scenario(server, logins, photos, args.rounds) for name, photos in sets.items()
            }
        deaths = ("WORKER TIMEOUT", "was sent SIGKILL", "Perhaps out of memory")
        killed = [line for line in log.read_text().splitlines() if any(d in line for d in deaths)]
    report = {
        **report_head(url, args.workers, args.clients),
        "rounds": args.rounds,
        "runs": runs,
        "worker_deaths_in_log": killed,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    bad = killed or any(
        run["workers_replaced"]
        or run["healthz_errors"]
        or run["healthz_max_s"] >= 1
        or any(status.startswith("5") for status in run["statuses"])
        for run in runs.values()
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
