"""County shops: the open lots of an office's jurisdiction, most urgent first, its share area
and the printable flyer with QR codes that decode."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots import operations as lots
from tests.conftest import login
from tests.factories import PASSWORD, make_lot

EN = {"Accept-Language": "en"}


def _day(n: int) -> str:
    return (local_today() + timedelta(days=n)).isoformat()


@pytest.fixture
def world(users):
    """Zhangwu: three open lots (spoiling in 20, 3 and 9 days) and a withdrawn one; a lot in
    Jinzhou (Dalian: the same province, another county)."""
    coop, coop2 = users["coop"], users["coop2"]
    office = users["official"].organisation
    office.phone = "0418-5820000"
    db.session.commit()
    made = {
        "late": make_lot(coop, title="黑豆 20 天", spoil_by=_day(20), village="道亭村"),
        "soon": make_lot(coop, title="黑豆 3 天", spoil_by=_day(3)),
        "mid": make_lot(coop, title="玉米 9 天", commodity="玉米", spoil_by=_day(9)),
        "gone": make_lot(coop, title="撤下的黑豆", spoil_by=_day(1)),
        "jinzhou": make_lot(coop2, title="金州樱桃", commodity="樱桃", spoil_by=_day(5)),
    }
    lots.withdraw_lot(coop, made["gone"])
    db.session.commit()
    return {**users, **made, "office": office}


def _titles(html: str) -> list[str]:
    return re.findall(r'<span class="lot-title">([^<]+)</span>', html)


def test_a_county_shop_lists_its_open_lots_most_urgent_first(client, world):
    page = client.get(f"/shops/{world['office'].id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _titles(html) == ["黑豆 3 天", "玉米 9 天", "黑豆 20 天"]
    assert "撤下的黑豆" not in html and "金州樱桃" not in html  # withdrawn; another county
    assert "彰武县电商办" in html
    assert 'href="tel:0418-5820000"' in html  # the hotline is public
    assert "3 个批次在售" in html


def test_a_province_office_shop_holds_every_county_of_the_province(client, world):
    page = client.get(f"/shops/{world['province_official'].organisation.id}")
    assert _titles(page.get_data(as_text=True)) == [
        "黑豆 3 天",
        "金州樱桃",
        "玉米 9 天",
        "黑豆 20 天",
    ]


def test_only_offices_have_shops(client, world):
    assert client.get(f"/shops/{world['coop'].organisation.id}").status_code == 404
    assert client.get(f"/shops/{world['buyer'].organisation.id}").status_code == 404
    assert client.get("/shops/999999").status_code == 404
    assert client.get("/shops/99999999999").status_code == 404


def test_the_shop_list_counts_each_jurisdiction(client, world):
    html = client.get("/shops", headers=EN).get_data(as_text=True)
    assert "辽宁省农业农村厅" in html and "彰武县电商办" in html
    assert "4 lots on offer" in html  # the province: Zhangwu's three and Jinzhou's cherries
    assert "3 lots on offer" in html


def test_the_shop_is_paginated(client, world, monkeypatch):
    monkeypatch.setattr("produce_match.web.shops.PER_PAGE", 2)
    first = client.get(f"/shops/{world['office'].id}").get_data(as_text=True)
    second = client.get(f"/shops/{world['office'].id}?page=2").get_data(as_text=True)
    assert _titles(first) == ["黑豆 3 天", "玉米 9 天"]
    assert _titles(second) == ["黑豆 20 天"]
    assert 'rel="next"' in first and 'rel="prev"' in second
    # a page past the end shows the last one; a word is the first
    assert _titles(client.get(f"/shops/{world['office'].id}?page=9").get_data(as_text=True)) == [
        "黑豆 20 天"
    ]
    assert client.get(f"/shops/{world['office'].id}?page=x").status_code == 200


def test_the_shop_has_open_graph_tags_feeds_and_a_share_area(client, world):
    office = world["office"]
    html = client.get(f"/shops/{office.id}").get_data(as_text=True)
    assert f'<meta property="og:url" content="http://localhost/shops/{office.id}">' in html
    assert '<meta property="og:title" content="彰武县电商办的县域店铺">' in html
    assert re.search(r'<meta name="description" content="[^"]*3[^"]*">', html)
    assert 'type="application/feed+json"' in html and 'type="application/atom+xml"' in html
    county = office.county_code
    assert f"/feeds/lots.json?county={county}" in html
    assert 'id="share"' in html and "<svg" in html
    # the ready-to-paste texts carry the shop's short link of their own channel
    texts = re.findall(r"<textarea[^>]*>([^<]+)</textarea>", html)
    assert len(texts) == 5
    links = [re.search(r"http://localhost/s/\w+", t).group() for t in texts]
    assert len(set(links)) == 5
    assert {_followed(client, link) for link in links} == {f"/shops/{office.id}"}
    assert any("#助农" in t for t in texts)


def test_the_shop_is_kept_for_visitors_and_follows_a_new_lot(client, world):
    path = f"/shops/{world['office'].id}"
    assert "新的黑豆" not in client.get(path).get_data(as_text=True)
    make_lot(world["coop"], title="新的黑豆", spoil_by=_day(2))
    assert _titles(client.get(path).get_data(as_text=True))[0] == "新的黑豆"


def test_officials_find_their_shop_and_lots_link_to_theirs(client, world):
    login(client, "official", PASSWORD)
    html = client.get("/monitor/").get_data(as_text=True)
    assert f'href="/shops/{world["office"].id}"' in html
    lot_page = client.get(f"/lots/{world['soon'].id}").get_data(as_text=True)
    assert f'href="/shops/{world["office"].id}"' in lot_page
    assert f'href="/shops/{world["province_official"].organisation.id}"' in lot_page
    assert f'href="/shops/{world["other_official"].organisation.id}"' not in lot_page


def _decoded(svg: str) -> str:
    """The text of an inline SVG QR code, read by a real decoder from a rendering."""
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    pixels = image.load()
    # segno's path: "M x y h w v ... " in module units; paint it by re-making the matrix
    path = re.search(r'stroke="#000" d="([^"]+)"', svg).group(1)
    x = y = 0.0
    for cmd, a, b in re.findall(r"([Mmhv])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        elif cmd == "h":
            x2 = x + float(a)
            row = int(y - 0.5)
            for col in range(int(min(x, x2)), int(max(x, x2))):
                for dy in range(scale):
                    for dx in range(scale):
                        pixels[col * scale + dx, row * scale + dy] = 0
            x = x2
        elif cmd == "v":
            y += float(a)
    found = zxingcpp.read_barcodes(image)
    assert found, "no QR code found"
    return found[0].text


def _followed(client, short_link: str) -> str:
    """Where a short link leads (its redirect), as a path."""
    assert short_link.startswith("http://localhost/s/")
    response = client.get(urlsplit(short_link).path)
    assert response.status_code == 302
    return urlsplit(response.headers["Location"]).path


def _qr_texts(html: str) -> list[str]:
    return [_decoded(svg) for svg in re.findall(r"<svg.*?</svg>", html, re.S)]


def test_the_flyer_shows_the_most_urgent_lots_with_qr_codes_that_decode(app, client, world):
    office = world["office"]
    page = client.get(f"/shops/{office.id}/flyer")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "@page { size: A4" in (Path(app.static_folder) / "css" / "flyer.css").read_text()
    assert re.findall(r"<h2>([^<]+)</h2>", html)[:3] == ["黑豆", "玉米", "黑豆"]
    assert "道亭村" in html and "还剩 3 天" in html and "0418-5820000" in html
    urls = [_followed(client, url) for url in _qr_texts(html)]
    lot_urls = [f"/lots/{world[k].id}" for k in ("soon", "mid", "late")]
    assert urls == [*lot_urls, f"/shops/{office.id}"]


def test_the_flyer_shows_the_lots_the_official_ticks(client, world):
    office = world["office"]
    ids = [world["late"].id, world["gone"].id, world["jinzhou"].id, world["mid"].id]
    query = "&".join(f"lot={i}" for i in ids) + "&lot=junk"
    html = client.get(f"/shops/{office.id}/flyer?{query}").get_data(as_text=True)
    # the withdrawn lot and the other county's lot are left out; most urgent first
    assert [_followed(client, url) for url in _qr_texts(html)[:-1]] == [
        f"/lots/{world['mid'].id}",
        f"/lots/{world['late'].id}",
    ]
    assert f'value="{world["late"].id}" checked' in html


def test_the_qr_targets_come_from_one_function(app, client, world, monkeypatch):
    from produce_match.web import shops

    seen = []

    def link(kind, target_id, channel):
        seen.append(channel)
        return f"https://s.example/{channel}/{kind.value}/{target_id}"

    monkeypatch.setattr(shops, "public_link", link)
    html = client.get(f"/shops/{world['office'].id}/flyer").get_data(as_text=True)
    assert set(seen) == {"print"}
    assert _qr_texts(html)[0] == f"https://s.example/print/lot/{world['soon'].id}"
