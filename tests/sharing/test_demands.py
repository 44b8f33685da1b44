"""Buyers share their demands so that sellers find them; the links lead to the buyer."""

from __future__ import annotations

import io
import re

import zxingcpp
from PIL import Image
from sqlalchemy import select

from produce_match.demands import operations as demands
from produce_match.extensions import db
from produce_match.sharing.models import Channel, ShareLink, ShareVisit, TargetKind
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_demand

PHONE = {"User-Agent": "Mozilla/5.0 (Linux; Android 13) Mobile MicroMessenger"}


def _client(app, who=None):
    client = app.test_client()
    if who:
        login(client, who, PASSWORD)
    return client


def test_a_buyer_shares_a_demand_and_sellers_land_on_the_buyer(app, users):
    demand = make_demand(users["buyer"])
    buyer = _client(app, "buyer")
    assert f'href="/demands/{demand.id}/share"' in buyer.get(f"/demands/{demand.id}").text
    kit = f"/demands/{demand.id}/share"
    response = post_form(buyer, kit, {"channel": "weibo"}, page=kit)
    assert response.location == f"{kit}?channel=weibo"
    page = buyer.get(response.location).text
    url = re.search(r'id="share-link"[^>]*value="([^"]+)"', page).group(1)
    text = re.search(r'<textarea id="share-text"[^>]*>([^<]*)</textarea>', page).group(1)
    assert "求购" in text and "黑豆" in text and url in text and "#助农" in text
    link = db.session.scalar(select(ShareLink).where(ShareLink.code == url.rsplit("/", 1)[1]))
    assert (link.kind, link.demand_id, link.sharer_id) == (
        TargetKind.demand,
        demand.id,
        users["buyer"].id,
    )
    png = buyer.get(f"/demands/{demand.id}/poster.png?channel=weibo").data
    image = Image.open(io.BytesIO(png))
    assert image.size == (1080, 1440)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [url]
    # a seller follows it: the buyer's public profile (demands themselves are private)
    seller = _client(app)
    followed = seller.get(url.replace("http://localhost", ""), headers=PHONE)
    assert followed.status_code == 302
    assert followed.location == f"/organisations/{users['buyer'].organisation_id}"
    assert db.session.query(ShareVisit).count() == 1
    assert link.channel is Channel.weibo


def test_only_those_who_see_a_demand_share_it(app, users):
    demand = make_demand(users["buyer"])
    kit = f"/demands/{demand.id}/share"
    assert _client(app).get(kit).status_code == 302  # log in first
    assert _client(app, "coop").get(kit).status_code in (403, 404)
    assert _client(app, "jiangxi").get(kit).status_code == 200  # the delivery place's office
    assert _client(app, "coop").get(f"/demands/{demand.id}/poster.png?channel=sms").status_code in (
        403,
        404,
    )
    demands.move(users["buyer"], demand, "pause")
    db.session.commit()
    assert _client(app, "buyer").get(kit).status_code == 404  # only active demands
