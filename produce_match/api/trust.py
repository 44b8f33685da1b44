"""API: an organisation's reliability figures (trust.reliability), and those of every
cooperative and buyer of an official's place (/stats/reliability)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.accounts.models import Organisation
from produce_match.api.auth import require_user, token_required
from produce_match.monitor import queries
from produce_match.trust import reliability

blp = Blueprint("api_trust", __name__, description="Reliability figures from the record")


class DisputesSchema(ma.Schema):
    full_refund = ma.fields.Integer()
    partial_refund = ma.fields.Integer()
    no_refund = ma.fields.Integer()
    open = ma.fields.Integer(metadata={"description": "disputed, not yet resolved"})


class SideSchema(ma.Schema):
    finished = ma.fields.Integer(metadata={"description": "finished orders it answers for"})
    completed = ma.fields.Integer(metadata={"description": "of them, ended well"})
    completion_rate = ma.fields.Float(
        allow_none=True, metadata={"description": "0-1; null: too few"}
    )
    delivered = ma.fields.Integer()
    disputed = ma.fields.Integer()
    disputed_share = ma.fields.Float(allow_none=True)
    disputes = ma.fields.Nested(DisputesSchema)
    dispatched = ma.fields.Integer(metadata={"description": "as seller: dispatched orders"})
    on_time = ma.fields.Integer()
    on_time_rate = ma.fields.Float(allow_none=True)
    paid = ma.fields.Integer(metadata={"description": "as buyer: paid orders"})
    days_to_pay = ma.fields.Float(
        allow_none=True, metadata={"description": "median days from payment requested to paid"}
    )


class ReliabilitySchema(ma.Schema):
    org_id = ma.fields.Integer()
    min_orders = ma.fields.Function(
        lambda _r: reliability.MIN_ORDERS,
        metadata={"description": "the fewest orders behind a figure for it to be given"},
    )
    seller = ma.fields.Nested(SideSchema)
    buyer = ma.fields.Nested(SideSchema)


class PlaceQuerySchema(ma.Schema):
    province = ma.fields.String(load_default=None, metadata={"description": "code or name"})
    county = ma.fields.String(load_default=None, metadata={"description": "code or name"})
    sort = ma.fields.String(
        load_default="name", validate=ma.validate.OneOf(queries.RELIABILITY_SORTS)
    )


class OrgReliabilitySchema(ma.Schema):
    org_id = ma.fields.Function(lambda r: r.org.id)
    name = ma.fields.Function(lambda r: r.org.name)
    side = ma.fields.Function(lambda r: "seller" if r.selling else "buyer")
    figures = ma.fields.Nested(SideSchema, attribute="side")


@blp.route("/organisations/<int:org_id>/reliability")
@token_required(blp)
@blp.response(200, ReliabilitySchema)
@blp.alt_response(404, description="no such organisation")
def organisation_reliability(org_id: int) -> Any:
    """An organisation's figures as a seller and as a buyer (rates null below `min_orders`)."""
    org = policy.load(require_user(), policy.VIEW, Organisation, org_id)
    return reliability.figures_for(org.id)


@blp.route("/stats/reliability")
@token_required(blp)
@blp.arguments(PlaceQuerySchema, location="query")
@blp.response(200, OrgReliabilitySchema(many=True))
def place_reliability(args: dict[str, Any]) -> Any:
    """Officials: the cooperatives and buyers of a place (default: the whole jurisdiction)
    with the figures of the side each trades on; 404 outside the jurisdiction."""
    scope = queries.resolve_scope(require_user(), args["province"], args["county"])
    return queries.reliability_of_place(scope, args["sort"])
