"""API: ratings after completion (one per side per order) and organisations' summaries.

A rating is given once and never changed. Each side sees the rating it gave, and the one it
received once it has rated too or the window has closed; officials and administrators who may
see the order see both. An organisation's summary shows the average, the tags and the
comments only from RATINGS_SHOWN_FROM ratings on.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.accounts.models import Organisation
from produce_match.api.auth import require_user, token_required
from produce_match.orders.models import Order
from produce_match.trust import ratings
from produce_match.trust.models import Rating, RatingTag

blp = Blueprint("api_ratings", __name__, description="Ratings after completion (评价)")

_TAGS = [t.value for t in RatingTag]


class RateSchema(ma.Schema):
    stars = ma.fields.Integer(required=True, strict=True, metadata={"example": 5})
    tags = ma.fields.List(
        ma.fields.String(),
        load_default=list,
        metadata={"description": "from the rater's side's tags: " + ", ".join(_TAGS)},
    )
    comment = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=ratings.MAX_COMMENT)
    )


class RatingSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    by = ma.fields.String(attribute="by_party.value", metadata={"enum": ["buyer", "cooperative"]})
    rater_org_id = ma.fields.Integer()
    ratee_org_id = ma.fields.Integer()
    stars = ma.fields.Integer()
    tags = ma.fields.List(ma.fields.String())
    comment = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class OrderRatingsSchema(ma.Schema):
    side = ma.fields.String(allow_none=True, metadata={"description": "the caller's side"})
    may_rate = ma.fields.Boolean()
    rate_until = ma.fields.DateTime(allow_none=True)
    tags = ma.fields.List(ma.fields.String(), metadata={"description": "the caller's tags"})
    given = ma.fields.Nested(RatingSchema, allow_none=True)
    received = ma.fields.Nested(RatingSchema, allow_none=True)
    sealed = ma.fields.Boolean(metadata={"description": "the other side rated; not shown yet"})
    ratings = ma.fields.List(
        ma.fields.Nested(RatingSchema), metadata={"description": "both (officials only)"}
    )


class TagCountSchema(ma.Schema):
    tag = ma.fields.String()
    count = ma.fields.Integer()


class CommentSchema(ma.Schema):
    stars = ma.fields.Integer()
    comment = ma.fields.String()
    rater_org_id = ma.fields.Integer()
    rater_org_name = ma.fields.String(attribute="rater_org.name")
    created_at = ma.fields.DateTime()


class SummarySchema(ma.Schema):
    org_id = ma.fields.Integer()
    count = ma.fields.Integer()
    average = ma.fields.Float(allow_none=True, metadata={"description": "null below the floor"})
    shown_from = ma.fields.Integer()
    tags = ma.fields.List(ma.fields.Nested(TagCountSchema))
    comments = ma.fields.List(ma.fields.Nested(CommentSchema))


def _order_ratings(user: Any, order: Order) -> dict[str, Any]:
    seen = ratings.order_ratings(user, order)
    return {
        "side": seen.side.value if seen.side else None,
        "may_rate": seen.may_rate,
        "rate_until": seen.until,
        "tags": [t.value for t in seen.tags],
        "given": seen.given,
        "received": seen.received,
        "sealed": seen.sealed,
        "ratings": list(seen.all),
    }


@blp.route("/orders/<int:order_id>/rating", methods=["POST"])
@token_required(blp)
@blp.arguments(RateSchema)
@blp.response(201, RatingSchema)
@blp.alt_response(403, description="forbidden: only the buyer and the cooperative rate")
@blp.alt_response(
    409, description="order_not_completed, rating_window_closed or already_rated (never changed)"
)
def rate(body: dict[str, Any], order_id: int) -> Rating:
    """The caller's side rates the other side of a completed (or resolved) order, once."""
    user = require_user()
    order = policy.load(user, policy.VIEW, Order, order_id)  # 404 for outsiders
    return ratings.rate(user, order, body["stars"], body["tags"], body["comment"])


@blp.route("/orders/<int:order_id>/ratings", methods=["GET"])
@token_required(blp)
@blp.response(200, OrderRatingsSchema)
def order_ratings(order_id: int) -> dict[str, Any]:
    """The order's ratings as the caller may see them, and whether its side may still rate."""
    user = require_user()
    return _order_ratings(user, policy.load(user, policy.VIEW, Order, order_id))


@blp.route("/organisations/<int:org_id>/ratings", methods=["GET"])
@token_required(blp)
@blp.response(200, SummarySchema)
def organisation_ratings(org_id: int) -> dict[str, Any]:
    """What an organisation's ratings add up to; average, tags and comments from the floor on."""
    org = policy.load(require_user(), policy.VIEW, Organisation, org_id)
    summary = ratings.summary_of(org.id)
    return {
        "org_id": org.id,
        "count": summary.count,
        "average": round(summary.average, 2) if summary.average is not None else None,
        "shown_from": summary.shown_from,
        "tags": [{"tag": t, "count": n} for t, n in summary.tags],
        "comments": ratings.recent_comments(org.id, limit=20),
    }
