"""API: tokens and the current user."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.accounts import operations as accounts
from produce_match.accounts.models import ApiToken
from produce_match.api.auth import require_user, token_required
from produce_match.web import transaction

blp = Blueprint("api_accounts", __name__, description="Tokens and the current user")


class TokenRequestSchema(ma.Schema):
    login = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=128), load_only=True
    )
    name = ma.fields.String(
        validate=ma.validate.Length(max=60),
        metadata={"description": "a label to tell tokens apart"},
    )


class TokenSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "the token's first characters"})
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)
    active = ma.fields.Boolean()


class NewTokenSchema(TokenSchema):
    token = ma.fields.String(metadata={"description": "the bearer token; shown only this once"})


class OrganisationSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    kind = ma.fields.String()
    verified = ma.fields.Boolean()
    province = ma.fields.Function(lambda o: o.province.name if o.province else None)
    province_code = ma.fields.String(allow_none=True)
    county = ma.fields.Function(lambda o: o.county.name if o.county else None)
    county_code = ma.fields.String(allow_none=True)
    township = ma.fields.String(allow_none=True)
    village = ma.fields.String(allow_none=True)


class MeSchema(ma.Schema):
    id = ma.fields.Integer()
    login = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String()
    phone = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)
    locale = ma.fields.String(allow_none=True)
    organisation = ma.fields.Nested(OrganisationSchema, allow_none=True)


@blp.route("/tokens", methods=["POST"])
@blp.arguments(TokenRequestSchema)
@blp.response(201, NewTokenSchema)
@blp.alt_response(401, description="wrong login or password")
@blp.alt_response(429, description="too many failed logins; see Retry-After")
def create_token(body: dict[str, Any]) -> dict[str, Any]:
    """Issue a bearer token for a login and password."""
    try:
        user = accounts.authenticate(body["login"], body["password"], request.remote_addr or "")
    except accounts.InvalidCredentials:
        transaction.keep()  # the failed attempt counts towards the limit
        raise
    token, raw = accounts.issue_token(user, body.get("name"))
    fields = ("id", "name", "prefix", "created_at", "revoked_at", "active")
    return {"token": raw, **{name: getattr(token, name) for name in fields}}


@blp.route("/tokens", methods=["GET"])
@token_required(blp)
@blp.response(200, TokenSchema(many=True))
def list_tokens() -> list[ApiToken]:
    """The caller's tokens, newest first (the tokens themselves are never shown again)."""
    return accounts.tokens_of(require_user())


@blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@token_required(blp)
@blp.response(204)
@blp.alt_response(404, description="no such token of yours")
def revoke_token(token_id: int) -> None:
    """Revoke one of the caller's tokens."""
    user = require_user()
    token = policy.load(user, "revoke", ApiToken, token_id)
    accounts.revoke_token(token, user)


@blp.route("/me", methods=["GET"])
@token_required(blp)
@blp.response(200, MeSchema)
def me() -> Any:
    """The calling user and their organisation."""
    return require_user()
