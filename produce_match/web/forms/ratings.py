from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectMultipleField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from produce_match.trust.ratings import MAX_COMMENT
from produce_match.web.forms import length, optional


class RatingForm(FlaskForm):
    """One side's rating of the other after the order completed (the operation checks it)."""

    stars = RadioField(
        _l("Stars"),
        choices=[SelectChoice(str(n), str(n)) for n in range(5, 0, -1)],
        validate_choice=False,  # the operation says 1 to 5, in the user's language
    )
    tags = SelectMultipleField(
        _l("What went well (optional)"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,  # the tags of the rater's side: the operation's to check
    )
    comment = TextAreaField(
        _l("Comment (optional)"),
        validators=[optional(), length(MAX_COMMENT)],
        description=_l("Seen by everyone on the organisation's page. At most 500 characters."),
    )
