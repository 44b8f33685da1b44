from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
)
from wtforms.validators import Email, EqualTo

from produce_match.web.forms import length, optional, required


class RegisterForm(FlaskForm):
    kind = RadioField(
        _l("I am"),
        choices=[
            SelectChoice("cooperative", _l("A cooperative or farm: I sell produce")),
            SelectChoice("buyer", _l("A buyer: I buy produce")),
            SelectChoice("haulier", _l("A haulier (transport company or driver)")),
        ],
        default="cooperative",
        validators=[required()],
    )
    org_name = StringField(
        _l("Organisation name"),
        validators=[required(), length(120)],
        description=_l("e.g. 彰武县道亭村黑豆种植专业合作社"),
    )
    contact_person = StringField(_l("Contact person"), validators=[required(), length(60)])
    phone = TelField(_l("Mobile number (you log in with it)"), validators=[required(), length(20)])
    code = StringField(
        _l("Verification code"),
        validators=[optional(), length(12)],
        description=_l("Press “Get code”: we text it to the number above."),
    )
    email = EmailField(
        _l("E-mail (optional)"),
        validators=[optional(), length(254), Email(message=_l("Enter a valid e-mail address."))],
    )
    password = PasswordField(
        _l("Password (at least 8 characters)"), validators=[required(), length(128)]
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[required(), EqualTo("password", message=_l("The passwords differ."))],
    )
    province = SelectField(_l("Province"), validators=[required()], validate_choice=False)
    county = StringField(_l("County / district"), validators=[required(), length(40)])
    township = StringField(_l("Township (optional)"), validators=[optional(), length(60)])
    village = StringField(_l("Village (optional)"), validators=[optional(), length(60)])


class LoginForm(FlaskForm):
    login = StringField(_l("Mobile number or login name"), validators=[required(), length(64)])
    password = PasswordField(_l("Password"), validators=[required(), length(128)])


class ProfileForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[required(), length(60)])
    email = EmailField(
        _l("E-mail (optional)"),
        validators=[optional(), length(254), Email(message=_l("Enter a valid e-mail address."))],
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[required()])
    new_password = PasswordField(
        _l("New password (at least 8 characters)"), validators=[required(), length(128)]
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[required(), EqualTo("new_password", message=_l("The passwords differ."))],
    )


class TokenForm(FlaskForm):
    name = StringField(
        _l("Token name"),
        validators=[optional(), length(60)],
        description=_l("e.g. the name of the program that will use it"),
    )


def _code_field(description: object | None = None) -> StringField:
    return StringField(
        _l("Verification code"), validators=[optional(), length(12)], description=description
    )


class ResetPasswordForm(FlaskForm):
    """Forgot the password: the number, then the code texted to it and a new password."""

    phone = TelField(_l("Mobile number"), validators=[required(), length(20)])
    code = _code_field()
    new_password = PasswordField(
        _l("New password (at least 8 characters)"), validators=[optional(), length(128)]
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[EqualTo("new_password", message=_l("The passwords differ."))],
    )


class PhoneForm(FlaskForm):
    """A new mobile number (or the present one, to confirm it) with its code and the password."""

    phone = TelField(_l("Mobile number"), validators=[required(), length(20)])
    code = _code_field()
    password = PasswordField(_l("Your password"), validators=[optional(), length(128)])
