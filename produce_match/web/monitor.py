"""Pages of the officials' area (/monitor/...): dashboard, lots at risk, deals, the problem
ledger, reference prices and exports. Cooperatives and buyers get 404 here, except a
cooperative's own ledger entries."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from produce_match import policy, transaction
from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.audit.operations import history
from produce_match.catalog import regions
from produce_match.catalog.models import Commodity, Region
from produce_match.dates import local_today
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.monitor import charts, export_jobs, operations, queries
from produce_match.monitor.models import (
    Problem,
    ProblemCategory,
    ProblemPhoto,
    ProblemStatus,
)
from produce_match.orders.models import Order, OrderStatus
from produce_match.passes import figures as pass_figures
from produce_match.storage import send_photo
from produce_match.units import format_mass, format_money
from produce_match.web.forms import ActionForm
from produce_match.web.templating import commodity_name

bp = Blueprint("monitor", __name__, url_prefix="/monitor")


def _overseer() -> None:
    """The officials' area is not there for anyone else (404, as if it did not exist)."""
    if not policy.overseer(current_user):
        abort(404)


def _scope() -> queries.Scope:
    return queries.resolve_scope(
        current_user, request.args.get("province") or None, request.args.get("county") or None
    )


def _period() -> queries.Period:
    return queries.parse_period(request.args.get("from"), request.args.get("to"))


def _place_args(scope: queries.Scope, period: queries.Period | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if scope.province_code:
        args["province"] = scope.province_code
    if scope.county_code:
        args["county"] = scope.county_code
    if period is not None:
        args["from"], args["to"] = period.start.isoformat(), period.end.isoformat()
    return args


def _common(scope: queries.Scope) -> dict[str, Any]:
    return {
        "scope": scope,
        "where": scope.name or _("everywhere"),
        "county_choices": queries.county_choices(current_user, scope),
        "provinces": regions.provinces() if current_user.is_admin else [],
    }


#: lots spoiling within 7 days listed on the dashboard (the soonest; the rest on /at-risk)
DASHBOARD_AT_RISK = 50


@bp.route("/")
@login_required
def dashboard() -> Any:
    _overseer()
    scope, period = _scope(), _period()
    figures = queries.figures(scope, period, at_risk_limit=DASHBOARD_AT_RISK)
    lang_mass = lambda g: format_mass(g, None, _lang())  # noqa: E731
    flow = [
        (_("Quantity ordered"), figures.g_ordered, lang_mass(figures.g_ordered)),
        (_("Quantity paid for"), figures.g_paid, lang_mass(figures.g_paid)),
        (_("Quantity dispatched"), figures.g_dispatched, lang_mass(figures.g_dispatched)),
        (_("Quantity delivered"), figures.g_delivered, lang_mass(figures.g_delivered)),
    ]
    commodity_rows = [
        (r.commodity.display_name(), r.g_open, lang_mass(r.g_open)) for r in figures.by_commodity
    ]
    place_rows = [
        (r.name, r.paid_out_fen, format_money(r.paid_out_fen, _lang())) for r in figures.by_place
    ]
    return render_template(
        "monitor/dashboard.html",
        f=figures,
        period=period,
        args=_place_args(scope, period),
        args_place=_place_args(scope),
        flow_chart=charts.bar_chart(flow, title=_("Moved in the period")),
        commodity_chart=charts.bar_chart(commodity_rows, title=_("Stranded by commodity")),
        place_chart=charts.bar_chart(place_rows, title=_("Paid out by township and village")),
        **_common(scope),
    )


def _lang() -> str:
    from produce_match.i18n import current_language

    return current_language()


#: lots on one page of the lots at risk (each is matched against every demand: a province has
#: hundreds, and the soonest to spoil come first)
AT_RISK_PER_PAGE = 50


@bp.route("/at-risk")
@login_required
def at_risk() -> Any:
    _overseer()
    scope = _scope()
    lots = queries.OpenLots(scope)  # counted and paged in the database, soonest to spoil first
    total = lots.count()
    pages = max(1, -(-total // AT_RISK_PER_PAGE))
    page = min(max(1, request.args.get("page", 1, type=int)), pages)
    return render_template(
        "monitor/at_risk.html",
        items=queries.at_risk_of(lots.page(page, AT_RISK_PER_PAGE)),
        total=total,
        page=page,
        pages=pages,
        args=_place_args(scope),
        flag_days=queries.FLAG_DAYS,
        can_propose=lambda lot: policy.can(current_user, "propose", lot),
        **_common(scope),
    )


def _deal_filters(period: queries.Period | None) -> queries.DealFilters:
    return queries.DealFilters(
        status=request.args.get("status") or None,
        commodity_id=request.args.get("commodity", type=int),
        place=request.args.get("place") or None,
        period=period,
    )


def _deal_period() -> queries.Period | None:
    if request.args.get("from") or request.args.get("to"):
        return _period()
    return None


@bp.route("/deals")
@login_required
def deals() -> Any:
    _overseer()
    scope = _scope()
    period = _deal_period()
    filters = _deal_filters(period)
    orders = queries.deals(scope, filters)
    refs = queries.References(scope)
    args = _place_args(scope)
    args.update({k: v for k, v in request.args.items() if k not in args and v})
    return render_template(
        "monitor/deals.html",
        orders=orders,
        refs=refs,
        premium=queries.premium_percent,
        filters=filters,
        statuses=list(OrderStatus),
        commodities=list(db.session.scalars(db.select(Commodity).order_by(Commodity.id))),
        args=args,
        **_common(scope),
    )


@bp.route("/deals/<int:order_id>")
@login_required
def deal(order_id: int) -> Any:
    _overseer()
    order = policy.load(current_user, "view_history", Order, order_id)
    refs = queries.References(
        queries.Scope(order.lot.province_code, order.lot.county_code, order.lot.county.name)
    )
    events = history(order)
    actors = {
        u.id: u
        for u in db.session.scalars(
            db.select(User).where(User.id.in_({e.actor_id for e in events if e.actor_id}))
        )
    }
    return render_template(
        "monitor/deal.html",
        order=order,
        events=events,
        actors=actors,
        entries=queries.ledger_of([order.id]).get(order.id, []),
        ref=refs.for_order(order),
        premium=queries.premium_percent,
    )


# --- transport passes -------------------------------------------------------------------------

#: vehicles listed on the passes page (the late first): a county has a few dozen on the road
ROAD_LIMIT = 200


def _pass_url(pass_id: int) -> str | None:
    """The pass's own page, where the pages of passes are served."""
    if "passes.detail" not in current_app.view_functions:
        return None
    return url_for("passes.detail", pass_id=pass_id)


@bp.route("/passes")
@login_required
def passes() -> Any:
    """Transport passes of the place over the period: the decisions, per county of origin,
    and the vehicles on the road (the late first); exports of the passes."""
    _overseer()
    scope, period = _scope(), _period()
    road = pass_figures.on_the_road(scope, limit=ROAD_LIMIT)
    return render_template(
        "monitor/passes.html",
        f=pass_figures.pass_figures(scope, period),
        road=road,
        road_limit=ROAD_LIMIT,
        overdue=pass_figures.is_overdue,
        pass_url=_pass_url,
        period=period,
        args=_place_args(scope, period),
        args_place=_place_args(scope),
        **_common(scope),
    )


@bp.route("/reliability")
@login_required
def reliability() -> Any:
    """The cooperatives and buyers of the place with their reliability figures."""
    _overseer()
    scope = _scope()
    sort = request.args.get("sort", "name")
    if sort not in queries.RELIABILITY_SORTS:
        sort = "name"
    return render_template(
        "monitor/reliability.html",
        rows=queries.reliability_of_place(scope, sort),
        sort=sort,
        limit=queries.RELIABILITY_LIMIT,
        args=_place_args(scope),
        **_common(scope),
    )


# --- the problem ledger -----------------------------------------------------------------------


def _is_cooperative() -> bool:
    return current_user.role is Role.cooperative and current_user.organisation is not None


@bp.route("/problems")
@login_required
def problems() -> Any:
    if _is_cooperative():
        return render_template(
            "monitor/problems.html",
            problems=queries.problems_of(current_user.organisation_id),
            own=True,
            args={},
            categories=list(ProblemCategory),
            statuses=list(ProblemStatus),
        )
    _overseer()
    scope = _scope()
    items = queries.problems(scope, request.args.get("status"), request.args.get("category"))
    return render_template(
        "monitor/problems.html",
        problems=items,
        own=False,
        args=_place_args(scope),
        categories=list(ProblemCategory),
        statuses=list(ProblemStatus),
        figures=queries.figures(scope, _period(), at_risk_limit=0),
        **_common(scope),
    )


def _cooperatives_for_form(scope: queries.Scope) -> list[Organisation]:
    query = db.select(Organisation).where(
        Organisation.kind == OrgKind.cooperative,
        *scope.holds(Organisation.province_code, Organisation.county_code),
    )
    return list(db.session.scalars(query.order_by(Organisation.name)))


@bp.route("/problems/new", methods=["GET", "POST"])
@login_required
def new_problem() -> Any:
    if not _is_cooperative():
        _overseer()
    policy.ensure(current_user, "create", Problem)
    lot_id = request.values.get("lot_id", type=int)
    lot = db.session.get(Lot, lot_id) if lot_id else None
    if lot is not None and not policy.can(current_user, policy.VIEW, lot):
        abort(404)
    if _is_cooperative():
        cooperatives = [current_user.organisation]
        lots = list(
            db.session.scalars(
                db.select(Lot)
                .where(Lot.cooperative_id == current_user.organisation_id)
                .order_by(Lot.id.desc())
            )
        )
    else:
        scope = _scope()
        cooperatives = _cooperatives_for_form(scope)
        lots = [lot] if lot else []
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        org = db.session.get(Organisation, request.form.get("cooperative_id", type=int) or 0)
        if lot is not None:
            org = lot.cooperative
        if org is None or org.kind is not OrgKind.cooperative:
            abort(404)
        photos = [f.read() for f in request.files.getlist("photos") if f and f.filename]
        try:
            problem = operations.raise_problem(
                current_user,
                org,
                request.form.get("category", ""),
                request.form.get("description", ""),
                lot=lot,
                photos=photos,
            )
        except DomainError as exc:
            transaction.doom()
            errors = {k: [str(m) for m in v] for k, v in (exc.fields or {}).items()}
            flash(str(exc.message), "error")
        else:
            flash(_("The problem is entered in the ledger."), "success")
            return redirect(url_for(".problem", problem_id=problem.id))
    return render_template(
        "monitor/problem_new.html",
        lot=lot,
        lots=lots,
        cooperatives=cooperatives,
        categories=list(ProblemCategory),
        errors=errors,
        form=request.form,
    )


@bp.route("/problems/<int:problem_id>")
@login_required
def problem(problem_id: int) -> Any:
    item = policy.load(current_user, policy.VIEW, Problem, problem_id)
    scope = queries.Scope(item.province_code, item.county_code, "")
    officials = queries.overseers_of(scope) if policy.can(current_user, "assign", item) else []
    steps = queries.ledger_history(item)
    actors = {
        u.id: u
        for u in db.session.scalars(
            db.select(User).where(User.id.in_({e.actor_id for e in steps if e.actor_id}))
        )
    }
    superseded = [s for s in steps if s.superseded]
    words = {s.value: s.label for s in ProblemStatus} | {
        "raised": _("raised"),
        "assigned": _("assigned"),
        "followed_up": _("followed up"),
        "closed": _("closed off (销号)"),
        "reopened": _("reopened"),
    }
    return render_template(
        "monitor/problem.html",
        problem=item,
        words=words,
        officials=officials,
        steps=steps,
        earlier_outcome=superseded[-1] if superseded else None,
        actors=actors,
    )


@bp.post("/problems/<int:problem_id>/<any(assign, follow_up, close, reopen):step>")
@login_required
def problem_step(problem_id: int, step: str) -> Any:
    item = policy.load(current_user, step, Problem, problem_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if step == "assign":
            assignee = db.session.get(User, request.form.get("assignee_id", type=int) or 0)
            if assignee is None:
                abort(400)
            operations.assign(current_user, item, assignee)
        elif step == "follow_up":
            operations.follow_up(current_user, item, request.form.get("note", ""))
        elif step == "close":
            operations.close(current_user, item, request.form.get("outcome", ""))
        else:
            operations.reopen(current_user, item, request.form.get("reason", ""))
    except DomainError as exc:
        transaction.doom()
        flash(str(exc.message), "error")
    else:
        flash(_("The ledger entry is updated."), "success")
    return redirect(url_for(".problem", problem_id=problem_id))


@bp.route("/problems/<int:problem_id>/photos/<int:photo_id>")
@login_required
def problem_photo(problem_id: int, photo_id: int) -> Any:
    item = policy.load(current_user, policy.VIEW, Problem, problem_id)
    photo = db.session.get(ProblemPhoto, photo_id)
    if photo is None or photo.problem_id != item.id:
        abort(404)
    return send_photo(photo.thumb_key if request.args.get("thumb") else photo.key, private=True)


# --- reference prices -------------------------------------------------------------------------


@bp.route("/prices", methods=["GET", "POST"])
@login_required
def prices() -> Any:
    _overseer()
    scope = _scope()
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        upload = request.files.get("file")
        try:
            if upload is not None and upload.filename:
                rows = operations.price_rows(upload.filename, upload.read())
            else:
                rows = [request.form.to_dict()]
            count = operations.import_reference_prices(current_user, rows)
        except DomainError as exc:
            transaction.doom()
            flash(str(exc.message), "error")
        else:
            flash(_("%(n)d reference prices recorded.", n=count), "success")
        return redirect(url_for(".prices", **_place_args(scope)))
    return render_template(
        "monitor/prices.html",
        rows=queries.reference_prices(scope),
        args=_place_args(scope),
        counties=queries.county_choices(current_user, scope)
        or ([db.session.get(Region, scope.county_code)] if scope.county_code else []),
        today=local_today(),
        **_common(scope),
    )


# --- exports ----------------------------------------------------------------------------------


@bp.post("/exports")
@login_required
def request_export() -> Any:
    """Ask for an export (the pages' export buttons): a job, built by the worker."""
    _overseer()
    if not ActionForm().validate_on_submit():
        abort(400)
    # bad filters (a date out of range, a place outside the jurisdiction) answer as the pages
    # do: the error page in the user's language, nothing written
    job = export_jobs.request_export(
        current_user,
        request.form.get("kind", ""),
        request.form.get("fmt", ""),
        request.form,
        _lang(),
    )
    return redirect(url_for(".export_job", job_id=job.id))


@bp.route("/exports")
@login_required
def export_jobs_page() -> Any:
    """The official's latest exports."""
    _overseer()
    jobs = export_jobs.recent_jobs(current_user)
    return render_template(
        "monitor/exports.html",
        jobs=jobs,
        refresh=any(export_jobs.is_unfinished(j) for j in jobs),
    )


def _filter_words(job: Any) -> list[tuple[str, str]]:
    """An export's filters as an official reads them: names of places, of states, of produce."""
    f = job.filters or {}
    words: list[tuple[str, str]] = []
    place = [
        region.name
        for code in (f.get("province"), f.get("county"))
        if code and (region := db.session.get(Region, code)) is not None
    ]
    if place:
        words.append((_("Place"), " ".join(place)))
    if f.get("from") or f.get("to"):
        words.append(
            (_("Dates"), _("%(start)s to %(end)s", start=f.get("from", "…"), end=f.get("to", "…")))
        )
    if status := f.get("status"):
        states = ProblemStatus if job.kind == "problems" else OrderStatus
        words.append((_("Status"), str(states(status).label) if status in set(states) else status))
    if (commodity_id := f.get("commodity")) and str(commodity_id).isdigit():
        commodity = db.session.get(Commodity, int(commodity_id))
        if commodity is not None:
            words.append((_("Commodity"), commodity_name(commodity)))
    if category := f.get("category"):
        label = ProblemCategory(category).label if category in set(ProblemCategory) else category
        words.append((_("Category"), str(label)))
    if place_text := f.get("place"):
        words.append((_("Township or village"), place_text))
    return words


@bp.route("/exports/<int:job_id>")
@login_required
def export_job(job_id: int) -> Any:
    """One export: its progress (the page refreshes itself until it is built), then its file."""
    job = export_jobs.visible_job(current_user, job_id)
    return render_template(
        "monitor/export.html",
        job=job,
        filters=_filter_words(job),
        refresh=export_jobs.is_unfinished(job),
    )


@bp.route("/exports/<int:job_id>/download")
@login_required
def export_download(job_id: int) -> Any:
    job = export_jobs.visible_job(current_user, job_id)
    return Response(
        export_jobs.file_of(job),
        mimetype=export_jobs.MIMETYPES[job.fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{job.filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
