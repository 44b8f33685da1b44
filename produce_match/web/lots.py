"""Pages: browse lots, a lot's page, post / edit / withdraw, my lots, photos."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from produce_match import policy, transaction
from produce_match.audit.operations import history
from produce_match.catalog import commodities, regions
from produce_match.errors import DomainError, ValidationFailed
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots import queries
from produce_match.lots.models import Lot, LotPhoto
from produce_match.market import operations as market
from produce_match.orders import queries as order_queries
from produce_match.orders.models import Order
from produce_match.rescue import queries as rescue_queries
from produce_match.search import params as search_params
from produce_match.search.pages import results_page
from produce_match.storage import send_photo
from produce_match.trust import reliability
from produce_match.units import MassUnit, amount_text, price_in, yuan_text
from produce_match.web.forms import province_choices, show_errors
from produce_match.web.forms.catalog import category_choices
from produce_match.web.forms.lots import LotForm
from produce_match.web.forms.orders import OrderForm, settlement_choices
from produce_match.web.pagecache import catalogue, keep_until, kept_for_visitors

bp = Blueprint("lots", __name__)


@bp.route("/lots")
@kept_for_visitors
def browse() -> Any:
    """The stranded lots: full-text search with filters, facets and sorting (no JavaScript)."""
    org = current_user.organisation if current_user.is_authenticated else None
    origin = (org.county.lat, org.county.lng) if org is not None and org.county else None
    try:
        parsed = search_params.parse(request.args, origin=origin)
    except ValidationFailed as exc:
        return render_template(
            "lots/list.html",
            page=None,
            errors=exc.fields,
            echo=request.args,
            provinces=catalogue("provinces", regions.provinces),
            price_in=_card_price_unit(),
        ), 400
    parsed.request.page = max(1, min(request.args.get("page", 1, type=int), 10000))
    page = results_page(parsed.request)
    return render_template(
        "lots/list.html",
        page=page,
        errors={},
        echo=parsed.echo,
        provinces=catalogue("provinces", regions.provinces),
        price_in=_card_price_unit(),
    )


def _card_price_unit() -> MassUnit:
    """The one unit the result cards show prices in, so that they can be compared: the
    visitor's choice, else the unit of their price filter, else 公斤."""
    for name in ("price_in", "price_unit"):
        wanted = request.args.get(name)
        if wanted in MassUnit.__members__:
            return MassUnit(wanted)
    return MassUnit.kg


def _price_unit_choice(lot: Lot) -> MassUnit:
    wanted = request.args.get("unit")
    return MassUnit(wanted) if wanted in MassUnit.__members__ else lot.price_unit


@bp.route("/lots/<int:lot_id>")
@kept_for_visitors
def detail(lot_id: int) -> Any:
    # loaded with what the page shows, held here: `load` finds it in the session
    loaded = queries.for_page(lot_id)
    lot = order_queries.as_of_now(policy.load(current_user, policy.VIEW, Lot, lot_id))
    del loaded
    user = current_user if current_user.is_authenticated else None
    if user is None:  # what is left changes when a reservation lapses: kept until then
        keep_until(order_queries.next_lapse(lot))
    return render_template(
        "lots/detail.html",
        lot=lot,
        unit=_price_unit_choice(lot),
        show_contact=policy.can(current_user, "view_contact", lot.cooperative),
        can_edit=policy.can(current_user, "edit", lot),
        events=history(lot) if policy.can(current_user, "view_history", lot) else [],
        can_order=policy.can(current_user, "create", Order),
        order_form=_order_form(lot),
        orders=order_queries.of_lot(lot, user) if user is not None else [],
        seller_reliability=reliability.figures_for(lot.cooperative_id).seller,
        **_rescue(lot),
    )


def _rescue(lot: Lot) -> dict[str, Any]:
    """The rescue box: the lot's step for its cooperative (to answer) and the office (to see);
    computed, never written, when the worker has not yet proposed it."""
    if not policy.can(current_user, "view_rescue", lot):
        return {"rescue": None}
    found = rescue_queries.of_lot(lot)
    answers = policy.can(current_user, "rescue", lot)
    price = found.figures.proposed_price_fen_per_t if found.figures is not None else None
    return {
        "rescue": found,
        "proposed_price_text": _price_text(price, lot.price_unit) if price else "",
        "can_rescue": answers,
        "donations": rescue_queries.donations_of(lot),
        "aid_recipients": rescue_queries.recipients() if answers else [],
    }


def _price_text(fen_per_t: int, unit: MassUnit) -> str:
    return f"{price_in(fen_per_t, unit):.2f}"


def _order_form(lot: Lot) -> OrderForm:
    form = OrderForm(
        formdata=None, unit=lot.quantity_unit.value, settlement=lot.default_settlement.value
    )
    form.settlement.choices = settlement_choices(lot)
    return form


def _input_from(form: LotForm) -> lots.LotInput:
    def value(field: Any) -> Any:
        return field.data if field.data not in ("",) else None

    return lots.LotInput(
        commodity=form.commodity.data,
        category=form.category.data or None,
        title=form.title.data or "",
        variety=form.variety.data or "",
        grade=form.grade.data or "",
        quantity=form.quantity.data,
        unit=form.unit.data,
        price=form.price.data,
        price_unit=form.price_unit.data,
        province=form.province.data or None,
        county=form.county.data or None,
        township=form.township.data or "",
        village=form.village.data or "",
        available_from=value(form.available_from),
        spoil_by=value(form.spoil_by),
        storage_notes=form.storage_notes.data or "",
        description=form.description.data or "",
        settlement_terms=form.settlement_terms.data or "on_delivery",
        holdback_percent=form.holdback_percent.data or "",
    )


def _uploaded_photos(form: LotForm) -> list[bytes]:
    return [f.read() for f in (form.photos.data or []) if f and getattr(f, "filename", "")]


def _render_form(
    form: LotForm, lot: Lot | None, status: int = 200, price_warning: str | None = None
) -> Any:
    province = form.province.data
    return render_template(
        "lots/form.html",
        form=form,
        lot=lot,
        commodities=commodities.all_active(),
        counties=regions.counties(province) if province else [],
        price_warning=price_warning,
    ), status


def _confirmed() -> bool:
    """The cooperative pressed "post at this price anyway" under the price warning."""
    return request.form.get("confirm_low_price") == "1"


@bp.route("/lots/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    policy.ensure(current_user, "create", Lot)
    org = current_user.organisation
    form = LotForm()
    form.province.choices = province_choices()
    form.category.choices = category_choices()
    if request.method == "GET":
        form.province.data = org.province_code
        form.county.data = org.county.name if org.county else ""
        form.township.data, form.village.data = org.township, org.village
    if form.validate_on_submit():
        try:
            lot = market.post_lot(current_user, org, _input_from(form), confirmed=_confirmed())
            for data in _uploaded_photos(form):
                lots.add_photo(current_user, lot, data)
        except market.PriceBelowReference as exc:
            transaction.doom()
            return _render_form(form, None, exc.status, str(exc.message))
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("Your lot is posted. Buyers can find it now."), "success")
            return redirect(url_for(".detail", lot_id=lot.id))
        return _render_form(form, None, 422)
    return _render_form(form, None, 422 if form.errors else 200)


@bp.route("/lots/<int:lot_id>/edit", methods=["GET", "POST"])
@login_required
def edit(lot_id: int) -> Any:
    lot = policy.load(current_user, "edit", Lot, lot_id)
    form = LotForm(obj=None)
    form.province.choices = province_choices()
    form.category.choices = category_choices()
    if request.method == "GET":
        _fill(form, lot)
    if form.validate_on_submit():
        try:
            market.edit_lot(current_user, lot, _input_from(form), confirmed=_confirmed())
            for data in _uploaded_photos(form):
                lots.add_photo(current_user, lot, data)
        except market.PriceBelowReference as exc:
            transaction.doom()
            return _render_form(form, lot, exc.status, str(exc.message))
        except DomainError as exc:
            show_errors(form, exc)
        else:
            flash(_("Your changes are saved."), "success")
            return redirect(url_for(".detail", lot_id=lot.id))
        return _render_form(form, lot, 422)
    return _render_form(form, lot, 422 if form.errors else 200)


def _fill(form: LotForm, lot: Lot) -> None:
    """Show the lot's values as the cooperative entered them."""
    form.commodity.data = lot.commodity_name or lot.commodity.display_name()
    form.category.data = lot.commodity.category.value if lot.commodity_name else ""
    form.quantity.data = amount_text(lot.quantity_g, lot.quantity_unit)
    form.unit.data = lot.quantity_unit.value
    form.price.data = yuan_text(lot.price_fen)
    form.price_unit.data = lot.price_unit.value
    form.title.data, form.variety.data, form.grade.data = lot.title, lot.variety, lot.grade
    form.province.data, form.county.data = lot.province_code, lot.county.name
    form.township.data, form.village.data = lot.township, lot.village
    form.available_from.data, form.spoil_by.data = lot.available_from, lot.spoil_by
    form.storage_notes.data, form.description.data = lot.storage_notes, lot.description
    form.settlement_terms.data = ",".join(s.value for s in lot.settlements)
    form.holdback_percent.data = str(lot.holdback_pct)


@bp.route("/lots/<int:lot_id>/withdraw", methods=["POST"])
@login_required
def withdraw(lot_id: int) -> Any:
    lot = policy.load(current_user, "withdraw", Lot, lot_id)
    lots.withdraw_lot(current_user, lot)
    flash(_("The lot is withdrawn. Buyers no longer see it."), "success")
    return redirect(url_for(".mine"))


@bp.route("/lots/<int:lot_id>/photos/<int:photo_id>/delete", methods=["POST"])
@login_required
def delete_photo(lot_id: int, photo_id: int) -> Any:
    lot = policy.load(current_user, "edit", Lot, lot_id)
    photo = db.session.get(LotPhoto, photo_id)
    if photo is None or photo.lot_id != lot.id:
        abort(404)
    lots.remove_photo(current_user, photo)
    flash(_("The photo is removed."), "success")
    return redirect(url_for(".edit", lot_id=lot.id))


@bp.route("/my/lots")
@login_required
def mine() -> Any:
    policy.ensure(current_user, "create", Lot)
    return render_template(
        "lots/mine.html", lots=queries.of_cooperative(current_user.organisation_id)
    )


@bp.route("/admin/catalog/uncatalogued")
@login_required
def uncatalogued() -> Any:
    """For administrators: produce posted under a category's "other", to add to the catalogue."""
    if not policy.admin_area(current_user):
        abort(404)
    return render_template("lots/uncatalogued.html", rows=queries.uncatalogued())


@bp.route("/media/<path:key>")
def media(key: str) -> Any:
    """Photos of lots. The key is a random name; what is served is always our own JPEG."""
    if not key.startswith("lots/") or not key.endswith(".jpg"):
        abort(404)
    return send_photo(key, private=False, max_age=30 * 24 * 3600)
