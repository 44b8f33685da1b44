"""The public feeds of open lots: JSON Feed 1.1 and Atom, valid, filtered, bounded, cacheable,
and a clear 400 for a filter that cannot be read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots import operations as lots
from tests.factories import make_lot

ATOM = "{http://www.w3.org/2005/Atom}"


def _day(n: int) -> str:
    return (local_today() + timedelta(days=n)).isoformat()


@pytest.fixture
def world(users):
    coop, coop2 = users["coop"], users["coop2"]
    made = {
        "beans": make_lot(
            coop, title="道亭黑豆", spoil_by=_day(20), description="<b>好豆</b> & 干"
        ),
        "corn": make_lot(coop, title="彰武玉米", commodity="玉米", spoil_by=_day(4)),
        "cherries": make_lot(coop2, title="金州樱桃", commodity="樱桃", spoil_by=_day(6)),
        "gone": make_lot(coop, title="撤下的黑豆", spoil_by=_day(2)),
    }
    lots.withdraw_lot(coop, made["gone"])
    db.session.commit()
    return {**users, **made}


def _json(client, query=""):
    response = client.get(f"/feeds/lots.json{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == "application/feed+json; charset=utf-8"
    return json.loads(response.get_data(as_text=True))


def _valid_json_feed(feed: dict) -> None:
    """The JSON Feed 1.1 spec's required fields and types (https://jsonfeed.org/version/1.1)."""
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert isinstance(feed["items"], list)
    for key in ("home_page_url", "feed_url", "icon"):
        assert feed[key].startswith("http://localhost/")
    for author in feed.get("authors", []):
        assert isinstance(author, dict) and author["name"]
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item.get("content_html") or item.get("content_text")
        assert item["url"].startswith("http://localhost/lots/")
        for key in ("date_published", "date_modified"):  # RFC 3339
            datetime.strptime(item[key], "%Y-%m-%dT%H:%M:%SZ")
        assert all(isinstance(t, str) for t in item.get("tags", []))
        # extensions start with an underscore
        assert all(k.startswith("_") or k in _ITEM_KEYS for k in item)


_ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "tags", "language",
    "attachments",
}  # fmt: skip


def test_the_json_feed_lists_the_open_lots_newest_first(client, world):
    feed = _json(client)
    _valid_json_feed(feed)
    titles = [i["title"] for i in feed["items"]]
    assert titles == ["金州樱桃", "彰武玉米", "道亭黑豆"]  # not the withdrawn lot
    corn = feed["items"][1]
    assert corn["id"] == f"http://localhost/lots/{world['corn'].id}"
    assert "还剩 4 天" in corn["summary"] and "玉米" in corn["tags"]
    assert corn["_produce_match"]["commodity_code"]
    assert corn["_produce_match"]["remaining_kg"] == "40000"
    assert corn["_produce_match"]["price_yuan_per_kg"] == "6.8"
    assert feed["language"] == "zh-CN"


def test_the_json_feed_by_urgency_commodity_and_place(client, world, users):
    assert [i["title"] for i in _json(client, "?sort=urgent")["items"]] == [
        "彰武玉米",
        "金州樱桃",
        "道亭黑豆",
    ]
    for name in ("黑豆", "heidou", "black_bean", "烏豆"):
        assert [i["title"] for i in _json(client, f"?commodity={name}")["items"]] == ["道亭黑豆"]
    zhangwu = users["coop"].organisation.county_code
    by_code = _json(client, f"?county={zhangwu}")
    assert [i["title"] for i in by_code["items"]] == ["彰武玉米", "道亭黑豆"]
    assert "彰武县" in by_code["title"]
    assert [i["title"] for i in _json(client, "?province=辽宁&county=金州区")["items"]] == [
        "金州樱桃"
    ]
    assert len(_json(client, "?province=210000")["items"]) == 3
    assert _json(client, "?province=江西")["items"] == []
    assert [i["title"] for i in _json(client, "?limit=1")["items"]] == ["金州樱桃"]


def test_the_json_feed_in_english(client, world):
    feed = _json(client, "?lang=en&commodity=黑豆")
    assert feed["language"] == "en"
    assert "days left" in feed["items"][0]["summary"]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("?commodity=石头", "commodity", "石头"),
        ("?province=火星", "province", "火星"),
        ("?county=不存在县", "county", "不存在县"),
        ("?sort=cheapest", "sort", "newest"),
        ("?limit=0", "limit", "100"),
        ("?limit=1000", "limit", "100"),
        ("?limit=ten", "limit", "100"),
        ("?lang=fr", "lang", "zh"),
        ("?commodity=" + "豆" * 300, "commodity", "豆"),
    ],
)
def test_a_filter_that_cannot_be_read_is_a_clear_400(client, world, query, field, words):
    response = client.get(f"/feeds/lots.json{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_filter" and field in error["fields"]
    assert words in error["message"]
    atom = client.get(f"/feeds/lots.atom{query}")
    assert atom.status_code == 400 and atom.content_type.startswith("text/plain")
    assert words in atom.get_data(as_text=True)


def test_a_county_name_shared_by_several_counties_asks_for_its_code(client, world):
    response = client.get("/feeds/lots.json?county=城关区")
    assert response.status_code == 400
    assert "区划代码" in response.get_json()["error"]["message"]


def test_the_atom_feed_is_well_formed_and_complete(client, world):
    response = client.get("/feeds/lots.atom?sort=urgent")
    assert response.status_code == 200
    assert response.content_type == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(response.data)  # noqa: S314 - our own document; well-formed or raises
    assert root.tag == f"{ATOM}feed"
    # RFC 4287: a feed has exactly one id, title and updated, an author (or every entry has)
    for name in ("id", "title", "updated", "author"):
        assert len(root.findall(f"{ATOM}{name}")) == 1, name
    self_link = root.find(f"{ATOM}link[@rel='self']")
    assert self_link.get("href").startswith("http://localhost/feeds/lots.atom?")
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["彰武玉米", "金州樱桃", "道亭黑豆"]
    ids = set()
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        ids.add(entry.findtext(f"{ATOM}id"))
        datetime.strptime(entry.findtext(f"{ATOM}updated"), "%Y-%m-%dT%H:%M:%SZ")
        alternate = entry.find(f"{ATOM}link[@rel='alternate']")
        assert alternate.get("href").startswith("http://localhost/lots/")
        assert entry.find(f"{ATOM}content").get("type") == "html"
    assert len(ids) == len(entries)
    # the lot's own text is escaped once: the reader gets it back as HTML text, not markup
    beans = entries[-1].findtext(f"{ATOM}content")
    assert "&lt;b&gt;好豆&lt;/b&gt; &amp; 干" in beans


def test_the_feeds_can_be_cached_and_asked_again_cheaply(client, world):
    first = client.get("/feeds/lots.json")
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    assert (
        "public" in first.headers["Cache-Control"]
        and "max-age=300" in first.headers["Cache-Control"]
    )
    again = client.get("/feeds/lots.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    # a new lot changes the feed (the kept copy belongs to the previous generation)
    make_lot(world["coop"], title="新黑豆", spoil_by=_day(9))
    changed = client.get("/feeds/lots.json", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert json.loads(changed.data)["items"][0]["title"] == "新黑豆"


def test_the_lot_list_and_the_shops_point_to_their_feeds(client, world):
    html = client.get("/lots?commodity=黑豆").get_data(as_text=True)
    assert '<link rel="alternate" type="application/feed+json"' in html
    assert "/feeds/lots.atom?commodity=" in html
    assert client.get("/feeds/lots.atom?commodity=黑豆").status_code == 200
