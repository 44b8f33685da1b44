"""Logging in and out, revocable sessions, the failed-login limit."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import ApiToken, LoginFailure, LoginSession
from produce_match.audit.operations import history
from produce_match.extensions import db
from tests.conftest import login, make_app, post_form
from tests.factories import PASSWORD


def test_login_and_logout(client, users):
    response = login(client, "coop", PASSWORD)
    assert response.headers["Location"] == "/"
    assert client.get("/account").status_code == 200
    post_form(client, "/logout", {}, page="/account")
    assert client.get("/account").status_code == 302  # back to the login page


def test_login_by_phone_number_typed_with_spaces(client, app):
    from produce_match.accounts.models import Role
    from tests.factories import make_user

    make_user("13904180001", Role.cooperative, "合作社", province="辽宁", county="彰武")
    login(client, "139 0418 0001", PASSWORD)
    assert client.get("/account").status_code == 200


def test_wrong_password_in_both_languages(client, users):
    en = post_form(
        client,
        "/login",
        {"login": "coop", "password": "nope-nope"},
        headers={"Accept-Language": "en"},
    )
    assert en.status_code == 200 and "Wrong login or password." in en.get_data(as_text=True)
    zh = post_form(
        client,
        "/login",
        {"login": "coop", "password": "nope-nope"},
        headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert "登录名或密码错误" in zh.get_data(as_text=True)


def test_next_only_redirects_within_the_site(client, users):
    ok = post_form(client, "/login?next=/account", {"login": "coop", "password": PASSWORD})
    assert ok.headers["Location"] == "/account"
    other = client.application.test_client()
    evil = post_form(other, "/login?next=//evil.example/x", {"login": "coop", "password": PASSWORD})
    assert evil.headers["Location"] == "/"


def _cookie(client) -> str:
    return client.get_cookie("pm_session").value


def test_old_cookie_is_refused_after_logout(client, users):
    login(client, "coop", PASSWORD)
    stolen = _cookie(client)
    post_form(client, "/logout", {}, page="/account")
    thief = client.application.test_client()
    thief.set_cookie("pm_session", stolen)
    assert thief.get("/account").status_code == 302


def test_password_change_ends_other_sessions_but_not_this_one(client, users):
    login(client, "coop", PASSWORD)
    laptop = client.application.test_client()
    login(laptop, "coop", PASSWORD)
    old_cookie = _cookie(laptop)
    response = post_form(
        client,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "new-password-9",
            "confirm": "new-password-9",
        },
        page="/account",
    )
    assert response.status_code == 302
    assert client.get("/account").status_code == 200  # this device stays in
    assert laptop.get("/account").status_code == 302  # the other one is out
    replay = client.application.test_client()
    replay.set_cookie("pm_session", old_cookie)
    assert replay.get("/account").status_code == 302
    # and the new password works, the old one does not
    fresh = client.application.test_client()
    login(fresh, "coop", "new-password-9")
    assert (
        post_form(
            client.application.test_client(), "/login", {"login": "coop", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_wrong_current_password_changes_nothing(client, users):
    login(client, "coop", PASSWORD)
    response = post_form(
        client,
        "/account/password",
        {
            "current_password": "wrong-one",
            "new_password": "new-password-9",
            "confirm": "new-password-9",
        },
        page="/account",
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "The current password is wrong." in response.get_data(as_text=True)
    db.session.expire_all()
    assert users["coop"].check_password(PASSWORD)


def test_disabling_an_account_ends_its_sessions(client, users):
    login(client, "coop", PASSWORD)
    admin = client.application.test_client()
    login(admin, "admin", PASSWORD)
    response = post_form(
        admin, f"/admin/users/{users['coop'].id}/disable", {"disabled": "1"}, page="/admin/users"
    )
    assert response.status_code == 302
    assert client.get("/account").status_code == 302
    again = post_form(
        client.application.test_client(),
        "/login",
        {"login": "coop", "password": PASSWORD},
        headers={"Accept-Language": "en"},
    )
    assert "disabled" in again.get_data(as_text=True)


def test_logout_other_devices(client, users):
    login(client, "coop", PASSWORD)
    phone = client.application.test_client()
    login(phone, "coop", PASSWORD)
    post_form(client, "/account/sessions/revoke-others", {}, page="/account")
    assert client.get("/account").status_code == 200
    assert phone.get("/account").status_code == 302


def test_sessions_are_stored_as_digests(client, users):
    login(client, "coop", PASSWORD)
    row = db.session.scalar(select(LoginSession))
    assert len(row.token_hash) == 64 and row.token_hash not in _cookie(client)


def test_failed_login_limit_holds_across_two_app_instances(app, database_url, tmp_path, users):
    """Two processes' worth of app, one database: the limit counts failures from both."""
    second = make_app(database_url, tmp_path / "second")
    one, two = app.test_client(), second.test_client()
    for i in range(5):
        client = one if i % 2 else two
        response = post_form(client, "/login", {"login": "coop", "password": f"wrong-{i}"})
        assert response.status_code == 200
    # the sixth attempt is refused on either instance, even with the right password
    for client in (one, two):
        response = post_form(
            client,
            "/login",
            {"login": "coop", "password": PASSWORD},
            headers={"Accept-Language": "en"},
        )
        assert response.status_code == 429
        assert "Too many failed logins" in response.get_data(as_text=True)
        assert int(response.headers["Retry-After"]) > 0
    with second.app_context():
        from produce_match.extensions import db as db2

        assert db2.session.scalar(select(db2.func.count()).select_from(LoginFailure)) == 5
        db2.session.remove()
        db2.engine.dispose()


def test_success_clears_the_failures(client, users):
    for _ in range(3):
        post_form(client, "/login", {"login": "coop", "password": "wrong-pw"})
    login(client, "coop", PASSWORD)
    assert db.session.scalar(select(db.func.count()).select_from(LoginFailure)) == 0


def test_failures_expire_with_the_window(app, users):
    with app.test_request_context(method="POST"):  # a login is a POST: it may write
        for _ in range(5):
            with contextlib.suppress(accounts.InvalidCredentials):
                accounts.authenticate("coop", "wrong-pw", "10.0.0.1")
        db.session.commit()
        # pretend the failures happened long ago
        from datetime import timedelta

        for row in db.session.scalars(select(LoginFailure)):
            row.at = row.at - timedelta(hours=1)
        db.session.commit()
        assert accounts.authenticate("coop", PASSWORD, "10.0.0.1").login == "coop"


def test_parallel_guesses_cannot_race_past_the_limit(app, client, users, monkeypatch):
    """Twenty guesses at once (PostgreSQL runs them truly in parallel): still only five are
    checked, the rest are refused, and five failures are recorded."""
    from produce_match.accounts.models import User

    checked = []
    slow_check = User.check_password

    def check_password(self, password):  # as slow as a production hash: a wide window
        checked.append(password)
        time.sleep(0.2)
        return slow_check(self, password)

    monkeypatch.setattr(User, "check_password", check_password)
    start = threading.Barrier(20)

    def guess(i: int) -> int:
        start.wait()
        body = {"login": "coop", "password": f"wrong-{i}"}
        return app.test_client().post("/api/v1/tokens", json=body).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(pool.map(guess, range(20)))
    assert statuses == [401] * 5 + [429] * 15
    assert len(checked) == 5
    assert db.session.scalar(select(db.func.count()).select_from(LoginFailure)) == 5


def test_a_wrong_current_password_counts_as_a_failed_login(client, users):
    login(client, "coop", PASSWORD)
    form = {"new_password": "new-password-9", "confirm": "new-password-9"}
    for i in range(5):
        response = post_form(
            client, "/account/password", {**form, "current_password": f"wrong-{i}"}, page="/account"
        )
        assert response.status_code == 422
    assert db.session.scalar(select(db.func.count()).select_from(LoginFailure)) == 5
    # the sixth try is refused even with the right password, and so is logging in
    response = post_form(
        client,
        "/account/password",
        {**form, "current_password": PASSWORD},
        page="/account",
        headers={"Accept-Language": "zh"},
    )
    assert response.status_code == 429 and "登录失败次数过多" in response.get_data(as_text=True)
    db.session.expire_all()
    assert users["coop"].check_password(PASSWORD)
    other = client.application.test_client()
    assert post_form(other, "/login", {"login": "coop", "password": PASSWORD}).status_code == 429


def _api_token(client, name: str = "script") -> str:
    response = client.post(
        "/api/v1/tokens", json={"login": "coop", "password": PASSWORD, "name": name}
    )
    assert response.status_code == 201
    return response.json["token"]


def _api_answers(client, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_password_change_revokes_the_api_tokens_and_says_so(client, users):
    first, second = _api_token(client, "a"), _api_token(client, "b")
    other = client.application.test_client()
    assert _api_answers(other, first) == 200
    login(client, "coop", PASSWORD)
    response = post_form(
        client,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "new-password-9",
            "confirm": "new-password-9",
        },
        page="/account",
        headers={"Accept-Language": "zh"},
        follow_redirects=True,
    )
    assert "已吊销 2 个 API 令牌" in response.get_data(as_text=True)
    assert _api_answers(other, first) == 401 and _api_answers(other, second) == 401
    actions = [e.action for e in history(users["coop"])]
    assert "password_changed" in actions


def test_logging_out_other_devices_revokes_the_api_tokens(client, users):
    token = _api_token(client)
    login(client, "coop", PASSWORD)
    response = post_form(
        client,
        "/account/sessions/revoke-others",
        {},
        page="/account",
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "1 API token was revoked" in response.get_data(as_text=True)
    assert _api_answers(client.application.test_client(), token) == 401
    assert client.get("/account").status_code == 200  # this device stays in


def test_my_account_revokes_every_token_at_once(client, users):
    tokens = [_api_token(client, f"t{i}") for i in range(3)]
    login(client, "coop", PASSWORD)
    page = client.get("/account", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "吊销全部令牌" in page
    response = post_form(
        client, "/account/tokens/revoke-all", {}, page="/account", follow_redirects=True
    )
    assert response.status_code == 200
    other = client.application.test_client()
    assert [_api_answers(other, t) for t in tokens] == [401, 401, 401]
    assert client.get("/account").status_code == 200  # the browser's session is not a token
    db.session.expire_all()
    rows = db.session.scalars(select(ApiToken)).all()
    assert len(rows) == 3 and not any(row.active for row in rows)
    assert all([e.action for e in history(row)] == ["issued", "revoked"] for row in rows)
