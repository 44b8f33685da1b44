"""The inbox: /notifications, and marking notifications read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from produce_match.extensions import db
from produce_match.forms import ActionForm
from produce_match.notifications import operations as notifications
from produce_match.notifications.messages import render
from produce_match.notifications.models import Notification

bp = Blueprint("notifications", __name__)


@bp.route("/notifications")
@login_required
def inbox() -> Any:
    page = notifications.inbox(current_user, page=max(1, request.args.get("page", 1, type=int)))
    return render_template("notifications/inbox.html", page=page, form=ActionForm(), render=render)


@bp.post("/notifications/read")
@login_required
def read_all() -> Any:
    if ActionForm().validate_on_submit():
        notifications.mark_read(current_user)
    return redirect(url_for("notifications.inbox"))


@bp.post("/notifications/<int:notification_id>/open")
@login_required
def open_one(notification_id: int) -> Any:
    """Mark one notification read and follow it."""
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != current_user.id:
        abort(404)
    if ActionForm().validate_on_submit():
        notifications.mark_read(current_user, [row.id])
    target = (
        row.url if row.url and row.url.startswith("/") and not row.url.startswith("//") else None
    )
    return redirect(target or url_for("notifications.inbox"))


def init_app(app: Any) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _unread() -> dict[str, Any]:
        def unread() -> int:
            if not current_user.is_authenticated:
                return 0
            return notifications.unread_count(current_user)

        return {"unread_notifications": unread}
