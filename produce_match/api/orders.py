"""API: orders (placed by buyers; accepted, shipped, confirmed ... by their parties)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import request, url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import NotFound

from produce_match import policy
from produce_match.api.auth import require_user, token_required
from produce_match.api.lots import DecimalText
from produce_match.api.schemas import PaginationQuerySchema, page_body
from produce_match.dates import local_instant
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.market import operations as market
from produce_match.orders import operations as orders
from produce_match.orders import queries
from produce_match.orders.models import Order, OrderAction, OrderStatus, actions_from, parties
from produce_match.orders.permissions import order_party
from produce_match.storage import send_photo
from produce_match.units import grams_in, price_in, yuan_text

blp = Blueprint("api_orders", __name__, description="Orders against lots and their steps")

A = OrderAction


def _kg(grams: int | None) -> str | None:
    """Kilograms as an exact decimal string (grams are integers; nothing passes a float)."""
    return None if grams is None else format(grams_in(grams, "kg").normalize(), "f")


class PartySchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


def _next_actions(order: Order) -> list[str]:
    """The steps the caller may take now, as URL words."""
    user = require_user()
    party = order_party(user, order)
    status = order.current_status
    return [
        a.value.replace("_", "-")
        for a in actions_from(status)
        if a in _STEP_ACTIONS and party in parties(status, a)
    ]


class OrderPhotoSchema(ma.Schema):
    id = ma.fields.Integer()
    purpose = ma.fields.Function(
        lambda p: p.purpose.value, metadata={"description": "loading or evidence"}
    )
    place = ma.fields.String(allow_none=True)
    taken_at = ma.fields.DateTime(allow_none=True)
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    url = ma.fields.Function(
        lambda p: url_for("api_orders.order_photo", order_id=p.order_id, photo_id=p.id, size="full")
    )
    thumb_url = ma.fields.Function(
        lambda p: url_for(
            "api_orders.order_photo", order_id=p.order_id, photo_id=p.id, size="thumb"
        )
    )


def _delivery(order: Order) -> dict[str, Any]:
    """Where the order goes; the address and receiver only for those who may see them."""
    user = require_user()
    full = policy.can(user, "view_delivery", order)
    estimate = queries.delivery_estimate(order)
    province, county = order.delivery_province, order.delivery_county
    return {
        "province": province.name if province else None,
        "province_code": order.delivery_province_code,
        "county": county.name if county else None,
        "county_code": order.delivery_county_code,
        "address": order.delivery_address if full else None,
        "receiver_name": order.receiver_name if full else None,
        "receiver_phone": order.receiver_phone if full else None,
        "distance_km": estimate.distance_km if estimate else None,
        "transit_days": estimate.transit_days if estimate else None,
        "estimated_arrival": (
            estimate.arrives.isoformat() if estimate and estimate.arrives else None
        ),
    }


class OrderSchema(ma.Schema):
    id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    lot_title = ma.fields.Function(lambda o: o.lot.title)
    commodity = ma.fields.Function(lambda o: o.lot.commodity.code)
    buyer = ma.fields.Function(lambda o: {"id": o.buyer_org.id, "name": o.buyer_org.name})
    cooperative = ma.fields.Function(
        lambda o: {"id": o.cooperative_org.id, "name": o.cooperative_org.name}
    )
    status = ma.fields.Function(
        lambda o: o.current_status.value,
        metadata={"description": "timers counted: an order past its deadline shows as expired"},
    )
    payment_status = ma.fields.Function(lambda o: o.payment_status.value)
    unit = ma.fields.Function(lambda o: o.unit.value, metadata={"description": "jin, kg or t"})
    quantity_g = ma.fields.Integer(metadata={"description": "exact, in grams"})
    quantity_kg = ma.fields.Function(lambda o: _kg(o.quantity_g))
    shipped_g = ma.fields.Integer(allow_none=True)
    shipped_kg = ma.fields.Function(lambda o: _kg(o.shipped_g))
    accepted_g = ma.fields.Integer(allow_none=True)
    accepted_kg = ma.fields.Function(lambda o: _kg(o.accepted_g))
    price_fen_per_t = ma.fields.Integer()
    price_yuan_per_kg = ma.fields.Function(lambda o: format(price_in(o.price_fen_per_t, "kg"), "f"))
    amount_fen = ma.fields.Integer()
    amount_yuan = ma.fields.Function(lambda o: yuan_text(o.amount_fen))
    reserved_until = ma.fields.DateTime()
    pay_by = ma.fields.DateTime(allow_none=True)
    paid_at = ma.fields.DateTime(allow_none=True)
    dispatched_at = ma.fields.DateTime(allow_none=True)
    vehicle_plate = ma.fields.String(allow_none=True)
    driver_phone = ma.fields.String(allow_none=True)
    auto_confirm_at = ma.fields.DateTime(allow_none=True)
    delivered_at = ma.fields.DateTime(allow_none=True)
    dispute_until = ma.fields.DateTime(allow_none=True)
    cancel_reason = ma.fields.String(allow_none=True)
    dispute_reason = ma.fields.String(allow_none=True)
    resolution = ma.fields.String(allow_none=True)
    resolution_refund_fen = ma.fields.Integer(allow_none=True)
    settlement = ma.fields.Function(
        lambda o: o.settlement.value,
        metadata={"description": "on_delivery or on_loading (paid the day of loading)"},
    )
    holdback_percent = ma.fields.Integer(attribute="holdback_pct")
    weighbridge_ticket = ma.fields.String(allow_none=True)
    claim_fen = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "on_loading: refunds owed to the buyer beyond what was still held "
            "(a claim on the cooperative)"
        },
    )
    delivery = ma.fields.Function(
        _delivery,
        metadata={
            "description": "province, county (names and codes), address, receiver_name, "
            "receiver_phone (null for the cooperative until it accepts), distance_km from the "
            "lot's county, transit_days and estimated_arrival (a date; null once delivered)"
        },
    )
    tracking_url = ma.fields.Function(
        lambda o: url_for("orders.track", code=o.tracking_code, _external=True)
    )
    next_actions = ma.fields.Function(
        _next_actions, metadata={"description": "the steps the caller may take now"}
    )
    photos = ma.fields.List(ma.fields.Nested(OrderPhotoSchema))
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class OrderPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(OrderSchema))
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()
    pages = ma.fields.Integer()


class OrderQuerySchema(PaginationQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in OrderStatus]))
    lot_id = ma.fields.Integer(validate=ma.validate.Range(min=1))


class DestinationSchema(ma.Schema):
    """Where an order goes and who receives it (every field optional)."""

    province = ma.fields.String(
        validate=ma.validate.Length(max=40), metadata={"description": "name or code, e.g. 江西"}
    )
    county = ma.fields.String(
        validate=ma.validate.Length(max=40), metadata={"description": "name or code, e.g. 东湖区"}
    )
    address = ma.fields.String(validate=ma.validate.Length(max=200))
    receiver_name = ma.fields.String(validate=ma.validate.Length(max=60))
    receiver_phone = ma.fields.String(validate=ma.validate.Length(max=30))


def _delivery_input(body: dict[str, Any] | None) -> orders.DeliveryInput | None:
    """The delivery as given; what it leaves out is defaulted (placing) or kept (changing)."""
    if body is None:
        return None
    return orders.DeliveryInput(**{k: body.get(k) for k in DestinationSchema().fields})


class PlaceSchema(ma.Schema):
    lot_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=2**31 - 1))
    quantity = DecimalText(required=True, metadata={"description": 'in `unit`, e.g. 10 or "2.5"'})
    unit = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=10),
        metadata={"description": "jin (斤), kg (公斤) or t (吨)"},
    )
    settlement = ma.fields.String(
        validate=ma.validate.Length(max=20),
        metadata={
            "description": "on_delivery or on_loading, among the lot's settlement_terms "
            "(default: on_delivery if offered)"
        },
    )
    delivery = ma.fields.Nested(
        DestinationSchema,
        metadata={
            "description": "where it goes; what is left out comes from the buyer's demand for "
            "the commodity, else from its organisation's place and contact"
        },
    )


_REASON = {"required": True, "validate": ma.validate.Length(max=1000)}


class EmptySchema(ma.Schema):
    pass


class AcceptSchema(ma.Schema):
    confirm_low_price = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: accept even though the order's price is below "
            "PRICE_WARNING_PERCENT % of the reference price in force (otherwise 409 "
            "below_reference with the figures in error.details, nothing written)"
        },
    )


class ReasonSchema(ma.Schema):
    reason = ma.fields.String(**_REASON)


class DispatchSchema(ma.Schema):
    vehicle_plate = ma.fields.String(required=True, validate=ma.validate.Length(max=16))
    driver_phone = ma.fields.String(required=True, validate=ma.validate.Length(max=30))
    shipped_quantity = DecimalText(required=True)
    unit = ma.fields.String(required=True, validate=ma.validate.Length(max=10))
    place = ma.fields.String(
        validate=ma.validate.Length(max=120), metadata={"description": "where it was loaded"}
    )
    weighbridge_ticket = ma.fields.String(validate=ma.validate.Length(max=40))
    photos = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=14_000_000)),
        validate=ma.validate.Length(max=6),
        metadata={
            "description": "photos of the loading, base64-encoded (at least one for an order "
            "settled on loading)"
        },
    )


class DeliverySchema(ma.Schema):
    accepted_quantity = DecimalText(
        required=True, metadata={"description": "what the buyer accepts of what was shipped"}
    )
    unit = ma.fields.String(required=True, validate=ma.validate.Length(max=10))


class ResolveSchema(ma.Schema):
    resolution = ma.fields.String(**_REASON)
    refund_yuan = DecimalText(metadata={"description": "given back to the buyer; default 0"})


@blp.route("/orders", methods=["GET"])
@token_required(blp)
@blp.arguments(OrderQuerySchema, location="query")
@blp.response(200, OrderPageSchema)
def list_orders(args: dict[str, Any]) -> dict[str, Any]:
    """The caller's orders (its organisation's; an official's jurisdiction), newest first."""
    user = require_user()
    query = queries.visible_to(user)
    if "status" in args:
        query = query.where(Order.status == OrderStatus(args["status"]))
    if "lot_id" in args:
        query = query.where(Order.lot_id == args["lot_id"])
    page = db.paginate(
        query.order_by(Order.created_at.desc(), Order.id.desc()),
        page=args["page"],
        per_page=args["per_page"],
        error_out=False,
    )
    return page_body(page)


# what placing an order reads of its lot (the cooperative, the commodity and county the answer
# shows), in the lot's own query rather than three more
_LOT_FOR_ORDER = (joinedload(Lot.cooperative), joinedload(Lot.commodity), joinedload(Lot.county))


@blp.route("/orders", methods=["POST"])
@token_required(blp)
@blp.arguments(PlaceSchema)
@blp.response(201, OrderSchema)
@blp.alt_response(409, description="insufficient_quantity (nothing reserved) or lot_not_open")
def place_order(body: dict[str, Any]) -> Order:
    """Order part or all of an open lot; the quantity is reserved at once (buyers only)."""
    user = require_user()
    lot = policy.load(user, policy.VIEW, Lot, body["lot_id"], options=_LOT_FOR_ORDER)
    policy.ensure(user, "create", Order)
    delivery = _delivery_input(body.get("delivery"))
    order = orders.place_order(
        user,
        lot,
        body["quantity"],
        body["unit"],
        delivery=delivery,
        settlement=body.get("settlement"),
    )
    return order


@blp.route("/orders/<int:order_id>/delivery", methods=["POST"])
@token_required(blp)
@blp.arguments(DestinationSchema)
@blp.response(200, OrderSchema)
@blp.alt_response(409, description="delivery_fixed: the order has been dispatched")
def change_delivery(body: dict[str, Any], order_id: int) -> Order:
    """The buyer changes where the order goes or who receives it, until dispatch.

    Fields left out keep their value; the cooperative is told.
    """
    user = require_user()
    order = policy.load(user, policy.VIEW, Order, order_id)  # 404 for non-parties
    policy.ensure(user, "change_delivery", order)  # 403 for the other side and officials
    orders.change_delivery(user, order, _delivery_input(body))
    return order


@blp.route("/orders/<int:order_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, OrderSchema)
def get_order(order_id: int) -> Order:
    """One order: its parties, and officials of its lot's jurisdiction (404 for anyone else)."""
    return policy.load(require_user(), policy.VIEW, Order, order_id)


def _decoded(photos: list[str]) -> list[bytes]:
    """Photos sent as base64 text, as bytes (the upload checks say whether they are photos)."""
    out = []
    for text in photos:
        try:
            out.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            message = _("Send each photo as base64 text.")
            raise ValidationFailed(message, fields={"photos": [message]}) from None
    return out


#: each step: its URL word -> (action, body schema, what the operation is called with, summary)
STEPS: dict[str, tuple[OrderAction, type[ma.Schema], Callable[..., None], str]] = {
    "accept": (
        A.accept,
        AcceptSchema,
        lambda user, order, body: market.accept_order(
            user, order, confirmed=body["confirm_low_price"]
        ),
        "The cooperative accepts a reservation; payment is requested from the buyer.",
    ),
    "reject": (
        A.reject,
        ReasonSchema,
        lambda user, order, body: orders.reject(user, order, body["reason"]),
        "The cooperative declines a reservation; its quantity goes back to the lot.",
    ),
    "cancel": (
        A.cancel,
        ReasonSchema,
        lambda user, order, body: orders.cancel(user, order, body["reason"]),
        "Either side calls the order off before dispatch; its quantity goes back to the lot.",
    ),
    "dispatch": (
        A.dispatch,
        DispatchSchema,
        lambda user, order, body: orders.dispatch(
            user,
            order,
            body["vehicle_plate"],
            body["driver_phone"],
            body["shipped_quantity"],
            body["unit"],
            place=body.get("place"),
            weighbridge_ticket=body.get("weighbridge_ticket"),
            photos=_decoded(body.get("photos") or []),
        ),
        "The cooperative ships a paid order: vehicle plate, driver's phone, quantity loaded.",
    ),
    "confirm-delivery": (
        A.confirm_delivery,
        DeliverySchema,
        lambda user, order, body: orders.confirm_delivery(
            user, order, body["accepted_quantity"], body["unit"]
        ),
        "The buyer states how much of what was shipped it accepts.",
    ),
    "dispute": (
        A.dispute,
        ReasonSchema,
        lambda user, order, body: orders.dispute(user, order, body["reason"]),
        "The buyer reports short weight or poor quality within the dispute window.",
    ),
    "resolve": (
        A.resolve,
        ResolveSchema,
        lambda user, order, body: orders.resolve(
            user, order, body["resolution"], body.get("refund_yuan")
        ),
        "An official of the lot's jurisdiction (or an administrator) settles a dispute.",
    ),
}


def _register_step(slug: str) -> None:
    action, schema, run, summary = STEPS[slug]

    def step(body: dict[str, Any], order_id: int) -> Order:
        user = require_user()
        order = policy.load(user, policy.VIEW, Order, order_id)  # 404 for non-parties
        policy.ensure(user, action.value, order)  # 403 for the wrong side
        run(user, order, body)  # 409 for an illegal move, 422 for bad input
        return order

    step.__name__ = slug.replace("-", "_")
    step.__doc__ = summary
    view = blp.response(200, OrderSchema)(step)
    lenient = schema in (EmptySchema, AcceptSchema)  # a body with nothing else is ignored
    view = blp.arguments(schema(unknown=ma.EXCLUDE) if lenient else schema)(view)
    view = token_required(blp)(view)
    conflicts = "illegal_transition, order_changed ..." + (
        ", below_reference (send confirm_low_price: true to go on)" if action is A.accept else ""
    )
    view = blp.doc(responses={409: {"description": conflicts}})(view)
    blp.route(f"/orders/<int:order_id>/{slug}", methods=["POST"])(view)


for _slug in STEPS:
    _register_step(_slug)


_STEP_ACTIONS = frozenset(action for action, *_rest in STEPS.values())


@blp.route("/orders/<int:order_id>/photos", methods=["POST"])
@token_required(blp)
@blp.response(201, OrderSchema)
@blp.alt_response(409, description="photos_not_accepted: not at this stage of the order")
def add_photos(order_id: int) -> Order:
    """Add photos after the step (multipart/form-data: one or more `photo` fields, up to 6).

    The cooperative adds photos of the loading once the order is dispatched, until it is
    settled, with optional `place` and `taken_at` (ISO 8601; without an offset it is the time
    where the lot is); the buyer adds evidence while its dispute is open. EXIF and GPS data
    are removed.
    """
    user = require_user()
    order = policy.load(user, policy.VIEW, Order, order_id)
    policy.ensure(user, "add_photos", order)
    uploads = [f.read() for f in request.files.getlist("photo")]
    orders.add_photos(
        user,
        order,
        uploads,
        place=request.form.get("place"),
        taken_at=_instant(request.form.get("taken_at"), order),
    )
    return order


def _instant(text: str | None, order: Order) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = _("Give the time as ISO 8601, e.g. 2026-11-22T08:30+08:00.")
        raise ValidationFailed(message, fields={"taken_at": [message]}) from None
    return moment if moment.tzinfo else local_instant(moment, order.lot.timezone)


@blp.route("/orders/<int:order_id>/photos/<int:photo_id>/<size>.jpg", methods=["GET"])
@token_required(blp)
@blp.doc(responses={200: {"description": "the JPEG", "content": {"image/jpeg": {}}}})
def order_photo(order_id: int, photo_id: int, size: str) -> Any:
    """One of an order's photos, "full" or "thumb": its parties and oversight only."""
    order = policy.load(require_user(), policy.VIEW, Order, order_id)
    key = queries.photo_key(order, photo_id, size)
    if key is None:
        raise NotFound()
    return send_photo(key, private=True)
