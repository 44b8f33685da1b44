"""Template filters and globals: dates in the user's time zone, the policy, shared forms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from produce_match import policy
from produce_match.forms import ActionForm

#: how roles and kinds of organisation are named on pages
LABELS = {
    "cooperative": _l("Cooperative"),
    "buyer": _l("Buyer"),
    "official": _l("Official"),
    "office": _l("Office"),
    "admin": _l("Administrator"),
    "platform": _l("Platform"),
}


def label(value: Any) -> str:
    """The translated name of an enum value (role, kind of organisation ...)."""
    key = getattr(value, "value", value)
    return str(LABELS.get(key, key))


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")

    @app.template_filter("when")
    def _when(value: datetime | None, fmt: str = "medium") -> str:
        return format_datetime(value, fmt) if value else ""

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "can": lambda action, target: policy.can(current_user, action, target),
            "admin_area": lambda: policy.admin_area(current_user),
            "header_form": ActionForm,
        }
