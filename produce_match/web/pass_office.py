"""Pages: the office's side of transport passes, made for a phone.

- `/office/passes`: the approval queue (the passes waiting for this office, oldest first, each
  with one-tap approve and reject-with-reason), and tabs for the other passes from or to the
  jurisdiction: approved, on the road, overdue, rejected or revoked;
- approve, reject and revoke a pass (from the queue or from the pass's page);
- `/office/checkpoints`: the office's checkpoints, added and retired;
- `/office/suspensions`: 熔断, suspending all passes of an organisation, and lifting it;
- `/v/<code>/passages`: checkpoint staff record a vehicle's exit or entry from the public
  verification page (its scan panel), and `/office/scan` tells them how to get there.

Checkpoint staff get nothing of this but the scan: every other page here answers them 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import Forbidden, NotFound
from wtforms import SelectChoice

from produce_match import policy
from produce_match.accounts.models import Organisation, Role
from produce_match.accounts.operations import PlaceInput
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.inputs import local_target
from produce_match.passes import office as desk
from produce_match.passes import operations as passes
from produce_match.passes.models import (
    Checkpoint,
    PassageDirection,
    Suspension,
    TransportPass,
    Verdict,
)
from produce_match.passes.queries import by_code, verdict
from produce_match.transaction import refused
from produce_match.web.forms import show_errors
from produce_match.web.forms.pass_office import (
    CheckpointForm,
    DecisionForm,
    ScanForm,
    SuspensionForm,
)

bp = Blueprint("pass_office", __name__)

#: the session key of the checkpoint the user recorded a passage at last (preselected next time)
LAST_CHECKPOINT = "scan_checkpoint"
#: what checkpoint staff may open here: the scan and its help page
_STAFF_ENDPOINTS = {"pass_office.record_passage", "pass_office.scan_help"}


@bp.before_request
def _staff_only_scan() -> None:
    """Checkpoint staff scan, nothing else."""
    if (
        current_user.is_authenticated
        and current_user.role is Role.checkpoint
        and request.endpoint not in _STAFF_ENDPOINTS
    ):
        raise Forbidden()


def _office() -> Organisation:
    """The office of the official using the page; anyone else is refused."""
    office = passes.office_of(current_user)
    if office is None or current_user.role is not Role.official:
        raise Forbidden()
    return office


def _back(default: str) -> str:
    return local_target(request.form.get("next")) or default


def _detail_path(row: TransportPass) -> str:
    return f"/passes/{row.id}"


# --- the approval queue ---------------------------------------------------------------------


@bp.get("/office/passes")
@login_required
def queue() -> Any:
    _office()
    try:
        tab = desk.QueueTab(request.args.get("tab", "pending"))
    except ValueError:
        tab = desk.QueueTab.pending
    return render_template(
        "passes/office_queue.html",
        tab=tab,
        tabs=list(desk.QueueTab),
        counts=desk.tab_counts(current_user),
        items=desk.queue(current_user, tab),
        limit=desk.TAB_LIMIT,
        waited=desk.waited_minutes,
        is_late=desk.is_late,
        form=DecisionForm(formdata=None),
    )


def _decide(pass_id: int, action: str) -> Any:
    row = policy.load(current_user, action, TransportPass, pass_id)
    default = url_for(".queue") if action != "revoke" else _detail_path(row)
    form = DecisionForm()
    target = _back(default)
    if not form.validate_on_submit():
        errors = [str(e) for messages in form.errors.values() for e in messages]
        return refused(" ".join(errors) or _("Please correct the marked fields."), target)
    try:
        if action == "approve":
            passes.approve(current_user, row)
            message = _("Pass %(number)s is approved. The applicant is told.", number=row.number)
        elif action == "reject":
            passes.reject(current_user, row, form.reason.data)
            message = _(
                "Pass %(number)s is rejected. The applicant is told why.", number=row.number
            )
        else:
            passes.revoke(current_user, row, form.reason.data)
            message = _(
                "Pass %(number)s is revoked. Its verification says so now.", number=row.number
            )
    except DomainError as exc:
        detail = [str(m) for messages in exc.fields.values() for m in messages]
        text = " ".join(dict.fromkeys([*detail] or [str(exc.message)]))
        return refused(_("Pass %(number)s: %(text)s", number=row.number, text=text), target)
    flash(message, "success")
    return redirect(target)


@bp.post("/passes/<int:pass_id>/approve")
@login_required
def approve(pass_id: int) -> Any:
    return _decide(pass_id, "approve")


@bp.post("/passes/<int:pass_id>/reject")
@login_required
def reject(pass_id: int) -> Any:
    return _decide(pass_id, "reject")


@bp.post("/passes/<int:pass_id>/revoke")
@login_required
def revoke(pass_id: int) -> Any:
    return _decide(pass_id, "revoke")


# --- checkpoints ----------------------------------------------------------------------------


def _checkpoints_page(office: Organisation, form: CheckpointForm | None = None) -> Any:
    if form is None:
        form = CheckpointForm(formdata=None)
        form.county.data = office.county.name if office.county is not None else ""
    return render_template(
        "passes/office_checkpoints.html",
        office=office,
        checkpoints=desk.checkpoints_of(office),
        form=form,
    )


@bp.get("/office/checkpoints")
@login_required
def checkpoints() -> Any:
    return _checkpoints_page(_office())


@bp.post("/office/checkpoints")
@login_required
def add_checkpoint() -> Any:
    office = _office()
    form = CheckpointForm()
    if form.validate_on_submit():
        try:
            row = passes.add_checkpoint(
                current_user,
                form.name.data,
                form.kind.data,
                PlaceInput(county=(form.county.data or "").strip() or None),
            )
        except DomainError as exc:
            show_errors(form, exc)
        else:
            flash(_("Checkpoint %(name)s is added.", name=row.name), "success")
            return redirect(url_for(".checkpoints"))
    else:
        flash(_("Please correct the marked fields."), "error")
    return _checkpoints_page(office, form), 422


@bp.post("/office/checkpoints/<int:checkpoint_id>/retire")
@login_required
def retire_checkpoint(checkpoint_id: int) -> Any:
    _office()
    row = policy.load(current_user, "retire", Checkpoint, checkpoint_id)
    if not DecisionForm().validate_on_submit():
        return refused(_("Please correct the marked fields."), url_for(".checkpoints"))
    try:
        passes.retire_checkpoint(current_user, row)
    except DomainError as exc:
        return refused(exc.message, url_for(".checkpoints"))
    flash(_("Checkpoint %(name)s is no longer in use.", name=row.name), "success")
    return redirect(url_for(".checkpoints"))


# --- suspensions (熔断) ---------------------------------------------------------------------


def _suspension_form(form: SuspensionForm | None = None) -> SuspensionForm:
    form = form or SuspensionForm(formdata=None)
    form.organisation.choices = [SelectChoice("", _("Choose…"))] + [
        SelectChoice(str(org.id), org.name) for org in desk.applicants_near(current_user)
    ]
    return form


def _suspensions_page(office: Organisation, form: SuspensionForm | None = None) -> Any:
    return render_template(
        "passes/office_suspensions.html",
        office=office,
        suspensions=desk.suspensions_of(office),
        form=_suspension_form(form),
        lift_form=DecisionForm(formdata=None),
    )


@bp.get("/office/suspensions")
@login_required
def suspensions() -> Any:
    """The office's suspensions; `?organisation=<id>` preselects one (from a pass's page)."""
    office = _office()
    form = _suspension_form()
    form.organisation.data = request.args.get("organisation", "")
    return _suspensions_page(office, form)


@bp.post("/office/suspensions")
@login_required
def suspend() -> Any:
    office = _office()
    form = _suspension_form(SuspensionForm())
    if form.validate_on_submit():
        organisation = desk.suspendable(form.organisation_name.data or form.organisation.data)
        if organisation is None:
            message = _("No cooperative, buyer or haulier of that name is registered.")
            form.organisation_name.errors = [message]
            flash(_("Please correct the marked fields."), "error")
            return _suspensions_page(office, form), 422
        try:
            passes.suspend(current_user, organisation, form.reason.data)
        except DomainError as exc:
            show_errors(form, exc, aliases={"organisation": "organisation_name"})
            return _suspensions_page(office, form), exc.status
        flash(
            _(
                "The passes of %(org)s from or to your jurisdiction are suspended.",
                org=organisation.name,
            ),
            "success",
        )
        return redirect(url_for(".suspensions"))
    flash(_("Please correct the marked fields."), "error")
    return _suspensions_page(office, form), 422


@bp.post("/office/suspensions/<int:suspension_id>/lift")
@login_required
def lift(suspension_id: int) -> Any:
    _office()
    row = policy.load(current_user, "lift", Suspension, suspension_id)
    if not DecisionForm().validate_on_submit():
        return refused(_("Please correct the marked fields."), url_for(".suspensions"))
    try:
        count = passes.lift(current_user, row)
    except DomainError as exc:
        return refused(exc.message, url_for(".suspensions"))
    flash(
        _(
            "The suspension of %(org)s is lifted; %(n)d passes are valid again.",
            org=row.organisation.name,
            n=count,
        ),
        "success",
    )
    return redirect(url_for(".suspensions"))


# --- the scan at a checkpoint ---------------------------------------------------------------


def scan_checkpoints() -> list[Checkpoint]:
    """The checkpoints in use of the current user's office, if the user scans there."""
    if not current_user.is_authenticated or current_user.role not in (
        Role.checkpoint,
        Role.official,
    ):
        return []
    return desk.checkpoints_of(passes.office_of(current_user), retired=False)


@dataclass
class ScanPanel:
    """What the verification page's scan panel shows: nothing (`show` false), a red refusal
    (`valid` false), or the form with the checkpoint preselected."""

    show: bool
    valid: bool = False
    checkpoints: tuple[Checkpoint, ...] = ()
    form: ScanForm | None = None


def scan_panel(tpass: TransportPass) -> ScanPanel:
    if not current_user.is_authenticated:
        return ScanPanel(show=False)
    points = scan_checkpoints()
    staff = current_user.role is Role.checkpoint and passes.office_of(current_user) is not None
    if not points and not staff:
        return ScanPanel(show=False)
    form = ScanForm(formdata=None)
    last = str(session.get(LAST_CHECKPOINT, ""))
    ids = [str(p.id) for p in points]
    chosen = last if last in ids else (ids[0] if len(ids) == 1 else "")
    # nothing preselected: the staff choose, rather than record at the first of the list
    first = [] if chosen else [SelectChoice("", _("Choose…"))]
    form.checkpoint.choices = first + [SelectChoice(str(p.id), p.name) for p in points]
    form.checkpoint.data = chosen
    return ScanPanel(
        show=True,
        valid=verdict(tpass) is Verdict.valid,
        checkpoints=tuple(points),
        form=form,
    )


@bp.post("/v/<code>/passages")
@login_required
def record_passage(code: str) -> Any:
    row = by_code(code)
    if row is None:
        raise NotFound()
    back = f"/v/{row.code}"
    policy.ensure(current_user, "scan", row)
    form = ScanForm()
    if not form.validate_on_submit():
        errors = [str(e) for messages in form.errors.values() for e in messages]
        return refused(" ".join(errors) or _("Please correct the marked fields."), back)
    checkpoint = None
    if (form.checkpoint.data or "").isdigit():
        checkpoint = db.session.get(Checkpoint, int(form.checkpoint.data))
    if checkpoint is None:
        return refused(_("Choose one of your office's checkpoints."), back)
    photo = form.photo.data.read() if form.photo.data and form.photo.data.filename else None
    try:
        scan = passes.record_passage(
            current_user,
            row,
            checkpoint,
            form.direction.data or "",
            photo=photo,
            note=form.note.data,
        )
    except DomainError as exc:
        detail = [str(m) for messages in exc.fields.values() for m in messages]
        return refused(" ".join(dict.fromkeys(detail or [str(exc.message)])), back)
    session[LAST_CHECKPOINT] = checkpoint.id
    direction = PassageDirection.out if scan.kind.value == "exit" else PassageDirection.in_
    flash(
        _(
            "Recorded: %(direction)s of pass %(number)s at %(checkpoint)s.",
            direction=direction.label,
            number=row.number,
            checkpoint=checkpoint.name,
        ),
        "success",
    )
    return redirect(back)


@bp.get("/office/scan")
@login_required
def scan_help() -> Any:
    """How checkpoint staff check a pass: the phone's camera reads its QR code; or type the
    code printed under it."""
    if passes.office_of(current_user) is None:
        raise Forbidden()
    code = (request.args.get("code") or "").strip()
    missing = False
    if code:
        code = code.rstrip("/").rsplit("/v/", 1)[-1]
        row = by_code(code)
        if row is not None:
            return redirect(f"/v/{row.code}")
        missing = True
    return render_template(
        "passes/office_scan.html",
        checkpoints=scan_checkpoints(),
        code=code,
        missing=missing,
    ), (404 if missing else 200)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(scan_checkpoints, "scan_checkpoints")
    app.add_template_global(scan_panel, "scan_panel")
    app.add_template_global(desk.is_late, "pass_is_late")
