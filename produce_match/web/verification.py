"""Pages of 实名认证: an organisation's own claims (submit, see, withdraw), and the review queue
of administrators and county officials (verify in one tap, reject or revoke with a reason).

The licence photo is private: only the organisation's members and those who decide see it.
The resident ID number is shown masked everywhere.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from produce_match import policy
from produce_match.accounts.models import Organisation
from produce_match.dates import local_datetime
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.storage import send_photo
from produce_match.trust import verification
from produce_match.trust.models import ClaimStatus, IdentityClaim, IdentityKind
from produce_match.web.forms import ActionForm, show_errors
from produce_match.web.forms.verification import ClaimForm, ReasonForm

bp = Blueprint("verification", __name__)

#: the tabs of the review queue: the word in the address -> the status (None: all)
TABS: dict[str, ClaimStatus | None] = {
    "waiting": ClaimStatus.submitted,
    "verified": ClaimStatus.verified,
    "rejected": ClaimStatus.rejected,
    "all": None,
}


# --- what the badge says ------------------------------------------------------------------


def verified_as_text(kind: str | None) -> str:
    """What was verified, in a few words for the badge (empty when it is not known)."""
    if kind == IdentityKind.credit_code.value:
        return _("unified social credit code")
    if kind == IdentityKind.resident_id.value:
        return _("resident ID")
    return ""


def china_date(value: Any) -> str:
    """An instant as the calendar date in China (2026年12月7日)."""
    if value is None:
        return ""
    return format_date(local_datetime(value).date(), "long")


# --- the organisation's own page ----------------------------------------------------------


def _render_own(form: ClaimForm | None = None, status: int = 200) -> Any:
    org = current_user.organisation
    claims = verification.claims_of(org)
    waiting = next((c for c in claims if c.status is ClaimStatus.submitted), None)
    standing = next((c for c in claims if c.status is ClaimStatus.verified), None)
    return render_template(
        "trust/verification.html",
        org=org,
        claims=claims,
        waiting=waiting,
        standing=standing,
        form=form or ClaimForm(),
        action_form=ActionForm(),
    ), status


def _claimant_only() -> None:
    if not policy.can(current_user, "list_own", IdentityClaim):
        abort(404)


@bp.route("/account/verification", methods=["GET", "POST"])
@login_required
def own() -> Any:
    _claimant_only()
    form = ClaimForm()
    if request.method == "GET":
        return _render_own(form)
    if not form.validate_on_submit():
        flash(_("Please correct the marked fields."), "error")
        return _render_own(form, 422)
    upload = form.photo.data
    photo = upload.read() if upload and getattr(upload, "filename", "") else None
    data = verification.ClaimInput(
        kind=form.kind.data,
        person_name=form.person_name.data,
        credit_code=form.credit_code.data,
        resident_id=form.resident_id.data,
        photo=photo,
    )
    try:
        verification.submit(current_user, data)
    except DomainError as exc:
        show_errors(form, exc)
        return _render_own(form, exc.status)
    flash(_("Your request is submitted. You will be told when it is decided."), "success")
    return redirect(url_for(".own"))


@bp.post("/account/verification/<int:claim_id>/withdraw")
@login_required
def withdraw(claim_id: int) -> Any:
    claim = policy.load(current_user, "withdraw", IdentityClaim, claim_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        verification.withdraw(current_user, claim)
    except DomainError as exc:
        show_errors(ActionForm(), exc)
        return _render_own(status=exc.status)
    flash(_("Your request is withdrawn."), "success")
    return redirect(url_for(".own"))


@bp.route("/verifications/<int:claim_id>/<any(full, thumb):size>.jpg")
@login_required
def photo(claim_id: int, size: str) -> Any:
    """The licence (or ID card) photo: for the organisation's members and its deciders."""
    claim = policy.load(current_user, policy.VIEW, IdentityClaim, claim_id)
    key = claim.photo_key if size == "full" else (claim.photo_thumb_key or claim.photo_key)
    if not key or not key.startswith(f"claims/{claim.org_id}/"):
        abort(404)
    return send_photo(key, private=True)


# --- the review queue -----------------------------------------------------------------------


def _render_queue(status: int = 200, reason_form: ReasonForm | None = None) -> Any:
    tab = request.args.get("show", "waiting")
    if tab not in TABS:
        tab = "waiting"
    org = None
    org_id = request.args.get("org", type=int)
    query = verification.claims_to_review(current_user, None if org_id else TABS[tab])
    if org_id:
        org = policy.load(current_user, "verify", Organisation, org_id)
        query = query.where(IdentityClaim.org_id == org.id)
    claims = db.session.scalars(
        query.options(
            selectinload(IdentityClaim.org),
            selectinload(IdentityClaim.submitted_by),
            selectinload(IdentityClaim.decided_by),
        ).limit(200)
    ).all()
    return render_template(
        "trust/review.html",
        claims=claims,
        tab=tab,
        tabs=TABS,
        focus=org,
        reason_form=reason_form or ReasonForm(),
        action_form=ActionForm(),
    ), status


@bp.route("/office/verifications")
@login_required
def queue() -> Any:
    if not policy.can(current_user, "list", IdentityClaim):
        abort(404)
    return _render_queue()


def _back() -> str:
    target = request.form.get("next") or ""
    if target.startswith("/office/verifications") and "//" not in target:
        return target
    return url_for(".queue")


@bp.post("/office/verifications/<int:claim_id>/verify")
@login_required
def verify(claim_id: int) -> Any:
    claim = policy.load(current_user, "verify", IdentityClaim, claim_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        verification.verify(current_user, claim)
    except DomainError as exc:
        show_errors(form, exc)
        return redirect(_back())
    flash(_("%(org)s is verified.", org=claim.org.name), "success")
    return redirect(_back())


def _decide_with_reason(claim_id: int, action: str) -> Any:
    claim = policy.load(current_user, action, IdentityClaim, claim_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Say why."), "error")
        return redirect(_back())
    try:
        if action == "reject":
            verification.reject(current_user, claim, form.reason.data)
        else:
            verification.revoke(current_user, claim, form.reason.data)
    except DomainError as exc:
        show_errors(form, exc)
        return redirect(_back())
    if action == "reject":
        flash(_("The request of %(org)s is rejected.", org=claim.org.name), "success")
    else:
        flash(_("%(org)s is no longer verified.", org=claim.org.name), "success")
    return redirect(_back())


@bp.post("/office/verifications/<int:claim_id>/reject")
@login_required
def reject(claim_id: int) -> Any:
    return _decide_with_reason(claim_id, "reject")


@bp.post("/office/verifications/<int:claim_id>/revoke")
@login_required
def revoke(claim_id: int) -> Any:
    return _decide_with_reason(claim_id, "revoke")


@bp.post("/office/verifications/organisations/<int:org_id>/revoke")
@login_required
def revoke_organisation(org_id: int) -> Any:
    """Revoke an organisation's verification (also one made before claims existed)."""
    org = policy.load(current_user, "verify", Organisation, org_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Say why."), "error")
        return redirect(_back())
    try:
        verification.revoke_organisation(current_user, org, form.reason.data)
    except DomainError as exc:
        show_errors(form, exc)
        return redirect(_back())
    flash(_("%(org)s is no longer verified.", org=org.name), "success")
    return redirect(_back())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(china_date, "china_date")
    app.add_template_global(verified_as_text, "verified_as_text")
    app.add_template_global(lambda: IdentityClaim, "verification_claim_class")
