"""API: prices for everyone (行情): per commodity and place, the reference price in force and
the weekly median price paid on the platform. Any account's token; not for visitors."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.api.auth import require_user, token_required
from produce_match.catalog import commodities
from produce_match.catalog.models import Region, RegionLevel
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.market import queries
from produce_match.units import grams_in, price_in

blp = Blueprint("api_market", __name__, description="Prices for everyone (行情)")


def _yuan_per_kg(fen_per_t: int | None) -> str | None:
    """Exact yuan per kg as a string ('6.8'), or None."""
    if fen_per_t is None:
        return None
    return format(price_in(fen_per_t, "kg").normalize(), "f")


class MarketQuerySchema(ma.Schema):
    commodity = ma.fields.String(
        required=True, metadata={"description": "catalogue code or name (黑豆, heidou, black bean)"}
    )
    province = ma.fields.String(
        load_default=None, metadata={"description": "province code; none: nationwide"}
    )
    county = ma.fields.String(
        load_default=None, metadata={"description": "county code (its province follows)"}
    )
    weeks = ma.fields.Integer(
        load_default=queries.DEFAULT_WEEKS, validate=ma.validate.Range(min=1, max=104)
    )


class RegionRefSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()


class ReferenceSchema(ma.Schema):
    price_fen_per_t = ma.fields.Integer(metadata={"description": "exact, fen per tonne"})
    price_yuan_per_kg = ma.fields.Function(lambda r: _yuan_per_kg(r.price_fen_per_t))
    source = ma.fields.Function(
        lambda r: r.source.value,
        metadata={
            "description": "county (its own), province (median of its counties' references), "
            "national (median of every county's)"
        },
    )
    valid_from = ma.fields.Date()
    counties = ma.fields.Integer(metadata={"description": "how many county prices it is of"})


class WeekSchema(ma.Schema):
    year = ma.fields.Integer(metadata={"description": "ISO year"})
    week = ma.fields.Integer(metadata={"description": "ISO week (China dates)"})
    monday = ma.fields.Date()
    orders = ma.fields.Integer(metadata={"description": "paid orders taken that week"})
    quantity_g = ma.fields.Integer(attribute="grams")
    quantity_kg = ma.fields.Function(lambda w: format(grams_in(w.grams, "kg").normalize(), "f"))
    median_fen_per_t = ma.fields.Integer(
        allow_none=True,
        metadata={"description": f"null with fewer than {queries.MIN_ORDERS} orders"},
    )
    median_yuan_per_kg = ma.fields.Function(lambda w: _yuan_per_kg(w.median_fen_per_t))
    too_few_orders = ma.fields.Boolean(attribute="too_few")
    reference_fen_per_t = ma.fields.Function(
        lambda w: w.reference.price_fen_per_t if w.reference else None,
        metadata={"description": "the reference in force on the week's last day (or today)"},
    )


class HistorySchema(ma.Schema):
    county_code = ma.fields.String()
    county = ma.fields.Function(lambda r: r.county.name)
    valid_from = ma.fields.Date()
    price_fen_per_t = ma.fields.Integer()


class MarketSchema(ma.Schema):
    commodity = ma.fields.Function(lambda m: m.commodity.code)
    commodity_name_zh = ma.fields.Function(lambda m: m.commodity.name_zh)
    commodity_name_en = ma.fields.Function(lambda m: m.commodity.name_en)
    province = ma.fields.Function(
        lambda m: RegionRefSchema().dump(m.place.province) if m.place.province else None
    )
    county = ma.fields.Function(
        lambda m: RegionRefSchema().dump(m.place.county) if m.place.county else None
    )
    min_orders = ma.fields.Function(lambda m: queries.MIN_ORDERS)
    reference = ma.fields.Nested(ReferenceSchema, allow_none=True)
    weeks = ma.fields.List(ma.fields.Nested(WeekSchema), metadata={"description": "oldest first"})
    history = ma.fields.List(
        ma.fields.Nested(HistorySchema),
        metadata={"description": "reference prices recorded for the place, newest first"},
    )


def _region(code: str | None, level: RegionLevel, field: str) -> Region | None:
    if not code:
        return None
    region = db.session.get(Region, code)
    if region is None or region.level is not level:
        message = _("Unknown place.")
        raise ValidationFailed(message, fields={field: [message]})
    return region


@blp.route("/market", methods=["GET"])
@token_required(blp)
@blp.arguments(MarketQuerySchema, location="query")
@blp.response(200, MarketSchema)
def get_market(args: dict[str, Any]) -> queries.Market:
    """The reference price in force and the weekly medians paid, for a commodity and a place.

    A week's median is null below `min_orders` paid orders (no single buyer's price is shown).
    """
    user = require_user()
    commodity = commodities.resolve(args["commodity"])
    if commodity is None:
        message = _("Unknown commodity.")
        raise ValidationFailed(message, fields={"commodity": [message]})
    county = _region(args["county"], RegionLevel.county, "county")
    province = _region(args["province"], RegionLevel.province, "province")
    if county is not None:
        province = db.session.get(Region, county.province_code)
    market = queries.market(commodity, queries.Place(province, county), weeks=args["weeks"])
    policy.ensure(user, policy.VIEW, market)
    return market
