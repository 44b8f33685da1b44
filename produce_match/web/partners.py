"""Pages: an organisation's webhooks (接口推送) and an office's group robots (群机器人), with
their delivery logs. Only the organisation's own members see them; anyone else gets a 404."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.exceptions import NotFound

from produce_match import policy
from produce_match.errors import ValidationFailed
from produce_match.lifecycle import MoveRefused
from produce_match.partners import operations as partners
from produce_match.partners.models import (
    Endpoint,
    EndpointStatus,
    EventType,
    OutgoingDelivery,
    Robot,
)
from produce_match.web.forms import show_errors
from produce_match.web.forms.partners import EndpointForm, RobotForm

bp = Blueprint("partners", __name__, url_prefix="/organisation")


def _allowed(action: str, model: type) -> None:
    if not policy.can(current_user, action, model):
        raise NotFound()


def _event_choices(form: EndpointForm) -> EndpointForm:
    form.events.choices = [
        (e.value, f"{e.label} · {e.value}")
        for e in partners.allowed_events(current_user.organisation)
    ]
    return form


# --- webhooks -------------------------------------------------------------------------------


def _webhooks_page(form: EndpointForm | None = None) -> Any:
    return render_template(
        "partners/webhooks.html",
        endpoints=partners.endpoints_of(current_user.organisation),
        form=form or _event_choices(EndpointForm(formdata=None)),
    )


@bp.get("/webhooks")
@login_required
def webhooks() -> Any:
    _allowed("list", Endpoint)
    return _webhooks_page()


@bp.post("/webhooks")
@login_required
def add_webhook() -> Any:
    _allowed("create", Endpoint)
    form = _event_choices(EndpointForm())
    if form.validate_on_submit():
        data = partners.EndpointInput(form.url.data, form.events.data, form.description.data)
        try:
            endpoint, secret = partners.create_endpoint(
                current_user, current_user.organisation, data
            )
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("The address is added."), "success")
            return _webhook_page(endpoint, new_secret=secret)
    return _webhooks_page(form), 422


def _webhook_page(endpoint: Endpoint, form: EndpointForm | None = None, **extra: Any) -> Any:
    if form is None:
        form = _event_choices(EndpointForm(formdata=None, obj=endpoint))
    return render_template(
        "partners/webhook.html",
        endpoint=endpoint,
        form=form,
        log=partners.log_of(endpoint),
        **extra,
    )


@bp.get("/webhooks/<int:endpoint_id>")
@login_required
def webhook(endpoint_id: int) -> Any:
    return _webhook_page(policy.load(current_user, policy.VIEW, Endpoint, endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>")
@login_required
def edit_webhook(endpoint_id: int) -> Any:
    endpoint = policy.load(current_user, "edit", Endpoint, endpoint_id)
    form = _event_choices(EndpointForm())
    if form.validate_on_submit():
        data = partners.EndpointInput(form.url.data, form.events.data, form.description.data)
        try:
            partners.update_endpoint(current_user, endpoint, data)
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for(".webhook", endpoint_id=endpoint.id))
    return _webhook_page(endpoint, form), 422


@bp.post("/webhooks/<int:endpoint_id>/secret")
@login_required
def rotate_secret(endpoint_id: int) -> Any:
    endpoint = policy.load(current_user, "edit", Endpoint, endpoint_id)
    secret = partners.rotate_secret(current_user, endpoint)
    flash(_("A new secret is made. The old one no longer signs anything."), "success")
    return _webhook_page(endpoint, new_secret=secret)


def _switch(target: Endpoint | Robot, on: bool) -> None:
    with suppress(MoveRefused):  # already so: a second click
        partners.switch(current_user, target, on)
    flash(_("Switched on.") if on else _("Switched off."), "success")


@bp.post("/webhooks/<int:endpoint_id>/<any(enable, disable):action>")
@login_required
def switch_webhook(endpoint_id: int, action: str) -> Any:
    endpoint = policy.load(current_user, "edit", Endpoint, endpoint_id)
    _switch(endpoint, action == "enable")
    return redirect(url_for(".webhook", endpoint_id=endpoint.id))


@bp.post("/deliveries/<int:delivery_id>/replay")
@login_required
def replay(delivery_id: int) -> Any:
    delivery = policy.load(current_user, "replay", OutgoingDelivery, delivery_id)
    partners.replay(current_user, delivery)
    flash(_("It will be sent again in a moment."), "success")
    if delivery.robot_id is not None:
        return redirect(url_for(".robot", robot_id=delivery.robot_id, _anchor="log"))
    return redirect(url_for(".webhook", endpoint_id=delivery.endpoint_id, _anchor="log"))


# --- robots ---------------------------------------------------------------------------------


def _robot_input(form: RobotForm, clear_secret: bool = False) -> partners.RobotInput:
    return partners.RobotInput(
        name=form.name.data,
        kind=form.kind.data,
        url=form.url.data,
        secret=form.secret.data,
        clear_secret=clear_secret,
        post_urgent=form.post_urgent.data,
        post_summary=form.post_summary.data,
        summary_hour=form.summary_hour.data,
    )


def _robots_page(form: RobotForm | None = None) -> Any:
    return render_template(
        "partners/robots.html",
        robots=partners.robots_of(current_user.organisation),
        form=form or RobotForm(formdata=None),
    )


@bp.get("/robots")
@login_required
def robots() -> Any:
    _allowed("list", Robot)
    return _robots_page()


@bp.post("/robots")
@login_required
def add_robot() -> Any:
    _allowed("create", Robot)
    form = RobotForm()
    if form.validate_on_submit():
        try:
            robot = partners.create_robot(
                current_user, current_user.organisation, _robot_input(form)
            )
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("The robot is added."), "success")
            return redirect(url_for(".robot", robot_id=robot.id))
    return _robots_page(form), 422


def _robot_page(robot: Robot, form: RobotForm | None = None) -> Any:
    if form is None:
        form = RobotForm(formdata=None, obj=robot, summary_hour=str(robot.summary_hour))
        form.url.data = robot.url
        form.secret.data = ""
    return render_template(
        "partners/robot.html", robot=robot, form=form, log=partners.log_of(robot)
    )


@bp.get("/robots/<int:robot_id>")
@login_required
def robot(robot_id: int) -> Any:
    return _robot_page(policy.load(current_user, policy.VIEW, Robot, robot_id))


@bp.post("/robots/<int:robot_id>")
@login_required
def edit_robot(robot_id: int) -> Any:
    robot = policy.load(current_user, "edit", Robot, robot_id)
    form = RobotForm()
    if form.validate_on_submit():
        try:
            partners.update_robot(current_user, robot, _robot_input(form))
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for(".robot", robot_id=robot.id))
    return _robot_page(robot, form), 422


@bp.post("/robots/<int:robot_id>/<any(enable, disable):action>")
@login_required
def switch_robot(robot_id: int, action: str) -> Any:
    robot = policy.load(current_user, "edit", Robot, robot_id)
    _switch(robot, action == "enable")
    return redirect(url_for(".robot", robot_id=robot.id))


@bp.post("/robots/<int:robot_id>/test")
@login_required
def test_robot(robot_id: int) -> Any:
    robot = policy.load(current_user, "edit", Robot, robot_id)
    if robot.status is not EndpointStatus.active:
        flash(_("Switch the robot on first."), "error")
    else:
        partners.send_test(current_user, robot)
        flash(_("A test message is on its way; see the log below."), "success")
    return redirect(url_for(".robot", robot_id=robot.id, _anchor="log"))


_ROBOT_MESSAGES = {
    "robot.urgent_lot": _l("Lot at risk"),
    "robot.summary": _l("Daily summary"),
    "robot.test": _l("Test message"),
}


def delivery_label(event_type: str) -> Any:
    """What a delivery in the log is, in words."""
    if event_type in _ROBOT_MESSAGES:
        return _ROBOT_MESSAGES[event_type]
    try:
        return EventType(event_type).label
    except ValueError:
        return event_type


def init_app(app: Any) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _pages() -> dict[str, Any]:
        def partner_pages() -> list[tuple[str, str]]:
            """The organisation's webhooks and robots pages the user may open (account page)."""
            pages = []
            if policy.can(current_user, "list", Endpoint):
                pages.append((url_for("partners.webhooks"), _("Webhooks")))
            if policy.can(current_user, "list", Robot):
                pages.append((url_for("partners.robots"), _("Group robots")))
            return pages

        return {"partner_pages": partner_pages, "delivery_label": delivery_label}
