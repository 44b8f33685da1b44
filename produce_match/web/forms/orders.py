from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, RadioField, SelectField, StringField, TextAreaField

from produce_match.web.forms import length, optional, photos_field, required
from produce_match.web.forms.lots import unit_choices


class DeliveryAddressForm(FlaskForm):
    """Where the order goes and who receives it (its province choices are set by the view)."""

    delivery_province = SelectField(_l("Deliver to: province"), validate_choice=False)
    delivery_county = StringField(_l("County / district"), validators=[optional(), length(40)])
    delivery_address = StringField(
        _l("Address (optional)"),
        validators=[optional(), length(200)],
        description=_l("Town, street, number, warehouse: what the driver needs"),
    )
    receiver_name = StringField(_l("Receiver"), validators=[optional(), length(60)])
    receiver_phone = StringField(_l("Receiver's phone"), validators=[optional(), length(30)])


def settlement_choices(lot: Any) -> list[tuple[str, str]]:
    """The settlement terms the lot offers, in words (with its holdback when paid on loading)."""
    choices = []
    for terms in lot.settlements:
        if terms.value == "on_loading":
            label = _(
                "Paid on loading (款到发货，装车结算): pay before loading; the cooperative is paid "
                "when the truck is loaded, %(pct)d%% held until you confirm delivery",
                pct=lot.holdback_pct,
            )
        else:
            label = _("Paid on delivery: your money is held until you confirm delivery")
        choices.append((terms.value, label))
    return choices


class OrderForm(DeliveryAddressForm):
    """A buyer's order of part or all of a lot, and where it goes."""

    quantity = StringField(_l("Quantity to order"), validators=[required(), length(20)])
    unit = SelectField(_l("Unit"), choices=unit_choices(), default="t")
    #: the lot's settlement terms (choices set by the view; orders.settlement_for checks)
    settlement = RadioField(_l("When the cooperative is paid"), validate_choice=False)


class ReasonForm(FlaskForm):
    """Reject, cancel: the other side is told why."""

    reason = TextAreaField(_l("Reason"), validators=[required(), length(1000)])


def _photo_place() -> StringField:
    """Where photos of a loading were taken (uploads carry no GPS: we remove it)."""
    return StringField(
        _l("Where the photos were taken"),
        validators=[optional(), length(120)],
        description=_l("e.g. 道亭村仓库"),
    )


def _photo_time() -> DateTimeLocalField:
    """When they were taken, as the wall clock where the lot is."""
    return DateTimeLocalField(
        _l("When they were taken"), validators=[optional()], format="%Y-%m-%dT%H:%M"
    )


class DispatchForm(FlaskForm):
    vehicle_plate = StringField(
        _l("Vehicle plate"), validators=[required(), length(16)], description=_l("e.g. 辽A12345")
    )
    driver_phone = StringField(_l("Driver's phone"), validators=[required(), length(30)])
    shipped_quantity = StringField(
        _l("Quantity loaded"),
        validators=[required(), length(20)],
        description=_l("As the weighbridge weighed it"),
    )
    unit = SelectField(_l("Unit"), choices=unit_choices(), default="t")
    weighbridge_ticket = StringField(
        _l("Weighbridge ticket No. (optional)"), validators=[optional(), length(40)]
    )
    photos = photos_field(_l("Photos of the loading"))
    place = _photo_place()
    taken_at = _photo_time()


class DeliveryForm(FlaskForm):
    accepted_quantity = StringField(_l("Quantity accepted"), validators=[required(), length(20)])
    unit = SelectField(_l("Unit"), choices=unit_choices(), default="t")


class DisputeForm(FlaskForm):
    reason = TextAreaField(
        _l("What is wrong"),
        validators=[required(), length(1000)],
        description=_l("Short weight or poor quality: say what you found."),
    )
    photos = photos_field(_l("Photos as evidence (optional)"))


class PhotosForm(FlaskForm):
    """Photos added after the step: the loading (cooperative) or evidence (buyer)."""

    photos = photos_field(_l("Photos"))
    place = _photo_place()
    taken_at = _photo_time()


class ResolveForm(FlaskForm):
    resolution = TextAreaField(_l("How it was settled"), validators=[required(), length(1000)])
    refund = StringField(
        _l("Refund to the buyer (yuan)"),
        validators=[optional(), length(20)],
        description=_l("Leave empty or 0 for no refund."),
    )
