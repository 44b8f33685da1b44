"""A cooperative posting or accepting below PRICE_WARNING_PERCENT % of the reference price in
force is warned, and nothing is written until it confirms: in the pages and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from produce_match.config import ConfigError, build_config
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.market import operations as market
from produce_match.market.queries import Source
from produce_match.market.warnings import price_warning
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_lot
from tests.market.conftest import LIAONING, XINMIN, ZHANGWU, set_reference

ZH = {"Accept-Language": "zh-CN"}


def count_lots() -> int:
    return db.session.scalar(select(func.count()).select_from(Lot))


def token(client, who: str, lang: str = "zh-CN") -> dict[str, str]:
    value = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {value}", "Accept-Language": lang}


@pytest.fixture
def reference(users):
    """Black beans in Zhangwu: 6.00 元/公斤 from a week ago."""
    set_reference(users["official"], ZHANGWU, "6.00", local_today() - timedelta(days=7))


def test_the_warning_compares_exactly_per_tonne(app, users, beans, reference):
    assert price_warning(beans.id, LIAONING, ZHANGWU, 480_000) is None  # exactly 80 %
    assert price_warning(beans.id, LIAONING, ZHANGWU, 600_000) is None
    just_below = price_warning(beans.id, LIAONING, ZHANGWU, 479_999)
    assert just_below is not None and just_below.percent == 79
    warning = price_warning(beans.id, LIAONING, ZHANGWU, 400_000)
    assert (warning.reference_fen_per_t, warning.threshold_percent, warning.percent) == (
        600_000,
        80,
        66,
    )
    assert warning.source is Source.county
    # no reference for the commodity, or anywhere in the province: no warning
    assert price_warning(beans.id + 1, LIAONING, ZHANGWU, 1) is None
    assert price_warning(beans.id, "360000", "360102", 1) is None
    # a county of the province without its own price: the province's
    assert price_warning(beans.id, LIAONING, XINMIN, 400_000).source is Source.province
    # the share is a setting; 0 never warns
    app.config["PRICE_WARNING_PERCENT"] = 50
    assert price_warning(beans.id, LIAONING, ZHANGWU, 400_000) is None
    app.config["PRICE_WARNING_PERCENT"] = 0
    assert price_warning(beans.id, LIAONING, ZHANGWU, 1) is None


def test_the_setting_is_a_percentage(tmp_path):
    assert build_config(str(tmp_path), environ={})["PRICE_WARNING_PERCENT"] == 80
    assert (
        build_config(str(tmp_path), environ={"PRICE_WARNING_PERCENT": "70"})[
            "PRICE_WARNING_PERCENT"
        ]
        == 70
    )
    for bad in ("101", "-1", "eighty"):
        with pytest.raises(ConfigError):
            build_config(str(tmp_path), environ={"PRICE_WARNING_PERCENT": bad})


def test_the_message_says_price_reference_and_share_in_chinese(app, users, reference):
    data = lots.LotInput(commodity="黑豆", quantity="10", unit="t", price="4", price_unit="kg")
    with app.test_request_context(headers=ZH):
        with pytest.raises(market.PriceBelowReference) as warned:
            market.post_lot(users["coop"], users["coop"].organisation, data, confirmed=False)
        assert str(warned.value.message) == (
            "您的报价 4.00 元/公斤，低于本县参考价 6.00 元/公斤的 80%（只有 66%）。确认仍要发布吗？"
        )
        assert warned.value.status == 409 and warned.value.code == "below_reference"
    assert count_lots() == 0


# --- posting from the page -----------------------------------------------------------------

FORM = {"commodity": "黑豆", "quantity": "10", "unit": "t", "price": "4.00", "price_unit": "kg"}


def test_posting_low_on_the_page_warns_then_posts_once_confirmed(client, users, reference):
    login(client, "coop", PASSWORD)
    warned = post_form(client, "/lots/new", FORM, page="/lots/new", headers=ZH)
    assert warned.status_code == 409
    html = warned.get_data(as_text=True)
    assert "低于本县参考价 6.00 元/公斤的 80%（只有 66%）" in html
    assert 'name="confirm_low_price" value="1"' in html and "仍按此价发布" in html
    assert 'value="4.00"' in html  # the form comes back as typed
    assert count_lots() == 0
    confirmed = post_form(
        client, "/lots/new", {**FORM, "confirm_low_price": "1"}, page="/lots/new", headers=ZH
    )
    assert confirmed.status_code == 302
    lot = db.session.scalar(select(Lot))
    assert lot.price_fen_per_t == 400_000


def test_posting_at_or_above_the_share_or_without_reference_is_not_warned(client, users):
    login(client, "coop", PASSWORD)
    # no reference price yet
    assert post_form(client, "/lots/new", FORM, page="/lots/new").status_code == 302
    set_reference(users["official"], ZHANGWU, "5.00")
    assert post_form(client, "/lots/new", FORM, page="/lots/new").status_code == 302  # 80 %
    assert count_lots() == 2


def test_editing_the_price_low_on_the_page_warns_then_saves(client, users, reference):
    lot = make_lot(users["coop"], quantity="10", unit="t", price="6.50", price_unit="kg")
    login(client, "coop", PASSWORD)
    url = f"/lots/{lot.id}/edit"
    form = {**FORM, "title": "彰武黑豆", "province": LIAONING, "county": "彰武县",
            "settlement_terms": "on_delivery"}  # fmt: skip
    warned = post_form(client, url, form, page=url, headers=ZH)
    assert warned.status_code == 409
    assert "仍按此价保存" in warned.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).price_fen_per_t == 650_000
    saved = post_form(client, url, {**form, "confirm_low_price": "1"}, page=url)
    assert saved.status_code == 302
    db.session.expire_all()
    low = db.session.get(Lot, lot.id)
    assert low.price_fen_per_t == 400_000
    # editing something else of a lot already low is not warned again
    again = post_form(client, url, {**form, "quantity": "12"}, page=url)
    assert again.status_code == 302


# --- posting through the API ---------------------------------------------------------------

BODY = {"commodity": "黑豆", "quantity": "10", "unit": "t", "price": "4.00", "price_unit": "kg"}


def test_posting_low_through_the_api_is_409_with_the_figures(client, users, reference):
    headers = token(client, "coop")
    warned = client.post("/api/v1/lots", json=BODY, headers=headers)
    assert warned.status_code == 409
    error = warned.json["error"]
    assert error["code"] == "below_reference"
    assert "6.00 元/公斤" in error["message"]
    assert error["details"] == {
        "price_fen_per_t": 400_000,
        "reference_fen_per_t": 600_000,
        "reference_source": "county",
        "reference_valid_from": (local_today() - timedelta(days=7)).isoformat(),
        "threshold_percent": 80,
        "percent": 66,
    }
    assert count_lots() == 0
    posted = client.post("/api/v1/lots", json={**BODY, "confirm_low_price": True}, headers=headers)
    assert posted.status_code == 201, posted.json
    assert posted.json["price_fen"] == 400 and count_lots() == 1
    # above the share: no confirmation needed
    fine = client.post("/api/v1/lots", json={**BODY, "price": "5.50"}, headers=headers)
    assert fine.status_code == 201


def test_lowering_a_price_through_the_api_is_warned(client, users, reference):
    lot = make_lot(users["coop"], quantity="10", unit="t", price="6.50", price_unit="kg")
    headers = token(client, "coop", "en")
    warned = client.patch(f"/api/v1/lots/{lot.id}", json={"price": "3.00"}, headers=headers)
    assert warned.status_code == 409 and warned.json["error"]["code"] == "below_reference"
    assert "county's reference price 6.00 yuan/kg" in warned.json["error"]["message"]
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).price_fen_per_t == 650_000
    saved = client.patch(
        f"/api/v1/lots/{lot.id}", json={"price": "3.00", "confirm_low_price": True}, headers=headers
    )
    assert saved.status_code == 200 and saved.json["price_fen"] == 300


# --- accepting an order --------------------------------------------------------------------


@pytest.fixture
def low_order(users, reference) -> Order:
    """An order reserved on a lot posted (before the reference) at 4.00 元/公斤."""
    lot = lots.create_lot(
        users["coop"],
        users["coop"].organisation,
        lots.LotInput(commodity="黑豆", quantity="10", unit="t", price="4.00", price_unit="kg"),
    )
    order = orders.place_order(users["buyer"], lot, "2", "t")
    db.session.commit()
    return order


def _status(order: Order) -> OrderStatus:
    db.session.expire_all()
    return db.session.get(Order, order.id).status


def test_accepting_low_on_the_page_warns_then_accepts(client, users, low_order):
    login(client, "coop", PASSWORD)
    url = f"/orders/{low_order.id}/accept"
    page = f"/orders/{low_order.id}"
    warned = post_form(client, url, {}, page=page, headers=ZH)
    assert warned.status_code == 409
    html = warned.get_data(as_text=True)
    assert "该订单的价格 4.00 元/公斤，低于本县参考价 6.00 元/公斤的 80%（只有 66%）" in html
    assert "仍接受此订单" in html
    assert _status(low_order) is OrderStatus.reserved
    accepted = post_form(client, url, {"confirm_low_price": "1"}, page=page)
    assert accepted.status_code == 302
    assert _status(low_order) is OrderStatus.awaiting_payment


def test_accepting_low_through_the_api_is_409_until_confirmed(client, users, low_order):
    headers = token(client, "coop")
    url = f"/api/v1/orders/{low_order.id}/accept"
    warned = client.post(url, json={}, headers=headers)
    assert warned.status_code == 409
    assert warned.json["error"]["code"] == "below_reference"
    assert warned.json["error"]["details"]["reference_fen_per_t"] == 600_000
    assert _status(low_order) is OrderStatus.reserved
    accepted = client.post(url, json={"confirm_low_price": True}, headers=headers)
    assert accepted.status_code == 200 and accepted.json["status"] == "awaiting_payment"


def test_an_order_at_a_fair_price_is_accepted_without_warning(client, users, reference):
    lot = make_lot(users["coop"], quantity="10", unit="t", price="5.00", price_unit="kg")
    order = orders.place_order(users["buyer"], lot, "2", "t")
    db.session.commit()
    accepted = client.post(
        f"/api/v1/orders/{order.id}/accept", headers=token(client, "coop"), json={}
    )
    assert accepted.status_code == 200
    # with no body at all, as before
    other = orders.place_order(users["buyer"], lot, "1", "t")
    db.session.commit()
    assert (
        client.post(f"/api/v1/orders/{other.id}/accept", headers=token(client, "coop")).status_code
        == 200
    )


def test_a_warned_step_that_is_not_allowed_gives_its_own_error(client, users, low_order):
    """Only a reservation is warned about: the wrong side, or an accepted order, is refused as
    before (the warning never tells a stranger the reference)."""
    buyer = client.post(
        f"/api/v1/orders/{low_order.id}/accept", json={}, headers=token(client, "buyer")
    )
    assert buyer.status_code == 403
    market.accept_order(users["coop"], low_order, confirmed=True)
    db.session.commit()
    again = client.post(
        f"/api/v1/orders/{low_order.id}/accept", json={}, headers=token(client, "coop")
    )
    assert again.status_code == 409 and again.json["error"]["code"] != "below_reference"
