"""API: the officials' allocation plan, and proposals that both parties answer."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from werkzeug.exceptions import Forbidden, NotFound

from produce_match import policy
from produce_match.api.auth import require_user, token_required
from produce_match.demands.models import Demand
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.matching import planner, proposals
from produce_match.matching.models import Proposal
from produce_match.matching.plan import jurisdiction_of, make_plan
from produce_match.units import grams_in

blp = Blueprint("api_proposals", __name__, description="The allocation plan and proposals")

_ID = {"required": True, "validate": ma.validate.Range(min=1, max=2**31 - 1)}


class PlanQuerySchema(ma.Schema):
    objective = ma.fields.String(
        load_default="tonnage",
        validate=ma.validate.OneOf(planner.OBJECTIVES),
        metadata={"description": "tonnage: the most kilograms, then money; value: money first"},
    )
    county = ma.fields.String(
        validate=ma.validate.Length(max=40),
        metadata={"description": "administrators: plan one county (name or code)"},
    )


class AllocationSchema(ma.Schema):
    lot_id = ma.fields.Integer()
    demand_id = ma.fields.Integer()
    quantity_kg = ma.fields.Integer()


class PlanSchema(ma.Schema):
    allocations = ma.fields.List(ma.fields.Nested(AllocationSchema))
    total_kg = ma.fields.Integer()
    total_value_yuan = ma.fields.Float()
    bound_kg = ma.fields.Integer(metadata={"description": "the flow bound: no plan does better"})
    seconds = ma.fields.Float()


class ProposalSchema(ma.Schema):
    id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    lot_title = ma.fields.Function(lambda p: p.lot.title)
    demand_id = ma.fields.Integer()
    buyer = ma.fields.Function(lambda p: {"id": p.demand.buyer.id, "name": p.demand.buyer.name})
    cooperative = ma.fields.Function(
        lambda p: {"id": p.lot.cooperative.id, "name": p.lot.cooperative.name}
    )
    quantity_g = ma.fields.Integer(metadata={"description": "exact, in grams"})
    quantity_kg = ma.fields.Function(lambda p: format(grams_in(p.quantity_g, "kg"), "f"))
    status = ma.fields.Function(
        lambda p: p.status.value, metadata={"description": "proposed, ordered, declined, failed"}
    )
    buyer_answer = ma.fields.Function(lambda p: p.buyer_answer and p.buyer_answer.value)
    cooperative_answer = ma.fields.Function(
        lambda p: p.cooperative_answer and p.cooperative_answer.value
    )
    order_id = ma.fields.Integer(allow_none=True, metadata={"description": "once both accepted"})
    problem = ma.fields.String(allow_none=True, metadata={"description": "why it failed"})
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ProposeSchema(ma.Schema):
    lot_id = ma.fields.Integer(**_ID)
    demand_id = ma.fields.Integer(**_ID)
    quantity_kg = ma.fields.Integer(**_ID)


@blp.route("/plan", methods=["GET"])
@token_required(blp)
@blp.arguments(PlanQuerySchema, location="query")
@blp.response(200, PlanSchema)
def get_plan(args: dict[str, Any]) -> dict[str, Any]:
    """The allocation plan of the caller's jurisdiction (officials and administrators).

    The same plan as the officials' page and `flask match plan --json`.
    """
    user = require_user()
    policy.ensure(user, "plan", Proposal)
    try:
        where = jurisdiction_of(user, args.get("county"))
    except PermissionError:
        raise Forbidden() from None
    result = make_plan(
        province_code=where.province_code,
        county_code=where.county_code,
        objective=args["objective"],
    )
    return result.as_json()


@blp.route("/proposals", methods=["GET"])
@token_required(blp)
@blp.response(200, ProposalSchema(many=True))
def list_proposals() -> list[Proposal]:
    """Proposals the caller answers (its organisation's side) or sent; the newest 200."""
    return proposals.for_user(require_user())


@blp.route("/proposals", methods=["POST"])
@token_required(blp)
@blp.arguments(ProposeSchema)
@blp.response(201, ProposalSchema)
@blp.alt_response(422, description="the pair does not fit, or the quantity is out of range")
def propose(body: dict[str, Any]) -> Proposal:
    """Send an allocation (kilograms of a lot to a demand) to both parties (officials only)."""
    user = require_user()
    policy.ensure(user, "create", Proposal)
    lot = policy.load(user, "propose", Lot, body["lot_id"])
    demand = db.session.get(Demand, body["demand_id"])
    if demand is None:
        raise NotFound()
    proposal = proposals.propose(user, lot, demand, body["quantity_kg"])
    return proposal


@blp.route("/proposals/<int:proposal_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, ProposalSchema)
def get_proposal(proposal_id: int) -> Proposal:
    """One proposal: its two parties, and the official who sent it (404 for anyone else)."""
    return policy.load(require_user(), policy.VIEW, Proposal, proposal_id)


def _answer(proposal_id: int, accept: bool) -> Proposal:
    user = require_user()
    proposal = policy.load(user, "answer", Proposal, proposal_id)
    proposals.answer(user, proposal, accept)
    return proposal


@blp.route("/proposals/<int:proposal_id>/accept", methods=["POST"])
@token_required(blp)
@blp.response(200, ProposalSchema)
@blp.alt_response(409, description="answered: this side has answered already")
def accept(proposal_id: int) -> Proposal:
    """Accept for the caller's side; when both sides have, the order is placed and accepted."""
    return _answer(proposal_id, True)


@blp.route("/proposals/<int:proposal_id>/decline", methods=["POST"])
@token_required(blp)
@blp.response(200, ProposalSchema)
@blp.alt_response(409, description="answered: this side has answered already")
def decline(proposal_id: int) -> Proposal:
    """Decline for the caller's side: the proposal ends."""
    return _answer(proposal_id, False)
