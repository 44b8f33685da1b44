"""A crawl of the site as every role sees it: each page reachable by following links, and every
page without arguments, is fetched and checked for what no page may have: nested forms (which
browsers silently unnest: a button then belongs to another form, or to none), and a photo field
that does not offer the phone's camera."""

from __future__ import annotations

import time
from collections import Counter, deque
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest
import sqlalchemy as sa
from flask import current_app, g, has_request_context, request

from produce_match.demands.models import Demand
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.monitor.models import ExportJob
from produce_match.orders import operations as orders
from produce_match.orders.models import Order
from produce_match.search.service import service
from tests.conftest import PG_URL, login
from tests.factories import PASSWORD, jpeg_bytes, make_demand, make_lot

#: how many pages of one endpoint are enough to know its template (with different data)
PER_ENDPOINT = 3
#: a bound on one role's crawl, far above what the site has
MOST_PAGES = 400
#: what a crawl does not follow: files, the API, and links that only change the list's order
SKIP_PREFIXES = ("/static/", "/media/", "/api/")


class _PageParser(HTMLParser):
    """Finds a <form> opened inside another one (html.parser keeps what the markup says), photo
    fields without `accept="image/*"`, and the page's links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.nested: list[int] = []
        self.links: list[str] = []
        self.photo_inputs_without_camera: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            if self.depth:
                self.nested.append(self.getpos()[0])
            self.depth += 1
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif (
            tag == "input"
            and a.get("type") == "file"
            and "photo" in (a.get("name") or "")
            and "image/*" not in (a.get("accept") or "")
        ):
            self.photo_inputs_without_camera.append(a.get("name") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.depth:
            self.depth -= 1


def parse(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser


def nested_forms(html: str) -> list[int]:
    """The lines where a form opens inside another form."""
    return parse(html).nested


def test_the_checker_finds_a_nested_form():
    assert nested_forms("<form><p><form></form></p></form>") == [1]
    assert nested_forms("<form></form>\n<form></form>") == []


def _static_pages(app: Any) -> list[str]:
    """Every page that takes no argument in its URL (menus may not link them all)."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(SKIP_PREFIXES)
    )


def _endpoint(app: Any, path: str) -> str:
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path, method="GET")
    except Exception:  # not ours, or not a GET page: not followed
        return ""
    return str(endpoint)


def crawl(app: Any, client: Any) -> dict[str, Any]:
    """Fetch every page reachable from the home page and the argument-free pages."""
    seen: set[str] = set()
    per_endpoint: Counter[str] = Counter()
    queue = deque(["/", *_static_pages(app)])
    pages: dict[str, Any] = {}
    while queue and len(pages) < MOST_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        endpoint = _endpoint(app, urlsplit(url).path)
        if not endpoint or per_endpoint[endpoint] >= PER_ENDPOINT:
            continue
        per_endpoint[endpoint] += 1
        response = client.get(url, headers={"Accept-Language": "zh-CN"})
        pages[url] = response
        if response.mimetype != "text/html":
            continue
        for href in parse(response.get_data(as_text=True)).links:
            target = urldefrag(href).url
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if parts.path.startswith(SKIP_PREFIXES) or target in seen:
                continue
            queue.append(target)
    return pages


@pytest.fixture
def world(app, users) -> dict[str, Any]:
    """Something on every kind of page: a lot with two photos, others without (one of produce
    not in the catalogue), a demand and orders."""
    lot = make_lot(users["coop"])
    for _ in range(2):
        lots.add_photo(users["coop"], lot, jpeg_bytes(640, 480))
    make_lot(users["coop"], commodity="樱桃", quantity="800", unit="jin", price="30")
    make_lot(users["coop"], commodity="榴莲干", category="fruit")  # not in the catalogue
    make_demand(users["buyer"])
    orders.place_order(users["buyer"], lot, "1", "t")
    orders.accept(users["coop"], orders.place_order(users["buyer"], lot, "2", "t"))
    db.session.commit()
    return users


@pytest.mark.parametrize(
    "role", [None, "coop", "buyer", "official", "provincial", "jiangxi", "admin"]
)
def test_every_page_of_every_role_is_well_formed(app, world, role):
    client = app.test_client()
    if role is not None:
        login(client, role, PASSWORD)
    pages = crawl(app, client)
    parsed = {
        url: parse(response.get_data(as_text=True))
        for url, response in pages.items()
        if response.mimetype == "text/html"
    }
    nested = {url: page.nested for url, page in parsed.items() if page.nested}
    no_camera = {
        url: page.photo_inputs_without_camera
        for url, page in parsed.items()
        if page.photo_inputs_without_camera
    }
    failed = {url: r.status_code for url, r in pages.items() if r.status_code >= 500}
    assert len(pages) > 5
    assert nested == {}, f"forms inside forms (url: lines): {nested}"
    assert no_camera == {}, f"photo fields that do not offer the camera: {no_camera}"
    assert failed == {}


# --- GET never writes -------------------------------------------------------------------------
# Every row PostgreSQL inserted, updated or deleted (committed or not) counts in
# pg_stat_user_tables. A backend reports its counts when it exits, so the app's connections
# are closed, and their backends gone, before each reading.


def _api_urls(app: Any, world: dict[str, Any]) -> list[str]:
    """Every API GET whose arguments the world can fill (the crawl does not follow /api/)."""
    ids = {
        "lot_id": db.session.scalars(sa.select(Lot.id)).first(),
        "order_id": db.session.scalars(sa.select(Order.id)).first(),
        "demand_id": db.session.scalars(sa.select(Demand.id)).first(),
        "job_id": db.session.scalars(sa.select(ExportJob.id)).first(),
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or "GET" not in rule.methods:
            continue
        if all(ids.get(name) is not None for name in rule.arguments):
            urls.append(rule.build({name: ids[name] for name in rule.arguments})[1])
    return sorted(urls)


@pytest.fixture
def fuller_world(world: dict[str, Any]) -> dict[str, Any]:
    """The crawl's world, and what its links do not reach: a payment by bank transfer, a
    proposal and a problem in the ledger, a built export, with their pages."""
    from produce_match.matching import proposals
    from produce_match.monitor import export_jobs
    from produce_match.monitor import operations as monitor
    from produce_match.payments import operations as payments
    from produce_match.payments import service

    lot = db.session.scalars(sa.select(Lot).order_by(Lot.id)).first()
    demand = db.session.scalars(sa.select(Demand)).first()
    accepted = db.session.scalars(sa.select(Order).where(Order.status != "reserved")).one()
    payments.save_payout_account(
        world["coop"], world["coop"].organisation_id, "道亭村合作社", "彰武农商行", "6228 4800"
    )
    payment = service.create_payment(world["buyer"], accepted, "transfer")
    proposal = proposals.propose(world["official"], lot, demand, 10_000)
    problem = monitor.raise_problem(
        world["coop"], world["coop"].organisation, "no_buyer", "黑豆没人要", lot=lot
    )
    db.session.commit()
    # the official's report, built by the (immediate) worker once this commits
    job = export_jobs.request_export(world["official"], "report", "xlsx", {}, "zh")
    db.session.commit()
    adapter = current_app.url_map.bind("localhost")
    world["extra_urls"] = [
        adapter.build(endpoint, values)
        for endpoint, values in [
            ("orders.place", {"lot_id": lot.id}),
            ("payments.order_money", {"order_id": accepted.id}),
            ("payments.receipt", {"payment_id": payment.id}),
            ("payments.returned", {"payment_id": payment.id}),
            ("payments.transfer", {"payment_id": payment.id}),
            ("matching.proposal", {"proposal_id": proposal.id}),
            ("monitor.problem", {"problem_id": problem.id}),
            ("monitor.export_jobs_page", {}),
            ("monitor.export_job", {"job_id": job.id}),
            ("monitor.export_download", {"job_id": job.id}),
            ("lots.media", {"key": lot.photos[0].thumb_key}),
        ]
    ]
    return world


def _rows_written(app: Any) -> dict[str, int]:
    """Rows inserted, updated and deleted in each table of the test database so far."""
    if g.pop("search_pending", False):  # the test's own lots, indexed now (not by a page)
        service().process_queue()
    db.session.commit()
    db.session.close()
    db.engine.dispose()  # the backends exit, reporting their counts
    with db.engine.connect() as conn:
        for _ in range(200):
            others = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            if not others:
                break
            time.sleep(0.05)
        assert not others, "the app's connections did not close"
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        rows = conn.execute(
            sa.text("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables")
        ).all()
    db.engine.dispose()
    return dict(rows)


@pytest.mark.skipif(not PG_URL, reason="the write counters are PostgreSQL's")
@pytest.mark.parametrize(
    "role", [None, "coop", "buyer", "official", "provincial", "jiangxi", "admin"]
)
def test_no_page_and_no_api_get_writes_a_row(app, fuller_world, role):
    world = fuller_world
    client = app.test_client()
    headers: dict[str, str] = {}
    if role is not None:
        login(client, role, PASSWORD)
        response = client.post(
            "/api/v1/tokens", json={"login": role, "password": PASSWORD, "name": "crawl"}
        )
        assert response.status_code == 201, response.json
        headers = {"Authorization": f"Bearer {response.json['token']}"}
    # the statements that change rows while a GET is handled, to name the culprit
    WRITES = ("INSERT", "UPDATE", "DELETE")  # noqa: N806
    seen: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(" ", 1)[0].upper()
        if has_request_context() and request.method == "GET" and verb in WRITES:
            seen.append(f"{request.path}: {statement[:120]}")

    api_urls = _api_urls(app, world)
    before = _rows_written(app)
    sa.event.listen(db.engine, "before_cursor_execute", _record)
    try:
        pages = crawl(app, client)
        api = {url: client.get(url, headers=headers) for url in api_urls}
        # pages no link led to (a role may not see some: a 404 or a redirect is an answer too)
        extra = {url: client.get(url) for url in world["extra_urls"]}
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", _record)
    after = _rows_written(app)
    written = {table: n - before.get(table, 0) for table, n in after.items()}
    assert len(pages) > 5 and len(api) > 5
    assert {table: n for table, n in written.items() if n} == {}
    assert seen == []
    if role not in (None, "jiangxi"):  # the others see these pages (Jiangxi's office does not)
        assert sum(r.status_code == 200 for r in extra.values()) > 1
    answers = {**pages, **api, **extra}
    failed = {url: r.status_code for url, r in answers.items() if r.status_code >= 500}
    assert failed == {}
