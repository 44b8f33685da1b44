"""The forms of 实名认证: the claim an organisation submits, and a decider's reason."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SelectChoice, StringField, TextAreaField

from produce_match.web.forms import length, optional, required


class ClaimForm(FlaskForm):
    kind = RadioField(
        _l("What is to be verified"),
        choices=[
            SelectChoice(
                "credit_code", _l("A registered organisation: its unified social credit code")
            ),
            SelectChoice("resident_id", _l("A family farm or a farmer: the holder's resident ID")),
        ],
        default="credit_code",
    )
    credit_code = StringField(
        _l("Unified social credit code (统一社会信用代码)"),
        validators=[optional(), length(40)],
        description=_l("18 characters, as printed on the business licence."),
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
    )
    resident_id = StringField(
        _l("Resident ID number"),
        validators=[optional(), length(40)],
        description=_l("Only for a family farm or a farmer. Pages show it masked."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    person_name = StringField(
        _l("Legal representative, or the holder of the ID card"),
        validators=[required(), length(60)],
    )
    photo = FileField(
        _l("Photo of the business licence (optional for a resident ID)"),
        render_kw={"accept": "image/*"},
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[required(), length(500)])
