"""API: lots (browse publicly; post, edit, withdraw by their cooperative) and their photos."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request, url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.api.auth import current_api_user, require_user, token_required
from produce_match.api.schemas import PaginationQuerySchema
from produce_match.catalog.models import Category
from produce_match.errors import ValidationFailed
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.market import operations as market
from produce_match.search import params as search_params
from produce_match.search.backend import SORTS
from produce_match.search.pages import results_page
from produce_match.units import grams_in, price_in

blp = Blueprint("api_lots", __name__, description="Stranded lots")


class DecimalText(ma.fields.Field):
    """A number given as JSON number or string, kept as text so that nothing passes a float."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "oneOf": [{"type": "string", "maxLength": 40}, {"type": "number"}],
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ma.ValidationError("Not a valid number.")
        return repr(value) if isinstance(value, float) else str(value)


def _kg(grams: int) -> float:
    return float(grams_in(grams, "kg"))


class PhotoSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.Function(lambda p: url_for("lots.media", key=p.key, _external=True))
    thumb_url = ma.fields.Function(lambda p: url_for("lots.media", key=p.thumb_key, _external=True))
    width = ma.fields.Integer()
    height = ma.fields.Integer()


class CooperativeRefSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    verified = ma.fields.Boolean()


class LotSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    commodity = ma.fields.Function(
        lambda lot: lot.commodity.code, metadata={"description": "catalogue code"}
    )
    commodity_name_zh = ma.fields.Function(lambda lot: lot.commodity.name_zh)
    commodity_name_en = ma.fields.Function(lambda lot: lot.commodity.name_en)
    commodity_typed_name = ma.fields.String(
        attribute="commodity_name",
        allow_none=True,
        metadata={
            "description": "produce not in the catalogue: the name as typed (the commodity is "
            "then its category's other_<category> entry); null otherwise"
        },
    )
    variety = ma.fields.String(allow_none=True)
    grade = ma.fields.String(allow_none=True)
    province = ma.fields.Function(lambda lot: lot.province.name)
    province_code = ma.fields.String()
    county = ma.fields.Function(lambda lot: lot.county.name)
    county_code = ma.fields.String()
    township = ma.fields.String(allow_none=True)
    village = ma.fields.String(allow_none=True)
    quantity_kg = ma.fields.Function(lambda lot: _kg(lot.quantity_g))
    remaining_kg = ma.fields.Function(lambda lot: _kg(lot.remaining_g))
    quantity_g = ma.fields.Integer(metadata={"description": "exact, in grams"})
    remaining_g = ma.fields.Integer(metadata={"description": "exact, in grams"})
    quantity_unit = ma.fields.Function(lambda lot: lot.quantity_unit.value)
    price_yuan_per_kg = ma.fields.Function(lambda lot: float(price_in(lot.price_fen_per_t, "kg")))
    price_fen = ma.fields.Integer(
        metadata={"description": "exact asking price, fen per price_unit"}
    )
    price_unit = ma.fields.Function(lambda lot: lot.price_unit.value)
    available_from = ma.fields.Date()
    spoil_by = ma.fields.Date()
    days_left = ma.fields.Integer()
    status = ma.fields.Function(lambda lot: lot.current_status.value)
    storage_notes = ma.fields.String(allow_none=True)
    description = ma.fields.String(allow_none=True)
    settlement_terms = ma.fields.Function(
        lambda lot: [s.value for s in lot.settlements],
        metadata={
            "description": "when the cooperative is paid, as the buyer may choose: on_delivery "
            "(held until delivery is confirmed), on_loading (paid the day of loading)"
        },
    )
    holdback_percent = ma.fields.Integer(
        attribute="holdback_pct",
        metadata={"description": "on_loading: the share of the loaded amount held until delivery"},
    )
    cooperative = ma.fields.Nested(CooperativeRefSchema)
    photos = ma.fields.List(ma.fields.Nested(PhotoSchema))
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class HighlightSchema(ma.Schema):
    title = ma.fields.String(metadata={"description": "HTML: the title with <mark>ed words"})
    snippet = ma.fields.String(metadata={"description": "HTML: a marked excerpt"})


class LotHitSchema(LotSchema):
    highlight = ma.fields.Nested(HighlightSchema)
    distance_km = ma.fields.Float(allow_none=True)


class FacetSchema(ma.Schema):
    value = ma.fields.String()
    label = ma.fields.String()
    count = ma.fields.Integer()


class LotPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(LotHitSchema))
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()
    pages = ma.fields.Integer()
    facets = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.Nested(FacetSchema))
    )
    suggestion = ma.fields.String(
        allow_none=True, metadata={"description": "did you mean, when nothing matched"}
    )
    relaxed = ma.fields.Boolean(
        metadata={"description": "true: no lot matched every word; these match some"}
    )
    suggestions = ma.fields.List(
        ma.fields.String(),
        metadata={"description": "every did-you-mean, nearest first, each finding lots"},
    )
    corrected = ma.fields.Boolean(
        metadata={
            "description": "true: no lot matched every word; these are the lots of `suggestion`"
        }
    )


def _text(length: int, description: str | None = None) -> ma.fields.String:
    meta = {"description": description} if description else {}
    return ma.fields.String(validate=ma.validate.Length(max=length), metadata=meta)


class LotQuerySchema(PaginationQuerySchema):
    q = _text(200, "full text: Chinese, pinyin, initials, English; place words narrow")
    commodity = _text(40, "any name of a commodity, or its code")
    province = _text(40)
    county = _text(40)
    grade = _text(30)
    min_quantity = _text(20, "lots with at least this much left, in `unit`")
    unit = _text(10)
    max_price = _text(20, "yuan per `price_unit`")
    price_unit = _text(10)
    spoil_within = _text(5, "days")
    spoil_after = ma.fields.Date()
    spoil_before = ma.fields.Date()
    status = ma.fields.String(validate=ma.validate.OneOf(["open", "sold_out", "expired", "all"]))
    sort = ma.fields.String(validate=ma.validate.OneOf(list(SORTS)))
    near = _text(40, "for sort=distance: a county or province (default: your own county)")


class _Hit:
    """A lot with what the search adds to it."""

    def __init__(self, lot: Lot, highlight: tuple[Any, Any], distance: float | None) -> None:
        self._lot = lot
        self.highlight = {"title": str(highlight[0]), "snippet": str(highlight[1])}
        self.distance_km = round(distance, 1) if distance is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lot, name)


_TEXT = {"validate": ma.validate.Length(max=5000)}


class LotWriteSchema(ma.Schema):
    confirm_low_price = ma.fields.Boolean(
        metadata={
            "description": "true: post (or change) the lot even though its price is below "
            "PRICE_WARNING_PERCENT % of the reference price in force (otherwise 409 "
            "below_reference with the figures, nothing written)"
        },
    )
    commodity = ma.fields.String(
        validate=ma.validate.Length(max=40),
        metadata={"description": "any name (黑豆, heidou, black bean) or code"},
    )
    category = ma.fields.String(
        validate=ma.validate.OneOf([c.value for c in Category]),
        allow_none=True,
        metadata={
            "description": "for produce not in the catalogue: its category (fruit, vegetable "
            "...); the lot is posted under that category's other entry with `commodity` as typed"
        },
    )
    title = ma.fields.String(validate=ma.validate.Length(max=120))
    variety = ma.fields.String(validate=ma.validate.Length(max=60), allow_none=True)
    grade = ma.fields.String(validate=ma.validate.Length(max=30), allow_none=True)
    quantity = DecimalText(metadata={"description": 'in `unit`, e.g. 40 or "2.5"'})
    unit = ma.fields.String(
        validate=ma.validate.Length(max=10),
        metadata={"description": "jin (斤), kg (公斤) or t (吨)"},
    )
    price = DecimalText(metadata={"description": "yuan per `price_unit`, at most 2 decimals"})
    price_unit = ma.fields.String(validate=ma.validate.Length(max=10))
    province = ma.fields.String(validate=ma.validate.Length(max=40))
    county = ma.fields.String(validate=ma.validate.Length(max=40))
    township = ma.fields.String(validate=ma.validate.Length(max=60), allow_none=True)
    village = ma.fields.String(validate=ma.validate.Length(max=60), allow_none=True)
    available_from = ma.fields.Date(allow_none=True)
    spoil_by = ma.fields.Date(
        allow_none=True, metadata={"description": "default: from the commodity's shelf life"}
    )
    storage_notes = ma.fields.String(allow_none=True, **_TEXT)
    description = ma.fields.String(allow_none=True, **_TEXT)
    settlement_terms = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=20)),
        validate=ma.validate.Length(max=4),
        metadata={"description": "on_delivery, on_loading or both; default: on_delivery"},
    )
    holdback_percent = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "on_loading: whole percent 0-10 held until delivery (default 5 "
            "when on_loading is first offered)"
        },
    )


class LotPatchSchema(LotWriteSchema):
    """The same fields, each optional: only what is sent changes."""


def _input(body: dict[str, Any]) -> lots.LotInput:
    # null clears an optional text; absent keeps it
    return lots.LotInput(
        **{k: ("" if v is None else v) for k, v in body.items() if k != "confirm_low_price"}
    )


@blp.route("/lots", methods=["GET"])
@blp.arguments(LotQuerySchema, location="query")
@blp.response(200, LotPageSchema)
def list_lots(args: dict[str, Any]) -> dict[str, Any]:
    """Search the lots on offer (or of one status): text, filters, facets, sorts; public."""
    user = current_api_user()
    org = user.organisation if user is not None else None
    origin = (org.county.lat, org.county.lng) if org is not None and org.county else None
    parsed = search_params.parse({k: str(v) for k, v in args.items()}, origin=origin)
    parsed.request.page, parsed.request.per_page = args["page"], args["per_page"]
    page = results_page(parsed.request)
    items = [_Hit(lot, page.highlights[lot.id], page.distances.get(lot.id)) for lot in page.lots]
    return {
        "items": items,
        "page": args["page"],
        "per_page": args["per_page"],
        "total": page.total,
        "pages": page.pages,
        "facets": page.facets,
        "suggestion": page.suggestion,
        "relaxed": page.relaxed,
        "suggestions": page.suggestions,
        "corrected": page.corrected,
    }


@blp.route("/lots/<int:lot_id>", methods=["GET"])
@blp.response(200, LotSchema)
def get_lot(lot_id: int) -> Lot:
    """One lot; public unless withdrawn."""
    return policy.load(current_api_user(), policy.VIEW, Lot, lot_id)


_LOW_PRICE = "below_reference: the price is below PRICE_WARNING_PERCENT % of the reference \
price in force (error.details has the figures); send confirm_low_price: true to go on"


@blp.route("/lots", methods=["POST"])
@token_required(blp)
@blp.arguments(LotWriteSchema)
@blp.response(201, LotSchema)
@blp.alt_response(409, description=_LOW_PRICE)
def create_lot(body: dict[str, Any]) -> Lot:
    """Post a lot for the caller's cooperative."""
    user = require_user()
    policy.ensure(user, "create", Lot)
    confirmed = bool(body.get("confirm_low_price"))
    return market.post_lot(user, user.organisation, _input(body), confirmed=confirmed)


@blp.route("/lots/<int:lot_id>", methods=["PATCH"])
@token_required(blp)
@blp.arguments(LotPatchSchema(partial=True))
@blp.response(200, LotSchema)
@blp.alt_response(409, description=_LOW_PRICE)
def update_lot(body: dict[str, Any], lot_id: int) -> Lot:
    """Change some fields of one of the caller's lots."""
    user = require_user()
    lot = policy.load(user, "edit", Lot, lot_id)
    market.edit_lot(user, lot, _input(body), confirmed=bool(body.get("confirm_low_price")))
    return lot


@blp.route("/lots/<int:lot_id>", methods=["DELETE"])
@token_required(blp)
@blp.response(200, LotSchema)
def withdraw_lot(lot_id: int) -> Lot:
    """Withdraw one of the caller's lots (it stays in the records, off the market)."""
    user = require_user()
    lot = policy.load(user, "withdraw", Lot, lot_id)
    lots.withdraw_lot(user, lot)
    return lot


@blp.route("/lots/<int:lot_id>/photos", methods=["POST"])
@token_required(blp)
@blp.response(201, PhotoSchema)
def add_photo(lot_id: int) -> Any:
    """Add a photo (multipart/form-data, field `photo`); EXIF and GPS data are removed."""
    user = require_user()
    lot = policy.load(user, "edit", Lot, lot_id)
    upload = request.files.get("photo")
    if upload is None:
        raise ValidationFailed(
            _("Send the photo as the multipart field 'photo'."),
            fields={"photo": [_("This field is required.")]},
        )
    photo = lots.add_photo(user, lot, upload.read())
    return photo
