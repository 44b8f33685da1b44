"""Pages: order a lot, my orders, an order's page with its next steps, the printable delivery
note with its QR code, the public tracking page, and the order's photos."""

from __future__ import annotations

from datetime import datetime
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
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select

from produce_match import policy, transaction
from produce_match.audit.operations import history
from produce_match.catalog import regions
from produce_match.catalog.models import Region
from produce_match.dates import local_instant
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.market import operations as market
from produce_match.orders import operations as orders
from produce_match.orders import queries
from produce_match.orders.models import (
    BEFORE_DISPATCH,
    Order,
    OrderAction,
    OrderPhoto,
    OrderStatus,
    Party,
    actions_from,
)
from produce_match.orders.models import parties as parties_for_move
from produce_match.orders.permissions import order_party
from produce_match.storage import send_photo
from produce_match.units import UnitError, amount_text, to_grams
from produce_match.web.forms import ActionForm, province_choices, show_errors
from produce_match.web.forms.orders import (
    DeliveryAddressForm,
    DeliveryForm,
    DispatchForm,
    DisputeForm,
    OrderForm,
    PhotosForm,
    ReasonForm,
    ResolveForm,
    settlement_choices,
)
from produce_match.web.qr import qr_svg

bp = Blueprint("orders", __name__)

A = OrderAction

#: the steps people take from an order's page: URL word -> action, and the form each needs
STEPS: dict[str, OrderAction] = {
    "accept": A.accept,
    "reject": A.reject,
    "cancel": A.cancel,
    "dispatch": A.dispatch,
    "confirm-delivery": A.confirm_delivery,
    "dispute": A.dispute,
    "resolve": A.resolve,
}
FORMS: dict[OrderAction, type[FlaskForm]] = {
    A.accept: ActionForm,
    A.reject: ReasonForm,
    A.cancel: ReasonForm,
    A.dispatch: DispatchForm,
    A.confirm_delivery: DeliveryForm,
    A.dispute: DisputeForm,
    A.resolve: ResolveForm,
}
SLUGS = {action: slug for slug, action in STEPS.items()}


def _uploads(form: FlaskForm) -> list[bytes]:
    field = getattr(form, "photos", None)
    return (
        [f.read() for f in (field.data or []) if f and getattr(f, "filename", "")] if field else []
    )


def _taken_at(form: DispatchForm | PhotosForm, order: Order) -> datetime | None:
    """The time typed on the form is the wall clock where the lot is."""
    return local_instant(form.taken_at.data, order.lot.timezone) if form.taken_at.data else None


def _run(action: OrderAction, form: Any, order: Order) -> str:
    """Take the step with what the form says; the message to show when it is done."""
    user = current_user
    if action is A.accept:
        confirmed = request.form.get("confirm_low_price") == "1"
        market.accept_order(user, order, confirmed=confirmed)
        return _("Order accepted. The buyer is asked to pay.")
    if action is A.reject:
        orders.reject(user, order, form.reason.data)
        return _("Order rejected. Its quantity is on offer again.")
    if action is A.cancel:
        orders.cancel(user, order, form.reason.data)
        return _("Order cancelled. Its quantity is on offer again.")
    if action is A.dispatch:
        orders.dispatch(
            user,
            order,
            form.vehicle_plate.data,
            form.driver_phone.data,
            form.shipped_quantity.data,
            form.unit.data,
            photos=_uploads(form),
            place=form.place.data,
            taken_at=_taken_at(form, order),
            weighbridge_ticket=form.weighbridge_ticket.data,
        )
        if order.on_loading:
            return _(
                "Dispatch recorded. Paid on loading: your payout is on its way today; the "
                "buyer is told the truck is on its way."
            )
        return _("Dispatch recorded. The buyer is told the truck is on its way.")
    if action is A.confirm_delivery:
        orders.confirm_delivery(user, order, form.accepted_quantity.data, form.unit.data)
        return _("Delivery confirmed. Thank you.")
    if action is A.dispute:
        orders.dispute(user, order, form.reason.data, photos=_uploads(form))
        return _("Your dispute is recorded. An official will settle it.")
    orders.resolve(user, order, form.resolution.data, form.refund.data)
    return _("The dispute is settled.")


def _step_forms(order: Order, given: dict[OrderAction, FlaskForm] | None = None) -> dict[str, Any]:
    """The forms of the steps the current user may take now, by URL word."""
    party = order_party(current_user, order)
    status = order.current_status
    forms: dict[str, Any] = {}
    for action in actions_from(status):
        if action not in FORMS or party not in parties_for_move(status, action):
            continue
        form = (given or {}).get(action) or FORMS[action](prefix=SLUGS[action])
        if request.method == "GET":
            _defaults(action, form, order)
        if action is A.dispatch:
            form.photos.label.text = (
                _("Photos of the loading (at least one: you are paid on them)")
                if order.on_loading
                else _("Photos of the loading (optional)")
            )
        forms[SLUGS[action]] = form
    return forms


def _defaults(action: OrderAction, form: Any, order: Order) -> None:
    if action is A.dispatch:
        form.shipped_quantity.data = amount_text(order.quantity_g, order.unit)
        form.unit.data = order.unit.value
    elif action is A.confirm_delivery:
        form.accepted_quantity.data = amount_text(order.shipped_g or 0, order.unit)
        form.unit.data = order.unit.value


def _delivery_input(form: DeliveryAddressForm) -> orders.DeliveryInput:
    """The delivery part of a form as typed (empty fields are refused, not defaulted)."""
    return orders.DeliveryInput(
        province=form.delivery_province.data or "",
        county=form.delivery_county.data or "",
        address=form.delivery_address.data or "",
        receiver_name=form.receiver_name.data or "",
        receiver_phone=form.receiver_phone.data or "",
    )


def _fill_delivery(form: DeliveryAddressForm, delivery: orders.DeliveryInput) -> None:
    """Show a delivery (codes, as stored or defaulted) in the form's fields."""
    county = db.session.get(Region, delivery.county) if delivery.county else None
    form.delivery_province.data = delivery.province or ""
    form.delivery_county.data = county.name if county else ""
    form.delivery_address.data = delivery.address or ""
    form.receiver_name.data = delivery.receiver_name or ""
    form.receiver_phone.data = delivery.receiver_phone or ""


def _delivery_form(order: Order, given: DeliveryAddressForm | None) -> DeliveryAddressForm | None:
    """The buyer's form to change where the order goes, while it has not left."""
    if not policy.can(current_user, "change_delivery", order):
        return None
    if order.current_status not in BEFORE_DISPATCH:
        return None
    form = given or DeliveryAddressForm()
    form.delivery_province.choices = province_choices()
    if given is None:
        _fill_delivery(form, orders.delivery_of(order))
    return form


def _counties(form: DeliveryAddressForm | None) -> list[Region]:
    """The county suggestions of the form's chosen province (JavaScript refreshes them)."""
    province = form.delivery_province.data if form is not None else None
    return regions.counties(province) if province else []


def _render_detail(
    order: Order,
    given: dict[OrderAction, FlaskForm] | None = None,
    status: int = 200,
    *,
    photo_form: PhotosForm | None = None,
    delivery_form: DeliveryAddressForm | None = None,
    accept_warning: str | None = None,
) -> Any:
    can_history = policy.can(current_user, "view_history", order)
    photo_purpose = orders.photo_purpose(current_user, order)
    if photo_purpose is not None and photo_form is None:
        photo_form = PhotosForm(prefix="photos")
    delivery_form = _delivery_form(order, delivery_form)
    return render_template(
        "orders/detail.html",
        order=order,
        party=order_party(current_user, order),
        show_delivery=policy.can(current_user, "view_delivery", order),
        estimate=queries.delivery_estimate(order),
        delivery_form=delivery_form,
        counties=_counties(delivery_form),
        forms=_step_forms(order, given),
        next_step=next_step(order, order_party(current_user, order)),
        events=history(order) if can_history else [],
        photos=_photos_by_purpose(order),
        photo_purpose=photo_purpose and photo_purpose.value,
        photo_form=photo_form if photo_purpose is not None else None,
        accept_warning=accept_warning,
    ), status


def _photos_by_purpose(order: Order) -> dict[str, list[OrderPhoto]]:
    grouped: dict[str, list[OrderPhoto]] = {}
    for photo in order.photos:
        grouped.setdefault(photo.purpose.value, []).append(photo)
    return grouped


def next_step(order: Order, party: Party | None) -> Any:
    """What the viewer should do next (or is waiting for), in words."""
    status = order.current_status
    words = _NEXT.get((party, status)) or _NEXT.get((None, status))
    return words


_NEXT: dict[tuple[Party | None, OrderStatus], Any] = {
    (Party.cooperative, OrderStatus.reserved): _l("Accept or reject this order."),
    (Party.buyer, OrderStatus.reserved): _l("Waiting for the cooperative to accept."),
    (Party.buyer, OrderStatus.awaiting_payment): _l("Pay for the order."),
    (Party.cooperative, OrderStatus.awaiting_payment): _l("Waiting for the buyer's payment."),
    (Party.cooperative, OrderStatus.paid): _l("Paid: load the truck and record the dispatch."),
    (Party.buyer, OrderStatus.paid): _l("Paid. Waiting for the cooperative to ship."),
    (Party.buyer, OrderStatus.dispatched): _l("On its way. Confirm what arrived."),
    (Party.cooperative, OrderStatus.dispatched): _l(
        "On its way. Waiting for the buyer to confirm."
    ),
    (Party.buyer, OrderStatus.delivered): _l(
        "Delivered. If something is wrong, you can dispute it."
    ),
    (Party.official, OrderStatus.disputed): _l("Settle the dispute."),
    (None, OrderStatus.disputed): _l("Disputed. An official will settle it."),
    (None, OrderStatus.delivered): _l("Delivered."),
    (None, OrderStatus.completed): _l("Completed. Nothing more to do."),
    (None, OrderStatus.resolved): _l("The dispute was settled."),
    (None, OrderStatus.rejected): _l("Rejected."),
    (None, OrderStatus.cancelled): _l("Cancelled."),
    (None, OrderStatus.expired): _l("Expired."),
}


# --- ordering -------------------------------------------------------------------------------


@bp.route("/lots/<int:lot_id>/order", methods=["GET", "POST"])
@login_required
def place(lot_id: int) -> Any:
    """The order form: how much, in the buyer's unit, and what it costs before committing."""
    lot = policy.load(current_user, policy.VIEW, Lot, lot_id)
    policy.ensure(current_user, "create", Order)
    if request.method == "GET":
        lot = queries.as_of_now(lot)
    form = OrderForm()
    form.delivery_province.choices = province_choices()
    form.settlement.choices = settlement_choices(lot)
    # the lot page's short form has no delivery part: the defaults go, and show if refused
    with_delivery = request.method == "POST" and "delivery_province" in request.form
    if not with_delivery:
        _fill_delivery(form, orders.delivery_defaults(current_user, lot))
    if request.method == "GET":
        form.unit.data = lot.quantity_unit.value
        if lot.min_order_g:
            form.quantity.data = amount_text(lot.min_order_g, lot.quantity_unit)
        form.settlement.data = lot.default_settlement.value
    status = 200
    cost = None
    if form.validate_on_submit():
        try:
            grams = to_grams(form.quantity.data, form.unit.data)
            cost = orders.order_amount_fen(grams, lot.price_fen_per_t)
        except UnitError as exc:
            form.quantity.errors = [*form.quantity.errors, str(exc.message)]
            status = 422
        except DomainError as exc:
            show_errors(form, exc)
            status = exc.status
        if status == 200 and "preview" not in request.form:
            try:
                order = orders.place_order(
                    current_user,
                    lot,
                    form.quantity.data,
                    form.unit.data,
                    delivery=_delivery_input(form) if with_delivery else None,
                    settlement=form.settlement.data,
                )
            except DomainError as exc:
                show_errors(form, exc)
                status = exc.status
                cost = None
            else:
                flash(_("Reserved. The cooperative has 24 hours to accept your order."), "success")
                return redirect(url_for(".detail", order_id=order.id))
    elif form.errors:
        status = 422
    return render_template(
        "orders/new.html", lot=lot, form=form, cost=cost, counties=_counties(form)
    ), status


# --- lists and pages ------------------------------------------------------------------------


@bp.route("/orders")
@login_required
def index() -> Any:
    """My orders (buyers), incoming orders (cooperatives), orders to watch (officials)."""
    tab = request.args.get("tab", "todo")
    if tab not in ("todo", "active", "closed"):
        tab = "todo"
    page = queries.listing(current_user, tab, page=max(1, request.args.get("page", 1, type=int)))
    return render_template("orders/index.html", page=page, tab=tab)


@bp.route("/orders/<int:order_id>")
@login_required
def detail(order_id: int) -> Any:
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    return _render_detail(order)


@bp.post("/orders/<int:order_id>/<slug>")
@login_required
def act(order_id: int, slug: str) -> Any:
    """Take one step of the order's life from its page."""
    action = STEPS.get(slug)
    if action is None:
        abort(404)
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    policy.ensure(current_user, action.value, order)
    form = FORMS[action](prefix=slug)
    if form.validate_on_submit():
        try:
            message = _run(action, form, order)
        except market.PriceBelowReference as exc:
            transaction.doom()  # nothing was written: the warning asks to confirm
            order = db.session.get(Order, order_id)
            return _render_detail(
                order, {action: form}, exc.status, accept_warning=str(exc.message)
            )
        except DomainError as exc:
            show_errors(form, exc)
            order = db.session.get(Order, order_id)
            return _render_detail(order, {action: form}, exc.status)
        flash(message, "success")
        return redirect(url_for(".detail", order_id=order.id))
    flash(_("Please correct the marked fields."), "error")
    return _render_detail(order, {action: form}, 422)


@bp.post("/orders/<int:order_id>/delivery")
@login_required
def change_delivery(order_id: int) -> Any:
    """The buyer changes where the order goes, or who receives it, until dispatch."""
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    policy.ensure(current_user, "change_delivery", order)
    form = DeliveryAddressForm()
    form.delivery_province.choices = province_choices()
    if form.validate_on_submit():
        try:
            changed = orders.change_delivery(current_user, order, _delivery_input(form))
        except DomainError as exc:
            show_errors(form, exc)
            return _render_detail(
                db.session.get(Order, order_id), delivery_form=form, status=exc.status
            )
        if changed:
            flash(_("Delivery address saved. The cooperative is told."), "success")
        return redirect(url_for(".detail", order_id=order.id))
    flash(_("Please correct the marked fields."), "error")
    return _render_detail(order, delivery_form=form, status=422)


@bp.route("/orders/<int:order_id>/note")
@login_required
def note(order_id: int) -> Any:
    """The printable delivery note, with a QR code that opens the public tracking page."""
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    url = url_for(".track", code=order.tracking_code, _external=True)
    return render_template(
        "orders/note.html",
        order=order,
        qr=qr_svg(url),
        track_url=url,
        show_delivery=policy.can(current_user, "view_delivery", order),
    )


@bp.route("/track/<code>")
def track(code: str) -> Any:
    """Public: an order's status and the times of its steps; nothing private."""
    order = (
        db.session.scalar(select(Order).where(Order.tracking_code == code))
        if len(code) <= 32
        else None
    )
    if order is None:
        abort(404)
    return render_template("orders/track.html", order=order, steps=queries.timeline(order))


@bp.route("/orders/<int:order_id>/photos/<int:photo_id>/<size>.jpg")
@login_required
def photo(order_id: int, photo_id: int, size: str) -> Any:
    """An order's photos are private: its parties and oversight only."""
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    key = queries.photo_key(order, photo_id, size)
    if key is None:
        abort(404)
    return send_photo(key, private=True)


@bp.post("/orders/<int:order_id>/photos")
@login_required
def add_photos(order_id: int) -> Any:
    """Photos added after the step, from the order's page."""
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    policy.ensure(current_user, "add_photos", order)
    form = PhotosForm(prefix="photos")
    if form.validate_on_submit():
        try:
            orders.add_photos(
                current_user,
                order,
                _uploads(form),
                place=form.place.data,
                taken_at=_taken_at(form, order),
            )
        except DomainError as exc:
            show_errors(form, exc)
            return _render_detail(
                db.session.get(Order, order_id), photo_form=form, status=exc.status
            )
        flash(_("Photos added."), "success")
        return redirect(url_for(".detail", order_id=order.id))
    flash(_("Please correct the marked fields."), "error")
    return _render_detail(order, photo_form=form, status=422)
