"""Pages: an order's rating (the form on the order's page, and what was given), and the
template helpers that show ratings on the order's and the organisation's pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from produce_match import policy
from produce_match.errors import DomainError
from produce_match.extensions import db
from produce_match.orders.models import Order
from produce_match.trust import ratings
from produce_match.trust.models import RatingTag
from produce_match.web import orders as order_views
from produce_match.web.forms import show_errors
from produce_match.web.forms.ratings import RatingForm

bp = Blueprint("ratings", __name__)


def _form(panel: ratings.OrderRatings) -> RatingForm:
    """The rating form of the order's page (the one just refused, with its errors, if any)."""
    form = g.get("rating_form") or RatingForm(prefix="rating")
    form.tags.choices = [SelectChoice(t.value, t.label) for t in panel.tags]
    return form


@bp.post("/orders/<int:order_id>/rating")
@login_required
def rate(order_id: int) -> Any:
    """The buyer or the cooperative of a completed order rates the other side, once."""
    order = policy.load(current_user, policy.VIEW, Order, order_id)
    form = RatingForm(prefix="rating")
    if form.validate_on_submit():
        try:
            ratings.rate(
                current_user,
                order,
                form.stars.data or "",
                form.tags.data or [],
                form.comment.data,
            )
        except DomainError as exc:
            show_errors(form, exc)
            g.rating_form = form
            return order_views._render_detail(db.session.get(Order, order_id), status=exc.status)
        flash(_("Thank you. Your rating is recorded and the other side is told."), "success")
        return redirect(url_for("orders.detail", order_id=order.id, _anchor="rating"))
    flash(_("Please correct the marked fields."), "error")
    g.rating_form = form
    return order_views._render_detail(order, status=422)


def _order_ratings(order: Order) -> ratings.OrderRatings:
    return ratings.order_ratings(current_user, order)


def _tag_label(value: str) -> Any:
    """A rating's tag in words (an unknown one as it is stored)."""
    try:
        return RatingTag(value).label
    except ValueError:
        return value


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(_order_ratings, "order_ratings")
    app.add_template_global(_form, "rating_form")
    app.add_template_global(ratings.summary_of, "rating_summary_of")
    app.add_template_global(ratings.recent_comments, "rating_comments_of")
    app.add_template_filter(_tag_label, "rating_tag")
