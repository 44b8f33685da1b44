from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import DateField, StringField, TelField, TextAreaField

from produce_match.web.forms import length, optional, required


class EntryForm(FlaskForm):
    """An organisation put on the office's whitelist."""

    organisation = StringField(
        _l("Organisation"),
        validators=[required(), length(120)],
        description=_l("Its exact registered name: start typing and choose it from the list."),
    )
    valid_from = DateField(_l("Valid from"), validators=[optional()])
    valid_until = DateField(_l("Valid until"), validators=[required()])
    reason = TextAreaField(
        _lp("whitelist entry", "Reason"),
        validators=[required(), length(500)],
        description=_l("e.g. key supplier of vegetables for the city (保供重点企业)"),
    )


class WhitelistUploadForm(FlaskForm):
    """The spreadsheet of a whitelist to import."""

    file = FileField(
        _l("Spreadsheet (.csv or .xlsx)"),
        validators=[
            FileRequired(_l("Choose a file.")),
            FileAllowed(["csv", "xlsx"], _l("Upload a .csv or .xlsx file.")),
        ],
        render_kw={"accept": ".csv,.xlsx"},
    )


class StaffForm(FlaskForm):
    """A checkpoint staff member's account."""

    name = StringField(_lp("person", "Name"), validators=[required(), length(60)])
    phone = TelField(
        _l("Mobile number"),
        validators=[required(), length(20)],
        description=_l("They log in with it."),
    )
