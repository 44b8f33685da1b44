from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed
from wtforms import (
    DateField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from produce_match.web.forms import length, optional, photos_field, required


def unit_choices(price: bool = False) -> list[SelectChoice]:
    """斤 / 公斤 / 吨 (or 元/斤 ...), in the order people use them."""
    if price:
        return [
            SelectChoice("jin", _l("yuan/jin (元/斤)")),
            SelectChoice("kg", _l("yuan/kg (元/公斤)")),
            SelectChoice("t", _l("yuan/t (元/吨)")),
        ]
    return [
        SelectChoice("jin", _l("jin (斤)")),
        SelectChoice("kg", _l("kg (公斤)")),
        SelectChoice("t", _l("t (吨)")),
    ]


#: the settlement terms a lot offers, as the form's one choice
SETTLEMENT_CHOICES = [
    SelectChoice("on_delivery", _l("On delivery: the money is held until delivery is confirmed")),
    SelectChoice(
        "on_loading", _l("On loading (款到发货，装车结算): paid the day the truck is loaded")
    ),
    SelectChoice("on_delivery,on_loading", _l("Either: the buyer chooses")),
]


class LotForm(FlaskForm):
    """Posting or editing a lot: quick on a phone, with sensible defaults."""

    commodity = StringField(
        _l("What is it?"),
        validators=[required(), length(40)],
        description=_l("Type Chinese, pinyin or English: 黑豆, heidou, black bean"),
    )
    #: shown when the commodity is not in the catalogue: the lot goes under this kind's "other"
    #: entry (choices: web.forms.catalog.category_choices, set by the view)
    category = SelectField(
        _l("Kind of produce"),
        default="",
        description=_l("Only for produce not in our catalogue: it is posted under this kind."),
    )
    quantity = StringField(_l("How much"), validators=[required(), length(20)])
    unit = SelectField(_l("Unit"), choices=unit_choices(), default="jin")
    price = StringField(_l("Asking price (yuan)"), validators=[required(), length(20)])
    price_unit = SelectField(_l("Price per"), choices=unit_choices(price=True), default="jin")
    spoil_by = DateField(
        _l("Must be sold by"),
        validators=[Optional()],
        description=_l("Leave empty to use the usual shelf life."),
    )
    available_from = DateField(_l("Available from"), validators=[Optional()])
    title = StringField(
        _l("Title (optional)"),
        validators=[optional(), length(120)],
        description=_l("Leave empty and we write one: place, produce, quantity."),
    )
    variety = StringField(_l("Variety (optional)"), validators=[optional(), length(60)])
    grade = StringField(
        _l("Grade (optional)"),
        validators=[optional(), length(30)],
        description=_l("e.g. 一等, 特级, 统货"),
    )
    province = SelectField(_l("Province"), validate_choice=False)
    county = StringField(_l("County / district"), validators=[optional(), length(40)])
    township = StringField(_l("Township (optional)"), validators=[optional(), length(60)])
    village = StringField(_l("Village (optional)"), validators=[optional(), length(60)])
    storage_notes = TextAreaField(
        _l("Storage (optional)"),
        validators=[optional(), length(2000)],
        description=_l("e.g. cold store, dry warehouse"),
    )
    description = TextAreaField(_l("Description (optional)"), validators=[optional(), length(5000)])
    #: the settlement terms offered (see lots.models.Settlement)
    settlement_terms = RadioField(
        _l("When you are paid"),
        choices=SETTLEMENT_CHOICES,
        default="on_delivery",
    )
    holdback_percent = StringField(
        _l("Holdback until delivery (%)"),
        validators=[optional(), length(3)],
        description=_l(
            "Paid on loading: this share (0 to 10) is kept until the buyer confirms delivery."
        ),
    )
    photos = photos_field(
        _l("Photos (up to 6)"),
        validators=[
            FileAllowed(
                ["jpg", "jpeg", "png", "webp", "gif"], _l("Upload JPEG, PNG or WebP photos.")
            )
        ],
    )
