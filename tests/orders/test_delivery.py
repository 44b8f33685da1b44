"""Where an order goes and who receives it: filled from the buyer's demand or organisation,
changed by the buyer until dispatch, shown to the cooperative once it accepts, on the delivery
note, in the API and the officials' export; distance and arrival count to the delivery county."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from produce_match import policy
from produce_match.audit.operations import history
from produce_match.dates import local_today
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.notifications.models import Notification
from produce_match.orders import operations as orders
from produce_match.orders import queries
from produce_match.orders.models import Order
from produce_match.orders.operations import DeliveryInput, NotAllowed
from tests.conftest import export_file, login, post_form
from tests.factories import PASSWORD, make_demand

pytestmark = pytest.mark.usefixtures("index_left_to_its_queue")

HOME = DeliveryInput("江西", "东湖区", "八一大道 1 号 3 号仓库", "李收货", "13907910001")


def place(users, lot, **kwargs) -> Order:
    order = orders.place_order(users["buyer"], lot, "10", "t", **kwargs)
    db.session.commit()
    return order


def accepted(users, lot, **kwargs) -> Order:
    order = place(users, lot, **kwargs)
    orders.accept(users["coop"], order)
    db.session.commit()
    return order


def browser(app, who: str):
    client = app.test_client()
    login(client, who, PASSWORD)
    return client


# --- filled in --------------------------------------------------------------------------------


def test_an_order_goes_to_the_buyers_organisation_by_default(users, lot):
    order = place(users, lot)
    assert (order.delivery_province.name, order.delivery_county.name) == ("江西省", "东湖区")
    assert order.delivery_region == "江西省 东湖区"
    assert (order.receiver_name, order.receiver_phone) == ("buyer", "13800138000")
    placed = history(order)[0]
    assert placed.action == "placed" and placed.changes["delivery_county_code"] == "360102"


def test_an_order_goes_where_the_buyers_demand_for_the_commodity_says(users, lot):
    make_demand(users["buyer"], province="北京", county="丰台区")
    make_demand(users["buyer"], commodity="玉米", province="上海", county="浦东新区")
    order = place(users, lot)  # black beans: the black bean demand's place
    assert order.delivery_region == "北京市 丰台区"
    assert order.delivery_address is None  # the organisation's address is elsewhere


def test_what_the_buyer_types_wins_and_is_checked(users, lot):
    order = place(users, lot, delivery=HOME)
    assert order.delivery_place == "江西省 东湖区 八一大道 1 号 3 号仓库"
    assert (order.receiver_name, order.receiver_phone) == ("李收货", "13907910001")
    bad = DeliveryInput("江西", "不存在县", "x" * 201, "", "call me")
    with pytest.raises(ValidationFailed) as info:
        orders.place_order(users["buyer"], lot, "1", "t", delivery=bad)
    assert set(info.value.fields) == {
        "delivery_county",
        "delivery_address",
        "receiver_name",
        "receiver_phone",
    }
    db.session.rollback()
    assert db.session.query(Order).count() == 1
    assert db.session.get(Lot, lot.id).remaining_g == 30_000_000  # nothing reserved


# --- changed by the buyer, until dispatch -----------------------------------------------------


def test_the_buyer_changes_the_delivery_until_dispatch(users, lot):
    order = accepted(users, lot)
    assert orders.change_delivery(users["buyer"], order, DeliveryInput(address="新仓库 2 号门"))
    db.session.commit()
    assert order.delivery_address == "新仓库 2 号门" and order.delivery_county.name == "东湖区"
    event = history(order)[-1]
    assert event.action == "delivery_changed" and event.actor_id == users["buyer"].id
    assert event.changes == {"delivery_address": [None, "新仓库 2 号门"]}
    told = db.session.query(Notification).filter_by(kind="order.delivery_changed").all()
    assert [n.user_id for n in told] == [users["coop"].id]
    # moving it to another county moves the estimates with it
    near = queries.delivery_estimate(order)
    orders.change_delivery(users["buyer"], order, DeliveryInput(province="辽宁", county="彰武"))
    db.session.commit()
    assert queries.delivery_estimate(order).distance_km < near.distance_km
    for who in ("coop", "official", "admin"):
        with pytest.raises(NotAllowed):
            orders.change_delivery(users[who], order, HOME)
        assert not policy.can(users[who], "change_delivery", order)
    orders.mark_paid(order)
    orders.dispatch(users["coop"], order, "辽A12345", "13900000000", "10", "t")
    db.session.commit()
    with pytest.raises(Conflict) as info:
        orders.change_delivery(users["buyer"], order, HOME)
    assert info.value.code == "delivery_fixed"


def test_a_change_to_nothing_new_records_nothing(users, lot):
    order = place(users, lot, delivery=HOME)
    assert not orders.change_delivery(users["buyer"], order, HOME)
    assert [e.action for e in history(order)] == ["placed"]


# --- who sees it ------------------------------------------------------------------------------


def test_the_cooperative_sees_address_and_receiver_once_it_accepts(users, lot):
    order = place(users, lot, delivery=HOME)
    assert not policy.can(users["coop"], "view_delivery", order)
    for who in ("buyer", "official", "admin"):
        assert policy.can(users[who], "view_delivery", order)
    orders.accept(users["coop"], order)
    db.session.commit()
    assert policy.can(users["coop"], "view_delivery", order)


def test_the_order_pages_show_the_delivery_to_each_side(app, users, lot):
    order = place(users, lot, delivery=HOME)
    coop = browser(app, "coop")
    page = coop.get(f"/orders/{order.id}").text
    assert "江西省 东湖区" in page
    assert "八一大道" not in page and "13907910001" not in page
    assert "接受订单后显示" in page
    assert "八一大道" not in coop.get(f"/orders/{order.id}/note").text
    # the cooperative's page links to the buyer, with its phone
    assert f'href="/organisations/{order.buyer_org_id}"' in page
    users["buyer"].organisation.phone = "079188880000"
    db.session.commit()
    assert 'href="tel:079188880000"' in coop.get(f"/orders/{order.id}").text
    orders.accept(users["coop"], order)
    db.session.commit()
    page = coop.get(f"/orders/{order.id}").text
    assert "八一大道 1 号 3 号仓库" in page and 'href="tel:13907910001"' in page
    assert "李收货" in page
    assert "公里" in page and "最早" in page  # distance and arrival to the delivery county
    note = coop.get(f"/orders/{order.id}/note").text
    assert "江西省 东湖区 八一大道 1 号 3 号仓库" in note and "13907910001" in note


def test_the_buyer_changes_the_delivery_on_the_order_page(app, users, lot):
    order = place(users, lot)
    buyer = browser(app, "buyer")
    page = f"/orders/{order.id}"
    assert f'action="/orders/{order.id}/delivery"' in buyer.get(page).text
    fields = {
        "delivery_province": "360000",
        "delivery_county": "东湖区",
        "delivery_address": "八一大道 9 号",
        "receiver_name": "王收货",
        "receiver_phone": "139 0791 0002",
    }
    response = post_form(buyer, f"/orders/{order.id}/delivery", fields, page=page)
    assert response.status_code == 302
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.delivery_address, order.receiver_phone) == ("八一大道 9 号", "13907910002")
    # an empty receiver's phone is refused with a message, and changes nothing
    bad = post_form(
        buyer, f"/orders/{order.id}/delivery", {**fields, "receiver_phone": ""}, page=page
    )
    assert bad.status_code == 422 and "请填写收货人的电话" in bad.text
    db.session.expire_all()
    assert db.session.get(Order, order.id).receiver_phone == "13907910002"
    # the cooperative has no such form, and may not post it
    coop = browser(app, "coop")
    assert "/delivery" not in coop.get(page).text
    assert coop.post(f"/orders/{order.id}/delivery").status_code in (400, 403)


def test_the_order_form_is_filled_with_the_default_delivery(app, users, lot):
    buyer = browser(app, "buyer")
    page = f"/lots/{lot.id}/order"
    form = buyer.get(page).text
    assert 'value="13800138000"' in form and 'value="东湖区"' in form
    fields = {
        "quantity": "10",
        "unit": "t",
        "delivery_province": "360000",
        "delivery_county": "东湖区",
        "delivery_address": "",
        "receiver_name": "赵收货",
        "receiver_phone": "",
    }
    refused = post_form(buyer, page, fields, page=page)
    assert refused.status_code == 422 and "请填写收货人的电话" in refused.text
    assert db.session.query(Order).count() == 0
    response = post_form(buyer, page, {**fields, "receiver_phone": "13907910003"}, page=page)
    assert response.status_code == 302
    order = db.session.query(Order).one()
    assert (order.receiver_name, order.receiver_phone) == ("赵收货", "13907910003")


# --- estimates --------------------------------------------------------------------------------


def test_distance_and_arrival_count_to_the_delivery_county(users, lot):
    order = place(users, lot, delivery=HOME)
    estimate = queries.delivery_estimate(order)
    # Zhangwu (Liaoning) to Donghu (Nanchang): about 1,750 km, four days on the road
    assert 1600 < estimate.distance_km < 1900 and estimate.transit_days == 4
    assert estimate.arrives == local_today() + timedelta(days=4)
    orders.change_delivery(users["buyer"], order, DeliveryInput(province="辽宁", county="彰武"))
    estimate = queries.delivery_estimate(order)
    assert estimate.distance_km == 0 and estimate.transit_days == 1


# --- API and export ---------------------------------------------------------------------------


def _token(client, who: str) -> dict[str, str]:
    body = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json
    return {"Authorization": f"Bearer {body['token']}", "Accept-Language": "zh"}


def test_the_api_takes_and_shows_the_delivery(client, users, lot):
    buyer, coop = _token(client, "buyer"), _token(client, "coop")
    given = {"province": "江西", "county": "东湖区", "address": "八一大道 1 号"}
    response = client.post(
        "/api/v1/orders",
        json={"lot_id": lot.id, "quantity": "10", "unit": "t", "delivery": given},
        headers=buyer,
    )
    assert response.status_code == 201, response.json
    delivery = response.json["delivery"]
    assert delivery["county"] == "东湖区" and delivery["address"] == "八一大道 1 号"
    assert delivery["receiver_phone"] == "13800138000"  # left out: the buyer's own
    assert delivery["transit_days"] == 4 and delivery["estimated_arrival"]
    order_id = response.json["id"]
    hidden = client.get(f"/api/v1/orders/{order_id}", headers=coop).json["delivery"]
    assert hidden["county"] == "东湖区" and hidden["address"] is None
    assert hidden["receiver_phone"] is None
    changed = client.post(
        f"/api/v1/orders/{order_id}/delivery", json={"receiver_phone": "电话"}, headers=buyer
    )
    assert changed.status_code == 422 and "receiver_phone" in changed.json["error"]["fields"]
    changed = client.post(
        f"/api/v1/orders/{order_id}/delivery", json={"receiver_name": "李收货"}, headers=buyer
    )
    assert changed.status_code == 200 and changed.json["delivery"]["receiver_name"] == "李收货"
    other = client.post(f"/api/v1/orders/{order_id}/delivery", json={}, headers=coop)
    assert other.status_code == 403


def test_the_deals_export_has_the_delivery_columns(app, users, lot):
    place(users, lot, delivery=HOME)
    official = browser(app, "official")
    rows = list(
        csv.reader(io.StringIO(export_file(official, "deals.csv").data.decode("utf-8-sig")))
    )
    assert rows[0][-5:] == ["收货省份", "收货县区", "收货地址", "收货人", "收货人电话"]
    assert rows[1][-5:] == ["江西省", "东湖区", "八一大道 1 号 3 号仓库", "李收货", "13907910001"]


def test_the_migration_gives_earlier_orders_their_buyers_place_and_contact(app, users, lot):
    """Down past the migration (the columns go) and up again: the order is given its buyer's
    county and contact, as every order placed before the migration was."""
    from flask_migrate import downgrade, upgrade

    users["buyer"].organisation.village = "八一村"
    order_id = place(users, lot, delivery=HOME).id
    db.session.remove()
    directory = app.extensions["migrate"].directory
    downgrade(directory=directory, revision="d3f1a8c2b7e4-1")  # just before the delivery migration
    upgrade(directory=directory)
    order = db.session.get(Order, order_id)
    assert order.delivery_place == "江西省 东湖区 八一村"
    assert (order.receiver_name, order.receiver_phone) == ("buyer", "13800138000")


def test_a_proposals_order_goes_where_its_demand_says(users, lot):
    from produce_match.matching import proposals
    from produce_match.matching.models import ProposalStatus

    served = make_demand(users["buyer"], province="辽宁", county="于洪区")
    make_demand(users["buyer"], province="北京", county="丰台区")  # newer: a direct order's
    p = proposals.propose(users["official"], lot, served, 10_000)
    db.session.commit()
    proposals.answer(users["coop"], p, True)
    proposals.answer(users["buyer"], p, True)
    db.session.commit()
    assert p.status is ProposalStatus.ordered
    assert db.session.get(Order, p.order_id).delivery_region == "辽宁省 于洪区"
    # no phone known for the buyer: the proposal fails, saying why, and nothing is reserved
    users["buyer"].phone = None
    users["buyer"].organisation.phone = None
    q = proposals.propose(users["official"], lot, served, 10_000)
    db.session.commit()
    proposals.answer(users["coop"], q, True)
    proposals.answer(users["buyer"], q, True)
    db.session.commit()
    assert q.status is ProposalStatus.failed and "收货人的电话" in q.problem
    assert db.session.get(Lot, lot.id).remaining_g == 30_000_000
