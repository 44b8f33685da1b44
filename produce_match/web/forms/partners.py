from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    URLField,
)
from wtforms.widgets import CheckboxInput, ListWidget

from produce_match.web.forms import length, optional, required


class EndpointForm(FlaskForm):
    url = URLField(
        _l("Address (URL)"),
        validators=[required(), length(500)],
        description=_l("Your server's https:// address that receives the events."),
    )
    description = StringField(
        _lp("webhook", "Description (optional)"),
        validators=[optional(), length(120)],
        description=_l("e.g. our ordering system"),
    )
    events = SelectMultipleField(
        _l("Events"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,  # the operation says which events the organisation may have
    )


class RobotForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[required(), length(60)], description=_l("e.g. 彰武电商群")
    )
    kind = RadioField(
        _l("Kind"),
        choices=[
            SelectChoice("wecom", _l("WeChat Work group robot")),
            SelectChoice("dingtalk", _l("DingTalk group robot")),
        ],
        default="wecom",
        validators=[required()],
    )
    url = URLField(
        _l("Webhook address"),
        validators=[required(), length(500)],
        description=_l(
            "Copied from the group's robot settings: https://qyapi.weixin.qq.com/cgi-bin/webhook/"
            "send?key=… or https://oapi.dingtalk.com/robot/send?access_token=…"
        ),
    )
    secret = StringField(
        _l("Signing secret (DingTalk, optional)"),
        validators=[optional(), length(120)],
        description=_l(
            "The SEC… secret if the robot's security setting is 加签. Leave it empty "
            "to keep the present one."
        ),
    )
    post_urgent = BooleanField(_l("Post each lot of our area as it becomes at risk"), default=True)
    post_summary = BooleanField(_l("Post a daily summary of the lots at risk"), default=True)
    summary_hour = SelectField(
        _l("Summary at (China time)"),
        choices=[SelectChoice(str(h), f"{h}:00") for h in range(24)],
        default="8",
    )
