"""Home, the language switch, health."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import text

from produce_match.accounts import operations as accounts
from produce_match.extensions import db
from produce_match.i18n import LANG_COOKIE
from produce_match.inputs import local_target
from produce_match.lots import queries
from produce_match.search.service import service
from produce_match.web.pagecache import kept_for_visitors, shared

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__)


@bp.route("/")
@kept_for_visitors
def index() -> Any:
    count, grams, urgent_list = shared("home", _home_lots)
    # our own template's output, escaped when it was rendered
    urgent_list = Markup(urgent_list)  # noqa: S704
    return render_template(
        "web/index.html", urgent_list=urgent_list, lots_open=count, grams_open=grams
    )


def _home_lots() -> tuple[int, int, str]:
    """What the home page shows every visitor alike: the totals and the most urgent lots."""
    count, grams = queries.stranded_totals()
    return count, grams, render_template("web/_urgent.html", urgent=queries.most_urgent(8))


@bp.route("/language", methods=["POST"])
def set_language() -> Any:
    """Remember the chosen language (a cookie, and the account's preference if logged in)."""
    lang = request.form.get("lang", "")
    response = redirect(local_target(request.form.get("next")) or url_for(".index"))
    if lang in current_app.config["LANGUAGES"]:
        if current_user.is_authenticated:
            accounts.set_locale(current_user, lang)
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
        )
    return response


@bp.route("/favicon.ico")
def favicon() -> Any:
    return redirect(url_for("static", filename="img/favicon.svg"), code=301)


@bp.route("/healthz")
def healthz() -> Any:
    """The process is alive (for the process manager); touches nothing else."""
    return {"status": "ok"}


@bp.route("/readyz")
def readyz() -> Any:
    """The node can serve: its database answers and its search index opens (for the proxy)."""
    checks = {"database": "ok", "search": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready; it is logged
        log.exception("readiness: database")
        db.session.rollback()
        checks["database"] = "unavailable"
    try:
        if not service().ready():
            checks["search"] = "missing"
    except Exception:  # noqa: BLE001
        log.exception("readiness: search")
        checks["search"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "not ready", **checks}, 200 if ready else 503
