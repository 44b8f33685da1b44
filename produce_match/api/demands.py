"""API: buyers' demands (their owner writes them) and the ranked matches both ways."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy import select

from produce_match import policy
from produce_match.accounts.models import Role
from produce_match.api.auth import require_user, token_required
from produce_match.api.lots import DecimalText
from produce_match.demands import operations as demands
from produce_match.demands.models import Demand
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.matching import queries
from produce_match.matching.words import reason_text
from produce_match.units import grams_in, price_in

blp = Blueprint("api_demands", __name__, description="Buyers' demands and matches")


def _kg(grams: int) -> float:
    return float(grams_in(grams, "kg"))


class OrgRefSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    verified = ma.fields.Boolean()


class DemandSchema(ma.Schema):
    id = ma.fields.Integer()
    commodity = ma.fields.Function(lambda d: d.commodity.code)
    commodity_name_zh = ma.fields.Function(lambda d: d.commodity.name_zh)
    commodity_name_en = ma.fields.Function(lambda d: d.commodity.name_en)
    grades = ma.fields.List(ma.fields.String(), metadata={"description": "empty: any grade"})
    min_quantity_kg = ma.fields.Function(lambda d: _kg(d.min_quantity_g))
    max_quantity_kg = ma.fields.Function(lambda d: _kg(d.max_quantity_g))
    min_quantity_g = ma.fields.Integer(metadata={"description": "exact, in grams"})
    max_quantity_g = ma.fields.Integer(metadata={"description": "exact, in grams"})
    quantity_unit = ma.fields.Function(lambda d: d.quantity_unit.value)
    max_price_yuan_per_kg = ma.fields.Function(
        lambda d: float(price_in(d.max_price_fen_per_t, "kg"))
    )
    max_price_fen = ma.fields.Integer(metadata={"description": "exact, fen per price_unit"})
    price_unit = ma.fields.Function(lambda d: d.price_unit.value)
    province = ma.fields.Function(lambda d: d.province.name)
    province_code = ma.fields.String()
    county = ma.fields.Function(lambda d: d.county.name)
    county_code = ma.fields.String()
    needed_by = ma.fields.Date()
    max_distance_km = ma.fields.Integer(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    status = ma.fields.Function(lambda d: d.status.value)
    buyer = ma.fields.Nested(OrgRefSchema)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class DemandWriteSchema(ma.Schema):
    commodity = ma.fields.String(validate=ma.validate.Length(max=40))
    grades = ma.fields.Raw(
        metadata={"description": 'a list, or text separated by , or 、 ("一等、二等")'},
        allow_none=True,
    )
    min_quantity = DecimalText(metadata={"description": "in `unit`"})
    max_quantity = DecimalText(metadata={"description": "in `unit`"})
    unit = ma.fields.String(validate=ma.validate.Length(max=10))
    max_price = DecimalText(metadata={"description": "yuan per `price_unit`"})
    price_unit = ma.fields.String(validate=ma.validate.Length(max=10))
    province = ma.fields.String(validate=ma.validate.Length(max=40))
    county = ma.fields.String(validate=ma.validate.Length(max=40))
    needed_by = ma.fields.Date()
    max_distance_km = ma.fields.Integer(allow_none=True)
    notes = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))

    @ma.validates("grades")
    def _grades(self, value: Any, **kwargs: Any) -> None:
        if value is None or isinstance(value, str):
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ma.ValidationError("A list of grades, or text.")


class ReasonSchema(ma.Schema):
    kind = ma.fields.Function(lambda r: r.kind.value)
    text = ma.fields.Function(lambda r: reason_text(r))
    value = ma.fields.Float(
        allow_none=True,
        metadata={"description": "null for `price` when the caller may not read the demand"},
    )
    points = ma.fields.Function(
        lambda r: None if r.points is None else round(r.points, 1),
        metadata={"description": "null for `price` when the caller may not read the demand"},
    )


class LotRefSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    remaining_kg = ma.fields.Function(lambda lot: _kg(lot.remaining_g))
    price_yuan_per_kg = ma.fields.Function(lambda lot: float(price_in(lot.price_fen_per_t, "kg")))
    province = ma.fields.Function(lambda lot: lot.province.name)
    county = ma.fields.Function(lambda lot: lot.county.name)
    spoil_by = ma.fields.Date()
    cooperative = ma.fields.Nested(OrgRefSchema)


class DemandRefSchema(ma.Schema):
    """What a lot's cooperative sees of a demand that fits (no notes)."""

    id = ma.fields.Integer()
    commodity = ma.fields.Function(lambda d: d.commodity.code)
    min_quantity_kg = ma.fields.Function(lambda d: _kg(d.min_quantity_g))
    max_quantity_kg = ma.fields.Function(lambda d: _kg(d.max_quantity_g))
    province = ma.fields.Function(lambda d: d.province.name)
    county = ma.fields.Function(lambda d: d.county.name)
    needed_by = ma.fields.Date()
    buyer = ma.fields.Nested(OrgRefSchema)


class MatchSchema(ma.Schema):
    score = ma.fields.Function(
        lambda f: f.match.score.total,
        metadata={
            "description": "0-100; null when the caller may not read the demand (with the other"
            " parts' points it would give away the buyer's maximum price)"
        },
    )
    reasons = ma.fields.Function(
        lambda f: ReasonSchema(many=True).dump(list(f.match.score.reasons))
    )
    distance_km = ma.fields.Function(lambda f: round(f.match.fit.distance_km, 1))
    transit_days = ma.fields.Function(lambda f: f.match.fit.transit_days)
    arrives = ma.fields.Function(lambda f: f.match.fit.arrives.isoformat())
    supply_kg = ma.fields.Function(lambda f: _kg(f.match.fit.supply_g))


class LotMatchSchema(MatchSchema):
    demand = ma.fields.Nested(DemandRefSchema)


class DemandMatchSchema(MatchSchema):
    lot = ma.fields.Nested(LotRefSchema)


def _input(body: dict[str, Any]) -> demands.DemandInput:
    values = {k: ("" if v is None else v) for k, v in body.items()}
    if "max_distance_km" in values and values["max_distance_km"] != "":
        values["max_distance_km"] = str(values["max_distance_km"])
    return demands.DemandInput(**values)


@blp.route("/demands", methods=["GET"])
@token_required(blp)
@blp.response(200, DemandSchema(many=True))
def list_demands() -> list[Demand]:
    """The caller's organisation's demands (a buyer), those delivered within the office's
    jurisdiction (an official), or all of them (an administrator)."""
    user = require_user()
    query = select(Demand).order_by(Demand.id)
    if user.is_admin:
        pass
    elif user.role is Role.official and user.organisation and user.organisation.province_code:
        office = user.organisation
        query = query.where(Demand.province_code == office.province_code)
        if office.county_code:
            query = query.where(Demand.county_code == office.county_code)
    elif user.role is Role.buyer:
        query = query.where(Demand.buyer_org_id == user.organisation_id)
    else:
        return []
    return list(db.session.scalars(query.limit(1000)))


@blp.route("/demands", methods=["POST"])
@token_required(blp)
@blp.arguments(DemandWriteSchema)
@blp.response(201, DemandSchema)
def create_demand(body: dict[str, Any]) -> Demand:
    """Register a demand for the caller's buyer organisation."""
    user = require_user()
    policy.ensure(user, "create", Demand)
    demand = demands.create_demand(user, user.organisation, _input(body))
    return demand


@blp.route("/demands/<int:demand_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, DemandSchema)
def get_demand(demand_id: int) -> Demand:
    """One demand: its buyer, administrators, officials of the delivery place."""
    return policy.load(require_user(), policy.VIEW, Demand, demand_id)


class DemandPatchSchema(DemandWriteSchema):
    status = ma.fields.String(
        validate=ma.validate.OneOf(["active", "paused", "closed"]),
        metadata={"description": "pause, resume or close"},
    )


@blp.route("/demands/<int:demand_id>", methods=["PATCH"])
@token_required(blp)
@blp.arguments(DemandPatchSchema(partial=True))
@blp.response(200, DemandSchema)
def update_demand(body: dict[str, Any], demand_id: int) -> Demand:
    """Change some fields of one of the caller's demands; `status` pauses, resumes or closes."""
    user = require_user()
    demand = policy.load(user, "edit", Demand, demand_id)
    status = body.pop("status", None)
    if body:
        demands.update_demand(user, demand, _input(body))
    if status is not None and status != demand.status.value:
        action = {"paused": "pause", "closed": "close", "active": "resume"}[status]
        demands.move(user, demand, action)
    return demand


@blp.route("/demands/<int:demand_id>", methods=["DELETE"])
@token_required(blp)
@blp.response(200, DemandSchema)
def close_demand(demand_id: int) -> Demand:
    """Close one of the caller's demands (it stays in the records)."""
    user = require_user()
    demand = policy.load(user, "close", Demand, demand_id)
    demands.move(user, demand, "close")
    return demand


class MatchQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


@blp.route("/demands/<int:demand_id>/matches", methods=["GET"])
@token_required(blp)
@blp.arguments(MatchQuerySchema, location="query")
@blp.response(200, DemandMatchSchema(many=True))
def demand_matches(args: dict[str, Any], demand_id: int) -> list[Any]:
    """The lots that fit a demand, best first, with the score and its reasons."""
    demand = policy.load(require_user(), "view_matches", Demand, demand_id)
    return queries.matches_for_demand(demand, limit=args["limit"])


@blp.route("/lots/<int:lot_id>/matches", methods=["GET"])
@token_required(blp)
@blp.arguments(MatchQuerySchema, location="query")
@blp.response(200, LotMatchSchema(many=True))
def lot_matches(args: dict[str, Any], lot_id: int) -> list[Any]:
    """The demands a lot fits, best first: for its cooperative and for officials."""
    user = require_user()
    lot = policy.load(user, "view_matches", Lot, lot_id)
    if not lot.orderable:
        return []
    return queries.seen_by(user, queries.matches_for_lot(lot, limit=args["limit"]))
