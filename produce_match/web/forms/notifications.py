"""The notification settings: quiet hours (the channels per group are checkboxes read by name)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, ValidationError

from produce_match.notifications.preferences import parse_clock


def _clock(form: FlaskForm, field: StringField) -> None:
    if form.quiet.data and parse_clock(field.data or "") is None:
        raise ValidationError(_l("A time of day such as 22:00."))


class NotificationSettingsForm(FlaskForm):
    quiet = BooleanField(_l("Quiet hours: no SMS or e-mail at night"))
    quiet_start = StringField(
        _lp("quiet hours", "From"), validators=[_clock], render_kw={"type": "time", "step": "60"}
    )
    quiet_end = StringField(
        _lp("quiet hours", "Until"), validators=[_clock], render_kw={"type": "time", "step": "60"}
    )
