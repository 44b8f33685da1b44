"""API: the caller's notification settings (channels per group, quiet hours) and delivery log."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.accounts.models import User
from produce_match.api.auth import require_user, token_required
from produce_match.api.schemas import PaginationQuerySchema
from produce_match.notifications import channels, preferences
from produce_match.notifications import operations as notifications
from produce_match.notifications.messages import render
from produce_match.notifications.models import Delivery, DeliveryState, Reason

blp = Blueprint(
    "api_notifications",
    __name__,
    description="The caller's notification settings and what was sent to them",
)

_CLOCK = ma.validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Not a time of day (HH:MM).")


class QuietHoursSchema(ma.Schema):
    start = ma.fields.String(
        required=True, validate=_CLOCK, metadata={"description": "HH:MM, China time"}
    )
    end = ma.fields.String(
        required=True,
        validate=_CLOCK,
        metadata={"description": "HH:MM, China time; before `start`: the next morning"},
    )


class NoticeGroupSchema(ma.Schema):
    group = ma.fields.String(metadata={"description": "orders, payments, proposals, ..."})
    label = ma.fields.String(metadata={"description": "the group's name in the caller's language"})
    channels = ma.fields.List(ma.fields.String(), metadata={"description": "sms, email"})


class NotificationSettingsSchema(ma.Schema):
    groups = ma.fields.List(
        ma.fields.Nested(NoticeGroupSchema),
        metadata={"description": "every group of notices the caller receives, with its channels"},
    )
    quiet_hours = ma.fields.Nested(
        QuietHoursSchema,
        allow_none=True,
        metadata={"description": "no SMS or e-mail in this range (null: none)"},
    )
    own = ma.fields.Boolean(
        metadata={"description": "false: the defaults of the caller's role (never saved)"}
    )
    available_channels = ma.fields.List(
        ma.fields.String(),
        metadata={"description": "the personal channels this site sends through"},
    )
    daily_limits = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "notices per channel per day at most (China time)"},
    )


class NotificationSettingsWriteSchema(ma.Schema):
    channels = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf([g.value for g in preferences.Group])),
        values=ma.fields.List(
            ma.fields.String(validate=ma.validate.OneOf(list(preferences.PERSONAL))),
            validate=ma.validate.Length(max=len(preferences.PERSONAL)),
        ),
        metadata={
            "description": 'group -> channels, e.g. {"orders": ["sms"], "alerts": []}; '
            "groups left out keep their channels"
        },
    )
    quiet_hours = ma.fields.Nested(
        QuietHoursSchema,
        allow_none=True,
        metadata={"description": "null: no quiet hours; left out: unchanged"},
    )

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:  # a request that changes nothing is a mistake, not a success
            raise ma.ValidationError("Give channels, quiet_hours or both.")


class NoticeDeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    notification_id = ma.fields.Integer()
    kind = ma.fields.Function(lambda d: d.notification.kind)
    text = ma.fields.Function(
        lambda d: render(d.notification.kind, d.notification.params),
        metadata={"description": "the notice, in the caller's language"},
    )
    channel = ma.fields.String()
    status = ma.fields.Function(
        lambda d: d.status.value,
        metadata={"description": ", ".join(s.value for s in DeliveryState)},
    )
    reason = ma.fields.Function(
        lambda d: d.reason.value if d.reason else None,
        allow_none=True,
        metadata={"description": ", ".join(r.value for r in Reason)},
    )
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    sent_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class NoticeDeliveryPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(NoticeDeliverySchema))
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()


def _settings(user: User) -> dict[str, Any]:
    choices = preferences.choices_of(user)
    quiet = choices.quiet
    available = {c.name for c in channels.configured() if channels.is_personal(c)}
    return {
        "groups": [
            {
                "group": group.value,
                "label": str(group.label),
                "channels": sorted(choices.channels.get(group, ())),
            }
            for group in preferences.groups_for(user.role)
        ],
        "quiet_hours": {"start": preferences.clock(quiet[0]), "end": preferences.clock(quiet[1])}
        if quiet
        else None,
        "own": choices.own,
        "available_channels": [name for name in preferences.PERSONAL if name in available],
        "daily_limits": {
            name: limit
            for name in preferences.PERSONAL
            if (limit := preferences.daily_limit(name)) is not None
        },
    }


@blp.route("/me/notification-settings", methods=["GET"])
@token_required(blp)
@blp.response(200, NotificationSettingsSchema)
def get_settings() -> dict[str, Any]:
    """The caller's channels per group of notices, quiet hours and daily limits."""
    return _settings(require_user())


@blp.route("/me/notification-settings", methods=["PUT"])
@token_required(blp)
@blp.arguments(NotificationSettingsWriteSchema)
@blp.response(200, NotificationSettingsSchema)
@blp.alt_response(422, description="a group the caller does not receive, or equal quiet times")
def put_settings(body: dict[str, Any]) -> dict[str, Any]:
    """Choose the channels of groups of notices and the quiet hours (the inbox gets all)."""
    user = require_user()
    current = preferences.choices_of(user)
    if "quiet_hours" in body:
        given = body["quiet_hours"]
        quiet = (
            None
            if given is None
            else (preferences.parse_clock(given["start"]), preferences.parse_clock(given["end"]))
        )
    else:
        quiet = current.quiet
    preferences.save(user, user, body.get("channels") or {}, quiet)
    return _settings(user)


@blp.route("/me/deliveries", methods=["GET"])
@token_required(blp)
@blp.arguments(PaginationQuerySchema, location="query")
@blp.response(200, NoticeDeliveryPageSchema)
def list_deliveries(args: dict[str, Any]) -> dict[str, Any]:
    """What was sent to the caller by SMS and e-mail (or why not), newest first."""
    user = require_user()
    policy.ensure(user, "list", Delivery)
    page = notifications.deliveries(user, page=args["page"], per_page=args["per_page"])
    return {
        "items": page.items,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    }
