"""Searching lots: ranking, filters, facets, pages and API, and the index in step with the data."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.updates import update_lots
from produce_match.queue import get_queue
from produce_match.search.backend import SearchRequest
from produce_match.search.models import SearchOutbox
from produce_match.search.service import service
from produce_match.search.whoosh_backend import REFRESH_SECONDS
from tests.conftest import SEARCH_BACKENDS, make_app
from tests.factories import make_lot

#: a test of what every backend must do: it runs on each (PostgreSQL's when the tests do)
both = pytest.mark.parametrize("search_backend", SEARCH_BACKENDS)
#: what only one backend does
whoosh = pytest.mark.parametrize("search_backend", ["whoosh"])
postgres = pytest.mark.parametrize("search_backend", ["postgres"])


def search(text: str = "", **kw):
    kw.setdefault("today", local_today())
    return service().search(SearchRequest(text=text, **kw))


def titles(result) -> list[str]:
    from produce_match.lots.models import Lot

    return [db.session.get(Lot, h.lot_id).title for h in result.hits]


@pytest.fixture
def market(app, users):
    """A few lots, indexed."""
    coop, coop2 = users["coop"], users["coop2"]
    lots = {
        "beans": make_lot(coop, title="彰武道亭村黑豆 40吨 急售", grade="一等"),
        "corn": make_lot(coop, commodity="玉米", title="彰武玉米 150吨", quantity="150"),
        "cherry": make_lot(
            coop2,
            commodity="樱桃",
            title="金州美早大樱桃 4吨",
            quantity="4",
            price="15",
            price_unit="jin",
            spoil_by=(local_today() + timedelta(days=5)).isoformat(),
        ),
        "cherry_tomato": make_lot(
            coop2,
            commodity="樱桃番茄",
            title="金州樱桃番茄 10吨",
            quantity="10",
            price="2",
            price_unit="jin",
        ),
        "potato": make_lot(
            coop2,
            commodity="马铃薯",
            title="金州土豆 80吨",
            quantity="80",
            price="0.6",
            price_unit="jin",
            grade="二等",
        ),
    }
    service().process_queue()
    return lots


@both
@pytest.mark.parametrize(
    "query",
    [
        "黑豆",
        "乌豆",
        "heidou",
        "hd",
        "hei dou",
        "black beans",
        "黑逗",
        "heidoo",
        "黑大豆",
        "Black Bean",
    ],
)
def test_every_way_of_asking_for_black_beans(market, query):
    assert titles(search(query))[0] == "彰武道亭村黑豆 40吨 急售"


@both
def test_cherries_rank_above_cherry_tomatoes(market):
    found = titles(search("樱桃"))
    assert found[0] == "金州美早大樱桃 4吨"
    assert "金州樱桃番茄 10吨" in found  # found, but after the real cherries
    assert titles(search("櫻桃"))[0] == "金州美早大樱桃 4吨"
    assert titles(search("樱桃番茄"))[0] == "金州樱桃番茄 10吨"


@both
def test_synonyms_find_lots_posted_under_another_name(market):
    for query in ("土豆", "洋芋", "马铃薯", "potatoes", "tudou"):
        assert titles(search(query)) == ["金州土豆 80吨"], query


@both
def test_place_words_narrow(market):
    assert titles(search("彰武黑豆")) == ["彰武道亭村黑豆 40吨 急售"]
    assert set(titles(search("彰武"))) == {"彰武道亭村黑豆 40吨 急售", "彰武玉米 150吨"}
    # a place with none of the commodity falls back to the commodity anywhere
    assert titles(search("金州黑豆")) == ["彰武道亭村黑豆 40吨 急售"]


@both
def test_prefecture_names_narrow_to_their_counties(market):
    # 金州 is a district of 大连 (a prefecture), 彰武 a county of 阜新
    assert set(titles(search("大连"))) == {
        "金州美早大樱桃 4吨",
        "金州樱桃番茄 10吨",
        "金州土豆 80吨",
    }
    assert titles(search("大连樱桃"))[0] == "金州美早大樱桃 4吨"
    assert titles(search("大连土豆")) == ["金州土豆 80吨"]
    # none of the commodity there: the commodity anywhere
    assert titles(search("大连黑豆")) == ["彰武道亭村黑豆 40吨 急售"]


@both
def test_initials_find_commodities_not_places(market, users):
    # jz: 橘子 (mandarins), and 金州 too, a place: its lots are not found by it
    mandarins = make_lot(users["coop"], commodity="橘子", title="砂糖橘 3万斤", quantity="15")
    service().process_queue()
    assert titles(search("jz")) == [mandarins.title]


@both
def test_category_words_find_the_categorys_lots(market, users):
    cucumber = make_lot(users["coop"], commodity="黄瓜", title="水果黄瓜 5吨", quantity="5")
    service().process_queue()
    # the category's lots first; a lot that only says the word after them
    assert titles(search("水果")) == ["金州美早大樱桃 4吨", cucumber.title]
    assert set(titles(search("蔬菜"))) == {"金州樱桃番茄 10吨", "金州土豆 80吨", cucumber.title}
    assert set(titles(search("vegetables"))) == set(titles(search("蔬菜")))


@both
def test_suggestions_are_commodity_names_only(market):
    assert search("hiedou").suggestion == "黑豆"
    # nearest to a place's pinyin (zhangwu): no raw pinyin is offered
    result = search("zhanwo")
    assert result.total == 0 and result.suggestion is None


@both
def test_filters(market):
    assert titles(search(province="210000", county="210213", commodity="potato")) == [
        "金州土豆 80吨"
    ]
    assert set(titles(search(grade="一等"))) == {"彰武道亭村黑豆 40吨 急售"}
    big = search(min_remaining_g=100_000_000)
    assert titles(big) == ["彰武玉米 150吨"]
    cheap = search(max_price_fen_per_t=200_000)  # at most 1 元/斤 (2,000 元/吨)
    assert titles(cheap) == ["金州土豆 80吨"]
    soon = search(spoil_to=local_today() + timedelta(days=7))
    assert titles(soon) == ["金州美早大樱桃 4吨"]


@both
def test_facets_count_the_matches(market):
    result = search("")
    assert result.total == 5
    assert dict(result.facets["commodity"])["cherry"] == 1
    assert dict(result.facets["county"]) == {"210922": 2, "210213": 3}
    assert dict(result.facets["grade"]) == {"一等": 1, "二等": 1}


@both
def test_sorts(market):
    by_urgency = titles(search("", sort="urgency"))
    assert by_urgency[0] == "金州美早大樱桃 4吨"
    by_price = titles(search("", sort="price"))
    assert by_price[0] == "金州土豆 80吨"
    assert titles(search("", sort="price_desc"))[0] == "金州美早大樱桃 4吨"
    near_dalian = search("", sort="distance", origin=(39.05, 121.78))
    assert titles(near_dalian)[0].startswith("金州")
    assert near_dalian.hits[0].distance_km < near_dalian.hits[-1].distance_km


@both
def test_sold_out_withdrawn_and_expired_lots_only_when_asked(market, users):
    from produce_match.lots import operations as lots

    lots.withdraw_lot(users["coop"], market["corn"])
    market["beans"].spoil_by = local_today() - timedelta(days=1)
    db.session.commit()
    service().process_queue()
    shown = titles(search(""))
    assert "彰武玉米 150吨" not in shown and "彰武道亭村黑豆 40吨 急售" not in shown
    assert titles(search("黑豆", statuses=("expired",))) == ["彰武道亭村黑豆 40吨 急售"]
    assert "彰武玉米 150吨" not in titles(search("", statuses=("open", "sold_out", "expired")))


@both
def test_no_results_suggests_and_relaxes(market):
    result = search("hiedou")  # two letters swapped: too far for the fuzzy match
    assert result.total == 0 and result.suggestion == "黑豆"
    relaxed = search("黑豆 荔枝")
    assert relaxed.relaxed and titles(relaxed) == ["彰武道亭村黑豆 40吨 急售"]


@both
def test_results_page_and_api(client, market):
    html = client.get("/lots", query_string={"q": "乌豆"}).get_data(as_text=True)
    assert "彰武道亭村<mark>黑豆</mark> 40吨 急售" in html
    assert html.count('class="lot-card"') == 1
    body = client.get("/api/v1/lots", query_string={"q": "樱桃", "facets": "1"}).json
    assert body["items"][0]["title"] == "金州美早大樱桃 4吨"
    assert "<mark>" in body["items"][0]["highlight"]["title"]
    assert {f["label"] for f in body["facets"]["commodity"]} >= {"樱桃"}
    sorted_api = client.get("/api/v1/lots", query_string={"sort": "price"}).json
    assert sorted_api["items"][0]["title"] == "金州土豆 80吨"
    nearest = client.get("/api/v1/lots", query_string={"sort": "distance", "near": "金州区"}).json
    assert nearest["items"][0]["distance_km"] < 50


@both
def test_bad_search_parameters_get_a_clear_4xx(client, market):
    long = client.get("/api/v1/lots", query_string={"q": "黑" * 10_000})
    assert long.status_code == 422 and long.json["error"]["fields"]["q"]
    unknown = client.get(
        "/api/v1/lots", query_string={"commodity": "不存在"}, headers={"Accept-Language": "en"}
    )
    assert unknown.status_code == 422 and "Unknown commodity" in str(unknown.json)
    page = client.get("/lots", query_string={"max_price": "abc"})
    assert page.status_code == 400


def test_search_box_on_every_page(client):
    for url in ("/", "/login", "/lots"):
        assert 'role="search"' in client.get(url).get_data(as_text=True)


# --- in step with the database -------------------------------------------------------------


@both
def test_a_commit_reaches_the_index_through_the_queue(market, users, monkeypatch):
    queue = get_queue()
    run, asked = queue.enqueue, []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args: asked.append((name, args)))
    lot = make_lot(users["coop"], commodity="荔枝", title="高州荔枝 3万斤")
    assert asked == [("search.apply", ())]  # asked for once the commit is done
    # until the task runs, the queue in the database holds the change
    assert db.session.scalar(select(func.count()).select_from(SearchOutbox)) >= 1
    assert titles(search("荔枝")) == []  # a search only reads: it applies nothing
    db.session.rollback()  # the task's own session waits for no lock of the test's
    run("search.apply")
    assert db.session.scalar(select(func.count()).select_from(SearchOutbox)) == 0
    assert titles(search("荔枝")) == [lot.title]


@whoosh
def test_a_busy_writer_never_fails_the_write_and_the_queue_catches_up(market, users):
    backend = service().backend
    with backend.writing():  # another process holds the writer
        lot = make_lot(users["coop"], commodity="荔枝", title="高州荔枝 3万斤")
        assert service().process_queue() == 0  # gives up at once, keeps the queue
    assert db.session.scalar(select(func.count()).select_from(SearchOutbox)) >= 1
    service().process_queue()
    assert titles(search("荔枝")) == [lot.title]


@whoosh
def test_the_index_opens_while_another_process_replaces_its_table_of_contents(
    market, users, monkeypatch
):
    """Whoosh finds the newest table of contents by name, then opens it: a writer committing
    in between deletes it. Opening tries again, for the writer, the searcher and the check."""
    from whoosh import index as whoosh_index

    from produce_match.search import whoosh_backend

    real = whoosh_index.open_dir
    replaced = []
    gone = {"times": 2}  # the file just found is gone, twice

    def open_dir(path, *args, **kwargs):
        if len(replaced) < gone["times"]:
            replaced.append(path)
            raise FileNotFoundError(2, "No such file or directory", f"{path}/_MAIN_7.toc")
        return real(path, *args, **kwargs)

    lot = make_lot(users["coop"], commodity="荔枝", title="高州荔枝 3万斤")
    monkeypatch.setattr(whoosh_backend.whoosh_index, "open_dir", open_dir)
    service().queue([lot.id])
    db.session.commit()  # the task it asks for writes the index (at once, here)
    assert len(replaced) == 2
    assert db.session.scalar(select(func.count()).select_from(SearchOutbox)) == 0
    replaced.clear()
    assert service().check(repair=False).clean and len(replaced) == 2
    replaced.clear()
    time.sleep(REFRESH_SECONDS + 0.1)
    assert titles(search("荔枝")) == [lot.title]
    # a file that stays missing fails, after the last try
    replaced.clear()
    gone["times"] = 100
    monkeypatch.setattr(whoosh_backend, "OPEN_RETRY_SECONDS", 0.0)
    with pytest.raises(FileNotFoundError):
        service().backend.versions()
    assert len(replaced) == whoosh_backend.OPEN_ATTEMPTS


def _commit_and_die(database_url: str, instance: str, backend: str = "whoosh") -> None:
    """A web process that commits a new lot, its task handed to a queue no worker reads."""
    from produce_match.accounts.models import User

    app = make_app(
        database_url,
        Path(instance),
        SEARCH_BACKEND=backend,
        QUEUE_IMMEDIATE=False,
        QUEUE_PATH=str(Path(instance) / "lost-queue.sqlite3"),
    )
    with app.app_context():
        user = db.session.scalar(select(User).where(User.login == "coop"))
        make_lot(user, commodity="荔枝", title="高州荔枝 急售")
        os._exit(0)  # the task is lost with that queue: the index never hears of it from here


@both
def test_a_worker_killed_between_commit_and_index_write(
    market, database_url, tmp_path, app, search_backend
):
    ctx = multiprocessing.get_context("spawn")
    args = (database_url, str(tmp_path / "instance"), search_backend)
    worker = ctx.Process(target=_commit_and_die, args=args)
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    db.session.rollback()
    queued = db.session.scalar(select(func.min(SearchOutbox.queued_at)))
    assert queued is not None  # the durable record survived the crash
    assert titles(search("荔枝")) == []
    db.session.rollback()
    get_queue().enqueue("search.sweep")  # the worker's periodic sweep
    assert titles(search("荔枝")) == ["高州荔枝 急售"]
    assert service().check(repair=False).clean


def _post_lots(
    database_url: str, instance: str, worker: int, count: int, queue, backend: str
) -> None:
    from produce_match.accounts.models import User
    from produce_match.lots import operations as lots
    from produce_match.search.service import service as search_service

    # each worker has its own instance folder, and all share the one index
    app = make_app(
        database_url,
        Path(instance) / f"w{worker}",
        SEARCH_INDEX_DIR=str(Path(instance) / "search_index"),
        SEARCH_BACKEND=backend,
    )
    errors = []
    with app.app_context():
        user = db.session.scalar(select(User).where(User.login == "coop"))
        for i in range(count):
            try:
                lots.create_lot(
                    user,
                    user.organisation,
                    lots.LotInput(
                        commodity="黑豆",
                        quantity="1",
                        unit="t",
                        price="6",
                        price_unit="kg",
                        title=f"并发黑豆 {worker}-{i}",
                    ),
                )
                db.session.commit()
                search_service().process_queue()
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                errors.append(repr(exc))
                db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    queue.put(errors)


@both
def test_concurrent_writers_from_several_processes(
    market, database_url, tmp_path, app, search_backend
):
    shared = tmp_path / "instance"  # every worker writes the same index
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(
            target=_post_lots, args=(database_url, str(shared), w, 10, queue, search_backend)
        )
        for w in range(3)
    ]
    for p in workers:
        p.start()
    results = [queue.get(timeout=180) for _ in workers]
    for p in workers:
        p.join(30)
    assert results == [[], [], []]
    db.session.rollback()
    service().process_queue()
    # the workers wrote the index themselves: this process sees it within a refresh
    time.sleep(REFRESH_SECONDS + 0.1)
    assert search("并发黑豆", per_page=100).total == 30
    assert service().check(repair=False).clean


# --- in step with the database on PostgreSQL: the documents written by the queue's task ------


@postgres
def test_the_document_follows_the_commit_and_never_a_rollback(market, users):
    lot = make_lot(users["coop"], commodity="荔枝", title="高州荔枝 3万斤")
    # the commit queued the lot, and the task it asked for (immediate here) wrote the document
    assert db.session.scalar(select(func.count()).select_from(SearchOutbox)) == 0
    assert titles(search("荔枝")) == [lot.title]
    lot.title = "高州荔枝 改了又撤回"
    db.session.flush()
    db.session.rollback()  # the queued id goes with it: nothing to apply
    assert db.session.scalar(select(func.count()).select_from(SearchOutbox)) == 0
    assert titles(search("荔枝")) == ["高州荔枝 3万斤"]
    assert search("撤回").total == 0
    assert service().check(repair=False).clean


@both
def test_statements_that_bypass_the_orm_reach_the_documents(market):
    from produce_match.database import utcnow
    from produce_match.lots.models import Lot, LotStatus

    lot_id = market["potato"].id
    update_lots(
        update(Lot).where(Lot.id == lot_id).values(status=LotStatus.sold_out, updated_at=utcnow())
    )
    db.session.commit()
    assert "金州土豆 80吨" not in titles(search(""))
    assert titles(search("土豆", statuses=("sold_out",))) == ["金州土豆 80吨"]
    assert service().check(repair=False).clean


@postgres
def test_an_older_version_never_replaces_a_newer_document(market):
    """Two writers of one lot's document: the one that read the lot first and writes last (a
    slow task, a rebuild) leaves the newer document alone."""
    from produce_match.lots.models import Lot

    search_ = service()
    lot = db.session.get(Lot, market["potato"].id)
    older = search_.document(lot)
    lot.title = "金州土豆 80吨 新价"
    db.session.commit()  # the task writes the newer document
    with search_.backend.writing() as writer:
        writer.upsert(older)
    assert titles(search("新价")) == ["金州土豆 80吨 新价"]
    assert service().check(repair=False).clean


@postgres
def test_the_documents_are_built_unless_lots_have_none(app, users):
    backend = service().backend
    assert backend.exists()  # nothing to index yet: built, and ready
    make_lot(users["coop"], commodity="荔枝", title="高州荔枝 3万斤")
    assert backend.exists()
    db.session.execute(text("DELETE FROM search_documents"))  # as if another backend wrote it
    db.session.commit()
    assert not backend.exists()
    service().rebuild()
    assert backend.exists() and search("荔枝").total == 1


@postgres
def test_a_writer_is_never_busy(market, users):
    with service().backend.writing():  # no index lock: a lot written meanwhile is found
        lot = make_lot(users["coop"], commodity="荔枝", title="高州荔枝 3万斤")
    assert titles(search("荔枝")) == [lot.title]


@both
def test_rebuild_while_searching(market):
    stop = threading.Event()
    failures: list[str] = []
    app = service().app

    def keep_searching() -> None:
        with app.app_context():
            while not stop.is_set():
                try:
                    if search("黑豆").total != 1:
                        failures.append("black beans not found")
                except Exception as exc:  # noqa: BLE001
                    failures.append(repr(exc))

    thread = threading.Thread(target=keep_searching)
    thread.start()
    try:
        for _ in range(3):
            service().rebuild()
    finally:
        stop.set()
        thread.join(30)
    assert failures == []
    assert service().check(repair=False).clean


@both
def test_check_finds_and_repairs_differences(market, runner):
    backend = service().backend
    with backend.writing() as writer:
        writer.delete(market["beans"].id)  # lost
    result = runner.invoke(args=["search", "check", "--no-repair"])
    assert result.exit_code == 1 and "missing: 1" in result.output
    result = runner.invoke(args=["search", "check"])
    assert "repaired" in result.output
    assert service().check(repair=False).clean
    assert titles(search("黑豆")) == ["彰武道亭村黑豆 40吨 急售"]


@both
def test_rebuild_command(market, runner):
    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0 and "5 lots indexed" in result.output
    assert search("").total == 5


@both
def test_an_edited_lot_is_found_once_after_the_searcher_catches_up(market, users):
    """Whoosh's own refresh() would find a replaced document twice; ours must not."""
    assert search("黑豆").total == 1
    market["beans"].title = "彰武道亭村黑豆 38吨 急售"
    db.session.commit()
    service().process_queue()
    time.sleep(REFRESH_SECONDS + 0.1)
    assert titles(search("黑豆")) == ["彰武道亭村黑豆 38吨 急售"]


@pytest.mark.parametrize("search_backend", ["whoosh"])  # the Whoosh searcher's refresh
def test_a_process_that_searches_all_the_time_still_sees_another_writer(market, app):
    """The searcher is brought up to date a second after the last look at the index, not after
    the last search: a busy web process must not keep its old searcher for ever."""
    from produce_match.search.whoosh_backend import WhooshBackend

    mine = service().backend
    other = WhooshBackend(mine.root, mine.analyzer)  # another process's view of the index
    assert search("黑豆").total == 1
    lot = market["beans"]
    with other.writing() as writer:
        writer.delete(lot.id)
    deadline = time.monotonic() + 3 * REFRESH_SECONDS
    while time.monotonic() < deadline:  # a search every fifth of the refresh interval
        seen = search("黑豆").total
        time.sleep(REFRESH_SECONDS / 5)
    assert seen == 0


@both
def test_the_cooperatives_name_does_not_make_its_corn_black_beans(app, users):
    users["coop"].organisation.name = "彰武县道亭村黑豆种植专业合作社"
    db.session.commit()
    make_lot(users["coop"], commodity="玉米", title="彰武玉米 150吨", quantity="150")
    service().process_queue()
    assert search("黑豆").total == 0


@both
def test_a_rebuild_in_several_processes_equals_one_in_this_process(market, runner, monkeypatch):
    import produce_match.search.service as search_service

    queries = [("黑豆", {}), ("", {}), ("玉米", {"facets": True}), ("", {"sort": "price"})]

    def answers() -> list:
        out = []
        for words, kw in queries:
            result = search(words, **kw)
            out.append(([(h.lot_id, round(h.score, 9)) for h in result.hits], result.total))
            out.append(result.facets)
        return out

    service().rebuild()  # in this process (5 lots)
    before = answers()
    assert service()._parts(list(range(10))) == []
    monkeypatch.setattr(search_service, "REBUILD_PART_MIN", 2)
    monkeypatch.setattr(search_service, "PROCESSES", 2)
    assert len(service()._parts([1, 2, 3, 4, 5])) == 2
    seen: list[int] = []
    count = service().rebuild(progress=seen.append)
    assert count == 5 and sum(seen) == 5
    assert service().check(repair=False).clean
    assert answers() == before
    # and the command: one process per part, the progress bar to the end
    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0 and "5 lots indexed" in result.output
    assert answers() == before


def test_a_failing_part_fails_the_rebuild():
    from produce_match.search.parallel import PartFailed, run_parts

    def work(part: int, done) -> int:
        done.add(part)
        if part == 3:
            raise ValueError("no such lot")
        return part * 10

    assert run_parts([1, 2], work) == [10, 20]
    with pytest.raises(PartFailed, match="no such lot"):
        run_parts([1, 3], work)


@postgres
def test_a_rebuild_rewrites_only_the_documents_that_differ(market):
    beans, corn = market["beans"].id, market["corn"].id

    def xmin(lot_id: int) -> str:
        row = text("SELECT xmin::text FROM search_documents WHERE lot_id = :id")
        return db.session.scalar(row, {"id": lot_id})

    # a document damaged at the same version: a rebuild must still put it right
    db.session.execute(
        text("UPDATE search_documents SET tokens = ''::tsvector WHERE lot_id = :id"), {"id": beans}
    )
    db.session.commit()
    assert search("黑豆").total == 0
    before = {beans: xmin(beans), corn: xmin(corn)}
    db.session.rollback()
    # the backend's rebuild itself (the service's then rewrites the lots changed lately: all)
    service().backend.rebuild(service()._all_documents(), 5)
    db.session.rollback()
    assert titles(search("黑豆")) == ["彰武道亭村黑豆 40吨 急售"]
    assert xmin(beans) != before[beans]  # rewritten
    assert xmin(corn) == before[corn]  # already right: left as it was


@postgres
def test_facets_counted_with_the_page_equal_the_separate_query(users, monkeypatch):
    """The facets counted in the page's own statement are the separate GROUPING SETS query's,
    and the page is the one asked without facets, on random lots, words, sorts and pages."""
    import random

    from produce_match.search.postgres_backend import PostgresBackend

    rng = random.Random(15)
    commodities = ["黑豆", "玉米", "樱桃", "马铃薯", "樱桃番茄"]
    words = ["急售", "滞销", "产地直供", "新货", "统货"]
    for i in range(40):
        commodity = rng.choice(commodities)
        make_lot(
            users[rng.choice(["coop", "coop2"])],
            commodity=commodity,
            title=f"{commodity} {rng.choice(words)} {rng.choice(words)} {i + 1}吨",
            quantity=str(i + 1),
            price=f"{rng.randint(100, 900) / 100:.2f}",
            grade=rng.choice(["", "一等", "二等"]),
            spoil_by=(local_today() + timedelta(days=rng.randint(1, 60))).isoformat(),
        )
    page = PostgresBackend._page

    def separately(*args, **kw):  # the facets left to the separate query
        hits, total, _facets = page(*args, **kw)
        return hits, total, None

    asked = [
        dict(text=text, sort=sort, page=number, per_page=per_page, origin=(39.05, 121.78))
        for text in ["急售", "玉米", "樱桃", "黑豆 滞销", "金州 樱桃", "黑豆 荔枝", "产地直供 新货"]
        for sort in ["relevance", "urgency", "price", "newest", "distance"]
        for number, per_page in [(1, 5), (2, 5), (1, 50), (9, 5)]
    ]
    together = [search(**kw, facets=True) for kw in asked]
    plain = [search(**kw) for kw in asked]
    monkeypatch.setattr(PostgresBackend, "_page", separately)
    apart = [search(**kw, facets=True) for kw in asked]
    assert any(r.total and r.facets["commodity"] for r in together)
    for one, other, without in zip(together, apart, plain, strict=True):
        assert one.facets == other.facets
        assert (one.hits, one.total, one.relaxed) == (other.hits, other.total, other.relaxed)
        assert (one.hits, one.total) == (without.hits, without.total)


@both
def test_a_probe_only_tells_whether_any_lot_matches_every_word(market):
    found = search("黑豆", per_page=0, facets=False, any_match=True)
    assert found.total >= 1 and found.hits == [] and not found.relaxed
    # nothing has both words: no lots with some of them instead
    none = search("黑豆 荔枝", per_page=0, facets=False, any_match=True)
    assert none.total == 0 and not none.relaxed


@postgres
def test_a_broad_word_ranks_its_best_candidates_and_every_page_follows_one_order(
    market, users, monkeypatch
):
    """Past RANK_ALL_UP_TO matches only the RANKED_AT_MOST most urgent (no commodity named)
    are ranked, first, by their full score; the rest follow by urgency; pages never repeat or
    skip a lot; the total and the facets count every match."""
    from produce_match.search import postgres_backend

    today = local_today()
    for days in range(1, 9):
        make_lot(
            users["coop2"],
            commodity="樱桃",
            title=f"樱桃 急售 {days}吨",
            spoil_by=(today + timedelta(days=days * 3)).isoformat(),
        )
    # the strongest match (the word three times) spoils last
    make_lot(
        users["coop"],
        title="急售 黑豆 急售",
        description="急售",
        spoil_by=(today + timedelta(days=60)).isoformat(),
    )
    service().process_queue()
    exact = search("急售", per_page=50, facets=True)
    assert exact.total == 10
    assert titles(exact)[0] == "急售 黑豆 急售"  # ranked among every match
    # the same words again: ranked as they are read (few matches), the very same page
    again = search("急售", per_page=50, facets=True)
    assert (again.hits, again.total, again.facets) == (exact.hits, exact.total, exact.facets)

    monkeypatch.setattr(postgres_backend, "RANK_ALL_UP_TO", 4)
    monkeypatch.setattr(postgres_backend, "RANKED_AT_MOST", 3)
    # (these words had few matches when last seen: the first search with many ranks them as
    # many, as every one after it)
    bounded = search("急售", per_page=50, facets=True)
    assert bounded.total == exact.total and bounded.facets == exact.facets
    assert sorted(h.lot_id for h in bounded.hits) == sorted(h.lot_id for h in exact.hits)
    by_urgency = sorted(exact.hits, key=lambda h: (_spoil_by(h.lot_id), h.lot_id))
    best = bounded.hits[:3]
    assert {h.lot_id for h in best} == {h.lot_id for h in by_urgency[:3]}
    assert [h.score for h in best] == sorted((h.score for h in best), reverse=True)
    assert [h.lot_id for h in bounded.hits[3:]] == [h.lot_id for h in by_urgency[3:]]
    assert "急售 黑豆 急售" not in titles(bounded)[:3]  # past the candidates: by urgency
    pages = [search("急售", per_page=2, page=n, facets=n == 1) for n in range(1, 6)]
    assert [h.lot_id for p in pages for h in p.hits] == [h.lot_id for h in bounded.hits]
    assert all(p.total == 10 for p in pages)


@postgres
def test_a_broad_word_naming_a_commodity_ranks_that_commoditys_most_urgent_lots_first(
    market, users, monkeypatch
):
    """Words naming a commodity: the candidates ranked are the commodity's own lots, the most
    urgent first (the pre-score); a lot that only mentions it follows them, however urgent."""
    from produce_match.search import postgres_backend

    today = local_today()
    for days in range(1, 7):
        make_lot(
            users["coop2"],
            commodity="樱桃",
            title=f"樱桃 {days}吨",
            spoil_by=(today + timedelta(days=days * 3)).isoformat(),
        )
    mention = make_lot(
        users["coop"],
        title="黑豆 10吨",
        description="樱桃园旁的地里种的黑豆",
        spoil_by=(today + timedelta(days=1)).isoformat(),
    )
    service().process_queue()
    exact = search("樱桃", per_page=50, facets=True)
    assert exact.total == len(exact.hits) >= 7 and mention.id in {h.lot_id for h in exact.hits}
    monkeypatch.setattr(postgres_backend, "RANK_ALL_UP_TO", 4)
    monkeypatch.setattr(postgres_backend, "RANKED_AT_MOST", 3)
    bounded = search("樱桃", per_page=50, facets=True)
    assert bounded.total == exact.total and bounded.facets == exact.facets
    assert sorted(h.lot_id for h in bounded.hits) == sorted(h.lot_id for h in exact.hits)
    by_urgency = sorted(exact.hits, key=lambda h: (_spoil_by(h.lot_id), h.lot_id))
    cherries = [h for h in by_urgency if _commodity(h.lot_id) == "樱桃"]
    mentions = [h.lot_id for h in by_urgency if _commodity(h.lot_id) != "樱桃"]
    assert mention.id in mentions and len(cherries) >= 6
    best = bounded.hits[:3]
    assert {h.lot_id for h in best} == {h.lot_id for h in cherries[:3]}
    assert [h.score for h in best] == sorted((h.score for h in best), reverse=True)
    rest = [h.lot_id for h in bounded.hits[3:]]
    assert rest == [h.lot_id for h in cherries[3:]] + mentions
    pages = [search("樱桃", per_page=3, page=n, facets=False) for n in range(1, 4)]
    assert [h.lot_id for p in pages for h in p.hits] == [h.lot_id for h in bounded.hits]


@postgres
def test_a_word_search_puts_the_planner_settings_back_in_the_transaction(market):
    """The GIN bitmap is forced for the search alone: the rest of the request's transaction
    plans as before, whatever it had set."""
    db.session.execute(text("SET LOCAL enable_indexscan = off"))
    assert search("黑豆").total >= 1
    settings = db.session.execute(
        text("SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan')")
    ).one()
    assert tuple(settings) == ("on", "off")


def _spoil_by(lot_id: int):
    from produce_match.lots.models import Lot

    return db.session.get(Lot, lot_id).spoil_by


def _commodity(lot_id: int) -> str:
    from produce_match.lots.models import Lot

    return db.session.get(Lot, lot_id).commodity.name_zh


@postgres
def test_the_nearest_lots_read_within_a_radius_are_every_lots_order(users, monkeypatch):
    """A search without words by distance reads the lots of a growing circle: every page is
    the one ordering all the lots by distance gives."""
    from produce_match.search import postgres_backend
    from produce_match.search.postgres_backend import PostgresBackend

    today = local_today()
    for i in range(7):
        make_lot(
            users["coop" if i % 2 else "coop2"],
            title=f"黑豆 {i + 1}吨",
            spoil_by=(today + timedelta(days=i + 2)).isoformat(),
        )
    service().process_queue()
    origins = [(39.05, 121.78), (42.0, 122.5), (23.1, 113.3)]  # 大连, 阜新, 广州
    asked = [(o, n) for o in origins for n in range(1, 9)]

    def pages():
        return [
            search("", sort="distance", origin=o, per_page=1, page=n, facets=False)
            for o, n in asked
        ]

    monkeypatch.setattr(postgres_backend, "NEAREST_FIRST_KM", 1.0)  # it has to grow
    within = pages()
    monkeypatch.setattr(
        PostgresBackend,
        "_nearest_first",
        staticmethod(lambda connection, query, *_: connection.execute(query).all()),
    )
    everywhere = pages()
    assert [r.hits for r in within] == [r.hits for r in everywhere]
    assert [r.total for r in within] == [r.total for r in everywhere] == [7] * len(asked)
    assert all(r.hits for r, (_o, n) in zip(within, asked, strict=True) if n <= 7)


def test_the_box_around_a_circle_holds_it():
    from produce_match.geo import great_circle_km
    from produce_match.search.postgres_backend import _box

    (south, north), (west, east) = _box(41.8, 123.4, 100.0)
    for lat, lng in [(south, 123.4), (north, 123.4), (41.8, west), (41.8, east)]:
        assert great_circle_km(41.8, 123.4, lat, lng) >= 100.0
    assert great_circle_km(41.8, 123.4, 42.6, 123.4) < 100 and south < 42.6 < north
    assert _box(89.5, 0.0, 100.0) is None  # past the pole
    assert _box(10.0, 179.9, 100.0) is None  # across the 180th meridian
