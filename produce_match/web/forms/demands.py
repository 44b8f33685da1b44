from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from produce_match.web.forms import length, optional, required
from produce_match.web.forms.lots import unit_choices


class DemandForm(FlaskForm):
    """Registering or editing a standing demand (求购)."""

    commodity = StringField(
        _l("What do you buy?"),
        validators=[required(), length(40)],
        description=_l("Type Chinese, pinyin or English: 黑豆, heidou, black bean"),
    )
    grades = StringField(
        _l("Grades you accept (optional)"),
        validators=[optional(), length(300)],
        description=_l("Separated by , or 、 e.g. 一等、二等. Empty: any grade."),
    )
    min_quantity = StringField(_l("At least"), validators=[required(), length(20)])
    max_quantity = StringField(_l("At most"), validators=[required(), length(20)])
    unit = SelectField(_l("Unit"), choices=unit_choices(), default="t")
    max_price = StringField(_l("Highest price (yuan)"), validators=[required(), length(20)])
    price_unit = SelectField(_l("Price per"), choices=unit_choices(price=True), default="kg")
    province = SelectField(_l("Delivered to: province"), validate_choice=False)
    county = StringField(_l("County / district"), validators=[optional(), length(40)])
    needed_by = DateField(_l("Needed by"), validators=[Optional()])
    max_distance_km = StringField(
        _l("Farthest distance, km (optional)"),
        validators=[optional(), length(6)],
        description=_l("Empty: from anywhere."),
    )
    notes = TextAreaField(_l("Notes (optional)"), validators=[optional(), length(2000)])


class DigestForm(FlaskForm):
    daily_digest = BooleanField(_l("One daily digest instead of a message for each lot"))
