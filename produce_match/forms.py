"""Helpers shared by the forms of every domain."""

from __future__ import annotations

from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from produce_match.catalog import regions
from produce_match.errors import DomainError
from produce_match.web import transaction


def required() -> DataRequired:
    return DataRequired(message=_l("This field is required."))


def length(max: int, min: int = -1) -> Length:  # noqa: A002
    if min > 0:
        return Length(
            min=min,
            max=max,
            message=_l("Between %(min)d and %(max)d characters.", min=min, max=max),
        )
    return Length(max=max, message=_l("At most %(max)d characters.", max=max))


def province_choices() -> list[SelectChoice]:
    """The province picker of every form that asks for a place."""
    return [SelectChoice("", _("Choose…"))] + [
        SelectChoice(p.code, p.name) for p in regions.provinces()
    ]


def optional() -> Optional:
    return Optional()


def photos_field(label: str, validators: list[object] | None = None) -> MultipleFileField:
    """A field of photos that a phone offers to take with its camera or pick from its album."""
    return MultipleFileField(label, validators=validators or [], render_kw={"accept": "image/*"})


class ActionForm(FlaskForm):
    """A button that changes something: carries only the CSRF token."""


def show_errors(form: FlaskForm, exc: DomainError, aliases: dict[str, str] | None = None) -> None:
    """Put an operation's per-field messages on the form's fields; the rest becomes a flash.

    The operation refused: the request is doomed, so nothing it did before refusing is
    committed (see web/transaction.py)."""
    transaction.doom()
    aliases = aliases or {}
    leftover = []
    for name, messages in exc.fields.items():
        field = getattr(form, aliases.get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), *[str(m) for m in messages]]
        else:
            leftover.extend(str(m) for m in messages)
    flash(" ".join([str(exc.message), *leftover]), "error")
