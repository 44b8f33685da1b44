"""API: 实名认证. An organisation's own identity claims (submit, list, withdraw), and the
deciders' queue (administrators, officials of the organisation's county): verify, reject,
revoke.

The resident ID number is never returned whole: only masked. The licence photo is sent as
base64 text in the JSON body (as the photos of an order's loading are) and read back from the
photo address by those who may see the claim.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from produce_match import policy
from produce_match.api.auth import require_user, token_required
from produce_match.api.orders import EmptySchema, ReasonSchema
from produce_match.api.schemas import PaginationQuerySchema, page_body
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.storage import send_photo
from produce_match.trust import verification
from produce_match.trust.models import ClaimStatus, IdentityClaim, IdentityKind

blp = Blueprint(
    "api_verification",
    __name__,
    description="Verified identity (实名认证): identity claims and their review",
)


def _photo_url(c: IdentityClaim) -> str | None:
    if not c.photo_key:
        return None
    return url_for("api_verification.claim_photo", claim_id=c.id, size="full")


class ClaimSchema(ma.Schema):
    id = ma.fields.Integer()
    org_id = ma.fields.Integer()
    org_name = ma.fields.Function(lambda c: c.org.name)
    kind = ma.fields.Function(
        lambda c: c.kind.value, metadata={"description": "credit_code or resident_id"}
    )
    status = ma.fields.Function(
        lambda c: c.status.value,
        metadata={"description": "submitted, verified, rejected, withdrawn or revoked"},
    )
    credit_code = ma.fields.String(allow_none=True)
    resident_id = ma.fields.Function(
        lambda c: c.masked_resident_id or None,
        metadata={"description": "masked: the first 3 and the last 4 characters"},
    )
    person_name = ma.fields.String(
        metadata={"description": "the legal representative, or the holder of the ID card"}
    )
    photo = ma.fields.Function(_photo_url, metadata={"description": "the photo's address"})
    submitted_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)
    reason = ma.fields.String(allow_none=True)


class ClaimPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ClaimSchema))
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()
    pages = ma.fields.Integer()


class OwnClaimsSchema(ma.Schema):
    verified = ma.fields.Boolean()
    verified_as = ma.fields.String(allow_none=True)
    verified_at = ma.fields.DateTime(allow_none=True)
    items = ma.fields.List(ma.fields.Nested(ClaimSchema))


class ClaimSubmitSchema(ma.Schema):
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf([k.value for k in IdentityKind])
    )
    credit_code = ma.fields.String(validate=ma.validate.Length(max=40))
    resident_id = ma.fields.String(validate=ma.validate.Length(max=40))
    person_name = ma.fields.String(required=True, validate=ma.validate.Length(max=60))
    photo = ma.fields.String(
        validate=ma.validate.Length(max=14_000_000),
        metadata={
            "description": "the business licence (or ID card), base64-encoded; required "
            "for a credit code"
        },
    )


class ClaimQuerySchema(PaginationQuerySchema):
    status = ma.fields.String(
        load_default=ClaimStatus.submitted.value,
        validate=ma.validate.OneOf([s.value for s in ClaimStatus] + ["all"]),
    )


_WHOLE = (selectinload(IdentityClaim.org),)


@blp.route("/verification", methods=["GET"])
@token_required(blp)
@blp.response(200, OwnClaimsSchema)
def own_claims() -> dict[str, Any]:
    """The caller's organisation's claims, newest first, and its verification."""
    user = require_user()
    policy.ensure(user, "list_own", IdentityClaim)
    org = user.organisation
    return {
        "verified": org.verified,
        "verified_as": org.verified_as,
        "verified_at": org.verified_at,
        "items": verification.claims_of(org),
    }


@blp.route("/verification", methods=["POST"])
@token_required(blp)
@blp.arguments(ClaimSubmitSchema)
@blp.response(201, ClaimSchema)
@blp.alt_response(409, description="claim_waiting, already_verified")
def submit(body: dict[str, Any]) -> Any:
    """Submit the organisation's claim (members of cooperatives, buyers and hauliers).

    The number is checked before anything is stored (422 with the field)."""
    user = require_user()
    policy.ensure(user, "create", IdentityClaim)
    photo = None
    if body.get("photo"):
        try:
            photo = base64.b64decode(body["photo"], validate=True)
        except (binascii.Error, ValueError):
            message = _("Send the photo as base64 text.")
            raise ValidationFailed(message, fields={"photo": [message]}) from None
    claim = verification.submit(
        user,
        verification.ClaimInput(
            kind=body["kind"],
            person_name=body["person_name"],
            credit_code=body.get("credit_code"),
            resident_id=body.get("resident_id"),
            photo=photo,
        ),
    )
    return claim, 201


@blp.route("/verification/<int:claim_id>/withdraw", methods=["POST"])
@token_required(blp)
@blp.arguments(EmptySchema(unknown=ma.EXCLUDE))
@blp.response(200, ClaimSchema)
def withdraw(body: dict[str, Any], claim_id: int) -> IdentityClaim:
    """A member withdraws the organisation's waiting claim."""
    user = require_user()
    claim = policy.load(user, "withdraw", IdentityClaim, claim_id)
    verification.withdraw(user, claim)
    return claim


@blp.route("/verifications", methods=["GET"])
@token_required(blp)
@blp.arguments(ClaimQuerySchema, location="query")
@blp.response(200, ClaimPageSchema)
def review_queue(args: dict[str, Any]) -> dict[str, Any]:
    """The claims a decider reviews: an administrator's all, an official's those of the
    jurisdiction; `status` submitted (the default), verified, rejected, withdrawn, revoked or
    all."""
    user = require_user()
    policy.ensure(user, "list", IdentityClaim)
    status = None if args["status"] == "all" else ClaimStatus(args["status"])
    query = verification.claims_to_review(user, status).options(*_WHOLE)
    page = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False)
    return page_body(page)


@blp.route("/verifications/<int:claim_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, ClaimSchema)
def get_claim(claim_id: int) -> IdentityClaim:
    """One claim: for its organisation's members and its deciders (404 for anyone else)."""
    return policy.load(require_user(), policy.VIEW, IdentityClaim, claim_id)


@blp.route("/verifications/<int:claim_id>/photo/<any(full, thumb):size>.jpg", methods=["GET"])
@token_required(blp)
@blp.doc(responses={200: {"description": "the JPEG", "content": {"image/jpeg": {}}}})
def claim_photo(claim_id: int, size: str) -> Any:
    """The claim's photo (JPEG), for those who may see the claim."""
    claim = policy.load(require_user(), policy.VIEW, IdentityClaim, claim_id)
    key = claim.photo_key if size == "full" else (claim.photo_thumb_key or claim.photo_key)
    if not key:
        raise NotFound()
    return send_photo(key, private=True)


#: each decision: its URL word -> (body schema, what the operation is called with, summary)
STEPS: dict[str, tuple[type[ma.Schema], Callable[..., None], str]] = {
    "verify": (
        EmptySchema,
        lambda user, claim, body: verification.verify(user, claim),
        "An administrator or an official of the organisation's county verifies a waiting "
        "claim: the organisation's badge says what was verified, and when.",
    ),
    "reject": (
        ReasonSchema,
        lambda user, claim, body: verification.reject(user, claim, body["reason"]),
        "The same people reject a waiting claim, saying why.",
    ),
    "revoke": (
        ReasonSchema,
        lambda user, claim, body: verification.revoke(user, claim, body["reason"]),
        "The same people take a verification back, saying why.",
    ),
}


def _register_step(slug: str) -> None:
    schema, run, summary = STEPS[slug]

    def step(body: dict[str, Any], claim_id: int) -> IdentityClaim:
        user = require_user()
        claim = policy.load(user, slug, IdentityClaim, claim_id)  # 404 unseen, 403 may not
        run(user, claim, body)  # 409 for an illegal move, 422 for a missing reason
        return claim

    step.__name__ = f"{slug}_claim"
    step.__doc__ = summary
    view = blp.response(200, ClaimSchema)(step)
    view = blp.arguments(schema(unknown=ma.EXCLUDE) if schema is EmptySchema else schema)(view)
    view = token_required(blp)(view)
    view = blp.doc(responses={409: {"description": "illegal_transition, state_changed"}})(view)
    blp.route(f"/verifications/<int:claim_id>/{slug}", methods=["POST"])(view)


for _slug in STEPS:
    _register_step(_slug)
