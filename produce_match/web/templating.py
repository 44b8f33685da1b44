"""Template filters and globals: dates in the user's time zone, the policy, shared forms, and
the names of roles, states and steps on pages (`label`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask
from flask_babel import format_date, format_datetime, gettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_login import current_user
from markupsafe import Markup, escape

from produce_match import policy, units
from produce_match.i18n import current_language
from produce_match.payments import HISTORY_LABELS as PAYMENT_HISTORY_LABELS
from produce_match.web.forms import ActionForm

#: how roles and kinds of organisation are named on pages
LABELS = {
    "cooperative": _l("Cooperative"),
    "buyer": _l("Buyer"),
    "official": _l("Official"),
    "haulier": _l("Haulier"),
    "checkpoint": _l("Checkpoint staff"),
    "office": _l("Office"),
    "admin": _l("Administrator"),
    "platform": _l("Platform"),
    # states of a lot
    "open": _l("On offer"),
    "sold_out": _l("Sold out"),
    "expired": _l("Expired"),
    "withdrawn": _l("Withdrawn"),
    # what the audit trail records
    "posted": _l("posted"),
    "edited": _l("edited"),
    "photo_added": _l("photo added"),
    "photo_removed": _l("photo removed"),
    "photos_added": _l("photos added"),
    "registered": _l("registered"),
    "verified": _l("verified"),
    "unverified": _l("verification withdrawn"),
    "imported": _l("imported"),
    "reopened": _l("on offer again"),
    # states of an order (and the words of its audit trail)
    "reserved": _l("reserved"),
    "accepted": _lp("order status", "accepted"),
    "rejected": _l("rejected"),
    "awaiting_payment": _l("awaiting payment"),
    "paid": _l("paid"),
    "dispatched": _l("dispatched"),
    "delivered": _l("delivered"),
    "completed": _l("completed"),
    "cancelled": _l("cancelled"),
    "disputed": _l("disputed"),
    "resolved": _l("resolved"),
    "placed": _l("placed"),
    "payment_requested": _l("payment requested"),
    "delivery_confirmed": _l("delivery confirmed"),
    "delivery_auto_confirmed": _l("delivery confirmed automatically"),
    "delivery_changed": _l("delivery address changed"),
    # why an order expired
    "not_accepted_in_time": _l("not accepted in time"),
    "not_paid_in_time": _l("not paid in time"),
    "lot_spoiled": _l("the lot passed its spoil-by date"),
    # states and steps of demands and proposals
    "active": _l("Active"),
    "paused": _l("Paused"),
    "closed": _l("Closed"),
    "resumed": _l("resumed"),
    "proposed": _l("proposed"),
    "ordered": _l("ordered"),
    "declined": _l("declined"),
    "failed": _l("failed"),
    "buyer_accepted": _l("accepted by the buyer"),
    "buyer_declined": _l("declined by the buyer"),
    "cooperative_accepted": _l("accepted by the cooperative"),
    "cooperative_declined": _l("declined by the cooperative"),
}
#: the words a domain declares for its own steps (the payments' in an order's history), where
#: this table has none of its own: the domains never write into the web layer's table
for _key, _text in PAYMENT_HISTORY_LABELS.items():
    LABELS.setdefault(_key, _text)


def label(value: Any) -> str:
    """The translated name of an enum value (role, kind of organisation ...).

    An enum that names its own values (`.label`) is named by them: one English word ("accepted")
    is a different Chinese word for an order (已接单) and for an answer to a proposal (已同意),
    and this flat table cannot tell them apart.
    """
    own = getattr(value, "label", None)
    if own is not None and not callable(own):
        return str(own)
    key = getattr(value, "value", value)
    return str(LABELS.get(key, key))


def colon(text: Any) -> Markup:
    """A label followed by its colon as the page's language writes it ("Phone: ", "电话：")."""
    return escape(gettext("%(label)s: ")) % {"label": text}


def parens(text: Any) -> Markup:
    """A remark in parentheses after a name, as the page's language writes it: " (…)", "（…）"."""
    return escape(gettext(" (%(text)s)")) % {"text": text}


def commodity_name(commodity: Any) -> str:
    """A commodity's name in the page's language: English pages never show the Chinese name,
    Chinese pages never the English one."""
    return commodity.display_name() if commodity is not None else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    app.add_template_filter(colon, "colon")
    app.add_template_filter(parens, "parens")
    app.add_template_filter(commodity_name, "commodity_name")

    @app.template_filter("mass")
    def _mass(grams: int, unit: Any = None) -> str:
        return units.format_mass(grams, unit, current_language())

    @app.template_filter("price")
    def _price(fen_per_t: int, unit: Any) -> str:
        return units.format_price(fen_per_t, unit, current_language())

    @app.template_filter("money")
    def _money(fen: int) -> str:
        return units.format_money(fen, current_language())

    @app.template_filter("amount")
    def _amount(text: str) -> Markup:
        """An amount and its unit ('40 吨', '6.80 元/公斤') kept on one line: a table cell
        on a phone may wrap between them otherwise."""
        return Markup('<span class="amount">%s</span>') % text

    @app.template_filter("unit_name")
    def _unit_name(unit: Any) -> str:
        unit = units.parse_unit(unit)
        return unit.zh if current_language() == "zh" else units.EN_NAMES[unit]

    @app.template_filter("localdate")
    def _localdate(value: date | None, fmt: str = "medium") -> str:
        return format_date(value, fmt) if value else ""

    @app.template_filter("when")
    def _when(value: datetime | None, fmt: str = "medium") -> str:
        return format_datetime(value, fmt) if value else ""

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "can": lambda action, target: policy.can(current_user, action, target),
            "admin_area": lambda: policy.admin_area(current_user),
            # the header's buttons carry only the CSRF token: they never read what was posted
            # (an error page for a body too large must not read it again)
            "header_form": lambda: ActionForm(formdata=None),
        }


def warm(app: Flask) -> int:
    """Compile every template and load every language's catalogue, once, in the process that
    forks the web workers (gunicorn's master): each worker, and each one that replaces a
    recycled worker, starts with them instead of compiling them on its first pages. Returns the
    number of templates compiled."""
    from flask_babel import force_locale, get_translations

    names = [n for n in app.jinja_env.list_templates() if n.endswith(".html")]
    for name in names:
        app.jinja_env.get_template(name)
    with app.test_request_context():
        for lang in app.config["LANGUAGES"]:
            with force_locale(lang):
                get_translations()
    return len(names)
