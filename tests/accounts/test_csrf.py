"""Every form needs its CSRF token; without it nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from produce_match.accounts.models import ApiToken, Organisation
from produce_match.extensions import db
from tests.conftest import login
from tests.factories import PASSWORD


def test_register_without_token_is_refused(client):
    response = client.post(
        "/register",
        data={
            "kind": "cooperative",
            "org_name": "x",
            "contact_person": "y",
            "phone": "13900000000",
            "password": "abcdefgh",
            "confirm": "abcdefgh",
            "province": "210000",
            "county": "彰武",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 0


@pytest.mark.parametrize(
    "url",
    [
        "/account/tokens",
        "/account/password",
        "/account/profile",
        "/account/sessions/revoke-others",
        "/account/tokens/revoke-all",
        "/logout",
        "/language",
    ],
)
def test_logged_in_forms_without_token_are_refused(client, users, url):
    login(client, "coop", PASSWORD)
    response = client.post(url, data={"name": "x", "lang": "en"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert client.get("/account").status_code == 200  # still logged in: logout was refused too


def test_login_without_token_is_refused(client, users):
    response = client.post("/login", data={"login": "coop", "password": PASSWORD})
    assert response.status_code == 400
