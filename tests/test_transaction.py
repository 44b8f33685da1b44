"""One commit point per request (web/transaction.py): a request commits once on success and
rolls back on any error, outside the view; a GET never writes."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, abort, has_request_context, redirect
from flask_wtf import FlaskForm
from sqlalchemy import event, select
from wtforms import StringField

from produce_match.accounts.models import LoginFailure, User
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.forms import show_errors
from produce_match.web import transaction
from tests.conftest import post_form


class _NameForm(FlaskForm):
    name = StringField()


def _rename(user_id: int, name: str) -> None:
    """A change of a row, flushed as operations do (never committed by the view)."""
    db.session.get(User, user_id).name = name
    db.session.flush()


def _name(user_id: int) -> str:
    db.session.rollback()  # a fresh transaction: what is stored now
    return db.session.get(User, user_id).name


@pytest.fixture
def routes(app: Flask, users: dict[str, Any]) -> dict[str, Any]:
    """Views that change a row, then end in each way a view can end."""
    user_id = users["buyer"].id
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["RENDER_UNEXPECTED_ERRORS"] = True  # a 500 page, as in production

    def ok() -> Any:
        _rename(user_id, "committed")
        return redirect("/")

    def boom() -> Any:
        _rename(user_id, "half done")
        raise RuntimeError("the view failed after writing")

    def refused() -> Any:
        _rename(user_id, "half done")
        raise ValidationFailed("no", fields={"name": ["no"]})

    def not_found() -> Any:
        _rename(user_id, "half done")
        abort(404)

    def form_error() -> Any:
        form = _NameForm()
        _rename(user_id, "half done")
        show_errors(form, ValidationFailed("no", fields={"name": ["no"]}))
        return f"form shown again: {form.name.errors}"  # a 200: the doom rolls back

    def flashed() -> Any:
        _rename(user_id, "half done")
        return transaction.refused("no", "/")

    def kept() -> Any:
        _rename(user_id, "kept")
        transaction.keep()
        return "refused, but recorded", 401

    def reading() -> Any:
        db.session.get(User, user_id).name = "never flushed"
        return "a page"

    def writing_page() -> Any:
        _rename(user_id, "written by a page")
        return "a page that writes"

    views = [ok, boom, refused, not_found, form_error, flashed, kept]
    for view in views:
        app.add_url_rule(f"/_test/{view.__name__}", view.__name__, view, methods=["POST"])
    app.add_url_rule("/_test/reading", "reading", reading)
    app.add_url_rule("/_test/writing_page", "writing_page", writing_page)
    commits: list[int] = []
    # the commits made while a request is handled (not the test's own, before it)
    event.listen(
        db.engine, "commit", lambda _conn: commits.append(1) if has_request_context() else None
    )
    return {"user_id": user_id, "commits": commits}


def test_success_commits_once(client, routes):
    del routes["commits"][:]
    response = client.post("/_test/ok")
    assert response.status_code == 302
    assert len(routes["commits"]) == 1
    assert _name(routes["user_id"]) == "committed"


@pytest.mark.parametrize(
    ("view", "status"),
    [("boom", 500), ("refused", 422), ("not_found", 404), ("form_error", 200), ("flashed", 302)],
)
def test_a_view_that_fails_after_writing_leaves_nothing(client, routes, view, status):
    before = _name(routes["user_id"])
    response = client.post(f"/_test/{view}")
    assert response.status_code == status
    assert _name(routes["user_id"]) == before


def test_a_refusal_the_view_keeps_is_committed(client, routes):
    assert client.post("/_test/kept").status_code == 401
    assert _name(routes["user_id"]) == "kept"


def test_a_get_never_commits(client, routes):
    before = _name(routes["user_id"])
    del routes["commits"][:]
    assert client.get("/_test/reading").status_code == 200
    assert routes["commits"] == []
    assert _name(routes["user_id"]) == before


def test_a_get_runs_in_a_read_only_transaction(client, routes):
    """A write reached from a page fails loudly (the database refuses it) and lands nowhere."""
    before = _name(routes["user_id"])
    assert client.get("/_test/writing_page").status_code == 500
    assert _name(routes["user_id"]) == before


def test_a_failed_login_is_recorded_though_refused(client, users):
    count = len(db.session.scalars(select(LoginFailure)).all())
    response = post_form(client, "/login", {"login": "buyer", "password": "wrong password"})
    assert response.status_code == 200
    db.session.rollback()
    assert len(db.session.scalars(select(LoginFailure)).all()) == count + 1
