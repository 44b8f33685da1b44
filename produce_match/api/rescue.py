"""API: the rescue ladder: a lot's step, the cooperative's answers, donations, the office's view."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from werkzeug.exceptions import NotFound

from produce_match import policy
from produce_match.api.auth import require_user, token_required
from produce_match.lots.models import Lot
from produce_match.monitor import queries as monitor_queries
from produce_match.rescue import operations, queries
from produce_match.rescue.models import Donation, RescueProposal
from produce_match.units import grams_in

blp = Blueprint("api_rescue", __name__, description="The rescue ladder (滞销救助) and donations")


def _kg(grams: int | None) -> str | None:
    return None if grams is None else format(grams_in(grams, "kg"), "f")


class RescueProposalSchema(ma.Schema):
    id = ma.fields.Integer()
    lot_id = ma.fields.Integer()
    step = ma.fields.Function(
        lambda p: p.step.value, metadata={"description": "reprice, widen, aid"}
    )
    status = ma.fields.Function(
        lambda p: p.status.value, metadata={"description": "proposed, taken, declined, lapsed"}
    )
    proposed_at = ma.fields.DateTime()
    answered_at = ma.fields.DateTime(allow_none=True)
    days_left = ma.fields.Integer()
    remaining_g = ma.fields.Integer()
    price_fen_per_t = ma.fields.Integer()
    proposed_price_fen_per_t = ma.fields.Integer(allow_none=True)
    demands_before = ma.fields.Integer(allow_none=True)
    demands_after = ma.fields.Integer(allow_none=True)
    buyers_reached = ma.fields.Integer(allow_none=True)


class LotRescueSchema(ma.Schema):
    lot_id = ma.fields.Function(lambda r: r.lot.id)
    days_left = ma.fields.Function(lambda r: r.lot.days_left)
    step = ma.fields.Function(lambda r: r.step.value if r.step else None)
    status = ma.fields.Function(
        lambda r: r.status.value if r.status else None,
        metadata={"description": "null: due, not yet recorded by the worker"},
    )
    proposal_id = ma.fields.Function(lambda r: r.proposal.id if r.proposal else None)
    proposed_price_fen_per_t = ma.fields.Function(
        lambda r: r.figures.proposed_price_fen_per_t if r.figures else None
    )
    demands_before = ma.fields.Function(lambda r: r.figures.demands_before if r.figures else None)
    demands_after = ma.fields.Function(lambda r: r.figures.demands_after if r.figures else None)
    buyers_reached = ma.fields.Function(lambda r: r.figures.buyers_reached if r.figures else None)
    proposals = ma.fields.Function(lambda r: RescueProposalSchema(many=True).dump(r.proposals))


class TakeSchema(ma.Schema):
    price = ma.fields.String(
        validate=ma.validate.Length(max=20),
        metadata={"description": "reprice: the price to set instead of the proposed one (元)"},
    )
    price_unit = ma.fields.String(validate=ma.validate.OneOf(["jin", "kg", "t"]))


class DonationSchema(ma.Schema):
    id = ma.fields.Integer()
    receipt_no = ma.fields.String()
    lot_id = ma.fields.Integer()
    donor = ma.fields.Function(lambda d: {"id": d.donor_org.id, "name": d.donor_org.name})
    recipient_org_id = ma.fields.Integer(allow_none=True)
    recipient_name = ma.fields.String()
    quantity_g = ma.fields.Integer()
    quantity_kg = ma.fields.Function(lambda d: _kg(d.quantity_g))
    unit = ma.fields.Function(lambda d: d.unit.value)
    value_fen = ma.fields.Integer()
    note = ma.fields.String(allow_none=True)
    donated_at = ma.fields.DateTime()


class DonateSchema(ma.Schema):
    quantity = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20))
    unit = ma.fields.String(required=True, validate=ma.validate.OneOf(["jin", "kg", "t"]))
    recipient_org_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1))
    recipient_name = ma.fields.String(validate=ma.validate.Length(max=120))
    note = ma.fields.String(validate=ma.validate.Length(max=2000))


class SavedSchema(ma.Schema):
    step = ma.fields.Function(lambda s: s.step.value)
    lots = ma.fields.Integer()
    ordered_g = ma.fields.Integer()
    donated_g = ma.fields.Integer()
    total_g = ma.fields.Integer()


class OfficeQuerySchema(ma.Schema):
    province = ma.fields.String(validate=ma.validate.Length(max=40))
    county = ma.fields.String(validate=ma.validate.Length(max=40))


class OfficeSchema(ma.Schema):
    lots = ma.fields.List(ma.fields.Nested(LotRescueSchema))
    saved = ma.fields.List(ma.fields.Nested(SavedSchema))


@blp.route("/lots/<int:lot_id>/rescue", methods=["GET"])
@token_required(blp)
@blp.response(200, LotRescueSchema)
def lot_rescue(lot_id: int) -> Any:
    """The lot's step (its cooperative and officials of its place): as recorded, or as due."""
    lot = policy.load(require_user(), "view_rescue", Lot, lot_id)
    return queries.of_lot(lot)


@blp.route("/rescue/<int:proposal_id>/take", methods=["POST"])
@token_required(blp)
@blp.arguments(TakeSchema)
@blp.response(200, RescueProposalSchema)
@blp.alt_response(409, description="answered already, or the lot is closed")
def take(body: dict[str, Any], proposal_id: int) -> RescueProposal:
    """Take the step (the lot's cooperative): reprice sets the price; widen and aid tell buyers."""
    user = require_user()
    proposal = policy.load(user, "answer", RescueProposal, proposal_id)
    return operations.take(
        user, proposal, price=body.get("price"), price_unit=body.get("price_unit")
    )


@blp.route("/rescue/<int:proposal_id>/decline", methods=["POST"])
@token_required(blp)
@blp.response(200, RescueProposalSchema)
@blp.alt_response(409, description="answered already")
def decline(proposal_id: int) -> RescueProposal:
    """Decline the step (the lot's cooperative)."""
    user = require_user()
    proposal = policy.load(user, "answer", RescueProposal, proposal_id)
    return operations.decline(user, proposal)


@blp.route("/lots/<int:lot_id>/donations", methods=["POST"])
@token_required(blp)
@blp.arguments(DonateSchema)
@blp.response(201, DonationSchema)
@blp.alt_response(422, description="more than is left, no recipient, or a bad quantity")
def donate(body: dict[str, Any], lot_id: int) -> Donation:
    """Give produce away from a lot (its cooperative): the lot's remainder goes down."""
    user = require_user()
    lot = policy.load(user, "rescue", Lot, lot_id)
    return operations.donate(user, lot, **body)


@blp.route("/donations/<int:donation_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, DonationSchema)
def donation(donation_id: int) -> Donation:
    """A donation's receipt (the donor, the recipient, officials of the lot's place)."""
    return policy.load(require_user(), policy.VIEW, Donation, donation_id)


@blp.route("/monitor/rescue", methods=["GET"])
@token_required(blp)
@blp.arguments(OfficeQuerySchema, location="query")
@blp.response(200, OfficeSchema)
def office(args: dict[str, Any]) -> dict[str, Any]:
    """The office's at-risk lots with their step, and the quantities saved at each step."""
    user = require_user()
    if not policy.overseer(user):
        raise NotFound()
    scope = monitor_queries.resolve_scope(user, args.get("province"), args.get("county"))
    return {"lots": queries.at_risk(scope), "saved": queries.saved(scope)}
