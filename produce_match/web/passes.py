"""Pages: ask for a transport pass (for an order's cargo or any shipment), my passes, a pass's
page with its timeline, the printable pass and the driver's phone version with the QR code, and
the public verification page that the QR code opens.

The verification page is public and shows nothing personal (no name, no phone, the plate
masked). It is never kept: neither by the page cache nor by any browser or proxy, so that a
revocation shows at the next scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from produce_match import policy
from produce_match.accounts.models import Organisation, Role
from produce_match.accounts.operations import PlaceInput
from produce_match.catalog import commodities, regions
from produce_match.catalog.models import Region
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.links import external_url
from produce_match.orders.models import Order
from produce_match.orders.permissions import order_party
from produce_match.passes import operations as passes
from produce_match.passes import queries
from produce_match.passes.models import (
    Checkpoint,
    PassScan,
    PassStatus,
    StepKind,
    TransportPass,
    WhitelistEntry,
)
from produce_match.passes.plates import mask_plate
from produce_match.storage import send_photo
from produce_match.web.forms import ActionForm, province_choices, show_errors
from produce_match.web.forms.passes import PassForm, StepForm
from produce_match.web.qr import qr_svg

bp = Blueprint("passes", __name__)

#: the form's fields that carry an operation's messages about a place
_ALIASES = {"origin": "origin_county", "destination": "dest_county"}


# --- what the templates read of a pass --------------------------------------------------------


def duration_text(minutes: int) -> str:
    """12 分钟, 2 小时 5 分钟: how long someone waited."""
    if minutes < 60:
        return _("%(m)d min", m=minutes)
    return _("%(h)d h %(m)d min", h=minutes // 60, m=minutes % 60)


def waiting_minutes(row: TransportPass, now: datetime | None = None) -> int:
    """How long a pending pass has waited so far."""
    return max(0, int(((now or utcnow()) - row.created_at).total_seconds() // 60))


def route_checkpoints(row: TransportPass) -> list[Checkpoint]:
    """The checkpoints a pass names, in its order."""
    if not row.route:
        return []
    found = {
        c.id: c for c in db.session.scalars(select(Checkpoint).where(Checkpoint.id.in_(row.route)))
    }
    return [found[i] for i in row.route if i in found]


def issuing_office(row: TransportPass) -> Organisation | None:
    """The office that approved the pass, or (while it waits) the origin county's office."""
    if row.decided_by is not None and row.decided_by.organisation is not None:
        return row.decided_by.organisation
    if row.whitelist_entry_id is not None:
        entry = db.session.get(WhitelistEntry, row.whitelist_entry_id)
        if entry is not None:
            return entry.office
    offices = db.session.scalars(
        select(Organisation)
        .where(Organisation.id.in_(passes.offices_covering(row.origin_county)))
        .order_by(Organisation.county_code.is_(None), Organisation.id)
    ).first()
    return offices


def step_photos(row: TransportPass, step: queries.Step) -> list[tuple[str, str]]:
    """(full, thumbnail) addresses of a timeline step's photos: an order's loading photos by
    the order's photo route, a pass's own by its own."""
    urls: list[tuple[str, str]] = []
    order_photos = {p.key: p for p in row.order.photos} if row.order is not None else {}
    scans = {s.photo_key: s for s in row.scans if s.photo_key}
    for key, _thumb in step.photos:
        if key in order_photos:
            photo = order_photos[key]
            urls.append(
                (
                    url_for("orders.photo", order_id=row.order_id, photo_id=photo.id, size="full"),
                    url_for("orders.photo", order_id=row.order_id, photo_id=photo.id, size="thumb"),
                )
            )
        elif key in scans:
            urls.append(scan_photos(scans[key]))
    return urls


def scan_photos(scan: PassScan) -> tuple[str, str]:
    return (
        url_for("passes.photo", pass_id=scan.pass_id, scan_id=scan.id, size="full"),
        url_for("passes.photo", pass_id=scan.pass_id, scan_id=scan.id, size="thumb"),
    )


def order_passes(order: Order) -> list[TransportPass]:
    """The passes asked for an order's cargo, newest first."""
    return list(
        db.session.scalars(
            select(TransportPass)
            .where(TransportPass.order_id == order.id)
            .order_by(TransportPass.created_at.desc(), TransportPass.id.desc())
        )
    )


def may_apply_for(order: Order) -> bool:
    """Is the viewer a party (cooperative or buyer) who may ask for a pass for the order now?"""
    return (
        current_user.is_authenticated
        and current_user.role in (Role.cooperative, Role.buyer)
        and order_party(current_user, order) is not None
        and passes.order_passable(order)
    )


# --- applying --------------------------------------------------------------------------------


def _checkpoint_groups() -> list[tuple[Organisation, list[Checkpoint]]]:
    """The checkpoints in use, by office (the route's choices)."""
    groups: dict[int, tuple[Organisation, list[Checkpoint]]] = {}
    rows = db.session.scalars(
        select(Checkpoint)
        .where(Checkpoint.retired_at.is_(None))
        .order_by(
            Checkpoint.province_code, Checkpoint.county_code, Checkpoint.office_id, Checkpoint.name
        )
    )
    for checkpoint in rows:
        groups.setdefault(checkpoint.office_id, (checkpoint.office, []))[1].append(checkpoint)
    return list(groups.values())


def _order_of(ident: Any) -> Order | None:
    """The order named by ?order=, if the viewer may ask for a pass for it (404/403 if not)."""
    if ident in (None, ""):
        return None
    try:
        order_id = int(ident)
    except (TypeError, ValueError):
        abort(404)
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    if (
        current_user.role not in (Role.cooperative, Role.buyer)
        or order_party(current_user, order) is None
    ):
        raise Forbidden()
    return order


def _province_code(name: str | None) -> str:
    province, _county = regions.find_place(name, None)
    return province.code if province is not None else ""


def _fill(form: PassForm, data: passes.PassInput) -> None:
    form.plate.data = data.plate or ""
    form.driver_phone.data = data.driver_phone or ""
    form.origin_province.data = _province_code(data.origin.province)
    form.origin_county.data = data.origin.county or ""
    form.dest_province.data = _province_code(data.destination.province)
    form.dest_county.data = data.destination.county or ""
    form.valid_from.data = str(data.valid_from or "")
    form.valid_until.data = str(data.valid_until or "")
    commodity = commodities.resolve(data.commodity)
    form.commodity.data = commodity.display_name() if commodity is not None else ""
    form.quantity.data = data.quantity or ""
    form.unit.data = getattr(data.unit, "value", data.unit) or "t"


def _input(form: PassForm) -> passes.PassInput:
    return passes.PassInput(
        plate=form.plate.data,
        driver_name=form.driver_name.data,
        driver_phone=form.driver_phone.data,
        origin=PlaceInput(
            province=form.origin_province.data or None, county=form.origin_county.data or None
        ),
        destination=PlaceInput(
            province=form.dest_province.data or None, county=form.dest_county.data or None
        ),
        route=form.route.data or [],
        valid_from=form.valid_from.data or None,
        valid_until=form.valid_until.data or None,
        commodity=form.commodity.data,
        quantity=form.quantity.data,
        unit=form.unit.data,
    )


def _counties(province: str | None) -> list[Region]:
    return regions.counties(province) if province else []


@bp.route("/passes/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    """The application: a pass for an order's cargo (its route ends and commodity fixed), or
    for any shipment."""
    policy.ensure(current_user, "create", TransportPass)
    order = _order_of(request.args.get("order"))
    if order is not None and not passes.order_passable(order):
        flash(
            _(
                "A pass is asked for once the order is paid (or accepted, if it is paid on "
                "loading), and before it is delivered."
            ),
            "error",
        )
        return redirect(url_for("orders.detail", order_id=order.id))
    form = PassForm()
    form.origin_province.choices = province_choices()
    form.dest_province.choices = province_choices()
    fixed = passes.prefill(order) if order is not None else None
    status = 200
    if request.method == "GET":
        if fixed is not None:
            _fill(form, fixed)
        else:
            org = current_user.organisation
            if org is not None and org.province_code:
                form.origin_province.data = org.province_code
                form.origin_county.data = org.county.name if org.county else ""
            today = local_today()
            form.valid_from.data = today.isoformat()
            form.valid_until.data = (today + timedelta(days=2)).isoformat()
    elif form.validate_on_submit():
        try:
            row = passes.apply(current_user, _input(form), order=order)
        except DomainError as exc:
            show_errors(form, exc, _ALIASES)
            status = exc.status
        else:
            if row.status is PassStatus.approved:
                flash(
                    _(
                        "Pass %(number)s approved at once: you are on a whitelist.",
                        number=row.number,
                    ),
                    "success",
                )
            else:
                flash(
                    _(
                        "Pass %(number)s asked for. The officials of the origin county are told.",
                        number=row.number,
                    ),
                    "success",
                )
            return redirect(url_for(".detail", pass_id=row.id))
    else:
        flash(_("Please correct the marked fields."), "error")
        status = 422
    return render_template(
        "passes/new.html",
        form=form,
        order=order,
        fixed=fixed,
        groups=_checkpoint_groups(),
        chosen={str(i) for i in (form.route.data or [])},
        origin_counties=_counties(form.origin_province.data),
        dest_counties=_counties(form.dest_province.data),
        commodities=commodities.all_active(),
    ), status


# --- lists and pages -------------------------------------------------------------------------


@bp.route("/passes")
@login_required
def index() -> Any:
    """My passes (applicants); officials are sent on to their office's queue."""
    policy.ensure(current_user, "list", TransportPass)
    rows = []
    if current_user.role in (Role.cooperative, Role.buyer, Role.haulier):
        rows = list(db.session.scalars(queries.visible_passes(current_user).limit(200)))
    return render_template("passes/index.html", passes=rows, now=utcnow())


def _load(pass_id: int, action: str = policy.VIEW) -> TransportPass:
    return policy.load(current_user, action, TransportPass, pass_id)


def _render_detail(row: TransportPass, step_form: StepForm | None = None, status: int = 200) -> Any:
    return render_template(
        "passes/detail.html",
        tpass=row,
        checkpoints=route_checkpoints(row),
        verdict=queries.verdict(row),
        reason=queries.verdict_reason(row),
        office=issuing_office(row),
        can_withdraw=policy.can(current_user, "withdraw", row)
        and row.status in (PassStatus.pending, PassStatus.approved),
        can_step=policy.can(current_user, "record_step", row) and row.status is PassStatus.approved,
        step_form=step_form or StepForm(),
        action_form=ActionForm(),
        now=utcnow(),
    ), status


@bp.route("/passes/<int:pass_id>")
@login_required
def detail(pass_id: int) -> Any:
    return _render_detail(_load(pass_id))


@bp.post("/passes/<int:pass_id>/withdraw")
@login_required
def withdraw(pass_id: int) -> Any:
    row = _load(pass_id)
    policy.ensure(current_user, "withdraw", row)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        passes.withdraw(current_user, row)
    except DomainError as exc:
        show_errors(form, exc)
        return _render_detail(db.session.get(TransportPass, pass_id), status=exc.status)
    flash(_("Pass %(number)s withdrawn.", number=row.number), "success")
    return redirect(url_for(".detail", pass_id=row.id))


@bp.post("/passes/<int:pass_id>/steps")
@login_required
def record_step(pass_id: int) -> Any:
    """The loading or the delivery of a pass without an order, with an optional photo."""
    row = _load(pass_id)
    policy.ensure(current_user, "record_step", row)
    form = StepForm()
    if form.validate_on_submit():
        upload = form.photo.data
        photo = upload.read() if upload and getattr(upload, "filename", "") else None
        try:
            passes.record_step(current_user, row, form.kind.data or "", photo=photo)
        except DomainError as exc:
            show_errors(form, exc)
            return _render_detail(db.session.get(TransportPass, pass_id), form, exc.status)
        done = (
            _("Loading recorded.")
            if form.kind.data == StepKind.loading.value
            else _("Delivery recorded.")
        )
        flash(done, "success")
        return redirect(url_for(".detail", pass_id=row.id))
    flash(_("Please correct the marked fields."), "error")
    return _render_detail(row, form, 422)


@bp.route("/passes/<int:pass_id>/photos/<int:scan_id>/<any(full, thumb):size>.jpg")
@login_required
def photo(pass_id: int, scan_id: int, size: str) -> Any:
    """A pass's own photos (the loading, the plate at a checkpoint): for who may see the pass."""
    row = _load(pass_id)
    scan = db.session.get(PassScan, scan_id)
    if scan is None or scan.pass_id != row.id or not scan.photo_key:
        abort(404)
    key = scan.photo_key if size == "full" else (scan.thumb_key or scan.photo_key)
    if not key.startswith(f"passes/{row.id}/"):
        abort(404)
    return send_photo(key, private=True)


def _verify_url(row: TransportPass) -> str:
    return external_url("passes.verify", code=row.code)


@bp.route("/passes/<int:pass_id>/print")
@login_required
def print_pass(pass_id: int) -> Any:
    """The printable pass: A4 or A5, the QR code that opens the verification page."""
    row = _load(pass_id)
    url = _verify_url(row)
    return render_template(
        "passes/print.html",
        tpass=row,
        qr=qr_svg(url),
        verify_url=url,
        verdict=queries.verdict(row),
        reason=queries.verdict_reason(row),
        checkpoints=route_checkpoints(row),
        office=issuing_office(row),
    )


@bp.route("/passes/<int:pass_id>/show")
@login_required
def show(pass_id: int) -> Any:
    """The driver's phone version: the QR code full screen, to be shown at a checkpoint."""
    row = _load(pass_id)
    url = _verify_url(row)
    return render_template(
        "passes/show.html",
        tpass=row,
        qr=qr_svg(url),
        verify_url=url,
        verdict=queries.verdict(row),
        reason=queries.verdict_reason(row),
    )


def _never_kept(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.route("/v/<code>")
def verify(code: str) -> Any:
    """Public: is this pass valid now? What a checkpoint needs, nothing personal. Never kept
    (not by the page cache: no `kept_for_visitors`; not by browsers: no-store)."""
    row = queries.by_code(code)
    if row is None:
        return _never_kept(make_response(render_template("passes/verify_unknown.html"), 404))
    html = render_template(
        "passes/verify.html",
        tpass=row,
        verdict=queries.verdict(row),
        reason=queries.verdict_reason(row),
        masked_plate=mask_plate(row.plate),
    )
    return _never_kept(make_response(html))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(queries.timeline, "pass_timeline")
    app.add_template_global(step_photos, "pass_step_photos")
    app.add_template_global(scan_photos, "pass_scan_photos")
    app.add_template_global(waiting_minutes, "pass_waiting_minutes")
    app.add_template_global(duration_text, "duration_text")
    app.add_template_global(order_passes, "order_passes")
    app.add_template_global(may_apply_for, "may_apply_for_pass")
