"""Attribution: an order goes to the channel of the browser's first share-link visit within the
14 days before it; and the figures by channel, each seen only by whom it concerns."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.orders.models import Order
from produce_match.sharing import operations as sharing
from produce_match.sharing import queries
from produce_match.sharing.models import Channel, ShareAttribution, TargetKind
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_lot

PHONE = {"User-Agent": "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile MicroMessenger"}
DAY = timedelta(days=1)


def _code(lot, channel: Channel) -> str:
    return sharing.links_of(sharing.Target(TargetKind.lot, lot.id), None)[channel]


def _visit(lot, channel: Channel, browser: str, at) -> None:
    sharing.record_visit(
        _code(lot, channel), sharing.visitor_key(browser, sharing.visit_day(at)), at
    )
    db.session.commit()


def _order(users, lot, tonnes: str = "1", at=None) -> Order:
    order = orders.place_order(users["buyer"], lot, tonnes, "t", now=at)
    db.session.commit()
    return order


def _attributed(order: Order, browser: str, now) -> Channel | None:
    sharing.attribute_order(order, browser, now)
    db.session.commit()
    row = db.session.get(ShareAttribution, order.id)
    return row.channel if row else None


@pytest.mark.parametrize(
    ("visits", "expected"),
    [
        # (channel, days before the order) of one browser's visits -> the channel credited
        ([(Channel.wechat_group, 10), (Channel.douyin, 2)], Channel.wechat_group),
        ([(Channel.douyin, 2), (Channel.wechat_group, 0.01)], Channel.douyin),
        ([(Channel.moments, 13.9)], Channel.moments),
        ([(Channel.moments, 14.1)], None),  # outside the window
        ([(Channel.moments, 15), (Channel.weibo, 3)], Channel.weibo),  # the first within it
        ([(Channel.sms, -0.5)], None),  # after the order
        ([], None),
    ],
)
def test_the_first_visit_within_14_days_wins(users, lot, visits, expected):
    now = utcnow()
    for channel, days in visits:
        _visit(lot, channel, "browser-of-the-buyer-1", now - timedelta(days=days))
    order = _order(users, lot, at=now)
    assert _attributed(order, "browser-of-the-buyer-1", now) is expected


def test_another_browsers_visits_do_not_count(users, lot):
    now = utcnow()
    _visit(lot, Channel.weibo, "someone-elses-browser-1", now - DAY)
    assert _attributed(_order(users, lot, at=now), "browser-of-the-buyer-1", now) is None


def test_an_order_is_attributed_once(users, lot):
    now = utcnow()
    _visit(lot, Channel.weibo, "browser-of-the-buyer-1", now - 2 * DAY)
    order = _order(users, lot, at=now)
    assert _attributed(order, "browser-of-the-buyer-1", now) is Channel.weibo
    assert not sharing.attribute_order(order, "browser-of-the-buyer-1", now)
    assert db.session.scalar(select(func.count()).select_from(ShareAttribution)) == 1


def test_through_the_pages_a_visit_older_than_14_days_is_not_credited(app, users, lot, monkeypatch):
    client = app.test_client()
    then = utcnow() - timedelta(days=15)
    monkeypatch.setattr("produce_match.web.sharing.utcnow", lambda: then)
    client.get(f"/s/{_code(lot, Channel.kuaishou)}", headers=PHONE)
    login(client, "buyer", PASSWORD)
    page = f"/lots/{lot.id}/order"
    assert post_form(client, page, {"quantity": "1", "unit": "t"}, page=page).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(ShareAttribution)) == 0
    # a visit today through another link: that one is the first within the window
    monkeypatch.setattr("produce_match.web.sharing.utcnow", utcnow)
    client.get(f"/s/{_code(lot, Channel.moments)}", headers=PHONE)
    assert post_form(client, page, {"quantity": "1", "unit": "t"}, page=page).status_code == 302
    credited = db.session.scalars(select(ShareAttribution)).all()
    assert [a.channel for a in credited] == [Channel.moments]


def _row(rows, channel: Channel):
    return next(r for r in rows if r.channel is channel)


@pytest.fixture
def shared(users, lot):
    """Zhangwu's beans: 3 WeChat-group visits, 1 Douyin; two orders credited to the group
    (10 t and 2 t, the 2 t cancelled), one to Douyin (5 t). Jinzhou's cherries: 1 Weibo visit
    and an order of 1 t credited to Weibo."""
    now = utcnow()
    for n in range(3):
        _visit(lot, Channel.wechat_group, f"browser-{n}-abcdefgh", now - DAY)
    _visit(lot, Channel.douyin, "browser-9-abcdefgh", now - DAY)
    first = _order(users, lot, "10", at=now)
    _attributed(first, "browser-0-abcdefgh", now)
    cancelled = _order(users, lot, "2", at=now)
    _attributed(cancelled, "browser-1-abcdefgh", now)
    orders.cancel(users["buyer"], cancelled, "changed my mind")
    db.session.commit()
    _attributed(_order(users, lot, "5", at=now), "browser-9-abcdefgh", now)
    cherries = make_lot(
        users["coop2"], commodity="樱桃", quantity="2", unit="t", price="30", price_unit="kg"
    )
    _visit(cherries, Channel.weibo, "browser-5-abcdefgh", now - DAY)
    _attributed(_order(users, cherries, "1", at=now), "browser-5-abcdefgh", now)
    return {"lot": lot, "cherries": cherries}


def test_figures_by_channel(users, shared):
    rows = queries.for_lot(shared["lot"].id)
    assert [r.channel for r in rows] == list(Channel)
    group = _row(rows, Channel.wechat_group)
    assert (group.visits, group.orders, group.grams) == (3, 1, 10_000_000)
    assert group.fen == 10_000 * 680  # 10 t at 3.40 元/斤 = 6.80 元/kg
    douyin = _row(rows, Channel.douyin)
    assert (douyin.visits, douyin.orders, douyin.grams) == (1, 1, 5_000_000)
    assert _row(rows, Channel.weibo).visits == 0
    zhangwu = queries.for_place(*_place(shared["lot"]))
    assert _row(zhangwu, Channel.weibo).orders == 0
    assert _row(zhangwu, Channel.wechat_group).visits == 3
    liaoning = queries.for_place(shared["lot"].province_code, None)
    assert _row(liaoning, Channel.weibo).orders == 1
    assert _row(liaoning, Channel.weibo).as_json() == {
        "channel": "weibo",
        "visits": 1,
        "orders": 1,
        "kg": "1000.000",
        "yuan": "30000.00",
    }
    assert queries.for_shop(users["official"].organisation_id)[0].visits == 0


def _place(lot):
    return lot.province_code, lot.county_code


def _cells(section: str, channel: str) -> list[str]:
    row = re.search(rf'data-channel="{channel}">(.*?)</tr>', section).group(1)
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row)]


def _figures_section(page: str) -> str | None:
    match = re.search(r'id="share-figures".*?</section>', page, re.S)
    return match.group(0) if match else None


def test_only_the_cooperative_sees_its_lots_figures(app, shared):
    lot = shared["lot"]
    own = app.test_client()
    login(own, "coop", PASSWORD)
    section = _figures_section(own.get(f"/lots/{lot.id}").text)
    assert section is not None
    assert _cells(section, "wechat_group") == ["微信群", "3", "1", "10 吨", "68,000.00 元"]
    for who in ("coop2", "buyer", "official", None):
        client = app.test_client()
        if who:
            login(client, who, PASSWORD)
        assert _figures_section(client.get(f"/lots/{lot.id}").text) is None, who


def _dashboard_row(page: str, channel: str) -> list[str]:
    return _cells(re.search(r'id="share-channels".*?</section>', page, re.S).group(0), channel)


def test_the_dashboard_shows_the_jurisdictions_channels_only(app, shared):
    county = app.test_client()
    login(county, "official", PASSWORD)
    page = county.get("/monitor/").text
    assert _dashboard_row(page, "wechat_group")[:3] == ["微信群", "3", "1"]
    assert _dashboard_row(page, "weibo")[:3] == ["微博", "0", "0"]  # Jinzhou's is not Zhangwu's
    province = app.test_client()
    login(province, "provincial", PASSWORD)
    assert _dashboard_row(province.get("/monitor/").text, "weibo")[:3] == ["微博", "1", "1"]
    jiangxi = app.test_client()
    login(jiangxi, "jiangxi", PASSWORD)
    assert _dashboard_row(jiangxi.get("/monitor/").text, "wechat_group")[:3] == ["微信群", "0", "0"]


def _token(client, login_name):
    return client.post(
        "/api/v1/tokens", json={"login": login_name, "password": PASSWORD, "name": "t"}
    ).json["token"]


def test_the_stats_api_gives_by_channel(client, shared):
    def get(who, url="/api/v1/stats"):
        return client.get(url, headers={"Authorization": f"Bearer {_token(client, who)}"})

    body = get("official").json
    assert "lots_open" in body and "by_place" in body  # the fields it had stay
    assert [r["channel"] for r in body["by_channel"]] == [c.value for c in Channel]
    group = body["by_channel"][0]
    assert group == {
        "channel": "wechat_group",
        "visits": 3,
        "orders": 1,
        "kg": "10000.000",
        "yuan": "68000.00",
    }
    assert get("jiangxi").json["by_channel"][0]["visits"] == 0
    assert get("coop").status_code == 404
    schema = client.get("/api/v1/openapi.json").json
    documented = schema["paths"]["/api/v1/stats"]["get"]["responses"]["200"]
    items = documented["content"]["application/json"]["schema"]["properties"]["by_channel"]
    assert set(items["items"]["required"]) == {"channel", "visits", "orders", "kg", "yuan"}
