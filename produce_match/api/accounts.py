"""API: tokens, the current user, and the phone as identity (SMS codes, password reset, a new
number)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_smorest import Blueprint

from produce_match import policy, transaction
from produce_match.accounts import operations as accounts
from produce_match.accounts.models import ApiToken, CodePurpose
from produce_match.api.auth import require_user, token_required
from produce_match.errors import ValidationFailed

blp = Blueprint(
    "api_accounts",
    __name__,
    description="Tokens, the current user, and SMS codes for a password reset or a new number",
)


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
    phone_verified = ma.fields.Function(
        lambda u: u.phone_verified_at is not None,
        metadata={"description": "whether an SMS code confirmed the mobile number"},
    )
    organisation = ma.fields.Nested(OrganisationSchema, allow_none=True)


_PHONE = ma.fields.String(
    required=True,
    validate=ma.validate.Length(min=1, max=20),
    metadata={"description": "a mainland mobile number: 13800138000, +86 138 0013 8000, …"},
)
_CODE = ma.fields.String(
    required=True,
    validate=ma.validate.Length(min=1, max=12),
    metadata={"description": "the code of the text message"},
)


class CodeRequestSchema(ma.Schema):
    phone = _PHONE
    purpose = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf([CodePurpose.register.value, CodePurpose.reset_password.value]),
        metadata={"description": "what the code is for (a new number: POST /me/phone/code)"},
    )


class PhoneCodeRequestSchema(ma.Schema):
    phone = _PHONE


class CodeSentSchema(ma.Schema):
    message = ma.fields.String(
        metadata={"description": "the same answer whatever the number's state"}
    )
    expires_in = ma.fields.Integer(metadata={"description": "seconds the code is valid"})


class PasswordResetSchema(ma.Schema):
    phone = _PHONE
    code = _CODE
    new_password = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=128), load_only=True
    )


class PhoneChangeSchema(ma.Schema):
    phone = _PHONE
    code = _CODE
    password = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=128), load_only=True
    )


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


# --- the phone as identity ----------------------------------------------------------------


def _code_sent(purpose: CodePurpose, phone: str) -> dict[str, Any]:
    ttl = int(current_app.config["SMS_CODE_TTL"].total_seconds())
    if purpose is CodePurpose.reset_password:
        message = _(
            "If an account uses %(phone)s, we have texted it a code. It is valid for %(n)d "
            "minutes.",
            phone=phone,
            n=ttl // 60,
        )
    else:
        message = _(
            "We have sent a text message to %(phone)s. Enter the code from it: it is valid "
            "for %(n)d minutes.",
            phone=phone,
            n=ttl // 60,
        )
    return {"message": message, "expires_in": ttl}


@blp.route("/phone-codes", methods=["POST"])
@blp.arguments(CodeRequestSchema)
@blp.response(202, CodeSentSchema)
@blp.alt_response(422, description="not a mainland mobile number")
@blp.alt_response(429, description="too many codes for this number or address; see Retry-After")
def request_code(body: dict[str, Any]) -> dict[str, Any]:
    """Text a one-time code to a number, to register with it or to reset the password of its
    account. The answer is the same whether or not the number has an account (the number is
    told by text)."""
    purpose = CodePurpose(body["purpose"])
    phone = accounts.request_code(
        body["phone"], purpose, ip=request.remote_addr or "", locale=str(get_locale())
    )
    return _code_sent(purpose, phone)


@blp.route("/password-reset", methods=["POST"])
@blp.arguments(PasswordResetSchema)
@blp.response(204)
@blp.alt_response(422, description="a wrong or expired code, or a password too short")
def reset_password(body: dict[str, Any]) -> None:
    """Set a new password with the code texted to the account's number (purpose
    `reset_password`): every session of the account ends and every token is revoked."""
    try:
        accounts.reset_password(
            body["phone"], body["code"], body["new_password"], request.remote_addr or ""
        )
    except ValidationFailed:
        transaction.keep()  # a wrong code's try counts
        raise


@blp.route("/me/phone/code", methods=["POST"])
@token_required(blp)
@blp.arguments(PhoneCodeRequestSchema)
@blp.response(202, CodeSentSchema)
@blp.alt_response(422, description="not a mainland mobile number")
@blp.alt_response(429, description="too many codes for this number or address; see Retry-After")
def request_phone_code(body: dict[str, Any]) -> dict[str, Any]:
    """Text a code to the caller's new number (or their present one, to confirm it)."""
    phone = accounts.request_code(
        body["phone"],
        CodePurpose.change_phone,
        ip=request.remote_addr or "",
        user=require_user(),
        locale=str(get_locale()),
    )
    return _code_sent(CodePurpose.change_phone, phone)


@blp.route("/me/phone", methods=["POST"])
@token_required(blp)
@blp.arguments(PhoneChangeSchema)
@blp.response(200, MeSchema)
@blp.alt_response(422, description="a wrong or expired code, a wrong password, a taken number")
@blp.alt_response(429, description="too many failed passwords; see Retry-After")
def change_phone(body: dict[str, Any]) -> Any:
    """Move the caller to the number the code was texted to (or confirm it) with their
    password; a user who logs in with their number logs in with the new one."""
    user = require_user()
    try:
        accounts.change_phone(
            user,
            phone_text=body["phone"],
            code=body["code"],
            password=body["password"],
            ip=request.remote_addr or "",
        )
    except ValidationFailed:
        transaction.keep()  # a wrong code's or password's try counts
        raise
    return user
