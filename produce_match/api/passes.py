"""API: transport passes (asked for, decided, withdrawn, revoked, scanned at checkpoints), the
public verification of a pass's code, and the offices' whitelists and checkpoints.

Everything goes through `passes.operations` and the policy: a pass one may not see is 404, a
step one may not take on a pass one sees is 403, an illegal move 409, bad input 422 with the
fields. The full pass (driver, full plate) goes to those who may view it; checkpoint staff
record scans and read what the verification page shows; the verification is public.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import request, url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden, NotFound

from produce_match import policy
from produce_match.accounts.models import Organisation, OrgKind, User
from produce_match.accounts.operations import PlaceInput
from produce_match.api.auth import require_user, token_required
from produce_match.api.lots import DecimalText
from produce_match.api.messages import translate
from produce_match.api.orders import EmptySchema, ReasonSchema
from produce_match.api.schemas import PaginationQuerySchema, page_body
from produce_match.dates import local_today
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.orders.models import Order
from produce_match.passes import operations as passes
from produce_match.passes import queries
from produce_match.passes.figures import is_overdue
from produce_match.passes.models import (
    Checkpoint,
    CheckpointKind,
    PassageDirection,
    PassScan,
    PassStatus,
    TransportPass,
    WhitelistEntry,
)
from produce_match.units import grams_in

blp = Blueprint(
    "api_passes",
    __name__,
    description="Transport passes (一车一码), checkpoint scans, whitelists and checkpoints",
)


def _exact(grams: int, unit: Any) -> str:
    return format(grams_in(grams, unit).normalize(), "f")


# --- what is shown ----------------------------------------------------------------------------


def _place(province: Any, county: Any) -> dict[str, Any]:
    return {
        "province": province.name if province else None,
        "province_code": province.code if province else None,
        "county": county.name if county else None,
        "county_code": county.code if county else None,
    }


def _cargo(row: TransportPass) -> dict[str, Any]:
    return {
        "commodity": row.commodity.code,
        "commodity_name": row.commodity.name_zh,
        "quantity": _exact(row.cargo_g, row.cargo_unit),
        "unit": row.cargo_unit.value,
        "quantity_g": row.cargo_g,
        "quantity_kg": _exact(row.cargo_g, "kg"),
    }


def _route(row: TransportPass) -> list[dict[str, Any]]:
    if not row.route:
        return []
    found = {
        c.id: c for c in db.session.scalars(select(Checkpoint).where(Checkpoint.id.in_(row.route)))
    }
    return [
        {"id": ident, "name": found[ident].name, "kind": found[ident].kind.value}
        for ident in row.route
        if ident in found
    ]


#: the steps a caller may take on a pass, as URL words, and the policy action of each
_STEP_ACTIONS = {
    "approve": "approve",
    "reject": "reject",
    "revoke": "revoke",
    "withdraw": "withdraw",
    "scans": "scan",
}


def _next_actions(row: TransportPass) -> list[str]:
    """The steps the caller may take now (by its role and the pass's state)."""
    user = require_user()
    status = row.status
    possible = {
        "approve": status is PassStatus.pending,
        "reject": status is PassStatus.pending,
        "withdraw": status in (PassStatus.pending, PassStatus.approved),
        "revoke": status in (PassStatus.approved, PassStatus.suspended),
        "scans": queries.verdict(row).value == "valid",
    }
    return [
        slug
        for slug, action in _STEP_ACTIONS.items()
        if possible[slug] and policy.can(user, action, row)
    ]


class PassScanSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.Function(
        lambda s: s.kind.value, metadata={"description": "loading, exit, entry or delivery"}
    )
    direction = ma.fields.Function(
        lambda s: {"exit": "out", "entry": "in"}.get(s.kind.value),
        metadata={"description": "out (exit) or in (entry); null for loading and delivery"},
    )
    checkpoint_id = ma.fields.Integer(allow_none=True)
    checkpoint = ma.fields.Function(lambda s: s.checkpoint.name if s.checkpoint else None)
    at = ma.fields.DateTime()
    note = ma.fields.String(allow_none=True)
    photo = ma.fields.Function(
        lambda s: s.photo_key is not None, metadata={"description": "a photo was taken"}
    )


class PassSchema(ma.Schema):
    """The whole pass, for those who may view it (its applicant, the other side of its order,
    officials of its origin or destination, administrators)."""

    id = ma.fields.Integer()
    number = ma.fields.String(metadata={"description": "the county's code, year and sequence"})
    code = ma.fields.String(metadata={"description": "what the QR code carries"})
    verify_url = ma.fields.Function(
        lambda p: url_for("api_passes.verify", code=p.code, _external=True),
        metadata={"description": "the public verification (no token)"},
    )
    status = ma.fields.Function(
        lambda p: p.status.value,
        metadata={
            "description": "pending, approved, rejected, withdrawn, revoked, suspended, completed"
        },
    )
    verdict = ma.fields.Function(
        lambda p: queries.verdict(p).value,
        metadata={"description": "valid (green), pending (orange), invalid (red), now"},
    )
    verdict_reason = ma.fields.Function(lambda p: str(queries.verdict_reason(p)))
    applicant = ma.fields.Function(
        lambda p: {"id": p.applicant_org.id, "name": p.applicant_org.name}
    )
    order_id = ma.fields.Integer(allow_none=True)
    plate = ma.fields.String(metadata={"description": "the full plate"})
    driver_name = ma.fields.String()
    driver_phone = ma.fields.String()
    origin = ma.fields.Function(lambda p: _place(p.origin_province, p.origin_county))
    destination = ma.fields.Function(lambda p: _place(p.dest_province, p.dest_county))
    route = ma.fields.Function(
        _route, metadata={"description": "the checkpoints it means to pass, in order"}
    )
    valid_from = ma.fields.Date()
    valid_until = ma.fields.Date()
    cargo = ma.fields.Function(
        _cargo,
        metadata={
            "description": "commodity (code and Chinese name), quantity as an exact string in "
            "`unit` (jin, kg or t), quantity_g (exact grams) and quantity_kg"
        },
    )
    created_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)
    decided_by_whitelist = ma.fields.Function(
        lambda p: p.whitelist_entry_id is not None,
        metadata={"description": "approved at once: its applicant is on a whitelist"},
    )
    wait_minutes = ma.fields.Integer(
        allow_none=True, metadata={"description": "from asking to the decision"}
    )
    reject_reason = ma.fields.String(allow_none=True)
    revoked_at = ma.fields.DateTime(allow_none=True)
    revoke_reason = ma.fields.String(allow_none=True)
    loaded_at = ma.fields.DateTime(allow_none=True)
    exited_at = ma.fields.DateTime(allow_none=True)
    entered_at = ma.fields.DateTime(allow_none=True)
    expected_by = ma.fields.DateTime(
        allow_none=True, metadata={"description": "after the entry: due at the destination"}
    )
    overdue = ma.fields.Function(
        is_overdue, metadata={"description": "flagged, or past expected_by, and not delivered"}
    )
    delivered_at = ma.fields.DateTime(allow_none=True)
    steps = ma.fields.Function(
        lambda p: [
            {"step": s.kind.value, "at": s.at.isoformat() if s.at else None, "place": s.place}
            for s in queries.timeline(p)
        ],
        metadata={"description": "loading → exit → entry → delivery"},
    )
    scans = ma.fields.List(ma.fields.Nested(PassScanSchema))
    next_actions = ma.fields.Function(
        _next_actions, metadata={"description": "the steps the caller may take now"}
    )
    updated_at = ma.fields.DateTime()


class PassPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PassSchema))
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()
    pages = ma.fields.Integer()


class PublicCargoSchema(ma.Schema):
    commodity = ma.fields.String()
    commodity_name = ma.fields.String()
    quantity = ma.fields.String(metadata={"description": "as people write it, e.g. 20 吨"})


class PublicStepSchema(ma.Schema):
    step = ma.fields.String()
    at = ma.fields.String(allow_none=True)


class PublicPassSchema(ma.Schema):
    """What anyone holding the QR code may know: no name, no phone, the plate masked."""

    number = ma.fields.String()
    verdict = ma.fields.String(metadata={"description": "valid, pending or invalid"})
    reason = ma.fields.String(metadata={"description": "the verdict in words"})
    status = ma.fields.String()
    plate = ma.fields.String(metadata={"description": "masked, e.g. 辽A·***45"})
    cargo = ma.fields.Nested(PublicCargoSchema)
    origin = ma.fields.String()
    destination = ma.fields.String()
    valid_from = ma.fields.String()
    valid_until = ma.fields.String()
    steps = ma.fields.List(ma.fields.Nested(PublicStepSchema))


class PassScanResultSchema(PassScanSchema):
    """The recorded passage, and the pass as its verification shows it (staff see no more)."""

    transport_pass = ma.fields.Function(
        lambda s: queries.public_facts(s.transport_pass), data_key="pass"
    )


# --- what is taken ----------------------------------------------------------------------------


def _text(length: int, description: str | None = None) -> ma.fields.String:
    metadata = {"description": description} if description else {}
    return ma.fields.String(validate=ma.validate.Length(max=length), metadata=metadata)


class PassPlaceSchema(ma.Schema):
    province = _text(40, "name or code, e.g. 辽宁")
    county = _text(40, "name or code, e.g. 彰武")


class PassApplySchema(ma.Schema):
    order_id = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=2**31 - 1),
        metadata={
            "description": "the order whose cargo it carries: its route ends and commodity are "
            "the order's; what is left out (plate, driver's phone, window, quantity) comes from it"
        },
    )
    plate = _text(16, "e.g. 辽A12345, or 辽A12345D (new energy)")
    driver_name = _text(60)
    driver_phone = _text(30, "the driver's mobile number")
    origin = ma.fields.Nested(PassPlaceSchema)
    destination = ma.fields.Nested(PassPlaceSchema)
    route = ma.fields.List(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1)),
        validate=ma.validate.Length(max=50),
        metadata={"description": "ids of checkpoints on the way, in order"},
    )
    valid_from = _text(20, "ISO date; default today")
    valid_until = _text(20, "ISO date; default: the road time")
    commodity = _text(40, "code or name in the catalogue")
    quantity = DecimalText(metadata={"description": 'in `unit`, e.g. 20 or "2.5"'})
    unit = _text(10, "jin (斤), kg (公斤) or t (吨)")


class PassQuerySchema(PaginationQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in PassStatus]))


class PassScanInputSchema(ma.Schema):
    checkpoint_id = ma.fields.Integer(
        required=True, validate=ma.validate.Range(min=1, max=2**31 - 1)
    )
    direction = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf([d.value for d in PassageDirection]),
        metadata={"description": "out (leaving the county: the exit) or in (the entry)"},
    )
    note = _text(200)


# --- passes -----------------------------------------------------------------------------------


def _input(body: dict[str, Any], order: Order | None) -> passes.PassInput:
    """The pass as given; for an order, what is left out is what the order says."""

    def place(name: str) -> PlaceInput:
        given = body.get(name) or {}
        return PlaceInput(province=given.get("province"), county=given.get("county"))

    data = passes.PassInput(
        plate=body.get("plate"),
        driver_name=body.get("driver_name"),
        driver_phone=body.get("driver_phone"),
        origin=place("origin"),
        destination=place("destination"),
        route=body.get("route") or (),
        valid_from=body.get("valid_from"),
        valid_until=body.get("valid_until"),
        commodity=body.get("commodity"),
        quantity=body.get("quantity"),
        unit=body.get("unit"),
    )
    if order is not None:
        fixed = passes.prefill(order)
        data.plate = data.plate or fixed.plate
        data.driver_phone = data.driver_phone or fixed.driver_phone
        if not body.get("destination"):
            data.destination = fixed.destination
        if not data.valid_from and not data.valid_until:
            data.valid_from, data.valid_until = fixed.valid_from, fixed.valid_until
    return data


@blp.route("/passes", methods=["POST"])
@token_required(blp)
@blp.arguments(PassApplySchema)
@blp.response(201, PassSchema)
@blp.alt_response(409, description="order_not_ready, duplicate_pass, suspended")
def apply(body: dict[str, Any]) -> Any:
    """Ask for a pass (cooperatives, buyers, hauliers), for an order's cargo or any shipment.

    A whitelisted applicant's pass is approved at once; others wait for an official of the
    origin county (`status` pending).
    """
    user = require_user()
    order = None
    if body.get("order_id") is not None:
        order = policy.load(user, policy.VIEW, Order, body["order_id"])  # 404 for non-parties
    policy.ensure(user, "create", TransportPass)
    row = passes.apply(user, _input(body, order), order=order)
    return row, 201, {"Location": url_for("api_passes.get_pass", pass_id=row.id)}


#: what the answer reads of each pass of a page, in a few queries rather than several a pass
_WHOLE_PASS = (
    selectinload(TransportPass.applicant_org),
    selectinload(TransportPass.commodity),
    selectinload(TransportPass.origin_province),
    selectinload(TransportPass.origin_county),
    selectinload(TransportPass.dest_province),
    selectinload(TransportPass.dest_county),
    selectinload(TransportPass.scans).selectinload(PassScan.checkpoint),
    selectinload(TransportPass.order),
)


@blp.route("/passes", methods=["GET"])
@token_required(blp)
@blp.arguments(PassQuerySchema, location="query")
@blp.response(200, PassPageSchema)
def list_passes(args: dict[str, Any]) -> dict[str, Any]:
    """The caller's passes (its organisation's; an official's: from or to the jurisdiction;
    an administrator's: all), newest first."""
    user = require_user()
    policy.ensure(user, "list", TransportPass)
    query = queries.visible_passes(user).options(*_WHOLE_PASS)
    if "status" in args:
        query = query.where(TransportPass.status == PassStatus(args["status"]))
    page = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False)
    return page_body(page)


@blp.route("/passes/<int:pass_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, PassSchema)
def get_pass(pass_id: int) -> TransportPass:
    """One pass, whole (404 for anyone who may not see it)."""
    return policy.load(require_user(), policy.VIEW, TransportPass, pass_id)


#: each step: its URL word -> (body schema, what the operation is called with, summary)
STEPS: dict[str, tuple[type[ma.Schema], Callable[..., None], str]] = {
    "approve": (
        EmptySchema,
        lambda user, row, body: passes.approve(user, row),
        "An official of the origin county approves a pending pass.",
    ),
    "reject": (
        ReasonSchema,
        lambda user, row, body: passes.reject(user, row, body["reason"]),
        "An official of the origin county rejects a pending pass, saying why.",
    ),
    "revoke": (
        ReasonSchema,
        lambda user, row, body: passes.revoke(user, row, body["reason"]),
        "An official of the origin or destination county takes a pass back, saying why.",
    ),
    "withdraw": (
        EmptySchema,
        lambda user, row, body: passes.withdraw(user, row),
        "The applicant calls its pass off.",
    ),
}


def _register_step(slug: str) -> None:
    schema, run, summary = STEPS[slug]

    def step(body: dict[str, Any], pass_id: int) -> TransportPass:
        user = require_user()
        row = policy.load(user, policy.VIEW, TransportPass, pass_id)  # 404 for outsiders
        policy.ensure(user, _STEP_ACTIONS[slug], row)  # 403 for the wrong side
        run(user, row, body)  # 409 for an illegal move, 422 for bad input
        return row

    step.__name__ = f"{slug}_pass"
    step.__doc__ = summary
    view = blp.response(200, PassSchema)(step)
    view = blp.arguments(schema(unknown=ma.EXCLUDE) if schema is EmptySchema else schema)(view)
    view = token_required(blp)(view)
    view = blp.doc(responses={409: {"description": "illegal_transition, state_changed ..."}})(view)
    blp.route(f"/passes/<int:pass_id>/{slug}", methods=["POST"])(view)


for _slug in STEPS:
    _register_step(_slug)


def _for_scanning(user: User, pass_id: int) -> TransportPass:
    """The pass, for checkpoint staff and officials (who scan) and for those who see it (403:
    they may not scan); 404 for anyone else."""
    row = db.session.get(TransportPass, pass_id)
    if row is None:
        raise NotFound()
    if policy.can(user, "scan", row):
        return row
    if policy.can(user, policy.VIEW, row):
        raise Forbidden()
    raise NotFound()


@blp.route("/passes/<int:pass_id>/scans", methods=["POST"])
@token_required(blp)
@blp.response(201, PassScanResultSchema)
@blp.alt_response(409, description="pass_invalid: the vehicle may not pass on it now")
@blp.doc(
    requestBody={
        "content": {
            "application/json": {"schema": PassScanInputSchema},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["checkpoint_id", "direction"],
                    "properties": {
                        "checkpoint_id": {"type": "integer"},
                        "direction": {"type": "string", "enum": ["out", "in"]},
                        "note": {"type": "string", "maxLength": 200},
                        "photo": {"type": "string", "format": "binary"},
                    },
                }
            },
        }
    }
)
def record_scan(pass_id: int) -> Any:
    """Checkpoint staff (or an official) record a passage at one of their office's checkpoints.

    JSON, or multipart/form-data with an optional `photo` (of the plate, of the load; EXIF and
    GPS data are removed). The answer is the passage and the pass as its verification shows it.
    """
    user = require_user()
    row = _for_scanning(user, pass_id)
    photo = None
    if request.mimetype == "multipart/form-data":
        raw: Any = request.form.to_dict()
        upload = request.files.get("photo")
        photo = upload.read() if upload is not None and upload.filename else None
    else:
        raw = request.get_json(silent=True)
    body = _loaded(PassScanInputSchema(), raw if isinstance(raw, dict) else {})
    checkpoint = db.session.get(Checkpoint, body["checkpoint_id"])
    if checkpoint is None:
        message = _("Choose one of your office's checkpoints.")
        raise ValidationFailed(message, fields={"checkpoint_id": [message]})
    scan = passes.record_passage(
        user, row, checkpoint, body["direction"], photo=photo, note=body.get("note")
    )
    return scan, 201


def _loaded(schema: ma.Schema, raw: dict[str, Any]) -> dict[str, Any]:
    """A body read outside `blp.arguments` (JSON or a form), refused as webargs refuses."""
    try:
        return schema.load(raw, unknown=ma.EXCLUDE)
    except ma.ValidationError as exc:
        messages = exc.normalized_messages()
        fields = {
            name: [translate(str(m)) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in messages.items()
        }
        raise ValidationFailed(_("Some of the input is not valid."), fields=fields) from None


@blp.route("/passes/verify/<code>", methods=["GET"])
@blp.response(200, PublicPassSchema)
def verify(code: str) -> Any:
    """Public, no token: what the verification page shows for the code of a pass's QR code
    (valid / pending / invalid, the plate masked; no name, no phone). 404 for an unknown code.

    Never cached: a revocation shows at once."""
    row = queries.by_code(code)
    if row is None:
        raise NotFound()
    return queries.public_facts(row), 200, {"Cache-Control": "no-store"}


# --- the offices: whitelists and checkpoints ---------------------------------------------------


class WhitelistEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    office = ma.fields.Function(lambda e: {"id": e.office.id, "name": e.office.name})
    organisation = ma.fields.Function(
        lambda e: {
            "id": e.organisation.id,
            "name": e.organisation.name,
            "kind": e.organisation.kind.value,
        }
    )
    valid_from = ma.fields.Date()
    valid_until = ma.fields.Date()
    reason = ma.fields.String()
    in_force = ma.fields.Function(
        lambda e: e.in_force(local_today()), metadata={"description": "today"}
    )
    created_at = ma.fields.DateTime()
    removed_at = ma.fields.DateTime(allow_none=True)


class WhitelistQuerySchema(ma.Schema):
    office_id = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "another office's whitelist (default: the caller's office's)"},
    )
    removed = ma.fields.Boolean(
        load_default=False, metadata={"description": "include removed entries"}
    )


class WhitelistAddSchema(ma.Schema):
    organisation = ma.fields.Raw(
        required=True,
        metadata={
            "description": "the cooperative's, buyer's or haulier's id, or its exact name",
            "oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 120}],
        },
    )
    valid_from = _text(20, "ISO date; default today")
    valid_until = ma.fields.String(
        required=True, validate=ma.validate.Length(max=20), metadata={"description": "ISO date"}
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(max=1000))

    @ma.validates("organisation")
    def _organisation(self, value: Any, **_kwargs: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | str) or len(str(value)) > 120:
            raise ma.ValidationError("Invalid value.")


def _office_official(user: User) -> Organisation:
    office = passes.office_of(user)
    if office is None or not policy.can(user, "list", WhitelistEntry):
        raise Forbidden()
    return office


@blp.route("/whitelist", methods=["GET"])
@token_required(blp)
@blp.arguments(WhitelistQuerySchema, location="query")
@blp.response(200, WhitelistEntrySchema(many=True))
def list_whitelist(args: dict[str, Any]) -> list[WhitelistEntry]:
    """An office's whitelist (officials; offices read each other's to recognise them)."""
    user = require_user()
    office = _office_official(user)
    office_id = args.get("office_id") or office.id
    other = db.session.get(Organisation, office_id)
    if other is None or other.kind is not OrgKind.office:
        raise NotFound()
    query = select(WhitelistEntry).where(WhitelistEntry.office_id == office_id)
    if not args["removed"]:
        query = query.where(WhitelistEntry.removed_at.is_(None))
    return list(db.session.scalars(query.order_by(WhitelistEntry.id.desc())))


@blp.route("/whitelist", methods=["POST"])
@token_required(blp)
@blp.arguments(WhitelistAddSchema)
@blp.response(201, WhitelistEntrySchema)
def add_whitelist_entry(body: dict[str, Any]) -> WhitelistEntry:
    """An official puts a cooperative, buyer or haulier on the office's whitelist: its passes
    from the jurisdiction are approved at once inside the period."""
    user = require_user()
    _office_official(user)
    return passes.add_entry(
        user,
        passes.EntryInput(
            organisation=body["organisation"],
            valid_from=body.get("valid_from"),
            valid_until=body["valid_until"],
            reason=body["reason"],
        ),
    )


@blp.route("/whitelist/<int:entry_id>", methods=["DELETE"])
@token_required(blp)
@blp.response(204)
@blp.alt_response(409, description="state_changed: removed already")
def remove_whitelist_entry(entry_id: int) -> None:
    """The office takes an entry off its whitelist (kept, marked removed)."""
    user = require_user()
    entry = policy.load(user, policy.VIEW, WhitelistEntry, entry_id)
    policy.ensure(user, "remove", entry)  # 403: another office's entry
    passes.remove_entry(user, entry)


class CheckpointSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    kind = ma.fields.Function(
        lambda c: c.kind.value, metadata={"description": "expressway_exit, county_border, other"}
    )
    office = ma.fields.Function(lambda c: {"id": c.office.id, "name": c.office.name})
    place = ma.fields.Function(lambda c: _place(c.province, c.county))
    created_at = ma.fields.DateTime()
    retired_at = ma.fields.DateTime(allow_none=True)


class CheckpointQuerySchema(ma.Schema):
    office_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1))
    county = _text(40, "code of the county")
    retired = ma.fields.Boolean(load_default=False, metadata={"description": "include retired"})


class CheckpointAddSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=120))
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf([k.value for k in CheckpointKind])
    )
    province = _text(40, "default: the office's")
    county = _text(40, "default: the office's (a province office names one)")


@blp.route("/checkpoints", methods=["GET"])
@token_required(blp)
@blp.arguments(CheckpointQuerySchema, location="query")
@blp.response(200, CheckpointSchema(many=True))
def list_checkpoints(args: dict[str, Any]) -> list[Checkpoint]:
    """Checkpoints (their names are public: routes name them), of an office or a county."""
    policy.ensure(require_user(), "list", Checkpoint)
    query = select(Checkpoint)
    if args.get("office_id"):
        query = query.where(Checkpoint.office_id == args["office_id"])
    if args.get("county"):
        query = query.where(Checkpoint.county_code == args["county"])
    if not args["retired"]:
        query = query.where(Checkpoint.retired_at.is_(None))
    return list(db.session.scalars(query.order_by(Checkpoint.id).limit(1000)))


@blp.route("/checkpoints", methods=["POST"])
@token_required(blp)
@blp.arguments(CheckpointAddSchema)
@blp.response(201, CheckpointSchema)
def add_checkpoint(body: dict[str, Any]) -> Checkpoint:
    """An official adds a checkpoint of the office, in its jurisdiction."""
    user = require_user()
    policy.ensure(user, "create", Checkpoint)
    return passes.add_checkpoint(
        user,
        body["name"],
        body["kind"],
        PlaceInput(province=body.get("province"), county=body.get("county")),
    )


@blp.route("/checkpoints/<int:checkpoint_id>/retire", methods=["POST"])
@token_required(blp)
@blp.arguments(EmptySchema(unknown=ma.EXCLUDE))
@blp.response(200, CheckpointSchema)
@blp.alt_response(409, description="state_changed: retired already")
def retire_checkpoint(body: dict[str, Any], checkpoint_id: int) -> Checkpoint:
    """The office stops using a checkpoint (its scans keep its name)."""
    user = require_user()
    checkpoint = policy.load(user, policy.VIEW, Checkpoint, checkpoint_id)
    policy.ensure(user, "retire", checkpoint)
    passes.retire_checkpoint(user, checkpoint)
    return checkpoint
