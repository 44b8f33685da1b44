"""The inbox: /notifications, and marking notifications read; the notification settings
(/account/notifications: channels per group of notices, quiet hours) and the delivery log
(/notifications/deliveries, one's own; /admin/notifications/deliveries, everyone's)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import NotFound

from produce_match import deploy, policy
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.notifications import channels, preferences
from produce_match.notifications import operations as notifications
from produce_match.notifications.messages import render
from produce_match.notifications.models import (
    Delivery,
    DeliveryState,
    Notification,
    NotificationSettings,
)
from produce_match.web.forms import ActionForm, show_errors
from produce_match.web.forms.notifications import NotificationSettingsForm

bp = Blueprint("notifications", __name__)


@bp.route("/notifications")
@login_required
def inbox() -> Any:
    page = notifications.inbox(current_user, page=max(1, request.args.get("page", 1, type=int)))
    # how each went out by SMS or e-mail (the operators' channels are not the reader's business)
    sent = {
        note_id: [d for d in rows if d.channel in preferences.PERSONAL]
        for note_id, rows in notifications.deliveries_of(n.id for n in page.items).items()
    }
    return render_template(
        "notifications/inbox.html",
        page=page,
        form=ActionForm(),
        render=render,
        sent=sent,
        channel_label=preferences.channel_label,
    )


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


# --- settings ------------------------------------------------------------------------------


def personal_channels() -> list[str]:
    """The personal channels this site sends through (configured), in the settings' order."""
    names = {c.name for c in channels.configured() if channels.is_personal(c)}
    return [name for name in preferences.PERSONAL if name in names]


def _settings_page(form: NotificationSettingsForm, status: int = 200) -> Any:
    user = current_user
    choices = preferences.choices_of(user)
    shown = personal_channels()
    addresses = {
        name: channels.address_of(channels.AVAILABLE[name](), user)
        for name in shown
        if name in channels.AVAILABLE
    }
    return (
        render_template(
            "notifications/settings.html",
            form=form,
            choices=choices,
            groups=preferences.groups_for(user.role),
            shown=shown,
            addresses=addresses,
            site_default=preferences.default_quiet(),
            clock=preferences.clock,
            channel_label=preferences.channel_label,
        ),
        status,
    )


@bp.route("/account/notifications")
@login_required
def settings() -> Any:
    choices = preferences.choices_of(current_user)
    quiet = choices.quiet
    start, end = quiet if quiet is not None else (preferences.default_quiet() or (1320, 420))
    form = NotificationSettingsForm(
        quiet=quiet is not None,
        quiet_start=preferences.clock(start),
        quiet_end=preferences.clock(end),
    )
    return _settings_page(form)


@bp.post("/account/notifications")
@login_required
def save_settings() -> Any:
    form = NotificationSettingsForm()
    if not form.validate_on_submit():
        return _settings_page(form, 422)
    row = db.session.get(NotificationSettings, current_user.id)
    if row is not None:
        policy.ensure(current_user, "edit", row)
    else:
        policy.ensure(current_user, "create", NotificationSettings)
    current = preferences.choices_of(current_user)
    shown = personal_channels()
    chosen = {}
    for group in preferences.groups_for(current_user.role):
        ticked = set(request.form.getlist(f"group-{group.value}")) & set(shown)
        kept = {c for c in current.channels.get(group, ()) if c not in shown}
        chosen[group.value] = sorted(ticked | kept)
    quiet = None
    if form.quiet.data:
        start = preferences.parse_clock(form.quiet_start.data)
        end = preferences.parse_clock(form.quiet_end.data)
        quiet = (start, end)
    try:
        preferences.save(current_user, current_user, chosen, quiet)
    except ValidationFailed as exc:
        show_errors(form, exc, aliases={"quiet_hours": "quiet_end"})
        return _settings_page(form, 422)
    flash(_("Your notification settings are saved."), "success")
    return redirect(url_for(".settings"))


# --- the delivery log ------------------------------------------------------------------------


def _log_page(user: Any, template: str) -> Any:
    status = request.args.get("status") or None
    channel = request.args.get("channel") or None
    page = notifications.deliveries(
        user,
        page=max(1, request.args.get("page", 1, type=int)),
        status=status,
        channel=channel,
    )
    return render_template(
        template,
        page=page,
        render=render,
        states=list(DeliveryState),
        status=status,
        channel=channel,
        channel_names=channels.AVAILABLE,
        channel_label=preferences.channel_label,
    )


@bp.route("/notifications/deliveries")
@login_required
def deliveries() -> Any:
    """The person's own delivery log: which notice went out how, when, or why not."""
    policy.ensure(current_user, "list", Delivery)
    return _log_page(current_user, "notifications/deliveries.html")


@bp.route("/admin/notifications/deliveries")
@login_required
def all_deliveries() -> Any:
    """Every person's deliveries, for administrators (read-only)."""
    if not policy.can(current_user, "list_all", Delivery):
        raise NotFound()
    return _log_page(None, "notifications/all_deliveries.html")


def _production_problems(cfg: Any) -> list[str]:
    """What `flask check-deploy` refuses about the e-mail channel's settings."""
    if "email" not in cfg.get("NOTIFICATION_CHANNELS", ()):
        return []
    found = []
    if not cfg.get("MAIL_SERVER") or not cfg.get("MAIL_FROM"):
        found.append("NOTIFICATION_CHANNELS has email: set MAIL_SERVER and MAIL_FROM.")
    site = cfg.get("SITE_URL") or ""
    if not site.startswith("https://"):
        found.append(
            "NOTIFICATION_CHANNELS has email: set SITE_URL to the site's https:// address."
        )
    return found


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    deploy.also_check(_production_problems)

    @app.context_processor
    def _unread() -> dict[str, Any]:
        def unread() -> int:
            if not current_user.is_authenticated:
                return 0
            return notifications.unread_count(current_user)

        return {"unread_notifications": unread}
