"""The forms of the applicant's pass pages: the application and the loading / delivery step."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField

from produce_match.web.forms import length, optional, required
from produce_match.web.forms.lots import unit_choices


class PassForm(FlaskForm):
    """A transport pass as asked for (province choices and route checkpoints set by the view)."""

    plate = StringField(
        _l("Vehicle plate"),
        validators=[required(), length(16)],
        description=_l("e.g. 辽A12345, or 辽A12345D for a new-energy vehicle"),
    )
    driver_name = StringField(_l("Driver's name"), validators=[required(), length(30)])
    driver_phone = StringField(_l("Driver's mobile"), validators=[required(), length(30)])
    origin_province = SelectField(_l("From: province"), validate_choice=False)
    origin_county = StringField(_l("From: county / district"), validators=[optional(), length(40)])
    dest_province = SelectField(_l("To: province"), validate_choice=False)
    dest_county = StringField(_l("To: county / district"), validators=[optional(), length(40)])
    #: checkpoint ids (the operation checks them against the checkpoints in use)
    route = SelectMultipleField(_l("Checkpoints on the way (optional)"), validate_choice=False)
    valid_from = StringField(
        _l("First day"), validators=[optional(), length(20)], render_kw={"type": "date"}
    )
    valid_until = StringField(
        _l("Last day"), validators=[optional(), length(20)], render_kw={"type": "date"}
    )
    commodity = StringField(
        _l("Commodity"),
        validators=[optional(), length(40)],
        description=_l("Type Chinese, pinyin or English: 黑豆, heidou, black bean"),
    )
    quantity = StringField(_l("Quantity"), validators=[optional(), length(20)])
    unit = SelectField(_l("Unit"), choices=unit_choices(), default="t")


class StepForm(FlaskForm):
    """The applicant of a pass without an order records the loading or the delivery."""

    kind = HiddenField()
    photo = FileField(_l("Photo (optional)"), render_kw={"accept": "image/*"})
