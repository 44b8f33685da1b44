"""Pages: my demands, register / edit / pause / resume / close one, a demand with its lots."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from produce_match import policy
from produce_match.audit.operations import history
from produce_match.catalog import commodities, regions
from produce_match.dates import local_today
from produce_match.demands import operations as demands
from produce_match.demands.forms import DemandForm, DigestForm
from produce_match.demands.models import Demand, DemandStatus
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.forms import ActionForm, province_choices, show_errors
from produce_match.matching import alerts, queries
from produce_match.matching.words import reason_text
from produce_match.units import amount_text, yuan_text
from produce_match.web import transaction

bp = Blueprint("demands", __name__)


@bp.route("/demands")
@login_required
def mine() -> Any:
    policy.ensure(current_user, "create", Demand)
    rows = db.session.scalars(
        select(Demand)
        .where(Demand.buyer_org_id == current_user.organisation_id)
        .order_by(Demand.status, Demand.needed_by, Demand.id)
    ).all()
    digest = DigestForm(daily_digest=alerts.wants_digest(current_user))
    return render_template("demands/mine.html", demands=rows, digest=digest)


@bp.post("/demands/alerts")
@login_required
def set_alerts() -> Any:
    policy.ensure(current_user, "create", Demand)
    form = DigestForm()
    if form.validate_on_submit():
        alerts.set_digest(current_user, bool(form.daily_digest.data))
        flash(_("Your choice is saved."), "success")
    return redirect(url_for(".mine"))


def _input(form: DemandForm) -> demands.DemandInput:
    return demands.DemandInput(
        commodity=form.commodity.data,
        grades=form.grades.data or "",
        min_quantity=form.min_quantity.data,
        max_quantity=form.max_quantity.data,
        unit=form.unit.data,
        max_price=form.max_price.data,
        price_unit=form.price_unit.data,
        province=form.province.data or None,
        county=form.county.data or None,
        needed_by=form.needed_by.data or "",
        max_distance_km=form.max_distance_km.data or "",
        notes=form.notes.data or "",
    )


def _render_form(form: DemandForm, demand: Demand | None, status: int = 200) -> Any:
    return render_template(
        "demands/form.html",
        form=form,
        demand=demand,
        commodities=commodities.all_active(),
        counties=regions.counties(form.province.data) if form.province.data else [],
    ), status


@bp.route("/demands/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    policy.ensure(current_user, "create", Demand)
    org = current_user.organisation
    form = DemandForm()
    form.province.choices = province_choices()
    if request.method == "GET":
        form.province.data = org.province_code
        form.county.data = org.county.name if org.county else ""
    if form.validate_on_submit():
        try:
            demand = demands.create_demand(current_user, org, _input(form))
        except DomainError as exc:
            show_errors(form, exc)
        else:
            flash(_("Your demand is registered. Fitting lots are listed below."), "success")
            return redirect(url_for(".detail", demand_id=demand.id))
        return _render_form(form, None, 422)
    return _render_form(form, None, 422 if form.errors else 200)


@bp.route("/demands/<int:demand_id>/edit", methods=["GET", "POST"])
@login_required
def edit(demand_id: int) -> Any:
    demand = policy.load(current_user, "edit", Demand, demand_id)
    form = DemandForm()
    form.province.choices = province_choices()
    if request.method == "GET":
        form.commodity.data = demand.commodity.display_name()
        form.grades.data = demand.grades_text
        form.min_quantity.data = amount_text(demand.min_quantity_g, demand.quantity_unit)
        form.max_quantity.data = amount_text(demand.max_quantity_g, demand.quantity_unit)
        form.unit.data = demand.quantity_unit.value
        form.max_price.data = yuan_text(demand.max_price_fen)
        form.price_unit.data = demand.price_unit.value
        form.province.data, form.county.data = demand.province_code, demand.county.name
        form.needed_by.data = demand.needed_by
        form.max_distance_km.data = str(demand.max_distance_km or "")
        form.notes.data = demand.notes
    if form.validate_on_submit():
        data = _input(form)
        if form.needed_by.data == demand.needed_by:
            data.needed_by = None  # unchanged: a date that has passed since may stay
        try:
            demands.update_demand(current_user, demand, data)
        except DomainError as exc:
            show_errors(form, exc)
        else:
            flash(_("Your changes are saved."), "success")
            return redirect(url_for(".detail", demand_id=demand.id))
        return _render_form(form, demand, 422)
    return _render_form(form, demand, 422 if form.errors else 200)


@bp.post("/demands/<int:demand_id>/<any(pause, resume, close):action>")
@login_required
def move(demand_id: int, action: str) -> Any:
    demand = policy.load(current_user, action, Demand, demand_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        demands.move(current_user, demand, action)
    except DomainError as exc:
        transaction.doom()
        flash(str(exc.message), "error")
    else:
        flash(
            {
                "pause": _("The demand is paused: no matches or alerts until you resume it."),
                "resume": _("The demand is active again."),
                "close": _("The demand is closed."),
            }[action],
            "success",
        )
    return redirect(url_for(".detail", demand_id=demand.id))


@bp.route("/demands/<int:demand_id>")
@login_required
def detail(demand_id: int) -> Any:
    demand = policy.load(current_user, policy.VIEW, Demand, demand_id)
    found = (
        queries.matches_for_demand(demand)
        if demand.status is DemandStatus.active and policy.can(current_user, "view_matches", demand)
        else []
    )
    return render_template(
        "demands/detail.html",
        demand=demand,
        matches=found,
        reason_text=reason_text,
        today=local_today(),
        can_edit=policy.can(current_user, "edit", demand),
        events=history(demand) if policy.can(current_user, "view_history", demand) else [],
    )
