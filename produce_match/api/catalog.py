"""API: regions (and, later, commodities)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from produce_match.catalog import commodities, regions

blp = Blueprint("api_catalog", __name__, description="Regions and commodities")


class RegionSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    short_name = ma.fields.String()
    level = ma.fields.String()
    parent_code = ma.fields.String(allow_none=True)
    lat = ma.fields.Float()
    lng = ma.fields.Float()


class RegionQuerySchema(ma.Schema):
    province = ma.fields.String(
        validate=ma.validate.Length(max=40),
        metadata={"description": "a province's code or name: list its counties"},
    )


@blp.route("/regions", methods=["GET"])
@blp.arguments(RegionQuerySchema, location="query")
@blp.response(200, RegionSchema(many=True))
def list_regions(args: dict[str, Any]) -> Any:
    """Provinces, or the counties of one province (public)."""
    if args.get("province"):
        province = regions.find_province(args["province"])
        return regions.counties(province.code) if province else []
    return regions.provinces()


class CommoditySchema(ma.Schema):
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    pinyin = ma.fields.String()
    traditional = ma.fields.String(allow_none=True)
    synonyms_zh = ma.fields.List(ma.fields.String())
    synonyms_en = ma.fields.List(ma.fields.String())
    category = ma.fields.Function(lambda c: c.category.value)
    shelf_life_days = ma.fields.Integer()
    unit = ma.fields.Function(lambda c: c.unit.value)


class CommodityQuerySchema(ma.Schema):
    q = ma.fields.String(
        validate=ma.validate.Length(max=40),
        metadata={"description": "any name: Chinese, traditional, pinyin, English, a synonym"},
    )


@blp.route("/commodities", methods=["GET"])
@blp.arguments(CommodityQuerySchema, location="query")
@blp.response(200, CommoditySchema(many=True))
def list_commodities(args: dict[str, Any]) -> Any:
    """The catalogue; with `q`, the commodity that name means first, then names starting so."""
    if args.get("q"):
        return commodities.suggest(args["q"], limit=20)
    return commodities.all_active()
