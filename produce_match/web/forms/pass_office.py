"""The forms of an office's pass pages: decisions with their reason, checkpoints, 熔断, and
the scan at a checkpoint. The operations check what matters (a reason, a checkpoint of the
office); these forms carry the CSRF token and bound the lengths."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField

from produce_match.passes.models import CheckpointKind
from produce_match.web.forms import length, optional


class DecisionForm(FlaskForm):
    """Approve, reject, revoke: the reason (required by the operation for the last two) and
    where to go back to."""

    reason = TextAreaField(_l("Reason"), validators=[optional(), length(500)])
    next = HiddenField()


class CheckpointForm(FlaskForm):
    name = StringField(_l("Name"), validators=[optional(), length(60)])
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(k.value, k.label) for k in CheckpointKind],
        validate_choice=False,
    )
    county = StringField(
        _l("County / district"),
        validators=[optional(), length(40)],
        description=_l("In your office's jurisdiction; empty: your office's county."),
    )


class SuspensionForm(FlaskForm):
    organisation = SelectField(_l("Organisation"), validate_choice=False)
    organisation_name = StringField(_l("Or its exact name"), validators=[optional(), length(100)])
    reason = TextAreaField(_l("Reason"), validators=[optional(), length(500)])


class ScanForm(FlaskForm):
    checkpoint = SelectField(_l("Checkpoint"), validate_choice=False)
    direction = HiddenField()
    photo = FileField(
        _l("Photo (optional)"),
        render_kw={"accept": "image/*", "capture": "environment"},
    )
    note = StringField(_l("Note (optional)"), validators=[optional(), length(200)])
