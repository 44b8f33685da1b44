"""Order pages: the order form, the lists, an order's page and its steps, the delivery note, the
public tracking page and the private photos."""

from __future__ import annotations

import io
import re

import pytest

from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderPhoto, OrderStatus
from produce_match.web.qr import qr_svg
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes, make_lot

pytestmark = pytest.mark.usefixtures("index_left_to_its_queue")


def browser(app, who: str):
    client = app.test_client()
    login(client, who, PASSWORD)
    return client


def step(client, order_id: int, slug: str, data: dict, **kwargs):
    page = f"/orders/{order_id}"
    prefixed = {f"{slug}-{k}": v for k, v in data.items()}
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(page).text)
    return client.post(
        f"/orders/{order_id}/{slug}",
        data={**prefixed, f"{slug}-csrf_token": token.group(1)},
        **kwargs,
    )


def reserved(users, lot, quantity="10") -> Order:
    order = orders.place_order(users["buyer"], lot, quantity, "t")
    db.session.commit()
    return order


def test_lot_page_offers_the_order_form_to_buyers_only(app, client, lot):
    assert (
        "Reserve and order"
        not in client.get(f"/lots/{lot.id}", headers={"Accept-Language": "en"}).text
    )
    assert "/login?next=" in client.get(f"/lots/{lot.id}").text
    buyer = browser(app, "buyer")
    page = buyer.get(f"/lots/{lot.id}").text
    assert f'action="/lots/{lot.id}/order"' in page and 'data-price-fen-per-t="680000"' in page
    coop = browser(app, "coop")
    assert f'action="/lots/{lot.id}/order"' not in coop.get(f"/lots/{lot.id}").text
    assert coop.get(f"/lots/{lot.id}/order").status_code == 403
    assert browser(app, "official").get(f"/lots/{lot.id}/order").status_code == 403


def test_the_cost_is_shown_in_the_buyers_unit_before_ordering(app, lot):
    buyer = browser(app, "buyer")
    page = f"/lots/{lot.id}/order"
    response = post_form(
        buyer, page, {"quantity": "2000", "unit": "jin", "preview": "1"}, page=page
    )
    assert response.status_code == 200
    assert "6,800.00" in response.text  # 2000 斤 = 1 t at 6.80 元/kg
    assert db.session.query(Order).count() == 0  # working out the cost reserves nothing


def test_placing_through_the_form(app, lot, users):
    buyer = browser(app, "buyer")
    page = f"/lots/{lot.id}/order"
    response = post_form(buyer, page, {"quantity": "10", "unit": "t"}, page=page)
    assert response.status_code == 302
    order = db.session.query(Order).one()
    assert response.location == f"/orders/{order.id}"
    assert order.quantity_g == 10_000_000 and order.buyer_org_id == users["buyer"].organisation_id
    detail = buyer.get(response.location).text
    assert "预订" in detail or "已预留" in detail or "reserved" in detail


@pytest.mark.parametrize(
    ("quantity", "unit", "status", "words"),
    [
        ("41", "t", 409, "40"),
        ("-1", "t", 422, ""),
        ("一吨", "t", 422, ""),
        ("", "t", 422, ""),
    ],
)
def test_bad_orders_explain_themselves_and_change_nothing(app, lot, quantity, unit, status, words):
    buyer = browser(app, "buyer")
    page = f"/lots/{lot.id}/order"
    response = post_form(buyer, page, {"quantity": quantity, "unit": unit}, page=page)
    assert response.status_code == status
    assert 'class="error"' in response.text or "flash-error" in response.text
    assert words in response.text
    assert db.session.query(Order).count() == 0
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).remaining_g == 40_000_000


def test_an_order_too_small_to_pay_is_refused_with_a_message(app, users):
    """1 g at 0.30 元/kg (0.03 fen) rounds to 0 fen: refused on the preview and on ordering."""
    cheap = make_lot(users["coop"], quantity="1", unit="t", price="0.30", price_unit="kg")
    buyer = browser(app, "buyer")
    page = f"/lots/{cheap.id}/order"
    for preview in ({"preview": "1"}, {}):
        response = post_form(buyer, page, {"quantity": "0.001", "unit": "kg", **preview}, page=page)
        assert response.status_code == 422
        assert "订单金额至少为 0.01 元" in response.text
        assert '<p class="cost" aria-live="polite"></p>' in response.text  # no "0.00 元"
    assert db.session.query(Order).count() == 0
    db.session.expire_all()
    assert db.session.get(Lot, cheap.id).remaining_g == 1_000_000


def test_the_whole_life_through_the_pages(app, lot, users):
    order = reserved(users, lot)
    coop, buyer = browser(app, "coop"), browser(app, "buyer")
    assert f"/orders/{order.id}" in coop.get("/orders").text  # waiting for the cooperative
    assert f"/orders/{order.id}" not in buyer.get("/orders").text  # nothing waits for the buyer
    assert step(coop, order.id, "accept", {}).status_code == 302
    orders.mark_paid(db.session.get(Order, order.id))
    db.session.commit()
    response = step(
        coop,
        order.id,
        "dispatch",
        {
            "vehicle_plate": "辽A12345",
            "driver_phone": "13800000000",
            "shipped_quantity": "10",
            "unit": "t",
            "place": "道亭村仓库",
            "taken_at": "2026-11-20T08:30",
            "photos": [(io.BytesIO(jpeg_bytes()), "loading.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.text[:2000]
    photo = db.session.query(OrderPhoto).one()
    assert photo.place == "道亭村仓库" and photo.taken_at.hour == 0  # 08:30 in Asia/Shanghai
    response = step(
        buyer, order.id, "confirm-delivery", {"accepted_quantity": "19600", "unit": "jin"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    done = db.session.get(Order, order.id)
    assert done.status is OrderStatus.delivered and done.accepted_g == 9_800_000


def test_a_refused_step_shows_why_and_changes_nothing(app, lot, users):
    order = reserved(users, lot)
    orders.accept(users["coop"], order)
    orders.mark_paid(order)
    db.session.commit()
    coop = browser(app, "coop")
    response = step(
        coop,
        order.id,
        "dispatch",
        {"vehicle_plate": "?", "driver_phone": "12", "shipped_quantity": "11", "unit": "t"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    for words in ("plate number", "phone number", "More than was ordered"):
        assert words in response.text
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.paid


def test_pages_of_an_order_are_private(app, lot, users):
    order = reserved(users, lot)
    for who in ("coop2", "jiangxi"):
        other = browser(app, who)
        assert other.get(f"/orders/{order.id}").status_code == 404
        assert other.get(f"/orders/{order.id}/note").status_code == 404
        assert post_form(other, f"/orders/{order.id}/accept", {}, page="/orders").status_code == 404
    assert app.test_client().get(f"/orders/{order.id}").status_code == 302  # to the login page
    buyer = browser(app, "buyer")
    assert step(buyer, order.id, "accept", {}).status_code == 403
    official = browser(app, "official")
    assert official.get(f"/orders/{order.id}").status_code == 200
    assert f'action="/orders/{order.id}/accept"' not in official.get(f"/orders/{order.id}").text


def test_evidence_photos_are_private(app, lot, users):
    order = reserved(users, lot)
    orders.accept(users["coop"], order)
    orders.mark_paid(order)
    orders.dispatch(users["coop"], order, "辽A12345", "13800000000", "10", "t")
    orders.confirm_delivery(users["buyer"], order, "10", "t")
    db.session.commit()
    buyer = browser(app, "buyer")
    response = step(
        buyer,
        order.id,
        "dispute",
        {
            "reason": "霉变",
            "photos": [(io.BytesIO(jpeg_bytes()), "a.jpg"), (io.BytesIO(jpeg_bytes()), "b.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    photos = db.session.query(OrderPhoto).all()
    assert len(photos) == 2 and {p.purpose.value for p in photos} == {"evidence"}
    url = f"/orders/{order.id}/photos/{photos[0].id}/thumb.jpg"
    assert buyer.get(url).status_code == 200 and buyer.get(url).mimetype == "image/jpeg"
    assert browser(app, "coop").get(url).status_code == 200
    assert browser(app, "coop2").get(url).status_code == 404
    assert app.test_client().get(url).status_code == 302


def test_a_rejected_photo_stores_nothing(app, lot, users):
    order = reserved(users, lot)
    orders.accept(users["coop"], order)
    orders.mark_paid(order)
    db.session.commit()
    response = step(
        browser(app, "coop"),
        order.id,
        "dispatch",
        {
            "vehicle_plate": "辽A12345",
            "driver_phone": "13800000000",
            "shipped_quantity": "10",
            "unit": "t",
            "photos": [(io.BytesIO(b"<html>not a photo"), "x.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.paid
    assert db.session.query(OrderPhoto).count() == 0


def test_delivery_note_and_public_tracking(app, lot, users):
    order = reserved(users, lot)
    orders.accept(users["coop"], order)
    orders.mark_paid(order)
    orders.dispatch(users["coop"], order, "辽A12345", "13800000000", "10", "t")
    db.session.commit()
    buyer = browser(app, "buyer")
    note = buyer.get(f"/orders/{order.id}/note").text
    assert "<svg" in note and "辽A12345" in note and "南昌粮油公司" in note
    track_url = re.search(r"http://localhost(/track/[\w-]+)", note).group(1)
    public = app.test_client().get(track_url)
    assert public.status_code == 200
    text = public.text
    for private in ("辽A12345", "13800000000", "南昌粮油公司", "道亭村合作社", "68,000"):
        assert private not in text, private
    assert text.count('class="badge status-') >= 5  # reserved, accepted, awaiting, paid, dispatched
    assert app.test_client().get("/track/not-a-code").status_code == 404
    assert app.test_client().get("/track/" + "x" * 200).status_code == 404


def test_qr_code_encodes_the_tracking_address_and_scales_whole(app, lot, users):
    """The SVG is sized by its viewBox (the whole symbol with a 4-module quiet zone), never by a
    fixed width that CSS would cut; tests/e2e/test_delivery_note.py decodes it in Chromium."""
    import segno

    order = reserved(users, lot)
    note = browser(app, "buyer").get(f"/orders/{order.id}/note").text
    url = f"http://localhost/track/{order.tracking_code}"
    side = segno.make(url, error="m").symbol_size(scale=1, border=4)[0]
    svg = re.search(r"<svg[^>]*>", note).group(0)
    assert f'viewBox="0 0 {side} {side}"' in svg
    assert "width=" not in svg and "height=" not in svg
    assert qr_svg(url) in note


def test_lists_have_tabs_per_role(app, lot, users):
    order = reserved(users, lot)
    orders.cancel(users["buyer"], order, "改主意了")
    db.session.commit()
    buyer = browser(app, "buyer")
    assert f"/orders/{order.id}" not in buyer.get("/orders?tab=active").text
    assert f"/orders/{order.id}" in buyer.get("/orders?tab=closed").text
    assert buyer.get("/orders?tab=nonsense").status_code == 200
    assert f"/orders/{order.id}" not in browser(app, "coop2").get("/orders?tab=closed").text
    assert f"/orders/{order.id}" in browser(app, "official").get("/orders?tab=closed").text


def test_a_lapsed_reservation_is_shown_back_on_the_lot_and_recorded_by_the_timer(
    app, client, lot, users, monkeypatch
):
    from datetime import timedelta

    from produce_match.database import utcnow
    from produce_match.orders.models import RESERVATION_HOLD

    order = reserved(users, lot)
    later = utcnow() + RESERVATION_HOLD + timedelta(seconds=1)
    for module in ("queries", "operations", "models"):
        monkeypatch.setattr(f"produce_match.orders.{module}.utcnow", lambda: later)
    page = client.get(f"/lots/{lot.id}", headers={"Accept-Language": "en"}).text
    # all of it on offer again, seen by a visitor who is not logged in ("30 t of 40 t" before)
    assert '<p class="lot-left">40 t left' in page and "of 40 t" not in page
    db.session.expire_all()  # the page wrote nothing
    assert db.session.get(Order, order.id).status is OrderStatus.reserved
    assert db.session.get(Lot, lot.id).remaining_g == 30_000_000
    orders.expire_due()  # the timer records it
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.expired
    assert db.session.get(Lot, lot.id).remaining_g == 40_000_000


def test_no_empty_order_box_for_those_who_do_not_buy(app, lot):
    for who in ("coop", "official"):
        assert 'class="card order-box"' not in browser(app, who).get(f"/lots/{lot.id}").text


def test_a_lot_sold_out_by_a_lapsed_reservation_is_offered_again_without_writing(
    app, lot, users, monkeypatch
):
    from datetime import timedelta

    from produce_match.database import utcnow
    from produce_match.lots.models import LotStatus
    from produce_match.orders.models import RESERVATION_HOLD

    order = reserved(users, lot, "40")  # all of it
    assert db.session.get(Lot, lot.id).status is LotStatus.sold_out
    buyer = browser(app, "buyer")
    assert 'class="card order-box"' not in buyer.get(f"/lots/{lot.id}").text
    later = utcnow() + RESERVATION_HOLD + timedelta(seconds=1)
    for module in ("queries", "operations", "models"):
        monkeypatch.setattr(f"produce_match.orders.{module}.utcnow", lambda: later)
    page = buyer.get(f"/lots/{lot.id}", headers={"Accept-Language": "en"}).text
    assert 'class="card order-box"' in page and '<p class="lot-left">40 t left' in page
    db.session.expire_all()  # shown, not written
    assert db.session.get(Lot, lot.id).status is LotStatus.sold_out
    assert db.session.get(Order, order.id).status is OrderStatus.reserved
