"""API: the officials' figures (/stats), the problem ledger (/problems) and exports
(/monitor/exports: asked for, built by the worker, downloaded when ready).

Officials and administrators only, within the office's jurisdiction (404 outside it, as for
the pages); a cooperative may raise and read its own ledger entries.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, url_for
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.accounts.models import Organisation, Role, User
from produce_match.api.auth import require_user, token_required
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.monitor import export_jobs, operations, queries
from produce_match.monitor.models import ExportJob, Problem, ProblemCategory, ProblemStatus
from produce_match.passes.figures import pass_figures
from produce_match.sharing.models import Channel

blp = Blueprint("api_monitor", __name__, description="Officials: figures and the problem ledger")


class StatsQuerySchema(ma.Schema):
    province = ma.fields.String(load_default=None, metadata={"description": "code or name"})
    county = ma.fields.String(load_default=None, metadata={"description": "code or name"})
    from_ = ma.fields.String(
        data_key="from", load_default=None, metadata={"description": "ISO date, inclusive"}
    )
    to = ma.fields.String(load_default=None, metadata={"description": "ISO date, inclusive"})


#: the part of /stats documented field by field: what share links brought, by channel
_BY_CHANNEL = {
    "type": "array",
    "description": "what share links to the place's lots, demands and county shops brought in "
    "the period, one row per channel (wechat_group, moments, douyin, kuaishou, weibo, sms, "
    "print, other): visits (once per browser and day, bots excluded), orders attributed to "
    "the channel of the buyer's first share-link visit within 14 days before ordering (not "
    "rejected, cancelled or expired), their mass in kg and amount in yuan (exact strings)",
    "items": {
        "type": "object",
        "required": ["channel", "visits", "orders", "kg", "yuan"],
        "properties": {
            "channel": {
                "type": "string",
                "enum": [c.value for c in Channel],
            },
            "visits": {"type": "integer", "minimum": 0},
            "orders": {"type": "integer", "minimum": 0},
            "kg": {"type": "string", "example": "40.000"},
            "yuan": {"type": "string", "example": "240000.00"},
        },
    },
}


_PASS_COUNTS = {
    "asked": "asked for in the period (from the place)",
    "approved": "approved in the period",
    "approved_at_once": "of them, at once by a whitelist",
    "rejected": "rejected in the period",
    "revoked": "revoked in the period",
    "pending": "waiting for an official now",
    "in_transit": "now: approved, exited or entered, not delivered (from or to the place)",
    "overdue": "now: not delivered, flagged or past the time expected (from or to the place)",
    "completed": "delivered in the period",
}
_PASS_ROW = {
    "type": "object",
    "required": [*_PASS_COUNTS, "median_minutes_to_approve"],
    "properties": {
        **{
            name: {"type": "integer", "minimum": 0, "description": text}
            for name, text in _PASS_COUNTS.items()
        },
        "median_minutes_to_approve": {
            "type": "string",
            "nullable": True,
            "example": "12.5",
            "description": "over the passes an official approved in the period (not the "
            "whitelist's)",
        },
    },
}
#: the part of /stats about transport passes: for the place and per county of origin
_PASSES = {
    **_PASS_ROW,
    "description": "transport passes: the decisions on those from the place, the vehicles "
    "from or to it on the road, and the same per county of origin (`by_county`)",
    "required": [*_PASS_ROW["required"], "by_county"],
    "properties": {
        **_PASS_ROW["properties"],
        "by_county": {
            "type": "array",
            "items": {
                **_PASS_ROW,
                "required": [*_PASS_ROW["required"], "county", "name"],
                "properties": {
                    **_PASS_ROW["properties"],
                    "county": {"type": "string"},
                    "name": {"type": "string"},
                },
            },
        },
    },
}


@blp.route("/stats")
@token_required(blp)
@blp.arguments(StatsQuerySchema, location="query")
@blp.doc(
    responses={
        200: {
            "description": "the figures",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["by_channel", "passes"],
                        "properties": {"by_channel": _BY_CHANNEL, "passes": _PASSES},
                    }
                }
            },
        }
    }
)
def stats(args: dict[str, Any]) -> Any:
    """The dashboard's figures for a jurisdiction over a period (default: the last 30 days).

    Masses are given as exact decimal strings of kilograms (`kg_*`), money as integer fen
    (`*_fen`) and as an exact yuan string (`paid_out_yuan`); `by_channel` says what share
    links brought, by channel; `passes` the transport passes.
    """
    user = require_user()
    scope = queries.resolve_scope(user, args["province"], args["county"])
    period = queries.parse_period(args["from_"], args["to"])
    return {
        **queries.figures(scope, period).as_json(),
        "passes": pass_figures(scope, period).as_json(),
    }


class ProblemFollowUpSchema(ma.Schema):
    id = ma.fields.Integer()
    author_id = ma.fields.Integer()
    author = ma.fields.Function(lambda f: f.author.name or f.author.login)
    by_cooperative = ma.fields.Function(
        lambda f: f.author.organisation_id == f.problem.cooperative_id,
        metadata={"description": "written by the cooperative (else by an office)"},
    )
    note = ma.fields.String()
    created_at = ma.fields.DateTime()


class LedgerStepSchema(ma.Schema):
    at = ma.fields.DateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String(
        metadata={"description": "raised, assigned, followed_up, closed, reopened"}
    )
    from_state = ma.fields.String(allow_none=True)
    to_state = ma.fields.String(allow_none=True)
    text = ma.fields.String(
        allow_none=True,
        metadata={"description": "a closing's outcome, a reopening's reason, a follow-up's note"},
    )
    superseded = ma.fields.Boolean(
        metadata={"description": "a closing whose outcome a later reopening set aside"}
    )


class ProblemSchema(ma.Schema):
    id = ma.fields.Integer()
    cooperative_id = ma.fields.Integer()
    cooperative = ma.fields.Function(lambda p: p.cooperative.name)
    lot_id = ma.fields.Integer(allow_none=True)
    province_code = ma.fields.String()
    county_code = ma.fields.String(allow_none=True)
    township = ma.fields.String(allow_none=True)
    village = ma.fields.String(allow_none=True)
    category = ma.fields.Function(lambda p: p.category.value)
    description = ma.fields.String()
    status = ma.fields.Function(lambda p: p.status.value)
    assignee_id = ma.fields.Integer(allow_none=True)
    outcome = ma.fields.String(
        allow_none=True, metadata={"description": "while closed; a reopening sets it aside"}
    )
    reopen_reason = ma.fields.String(
        allow_none=True, metadata={"description": "why it was last reopened"}
    )
    reopened_at = ma.fields.DateTime(allow_none=True)
    raised_at = ma.fields.DateTime()
    closed_at = ma.fields.DateTime(allow_none=True)
    follow_ups = ma.fields.List(ma.fields.Nested(ProblemFollowUpSchema))


class ProblemDetailSchema(ProblemSchema):
    """One entry with its history (the earlier outcomes, marked superseded)."""

    history = ma.fields.Function(
        lambda p: LedgerStepSchema(many=True).dump(queries.ledger_history(p))
    )


class RaiseProblemSchema(ma.Schema):
    category = ma.fields.String(
        required=True, validate=ma.validate.OneOf([c.value for c in ProblemCategory])
    )
    description = ma.fields.String(required=True)
    lot_id = ma.fields.Integer(load_default=None)
    cooperative_id = ma.fields.Integer(
        load_default=None, metadata={"description": "officials: the cooperative it is about"}
    )


class ProblemsQuerySchema(ma.Schema):
    province = ma.fields.String(load_default=None)
    county = ma.fields.String(load_default=None)
    status = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf([s.value for s in ProblemStatus])
    )
    category = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf([c.value for c in ProblemCategory])
    )


class ProblemAssignSchema(ma.Schema):
    assignee_id = ma.fields.Integer(required=True)


class FollowUpNoteSchema(ma.Schema):
    note = ma.fields.String(required=True)


class CloseProblemSchema(ma.Schema):
    outcome = ma.fields.String(required=True)


class ReopenSchema(ma.Schema):
    reason = ma.fields.String(required=True)


@blp.route("/problems", methods=["GET"])
@token_required(blp)
@blp.arguments(ProblemsQuerySchema, location="query")
@blp.response(200, ProblemSchema(many=True))
def list_problems(args: dict[str, Any]) -> Any:
    """The ledger of a jurisdiction (officials), or a cooperative's own entries."""
    user = require_user()
    if user.role is Role.cooperative and user.organisation_id:
        return queries.problems_of(user.organisation_id)
    scope = queries.resolve_scope(user, args["province"], args["county"])
    return queries.problems(scope, args["status"], args["category"])


@blp.route("/problems", methods=["POST"])
@token_required(blp)
@blp.arguments(RaiseProblemSchema)
@blp.response(201, ProblemDetailSchema)
def raise_problem(body: dict[str, Any]) -> Any:
    """Raise a problem: a cooperative about itself or one of its lots, or an official for one."""
    user = require_user()
    policy.ensure(user, "create", Problem)
    lot = None
    if body["lot_id"] is not None:
        lot = policy.load(user, policy.VIEW, Lot, body["lot_id"])
    if lot is not None:
        org = lot.cooperative
    elif user.role is Role.cooperative:
        org = user.organisation
    else:
        org = db.session.get(Organisation, body["cooperative_id"] or 0)
        if org is None:
            message = "cooperative_id or lot_id is required"
            raise ValidationFailed(message, fields={"cooperative_id": [message]})
    problem = operations.raise_problem(user, org, body["category"], body["description"], lot=lot)
    return problem


@blp.route("/problems/<int:problem_id>")
@token_required(blp)
@blp.response(200, ProblemDetailSchema)
def get_problem(problem_id: int) -> Any:
    """One ledger entry with its follow-ups."""
    return policy.load(require_user(), policy.VIEW, Problem, problem_id)


def _step(problem_id: int, action: str) -> tuple[User, Problem]:
    user = require_user()
    return user, policy.load(user, action, Problem, problem_id)


@blp.route("/problems/<int:problem_id>/assign", methods=["POST"])
@token_required(blp)
@blp.arguments(ProblemAssignSchema)
@blp.response(200, ProblemDetailSchema)
def assign(body: dict[str, Any], problem_id: int) -> Any:
    """Assign the entry to an official whose jurisdiction holds it."""
    user, problem = _step(problem_id, "assign")
    assignee = db.session.get(User, body["assignee_id"])
    if assignee is None:
        raise ValidationFailed("unknown official", fields={"assignee_id": ["unknown"]})
    operations.assign(user, problem, assignee)
    return problem


@blp.route("/problems/<int:problem_id>/follow-ups", methods=["POST"])
@token_required(blp)
@blp.arguments(FollowUpNoteSchema)
@blp.response(201, ProblemDetailSchema)
def follow_up(body: dict[str, Any], problem_id: int) -> Any:
    """Record a follow-up: an official of the place, or the cooperative itself."""
    user, problem = _step(problem_id, "follow_up")
    operations.follow_up(user, problem, body["note"])
    return problem


@blp.route("/problems/<int:problem_id>/close", methods=["POST"])
@token_required(blp)
@blp.arguments(CloseProblemSchema)
@blp.response(200, ProblemDetailSchema)
def close(body: dict[str, Any], problem_id: int) -> Any:
    """Close the entry (销号) with its outcome."""
    user, problem = _step(problem_id, "close")
    operations.close(user, problem, body["outcome"])
    return problem


@blp.route("/problems/<int:problem_id>/reopen", methods=["POST"])
@token_required(blp)
@blp.arguments(ReopenSchema)
@blp.response(200, ProblemDetailSchema)
def reopen(body: dict[str, Any], problem_id: int) -> Any:
    """Reopen a closed entry."""
    user, problem = _step(problem_id, "reopen")
    operations.reopen(user, problem, body["reason"])
    return problem


# --- exports: a job built by the worker -------------------------------------------------------


class ExportRequestSchema(ma.Schema):
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf(export_jobs.KINDS),
        metadata={
            "description": "lots, deals, payments, problems, passes (transport passes), or "
            "report (every sheet but the passes)"
        },
    )  # fmt: skip
    fmt = ma.fields.String(load_default="xlsx", validate=ma.validate.OneOf(export_jobs.FORMATS))
    province = ma.fields.String(load_default=None, metadata={"description": "code or name"})
    county = ma.fields.String(load_default=None, metadata={"description": "code or name"})
    from_ = ma.fields.String(
        data_key="from", load_default=None, metadata={"description": "ISO date"}
    )
    to = ma.fields.String(load_default=None, metadata={"description": "ISO date"})
    status = ma.fields.String(load_default=None, metadata={"description": "deals or ledger"})
    commodity = ma.fields.Integer(load_default=None, metadata={"description": "deals"})
    place = ma.fields.String(load_default=None, metadata={"description": "deals: township"})
    category = ma.fields.String(load_default=None, metadata={"description": "ledger"})
    language = ma.fields.String(
        load_default="zh", validate=ma.validate.OneOf(["zh", "en"]),
        metadata={"description": "the language of the file's headings"},
    )  # fmt: skip


class ExportJobSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    fmt = ma.fields.String()
    filters = ma.fields.Dict()
    status = ma.fields.Function(lambda j: j.status.value)
    done = ma.fields.Integer(metadata={"description": "sheets built so far"})
    total = ma.fields.Integer(metadata={"description": "sheets to build"})
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime(allow_none=True)
    url = ma.fields.Function(
        lambda j: url_for("api_monitor.get_export", job_id=j.id, _external=True)
    )
    download_url = ma.fields.Function(
        lambda j: (
            url_for("api_monitor.download_export", job_id=j.id, _external=True)
            if j.status.value == "ready"
            else None
        )
    )


@blp.route("/monitor/exports", methods=["POST"])
@token_required(blp)
@blp.arguments(ExportRequestSchema)
@blp.response(202, ExportJobSchema)
def request_export(body: dict[str, Any]) -> Any:
    """Ask for an export: 202 with the job (`url`), which the worker builds; poll it until its
    status is `ready` (then `download_url`) or `failed` (then `error`)."""
    user = require_user()
    filters = {("from" if k == "from_" else k): v for k, v in body.items()}
    kind, fmt, language = filters.pop("kind"), filters.pop("fmt"), filters.pop("language")
    job = export_jobs.request_export(user, kind, fmt, filters, language)
    return job, 202, {"Location": url_for("api_monitor.get_export", job_id=job.id)}


@blp.route("/monitor/exports/<int:job_id>")
@token_required(blp)
@blp.response(200, ExportJobSchema)
def get_export(job_id: int) -> ExportJob:
    """An export job: its status and progress (the asker's, or an administrator's)."""
    return export_jobs.visible_job(require_user(), job_id)


@blp.route("/monitor/exports/<int:job_id>/download")
@token_required(blp)
def download_export(job_id: int) -> Response:
    """The built file (404 until the job is ready, and for anyone but the asker or an admin)."""
    job = export_jobs.visible_job(require_user(), job_id)
    return Response(
        export_jobs.file_of(job),
        mimetype=export_jobs.MIMETYPES[job.fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{job.filename}"',
            "Cache-Control": "private, no-store",
        },
    )
