"""Pages of the rescue ladder: the cooperative's answers to a step, donations and their
receipts, and the office's page of at-risk lots with the tonnes saved at each step."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from produce_match import policy, transaction
from produce_match.errors import DomainError
from produce_match.lots.models import Lot
from produce_match.monitor import queries as monitor_queries
from produce_match.rescue import operations, queries
from produce_match.rescue.models import Donation, RescueProposal, RescueStep

bp = Blueprint("rescue", __name__)


def _refused(exc: DomainError) -> None:
    transaction.doom()
    details = [str(m) for messages in exc.fields.values() for m in messages]
    flash(" ".join([str(exc.message), *details]), "error")


@bp.route("/rescue/<int:proposal_id>/take", methods=["POST"])
@login_required
def take(proposal_id: int) -> Any:
    proposal = policy.load(current_user, "answer", RescueProposal, proposal_id)
    try:
        operations.take(
            current_user,
            proposal,
            price=request.form.get("price") or None,
            price_unit=request.form.get("price_unit") or None,
        )
    except DomainError as exc:
        _refused(exc)
    else:
        flash(_("Done: the step is taken."), "success")
    return redirect(url_for("lots.detail", lot_id=proposal.lot_id, _anchor="rescue"))


@bp.route("/rescue/<int:proposal_id>/decline", methods=["POST"])
@login_required
def decline(proposal_id: int) -> Any:
    proposal = policy.load(current_user, "answer", RescueProposal, proposal_id)
    try:
        operations.decline(current_user, proposal)
    except DomainError as exc:
        _refused(exc)
    else:
        flash(_("The step is declined."), "success")
    return redirect(url_for("lots.detail", lot_id=proposal.lot_id, _anchor="rescue"))


@bp.route("/lots/<int:lot_id>/donations", methods=["POST"])
@login_required
def donate(lot_id: int) -> Any:
    lot = policy.load(current_user, "rescue", Lot, lot_id)
    try:
        donation = operations.donate(
            current_user,
            lot,
            quantity=request.form.get("quantity", ""),
            unit=request.form.get("unit", ""),
            recipient_org_id=request.form.get("recipient_org_id", type=int) or None,
            recipient_name=request.form.get("recipient_name"),
            note=request.form.get("note"),
        )
    except DomainError as exc:
        _refused(exc)
        return redirect(url_for("lots.detail", lot_id=lot.id, _anchor="rescue"))
    flash(_("Donation recorded. Print the receipt for the recipient."), "success")
    return redirect(url_for(".receipt", donation_id=donation.id))


@bp.route("/donations/<int:donation_id>")
@login_required
def receipt(donation_id: int) -> Any:
    donation = policy.load(current_user, policy.VIEW, Donation, donation_id)
    return render_template("rescue/receipt.html", d=donation)


@bp.route("/monitor/rescue")
@login_required
def office() -> Any:
    if not policy.overseer(current_user):
        abort(404)
    scope = monitor_queries.resolve_scope(
        current_user, request.args.get("province") or None, request.args.get("county") or None
    )
    args: dict[str, Any] = {}
    if scope.province_code:
        args["province"] = scope.province_code
    if scope.county_code:
        args["county"] = scope.county_code
    saved = queries.saved(scope)
    return render_template(
        "rescue/office.html",
        items=queries.at_risk(scope),
        saved=saved,
        saved_total=sum(s.total_g for s in saved),
        steps=list(RescueStep),
        args=args,
        scope=scope,
        where=scope.name or _("everywhere"),
        county_choices=monitor_queries.county_choices(current_user, scope),
        provinces=[],
    )


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
