"""Pages: the ranked buyers on a lot's page, the officials' plan, proposals and their answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from produce_match import policy
from produce_match.demands.models import Demand
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.forms import ActionForm
from produce_match.lots.models import Lot
from produce_match.matching import planner, proposals, queries
from produce_match.matching.models import Proposal
from produce_match.matching.plan import jurisdiction_of, make_plan
from produce_match.matching.words import reason_text
from produce_match.web import templating, transaction

bp = Blueprint("matching", __name__)


def lot_matches(lot: Lot, limit: int = 10) -> list[queries.Found] | None:
    """The ranked demands for a lot's page, or None when the viewer may not see them."""
    if not policy.can(current_user, "view_matches", lot) or not lot.orderable:
        return None
    return queries.seen_by(current_user, queries.matches_for_lot(lot, limit=limit))


def _jurisdiction() -> tuple[str | None, str | None, str]:
    """(province code, county code, name) of what the user plans for."""
    try:
        where = jurisdiction_of(current_user, request.args.get("county"))
    except PermissionError:
        abort(403)
    return where.province_code, where.county_code, where.name or _("everywhere")


@bp.route("/match/plan")
@login_required
def plan() -> Any:
    policy.ensure(current_user, "plan", Proposal)
    province_code, county_code, where = _jurisdiction()
    objective = request.args.get("objective", "tonnage")
    if objective not in planner.OBJECTIVES:
        objective = "tonnage"
    result = make_plan(province_code=province_code, county_code=county_code, objective=objective)
    for allocation in result.allocations:  # the same objects as in result.by_lot
        allocation.match = queries.as_seen_by(current_user, allocation.demand, allocation.match)
    return render_template(
        "matching/plan.html",
        result=result,
        where=where,
        objective=objective,
        reason_text=reason_text,
        can_propose=lambda lot: policy.can(current_user, "propose", lot),
    )


@bp.post("/proposals")
@login_required
def propose() -> Any:
    policy.ensure(current_user, "create", Proposal)
    if not ActionForm().validate_on_submit():
        abort(400)
    lot = policy.load(current_user, "propose", Lot, request.form.get("lot_id", type=int))
    demand = db.session.get(Demand, request.form.get("demand_id", type=int))
    quantity = request.form.get("quantity_kg", type=int)
    if demand is None or quantity is None:
        abort(400)
    try:
        proposal = proposals.propose(current_user, lot, demand, quantity)
    except DomainError as exc:
        return transaction.refused(exc.message, url_for(".plan"))
    flash(_("The proposal is sent to the buyer and the cooperative."), "success")
    return redirect(url_for(".proposal", proposal_id=proposal.id))


@bp.route("/proposals")
@login_required
def proposal_list() -> Any:
    return render_template("matching/proposals.html", proposals=proposals.for_user(current_user))


@bp.route("/proposals/<int:proposal_id>")
@login_required
def proposal(proposal_id: int) -> Any:
    item = policy.load(current_user, policy.VIEW, Proposal, proposal_id)
    return render_template(
        "matching/proposal.html",
        proposal=item,
        side=policy.proposal_side(current_user, item),
    )


@bp.post("/proposals/<int:proposal_id>/<any(accept, decline):answer>")
@login_required
def answer(proposal_id: int, answer: str) -> Any:
    item = policy.load(current_user, "answer", Proposal, proposal_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        proposals.answer(current_user, item, answer == "accept")
    except DomainError as exc:
        transaction.doom()
        flash(str(exc.message), "error")
    else:
        flash(_("Your answer is recorded."), "success")
    return redirect(url_for(".proposal", proposal_id=proposal_id))


#: how the states and steps of demands and proposals are named on pages (see web.templating)
LABELS = {
    "active": _l("Active"),
    "paused": _l("Paused"),
    "closed": _l("Closed"),
    "resumed": _l("resumed"),
    "proposed": _l("proposed"),
    "ordered": _l("ordered"),
    "declined": _l("declined"),
    "failed": _l("failed"),
    "buyer_accepted": _l("accepted by the buyer"),
    "buyer_declined": _l("declined by the buyer"),
    "cooperative_accepted": _l("accepted by the cooperative"),
    "cooperative_declined": _l("declined by the cooperative"),
}


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    for key, text in LABELS.items():
        templating.LABELS.setdefault(key, text)

    @app.context_processor
    def _matching() -> dict[str, Any]:
        return {"lot_matches": lot_matches, "reason_text": reason_text}
