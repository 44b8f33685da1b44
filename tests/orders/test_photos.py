"""Photos added to an order after its step: the cooperative's loading photos once the truck has
left (until the order is settled), the buyer's evidence while its dispute is open. Through the
operation, the order's page and the API; private to the order's parties and oversight."""

from __future__ import annotations

import io
import re

import pytest

from produce_match.audit.models import AuditEvent
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderPhoto, OrderStatus, PhotoPurpose
from produce_match.orders.operations import MAX_PHOTOS, NotAllowed
from tests.api.test_orders_api import auth
from tests.factories import jpeg_bytes, make_lot
from tests.orders.test_pages import browser

pytestmark = pytest.mark.usefixtures("index_left_to_its_queue")


def order_at(users, lot, status: OrderStatus) -> Order:
    """An order of 10 t taken to `status` by its parties."""
    order = orders.place_order(users["buyer"], lot, "10", "t")
    steps = [
        (OrderStatus.awaiting_payment, lambda: orders.accept(users["coop"], order)),
        (OrderStatus.paid, lambda: orders.mark_paid(order)),
        (
            OrderStatus.dispatched,
            lambda: orders.dispatch(users["coop"], order, "辽A12345", "13800000000", "10", "t"),
        ),
        (
            OrderStatus.delivered,
            lambda: orders.confirm_delivery(users["buyer"], order, "10", "t"),
        ),
        (OrderStatus.disputed, lambda: orders.dispute(users["buyer"], order, "霉变")),
    ]
    for reached, take in steps:
        if order.status is status:
            break
        take()
        assert order.status is reached
    db.session.commit()
    return order


def photos_of(order_id: int) -> list[OrderPhoto]:
    db.session.expire_all()
    return db.session.query(OrderPhoto).filter_by(order_id=order_id).order_by(OrderPhoto.id).all()


# --- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "coop", "buyer"),
    [
        (OrderStatus.reserved, None, None),
        (OrderStatus.awaiting_payment, None, None),
        (OrderStatus.paid, None, None),
        (OrderStatus.dispatched, PhotoPurpose.loading, None),
        (OrderStatus.delivered, PhotoPurpose.loading, None),
        (OrderStatus.disputed, PhotoPurpose.loading, PhotoPurpose.evidence),
    ],
)
def test_who_may_add_which_photos_when(users, lot, status, coop, buyer):
    order = order_at(users, lot, status)
    assert orders.photo_purpose(users["coop"], order) is coop
    assert orders.photo_purpose(users["buyer"], order) is buyer
    assert orders.photo_purpose(users["official"], order) is None
    assert orders.photo_purpose(users["coop2"], order) is None


def test_the_cooperative_adds_loading_photos_after_dispatch(users, lot):
    order = order_at(users, lot, OrderStatus.dispatched)
    ids = orders.add_photos(
        users["coop"], order, [jpeg_bytes(), jpeg_bytes()], place=" 道亭村仓库 "
    )
    db.session.commit()
    photos = photos_of(order.id)
    assert [p.id for p in photos] == ids
    assert {p.purpose for p in photos} == {PhotoPurpose.loading}
    assert {p.place for p in photos} == {"道亭村仓库"}
    event = db.session.query(AuditEvent).filter_by(action="photos_added").one()
    assert event.subject_id == order.id and event.actor_id == users["coop"].id
    assert event.changes == {"purpose": "loading", "photos": 2, "place": "道亭村仓库"}


def test_refusals_store_nothing(users, lot):
    order = order_at(users, lot, OrderStatus.paid)
    with pytest.raises(Conflict) as refused:
        orders.add_photos(users["coop"], order, [jpeg_bytes()])
    assert refused.value.code == "photos_not_accepted"
    db.session.rollback()
    order = order_at(users, make_lot(users["coop"], quantity="40", unit="t"), OrderStatus.delivered)
    with pytest.raises(Conflict):  # evidence only once a dispute is open
        orders.add_photos(users["buyer"], order, [jpeg_bytes()])
    with pytest.raises(NotAllowed):  # officials read; they add nothing
        orders.add_photos(users["official"], order, [jpeg_bytes()])
    with pytest.raises(ValidationFailed) as empty:
        orders.add_photos(users["coop"], order, [b""])
    assert "photos" in empty.value.fields
    with pytest.raises(ValidationFailed) as bad:  # one bad file: none is kept
        orders.add_photos(users["coop"], order, [jpeg_bytes(), b"<html>not a photo"])
    assert "photos" in bad.value.fields
    db.session.rollback()
    assert photos_of(order.id) == []
    assert db.session.query(AuditEvent).filter_by(action="photos_added").count() == 0


def test_at_most_six_photos_of_each_kind(users, lot):
    order = order_at(users, lot, OrderStatus.dispatched)
    orders.add_photos(users["coop"], order, [jpeg_bytes()] * (MAX_PHOTOS - 1))
    db.session.commit()
    with pytest.raises(ValidationFailed) as too_many:
        orders.add_photos(users["coop"], order, [jpeg_bytes(), jpeg_bytes()])
    assert "5" in str(too_many.value.message)
    db.session.rollback()
    orders.add_photos(users["coop"], order, [jpeg_bytes()])
    db.session.commit()
    assert len(photos_of(order.id)) == MAX_PHOTOS


# --- the page -------------------------------------------------------------------------------


def post_photos(client, order_id: int, data: dict, **kwargs):
    token = re.search(
        r'name="photos-csrf_token" type="hidden" value="([^"]+)"',
        client.get(f"/orders/{order_id}").text,
    )
    assert token, "the order's page should offer the photo form"
    prefixed = {f"photos-{k}": v for k, v in data.items()}
    return client.post(
        f"/orders/{order_id}/photos",
        data={**prefixed, "photos-csrf_token": token.group(1)},
        content_type="multipart/form-data",
        **kwargs,
    )


def test_photos_from_the_orders_page(app, users, lot):
    order = order_at(users, lot, OrderStatus.dispatched)
    coop, buyer = browser(app, "coop"), browser(app, "buyer")
    page = coop.get(f"/orders/{order.id}", headers={"Accept-Language": "en"}).text
    assert "Add photos of the loading" in page
    assert f'action="/orders/{order.id}/photos"' not in buyer.get(f"/orders/{order.id}").text
    response = post_photos(
        coop,
        order.id,
        {
            "photos": [(io.BytesIO(jpeg_bytes()), "truck.jpg")],
            "place": "道亭村仓库",
            "taken_at": "2026-11-20T08:30",
        },
    )
    assert response.status_code == 302
    (photo,) = photos_of(order.id)
    assert photo.place == "道亭村仓库" and photo.taken_at.hour == 0  # 08:30 in Asia/Shanghai
    shown = coop.get(response.headers["Location"]).text
    assert "照片已添加" in shown
    assert f"/orders/{order.id}/photos/{photo.id}/thumb.jpg" in shown


def test_a_bad_photo_on_the_page_is_explained_in_chinese(app, users, lot):
    order = order_at(users, lot, OrderStatus.dispatched)
    coop = browser(app, "coop")
    response = post_photos(
        coop, order.id, {"photos": [(io.BytesIO(b"<html>not a photo"), "x.jpg")]}
    )
    assert response.status_code == 422
    assert "照片" in response.text and "Traceback" not in response.text
    assert photos_of(order.id) == []


def test_the_buyer_adds_evidence_to_its_dispute_from_the_page(app, users, lot):
    order = order_at(users, lot, OrderStatus.disputed)
    buyer = browser(app, "buyer")
    assert "补充证据照片" in buyer.get(f"/orders/{order.id}").text
    response = post_photos(buyer, order.id, {"photos": [(io.BytesIO(jpeg_bytes()), "a.jpg")]})
    assert response.status_code == 302
    assert [p.purpose for p in photos_of(order.id)] == [PhotoPurpose.evidence]


def test_other_parties_cannot_add_photos_from_the_page(app, users, lot):
    order = order_at(users, lot, OrderStatus.dispatched)
    official = browser(app, "official")
    assert "photos-csrf_token" not in official.get(f"/orders/{order.id}").text
    other = browser(app, "coop2")
    response = other.post(
        f"/orders/{order.id}/photos",
        data={"photos-photos": [(io.BytesIO(jpeg_bytes()), "a.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code in (400, 404)  # no CSRF token of its own, and no such order
    assert photos_of(order.id) == []


# --- the API --------------------------------------------------------------------------------


def api_photos(client, headers, order_id: int, files: list[bytes], **form):
    data = {"photo": [(io.BytesIO(f), f"p{i}.jpg") for i, f in enumerate(files)], **form}
    return client.post(
        f"/api/v1/orders/{order_id}/photos",
        data=data,
        headers=headers,
        content_type="multipart/form-data",
    )


def test_photos_through_the_api(client, users, lot):
    order = order_at(users, lot, OrderStatus.dispatched)
    coop = auth(client, "coop")
    response = api_photos(
        client,
        coop,
        order.id,
        [jpeg_bytes(), jpeg_bytes()],
        place="道亭村仓库",
        taken_at="2026-11-20T08:30",
    )
    assert response.status_code == 201, response.json
    photos = response.json["photos"]
    assert [p["purpose"] for p in photos] == ["loading", "loading"]
    assert photos[0]["place"] == "道亭村仓库"
    assert photos[0]["taken_at"].startswith("2026-11-20T00:30")  # 08:30 where the lot is
    image = client.get(photos[0]["thumb_url"], headers=coop)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert "private" in image.headers["Cache-Control"]
    assert client.get(photos[0]["url"], headers=auth(client, "buyer")).status_code == 200
    assert client.get(photos[0]["url"], headers=auth(client, "official")).status_code == 200
    assert client.get(photos[0]["url"], headers=auth(client, "coop2")).status_code == 404
    assert client.get(photos[0]["url"]).status_code == 401
    listed = client.get(f"/api/v1/orders/{order.id}", headers=coop).json["photos"]
    assert [p["id"] for p in listed] == [p["id"] for p in photos]


def test_api_refusals(client, users, lot):
    order = order_at(users, lot, OrderStatus.paid)
    coop = auth(client, "coop")
    early = api_photos(client, coop, order.id, [jpeg_bytes()])
    assert early.status_code == 409 and early.json["error"]["code"] == "photos_not_accepted"
    orders.dispatch(
        users["coop"], db.session.get(Order, order.id), "辽A12345", "13800000000", "10", "t"
    )
    db.session.commit()
    missing = api_photos(client, coop, order.id, [])
    assert missing.status_code == 422 and "photos" in missing.json["error"]["fields"]
    late = api_photos(client, coop, order.id, [jpeg_bytes()], taken_at="yesterday")
    assert late.status_code == 422 and "taken_at" in late.json["error"]["fields"]
    assert api_photos(client, auth(client, "buyer"), order.id, [jpeg_bytes()]).status_code == 409
    assert api_photos(client, auth(client, "official"), order.id, [jpeg_bytes()]).status_code == 403
    assert api_photos(client, auth(client, "coop2"), order.id, [jpeg_bytes()]).status_code == 404
    assert photos_of(order.id) == []


@pytest.mark.parametrize("taken_at", ["0001-01-01T00:00+14:00", "1999-12-31T23:00+08:00"])
def test_a_photo_time_out_of_range_is_refused(users, lot, taken_at):
    from datetime import datetime

    order = order_at(users, lot, OrderStatus.dispatched)
    with pytest.raises(ValidationFailed) as info:
        orders.add_photos(
            users["coop"], order, [jpeg_bytes()], taken_at=datetime.fromisoformat(taken_at)
        )
    assert set(info.value.fields) == {"taken_at"}
    assert photos_of(order.id) == []
