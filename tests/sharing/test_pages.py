"""The share kit, its posters, the short links, Open Graph tags and the figures' pages."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.orders.models import Order
from produce_match.sharing import operations as sharing
from produce_match.sharing.models import (
    Channel,
    ShareAttribution,
    ShareLink,
    ShareVisit,
    TargetKind,
)
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes

PHONE = {"User-Agent": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile MicroMessenger"}


def browser(app, who: str | None = None):
    client = app.test_client()
    if who:
        login(client, who, PASSWORD)
    return client


def _link_on(page: str) -> str:
    match = re.search(r'id="share-link"[^>]*value="([^"]+)"', page)
    assert match, page[:3000]
    return match.group(1)


def test_the_lot_page_has_a_share_button_for_everyone(app, lot):
    for who in (None, "buyer", "coop", "official"):
        page = browser(app, who).get(f"/lots/{lot.id}").text
        assert f'href="/lots/{lot.id}/share"' in page and "分享" in page


def test_a_visitor_gets_the_kit_without_writing(app, lot):
    client = browser(app)
    response = client.get(f"/lots/{lot.id}/share?channel=wechat_group")
    assert response.status_code == 200
    page = response.text
    for name in ("微信群", "朋友圈", "抖音", "快手", "微博", "短信", "打印"):
        assert f">{name}</a>" in page
    url = _link_on(page)
    assert re.fullmatch(r"http://localhost/s/[0-9a-z]+", url)
    assert url in page[page.index('id="share-text"') :]  # the text to paste carries the link
    assert f'src="/lots/{lot.id}/poster.png?channel=wechat_group"' in page
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == 0


@pytest.mark.parametrize("channel", list(Channel))
def test_every_channels_text_carries_its_link(app, lot, channel):
    page = browser(app).get(f"/lots/{lot.id}/share?channel={channel.value}").text
    url = _link_on(page)
    text = re.search(r'<textarea id="share-text"[^>]*>([^<]*)</textarea>', page).group(1)
    assert url in text and "黑豆" in text
    code = url.rsplit("/", 1)[1]
    assert sharing.resolve(code).channel is channel


def test_a_user_makes_their_links_with_a_post(app, lot, users):
    client = browser(app, "buyer")
    page = client.get(f"/lots/{lot.id}/share?channel=douyin").text
    assert "生成我的分享链接" in page and 'id="share-link"' not in page
    response = post_form(
        client, f"/lots/{lot.id}/share", {"channel": "douyin"}, page=f"/lots/{lot.id}/share"
    )
    assert response.status_code == 302
    assert response.location == f"/lots/{lot.id}/share?channel=douyin"
    url = _link_on(client.get(response.location).text)
    link = db.session.scalar(select(ShareLink).where(ShareLink.code == url.rsplit("/", 1)[1]))
    assert (link.sharer_id, link.channel) == (users["buyer"].id, Channel.douyin)
    # again: the same links
    post_form(client, f"/lots/{lot.id}/share", {}, page=f"/lots/{lot.id}/share")
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == len(Channel)
    # a visitor cannot make links, and a GET makes none
    anonymous = browser(app)
    assert anonymous.post(f"/lots/{lot.id}/share").status_code in (302, 400)
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == len(Channel)


def _decode(png: bytes) -> tuple[Image.Image, list[str]]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image, [r.text for r in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize(
    ("channel", "size"),
    [("wechat_group", (1080, 1440)), ("moments", (1080, 1440)), ("douyin", (1080, 1920))],
)
def test_the_poster_has_its_shape_and_a_qr_code_of_the_channels_link(app, lot, channel, size):
    client = browser(app)
    response = client.get(f"/lots/{lot.id}/poster.png?channel={channel}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "public" in response.headers["Cache-Control"]
    image, texts = _decode(response.data)
    assert image.size == size
    kit = client.get(f"/lots/{lot.id}/share?channel={channel}").text
    assert texts == [_link_on(kit)]
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == 0


def test_a_sharers_poster_carries_their_own_link(app, lot, users):
    client = browser(app, "coop")
    post_form(client, f"/lots/{lot.id}/share", {}, page=f"/lots/{lot.id}/share")
    response = client.get(f"/lots/{lot.id}/poster.png?channel=kuaishou")
    assert "private" in response.headers["Cache-Control"]
    image, texts = _decode(response.data)
    assert image.size == (1080, 1920)
    code = texts[0].rsplit("/", 1)[1]
    link = db.session.scalar(select(ShareLink).where(ShareLink.code == code))
    assert (link.sharer_id, link.channel) == (users["coop"].id, Channel.kuaishou)


def test_the_poster_shows_the_lots_photo(app, lot, users):
    lots.add_photo(users["coop"], lot, jpeg_bytes(1200, 900))
    db.session.commit()
    png = browser(app).get(f"/lots/{lot.id}/poster.png?channel=print").data
    image, texts = _decode(png)
    assert image.size == (1080, 1440) and len(texts) == 1
    # the photo (a flat test colour) fills the top, where the placeholder is pale green
    assert image.convert("RGB").getpixel((540, 100)) != (231, 241, 232)


@pytest.mark.parametrize("query", ["?channel=telegram", "?channel=", ""])
def test_a_bad_channel_is_refused_with_a_message(app, lot, query):
    response = browser(app).get(f"/lots/{lot.id}/poster.png{query}")
    assert response.status_code == 400
    assert "渠道" in response.text


def test_no_poster_nor_kit_for_a_lot_that_is_not_open(app, lot, users):
    lots.withdraw_lot(users["coop"], lot)
    db.session.commit()
    assert browser(app).get(f"/lots/{lot.id}/poster.png?channel=weibo").status_code == 404
    assert browser(app, "coop").get(f"/lots/{lot.id}/share").status_code == 404
    assert browser(app).get("/lots/999999/poster.png?channel=weibo").status_code == 404


def _visits() -> int:
    return db.session.scalar(select(func.count()).select_from(ShareVisit))


def test_a_short_link_counts_once_per_browser_and_day(app, lot, monkeypatch):
    code = sharing.links_of(sharing.Target(TargetKind.lot, lot.id), None)[Channel.wechat_group]
    phone = browser(app)
    response = phone.get(f"/s/{code}", headers=PHONE)
    assert response.status_code == 302 and response.location == f"/lots/{lot.id}"
    cookie = phone.get_cookie("pm_v")
    assert cookie is not None and cookie.http_only
    assert _visits() == 1
    link = db.session.scalar(select(ShareLink).where(ShareLink.code == code))
    assert (link.lot_id, link.channel, link.sharer_id) == (lot.id, Channel.wechat_group, None)
    visit = db.session.scalars(select(ShareVisit)).one()
    assert cookie.value not in visit.visitor  # a keyed hash, not the cookie
    phone.get(f"/s/{code}", headers=PHONE)
    assert _visits() == 1  # the same browser the same day
    browser(app).get(f"/s/{code}", headers=PHONE)
    assert _visits() == 2  # another browser
    tomorrow = utcnow() + timedelta(days=1)
    monkeypatch.setattr("produce_match.web.sharing.utcnow", lambda: tomorrow)
    phone.get(f"/s/{code}", headers=PHONE)
    assert _visits() == 3  # the next day counts again
    keys = {v.visitor for v in db.session.scalars(select(ShareVisit))}
    assert len(keys) == 3  # the same browser's days cannot be linked without its cookie


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "facebookexternalhit/1.1",
        "curl/8.5.0",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "python-requests/2.31",
    ],
)
def test_bots_are_sent_on_but_not_counted(app, lot, agent):
    code = sharing.links_of(sharing.Target(TargetKind.lot, lot.id), None)[Channel.weibo]
    response = browser(app).get(f"/s/{code}", headers={"User-Agent": agent})
    assert response.status_code == 302 and response.location == f"/lots/{lot.id}"
    assert _visits() == 0


def test_an_unknown_code_is_a_friendly_404(app, lot):
    response = browser(app).get("/s/nosuchcode", headers=PHONE)
    assert response.status_code == 404
    assert "链接不存在" in response.text and 'href="/lots"' in response.text
    assert _visits() == 0


def test_an_order_from_a_browser_that_came_through_a_link_is_attributed(app, lot, users):
    code = sharing.links_of(sharing.Target(TargetKind.lot, lot.id), None)[Channel.douyin]
    buyer = browser(app)
    buyer.get(f"/s/{code}", headers=PHONE)
    login(buyer, "buyer", PASSWORD)
    page = f"/lots/{lot.id}/order"
    assert post_form(buyer, page, {"quantity": "10", "unit": "t"}, page=page).status_code == 302
    order = db.session.scalars(select(Order)).one()
    attribution = db.session.get(ShareAttribution, order.id)
    assert attribution is not None and attribution.channel is Channel.douyin
    # another buyer's browser without a visit: not attributed
    other = browser(app, "buyer")
    post_form(other, page, {"quantity": "1", "unit": "t"}, page=page)
    assert db.session.scalar(select(func.count()).select_from(ShareAttribution)) == 1


def test_open_graph_tags_on_a_public_lot_page(app, lot):
    page = browser(app).get(f"/lots/{lot.id}").text
    tags = dict(re.findall(r'<meta property="(og:[a-z]+)" content="([^"]*)">', page))
    assert tags["og:title"] == lot.title
    assert tags["og:type"] == "website"
    assert tags["og:url"] == f"http://localhost/lots/{lot.id}"
    assert tags["og:image"] == (f"http://localhost/lots/{lot.id}/poster.png?channel=wechat_group")
    assert "黑豆" in tags["og:description"] and "40 吨" in tags["og:description"]
    description = re.search(r'<meta name="description" content="([^"]*)">', page).group(1)
    assert description == tags["og:description"]


def test_open_graph_urls_use_the_configured_site(app, lot):
    app.config["SITE_URL"] = "https://zhunong.example.cn"
    page = browser(app).get(f"/lots/{lot.id}?unit=kg").text
    assert (
        f'content="https://zhunong.example.cn/lots/{lot.id}/poster.png?channel=wechat_group"'
        in page
    )
    assert f'content="https://zhunong.example.cn/lots/{lot.id}"' in page
    kit = browser(app).get(f"/lots/{lot.id}/share").text
    assert _link_on(kit).startswith("https://zhunong.example.cn/s/")


def test_a_signed_code_of_a_lot_that_is_gone_counts_nothing(app, lot):
    code = sharing.links_of(sharing.Target(TargetKind.lot, 987654), None)[Channel.sms]
    response = browser(app).get(f"/s/{code}", headers=PHONE)
    assert response.status_code == 302 and response.location == "/lots/987654"
    assert _visits() == 0
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == 0


def test_a_poster_is_drawn_once_until_the_lot_changes(app, lot, users, monkeypatch):
    from produce_match.sharing import poster

    drawn = []
    real = poster.draw
    monkeypatch.setattr(poster, "draw", lambda *a, **k: drawn.append(1) or real(*a, **k))
    client = browser(app)
    first = client.get(f"/lots/{lot.id}/poster.png?channel=weibo").data
    assert client.get(f"/lots/{lot.id}/poster.png?channel=weibo").data == first
    assert len(drawn) == 1
    lots.update_lot(users["coop"], lot, _same_but_price(lot, "3.60"))
    db.session.commit()
    changed = client.get(f"/lots/{lot.id}/poster.png?channel=weibo").data
    assert len(drawn) == 2 and changed != first


def _same_but_price(lot, price: str):
    from produce_match.lots.operations import LotInput

    return LotInput(
        commodity="黑豆",
        quantity="40",
        unit="t",
        price=price,
        price_unit="jin",
        township=lot.township,
        village=lot.village,
    )
