"""Pages kept rendered for visitors who are not logged in (web/pagecache.py, cache.py): served
from the cache when nothing changed, never stale after a commit, never to a logged-in user."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from produce_match import cache
from produce_match.accounts.models import User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.orders import operations as orders
from produce_match.orders import queries as order_queries
from produce_match.orders.models import RESERVATION_HOLD
from tests.conftest import login
from tests.factories import PASSWORD, make_lot

EN = {"Accept-Language": "en"}
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def lot(users) -> Lot:
    return make_lot(users["coop"], quantity="40", unit="t", price="6.80", price_unit="kg")


@pytest.fixture
def queries(app):
    """Counts the statements the app's engine runs."""
    counter = {"n": 0}

    def one(*_args):
        counter["n"] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", one)
    yield counter
    event.remove(engine, "before_cursor_execute", one)


def pages(lot: Lot) -> list[str]:
    return ["/", f"/lots/{lot.id}", "/lots?q=黑豆"]


def without_tokens(html: str) -> str:
    return _TOKEN.sub("", html)


def test_a_second_visitor_gets_the_kept_page_without_a_query(app, lot, queries, monkeypatch):
    now = utcnow()  # one quarter of an hour throughout (a new one makes the pages again)
    monkeypatch.setattr("produce_match.web.pagecache.utcnow", lambda: now)
    for path in pages(lot):
        first = app.test_client().get(path, headers=EN)
        assert first.status_code == 200
        queries["n"] = 0
        second = app.test_client().get(path, headers=EN)
        assert second.status_code == 200 and queries["n"] == 0, path
        # the same page, with the visitor's own CSRF token
        assert without_tokens(second.text) == without_tokens(first.text)
        assert _TOKEN.search(second.text) is not None
        assert "\x00" not in second.text


def test_an_order_shows_at_once_on_every_kept_page(app, lot, users):
    visitor = app.test_client()
    for path in pages(lot):
        assert "40 t left" in visitor.get(path, headers=EN).text, path
    orders.place_order(users["buyer"], lot, "10", "t")
    db.session.commit()
    for path in pages(lot):
        html = visitor.get(path, headers=EN).text
        assert "30 t left" in html and "40 t left" not in html, path


def test_an_order_through_the_api_shows_at_once(app, lot, users):
    from produce_match.accounts import operations as accounts

    token = accounts.issue_token(users["buyer"], "test")[1]
    db.session.commit()
    visitor = app.test_client()
    assert "40 t left" in visitor.get(f"/lots/{lot.id}", headers=EN).text
    placed = app.test_client().post(
        "/api/v1/orders",
        json={"lot_id": lot.id, "quantity": "5", "unit": "t"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert placed.status_code == 201, placed.text
    assert "35 t left" in visitor.get(f"/lots/{lot.id}", headers=EN).text
    assert "35 t left" in visitor.get("/", headers=EN).text


def test_an_edit_of_the_lot_or_the_catalogue_shows_at_once(app, lot, users):
    from produce_match.catalog.models import Commodity

    visitor = app.test_client()
    assert "Black soybeans from Zhangwu" not in visitor.get(f"/lots/{lot.id}", headers=EN).text
    assert "Black soybeans from Zhangwu" not in visitor.get("/", headers=EN).text
    edit = lots.LotInput(
        commodity="黑豆",
        quantity="40",
        unit="t",
        price="6.80",
        price_unit="kg",
        title="Black soybeans from Zhangwu",
    )
    lots.update_lot(users["coop"], db.session.get(Lot, lot.id), edit)
    db.session.commit()
    assert "Black soybeans from Zhangwu" in visitor.get(f"/lots/{lot.id}", headers=EN).text
    assert "Black soybeans from Zhangwu" in visitor.get("/", headers=EN).text
    commodity = db.session.get(Commodity, lot.commodity_id)
    commodity.name_en = "Night beans"
    db.session.commit()
    assert "Night beans" in visitor.get(f"/lots/{lot.id}", headers=EN).text


def test_a_rolled_back_change_keeps_the_generation(app, lot):
    before = cache.generation()
    db.session.get(Lot, lot.id).title = "never stored"
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert cache.generation() == before
    db.session.get(Lot, lot.id).title = "stored"
    db.session.commit()
    assert cache.generation() != before


def test_a_logged_in_user_never_gets_the_visitors_page(app, lot, users):
    for path in pages(lot):
        assert "Log in" in app.test_client().get(path, headers=EN).text  # kept now
    buyer = app.test_client()
    login(buyer, "buyer", PASSWORD)
    for path in pages(lot):
        html = buyer.get(path, headers=EN).text
        assert "Log out" in html and "My orders" in html and ">Log in<" not in html, path
    # the buyer's own token works for the buyer's own forms (the header's language switch)
    token = _TOKEN.search(buyer.get("/", headers=EN).text).group(1)
    switched = buyer.post("/language", data={"lang": "zh", "next": "/", "csrf_token": token})
    assert switched.status_code == 302
    # and a visitor after the buyer still gets a visitor's page
    assert "Log out" not in app.test_client().get("/", headers=EN).text


def test_each_visitor_gets_a_token_of_their_own_session(app, lot):
    first, second = app.test_client(), app.test_client()
    first.get("/", headers=EN)
    html = second.get("/", headers=EN).text  # from the cache
    token = _TOKEN.search(html).group(1)
    response = second.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
    assert response.status_code == 302
    # somebody else's token is refused, as before
    other = _TOKEN.search(first.get("/", headers=EN).text).group(1)
    third = app.test_client()
    third.get("/", headers=EN)
    refused = third.post("/language", data={"lang": "en", "next": "/", "csrf_token": other})
    assert refused.status_code == 400


def test_a_visitor_with_a_message_waiting_sees_it_and_nobody_else_does(app, lot):
    app.test_client().get("/", headers=EN)  # kept
    client = app.test_client()
    client.get("/", headers=EN)
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "A message for this visitor only")]
    assert "A message for this visitor only" in client.get("/", headers=EN).text
    assert "A message for this visitor only" not in app.test_client().get("/", headers=EN).text


def test_each_language_is_kept_apart(app, lot):
    visitor = app.test_client()
    assert '<html lang="en">' in visitor.get("/", headers=EN).text
    assert '<html lang="zh-CN">' in visitor.get("/", headers={"Accept-Language": "zh"}).text
    assert '<html lang="en">' in visitor.get("/", headers=EN).text
    visitor.set_cookie("pm_lang", "zh")
    assert '<html lang="zh-CN">' in visitor.get(f"/lots/{lot.id}", headers=EN).text


def test_a_lapsing_reservation_ends_the_kept_lot_page(app, lot, users, monkeypatch):
    order = orders.place_order(users["buyer"], lot, "10", "t")
    db.session.commit()
    assert order_queries.next_lapse(db.session.get(Lot, lot.id)) == order.reserved_until
    visitor = app.test_client()
    assert "30 t left" in visitor.get(f"/lots/{lot.id}", headers=EN).text
    later = utcnow() + RESERVATION_HOLD + timedelta(seconds=1)
    monkeypatch.setattr("produce_match.orders.queries.utcnow", lambda: later)
    monkeypatch.setattr("produce_match.orders.models.utcnow", lambda: later)
    monkeypatch.setattr("produce_match.web.pagecache.utcnow", lambda: later)
    # nothing was written: the kept copy ends by itself when the reservation lapses
    assert "40 t left" in visitor.get(f"/lots/{lot.id}", headers=EN).text
    assert order_queries.next_lapse(db.session.get(Lot, lot.id), later) is None


def test_an_order_in_another_process_shows_at_once(app, lot, users, database_url, app_factory):
    """Two apps on one node (two gunicorn workers) share the kept pages and the generation
    (files in the instance folder): a commit in one moves the generation on for both."""
    other = app_factory(database_url, "instance", SEARCH_BACKEND=app.config["SEARCH_BACKEND"])
    assert other.instance_path == app.instance_path  # one node
    visitor = other.test_client()
    assert "40 t left" in visitor.get(f"/lots/{lot.id}", headers=EN).text
    orders.place_order(users["buyer"], lot, "10", "t")  # committed by this app
    db.session.commit()
    html = visitor.get(f"/lots/{lot.id}", headers=EN).text
    assert "30 t left" in html and "40 t left" not in html


def test_the_generation_file_starts_again_when_it_grows(app, monkeypatch):
    store = app.extensions["pm_cache_generation"]
    monkeypatch.setattr("produce_match.cache._MAX_FILE", 3)
    seen = set()
    for _ in range(8):
        store.bump()
        seen.add(store.read())
    assert len(seen) == 8
    assert store.path.stat().st_size <= 3 + 17


def test_check_deploy_asks_for_redis_for_several_nodes(app):
    from produce_match.deploy import problems

    assert any("CACHE_REDIS_URL" in p for p in problems(workers=4, nodes=2, tls_in_gunicorn=True))
    one = problems(workers=4, nodes=1, tls_in_gunicorn=True)
    assert not any("CACHE_REDIS_URL" in p for p in one)


def test_redis_is_used_when_configured(tmp_path):
    from produce_match import ConfigError
    from produce_match.config import build_config

    def kind(**over: str) -> str:
        return build_config(str(tmp_path), over, environ={})["CACHE_TYPE"]

    assert kind(CACHE_REDIS_URL="redis://127.0.0.1:6379/11") == "RedisCache"
    assert kind(QUEUE_URL="redis://127.0.0.1:6379/11") == "RedisCache"
    assert kind() == "FileSystemCache"
    with pytest.raises(ConfigError):
        kind(CACHE_REDIS_URL="memcached://127.0.0.1")


def test_the_home_pages_shared_list_follows_an_order_for_logged_in_users_too(app, lot, users):
    buyer = app.test_client()
    login(buyer, "buyer", PASSWORD)
    assert "40 t left" in buyer.get("/", headers=EN).text
    assert "40 t left" in app.test_client().get("/", headers=EN).text
    orders.place_order(users["buyer"], lot, "10", "t")
    db.session.commit()
    html = buyer.get("/", headers=EN).text
    assert "30 t left" in html and "40 t left" not in html and "Log out" in html


def test_on_redis_two_nodes_share_the_generation(app, lot, users, app_factory, database_url):
    """Several nodes: the pages and the generation in Redis (CACHE_REDIS_URL); a commit on one
    node shows at once on another."""
    import os

    lot_id, buyer_id = lot.id, users["buyer"].id
    db.session.commit()  # this test's own session holds no lock while the nodes work
    prefix = f"pm-test-{os.getpid()}-{os.urandom(4).hex()}"
    nodes = [
        app_factory(
            database_url,
            name,
            CACHE_REDIS_URL="redis://127.0.0.1:6379/11",
            QUEUE_NAME=prefix,
            SEARCH_BACKEND=app.config["SEARCH_BACKEND"],
        )
        for name in ("node1", "node2")
    ]
    assert nodes[0].config["CACHE_TYPE"] == "RedisCache"
    backend = nodes[0].extensions["cache"][cache.cache].__class__.__name__
    assert backend == "RedisCache"
    try:
        one, two = (node.test_client() for node in nodes)
        assert "40 t left" in one.get(f"/lots/{lot_id}", headers=EN).text
        assert "40 t left" in two.get(f"/lots/{lot_id}", headers=EN).text
        with nodes[0].app_context():
            before = cache.generation()
            buyer = db.session.get(User, buyer_id)
            orders.place_order(buyer, db.session.get(Lot, lot_id), "10", "t")
            db.session.commit()
        with nodes[1].app_context():
            assert cache.generation() != before
        html = two.get(f"/lots/{lot_id}", headers=EN).text
        assert "30 t left" in html and "40 t left" not in html
    finally:
        with nodes[0].app_context():
            client = nodes[0].extensions["cache"][cache.cache]._write_client
            for key in client.scan_iter(f"{prefix}:cache:*"):
                client.delete(key)


def test_the_search_index_catching_up_moves_the_generation_on(app, lot):
    """A lot is in the database before it is in the index: kept results pages are made again
    once the worker has written it there (it empties the search outbox)."""
    from produce_match.search.models import SearchOutbox
    from produce_match.search.service import service

    db.session.add(SearchOutbox(lot_id=lot.id))
    db.session.commit()
    queued = cache.generation()
    assert service().process_queue() >= 1
    assert cache.generation() != queued


def test_warming_compiles_every_page_template_and_loads_each_language(app):
    from produce_match.web.templating import warm

    compiled = warm(app)
    assert compiled >= 50
    assert app.jinja_env.cache is not None
    cached = {name for (_loader, name) in app.jinja_env.cache}
    assert {"base.html", "web/index.html", "lots/detail.html", "lots/list.html"} <= cached
    from flask_babel import get_domain

    assert {locale for locale, _domain in get_domain().cache} >= {"zh", "en"}
