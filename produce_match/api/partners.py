"""API: the caller's organisation's webhooks and (officials) its group robots, their delivery
logs and replay. The same operations as the pages (partners.operations)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.api.auth import require_user, token_required
from produce_match.errors import Conflict
from produce_match.lifecycle import MoveRefused
from produce_match.partners import operations as partners
from produce_match.partners.models import Endpoint, EventType, OutgoingDelivery, Robot, RobotKind

blp = Blueprint(
    "api_partners",
    __name__,
    description="Webhooks: an organisation's events posted to its own servers, signed "
    "(Produce-Match-Signature: t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<body>'>); "
    "group robots of an office (WeChat Work, DingTalk).",
)

EVENT_NAMES = [e.value for e in EventType]


class EndpointSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(EVENT_NAMES)))
    status = ma.fields.Function(lambda e: e.status.value, metadata={"enum": ["active", "disabled"]})
    created_at = ma.fields.DateTime()
    secret_rotated_at = ma.fields.DateTime(allow_none=True)


class EndpointWithSecretSchema(EndpointSchema):
    secret = ma.fields.String(metadata={"description": "shown this once: keep it"})


class EndpointWriteSchema(ma.Schema):
    url = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=500),
        metadata={"description": "https:// (plain http to 127.0.0.1 only outside production)"},
    )
    events = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=40)),
        required=True,
        metadata={"description": f"some of: {', '.join(EVENT_NAMES)} (by organisation kind)"},
    )
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=120))


class EndpointPatchSchema(EndpointWriteSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(["active", "disabled"]))


class DeliveryAttemptSchema(ma.Schema):
    number = ma.fields.Integer()
    at = ma.fields.DateTime()
    delivered = ma.fields.Boolean()
    status_code = ma.fields.Integer(allow_none=True)
    detail = ma.fields.String(allow_none=True)
    elapsed_ms = ma.fields.Integer()


class OutgoingDeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    event_id = ma.fields.String()
    event_type = ma.fields.String()
    status = ma.fields.Function(
        lambda d: d.status.value, metadata={"enum": ["pending", "delivered", "failed"]}
    )
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    delivered_at = ma.fields.DateTime(allow_none=True)
    body = ma.fields.String(metadata={"description": "exactly what was posted"})
    tries = ma.fields.Nested(DeliveryAttemptSchema, many=True, data_key="attempt_log")


class RobotSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    kind = ma.fields.Function(
        lambda r: r.kind.value, metadata={"enum": [k.value for k in RobotKind]}
    )
    url = ma.fields.Function(lambda r: r.masked_url, metadata={"description": "without its key"})
    signed = ma.fields.Function(lambda r: bool(r.secret))
    post_urgent = ma.fields.Boolean()
    post_summary = ma.fields.Boolean()
    summary_hour = ma.fields.Integer(metadata={"description": "hour of the day, China time"})
    status = ma.fields.Function(lambda r: r.status.value, metadata={"enum": ["active", "disabled"]})


class RobotWriteSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=60))
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in RobotKind]))
    url = ma.fields.String(required=True, validate=ma.validate.Length(max=500))
    secret = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=120))
    post_urgent = ma.fields.Boolean(load_default=True)
    post_summary = ma.fields.Boolean(load_default=True)
    summary_hour = ma.fields.Integer(load_default=8, validate=ma.validate.Range(min=0, max=23))


class RobotPatchSchema(RobotWriteSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(["active", "disabled"]))


def _switch(target: Endpoint | Robot, status: str | None) -> None:
    if status is not None and status != target.status.value:
        try:
            partners.switch(require_user(), target, status == "active")
        except MoveRefused as exc:
            raise Conflict(exc.message, code="state_changed") from None


# --- webhooks -------------------------------------------------------------------------------


@blp.route("/webhooks", methods=["GET"])
@token_required(blp)
@blp.response(200, EndpointSchema(many=True))
def list_webhooks() -> list[Endpoint]:
    """The caller's organisation's webhook endpoints."""
    user = require_user()
    policy.ensure(user, "list", Endpoint)
    return partners.endpoints_of(user.organisation)


@blp.route("/webhooks", methods=["POST"])
@token_required(blp)
@blp.arguments(EndpointWriteSchema)
@blp.response(201, EndpointWithSecretSchema)
def create_webhook(body: dict[str, Any]) -> Endpoint:
    """Register an endpoint; the answer carries its signing secret, this once."""
    user = require_user()
    policy.ensure(user, "create", Endpoint)
    endpoint, _secret = partners.create_endpoint(
        user, user.organisation, partners.EndpointInput(**body)
    )
    return endpoint


@blp.route("/webhooks/<int:endpoint_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, EndpointSchema)
def get_webhook(endpoint_id: int) -> Endpoint:
    return policy.load(require_user(), policy.VIEW, Endpoint, endpoint_id)


@blp.route("/webhooks/<int:endpoint_id>", methods=["PATCH"])
@token_required(blp)
@blp.arguments(EndpointPatchSchema(partial=True))
@blp.response(200, EndpointSchema)
def update_webhook(body: dict[str, Any], endpoint_id: int) -> Endpoint:
    """Change the URL, events or description; `status` switches it on or off."""
    user = require_user()
    endpoint = policy.load(user, "edit", Endpoint, endpoint_id)
    status = body.pop("status", None)
    if body:
        partners.update_endpoint(user, endpoint, partners.EndpointInput(**body))
    _switch(endpoint, status)
    return endpoint


@blp.route("/webhooks/<int:endpoint_id>/secret", methods=["POST"])
@token_required(blp)
@blp.response(200, EndpointWithSecretSchema)
def rotate_webhook_secret(endpoint_id: int) -> Endpoint:
    """A new signing secret, returned this once; the old one stops signing at once."""
    user = require_user()
    endpoint = policy.load(user, "edit", Endpoint, endpoint_id)
    partners.rotate_secret(user, endpoint)
    return endpoint


class DeliveryLogQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


@blp.route("/webhooks/<int:endpoint_id>/deliveries", methods=["GET"])
@token_required(blp)
@blp.arguments(DeliveryLogQuerySchema, location="query")
@blp.response(200, OutgoingDeliverySchema(many=True))
def webhook_deliveries(args: dict[str, Any], endpoint_id: int) -> list[OutgoingDelivery]:
    """The endpoint's delivery log, newest first, with every attempt."""
    endpoint = policy.load(require_user(), policy.VIEW, Endpoint, endpoint_id)
    return partners.log_of(endpoint, args["limit"])


@blp.route("/deliveries/<int:delivery_id>/replay", methods=["POST"])
@token_required(blp)
@blp.response(202, OutgoingDeliverySchema)
def replay_delivery(delivery_id: int) -> OutgoingDelivery:
    """Send a delivery again now: the same event (same id and body), a fresh signature."""
    user = require_user()
    delivery = policy.load(user, "replay", OutgoingDelivery, delivery_id)
    partners.replay(user, delivery)
    return delivery


# --- robots ---------------------------------------------------------------------------------


@blp.route("/robots", methods=["GET"])
@token_required(blp)
@blp.response(200, RobotSchema(many=True))
def list_robots() -> list[Robot]:
    """The caller's office's group robots (officials)."""
    user = require_user()
    policy.ensure(user, "list", Robot)
    return partners.robots_of(user.organisation)


@blp.route("/robots", methods=["POST"])
@token_required(blp)
@blp.arguments(RobotWriteSchema)
@blp.response(201, RobotSchema)
def create_robot(body: dict[str, Any]) -> Robot:
    user = require_user()
    policy.ensure(user, "create", Robot)
    return partners.create_robot(user, user.organisation, partners.RobotInput(**body))


@blp.route("/robots/<int:robot_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, RobotSchema)
def get_robot(robot_id: int) -> Robot:
    return policy.load(require_user(), policy.VIEW, Robot, robot_id)


@blp.route("/robots/<int:robot_id>", methods=["PATCH"])
@token_required(blp)
@blp.arguments(RobotPatchSchema(partial=True))
@blp.response(200, RobotSchema)
def update_robot(body: dict[str, Any], robot_id: int) -> Robot:
    """Change a robot's settings (what is not given stays); `status` switches it on or off."""
    user = require_user()
    robot = policy.load(user, "edit", Robot, robot_id)
    status = body.pop("status", None)
    if body:
        present = {
            "name": robot.name,
            "kind": robot.kind.value,
            "url": robot.url,
            "secret": None,  # kept unless given
            "post_urgent": robot.post_urgent,
            "post_summary": robot.post_summary,
            "summary_hour": robot.summary_hour,
        }
        partners.update_robot(user, robot, partners.RobotInput(**{**present, **body}))
    _switch(robot, status)
    return robot


@blp.route("/robots/<int:robot_id>/deliveries", methods=["GET"])
@token_required(blp)
@blp.arguments(DeliveryLogQuerySchema, location="query")
@blp.response(200, OutgoingDeliverySchema(many=True))
def robot_deliveries(args: dict[str, Any], robot_id: int) -> list[OutgoingDelivery]:
    """The robot's delivery log, newest first."""
    robot = policy.load(require_user(), policy.VIEW, Robot, robot_id)
    return partners.log_of(robot, args["limit"])
