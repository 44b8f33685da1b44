"""The API frame: tokens, the error format, the OpenAPI document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from produce_match.accounts.models import ApiToken
from produce_match.extensions import db
from tests.factories import PASSWORD


def issue(client, login="coop", password=PASSWORD, **extra):
    return client.post("/api/v1/tokens", json={"login": login, "password": password, **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_issue_token_and_call_me(client, users):
    response = issue(client, name="ERP")
    assert response.status_code == 201
    body = response.json
    assert body["token"].startswith("pm_") and body["name"] == "ERP" and body["active"]
    me = client.get("/api/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json["login"] == "coop" and me.json["role"] == "cooperative"
    assert me.json["organisation"]["name"] == "道亭村合作社"
    assert me.json["organisation"]["county"] == "彰武县"


def test_tokens_are_listed_without_their_secret_and_revoked(client, users):
    first = issue(client).json
    second = issue(client).json
    listed = client.get("/api/v1/tokens", headers=bearer(first["token"])).json
    assert [t["id"] for t in listed] == [second["id"], first["id"]]
    assert all("token" not in t for t in listed)
    assert (
        client.delete(f"/api/v1/tokens/{second['id']}", headers=bearer(first["token"])).status_code
        == 204
    )
    assert client.get("/api/v1/me", headers=bearer(second["token"])).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(first["token"])).status_code == 200


def test_another_users_token_is_not_found(client, users):
    mine = issue(client).json
    theirs = issue(client, login="buyer").json
    response = client.delete(f"/api/v1/tokens/{theirs['id']}", headers=bearer(mine["token"]))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert client.get("/api/v1/me", headers=bearer(theirs["token"])).status_code == 200


def test_tokens_of_a_disabled_user_stop_working(client, users):
    from produce_match.accounts import operations as accounts

    token = issue(client).json["token"]
    accounts.set_disabled(users["coop"], users["admin"], True)
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_wrong_password_error_format(client, users):
    response = issue(client, password="wrong-password")
    assert response.status_code == 401
    assert response.json == {
        "error": {"code": "invalid_credentials", "fields": {}, "message": "登录名或密码错误。"}
    }
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_error_messages_follow_accept_language(client, users):
    response = client.post(
        "/api/v1/tokens", json={"login": "coop", "password": "x"}, headers={"Accept-Language": "en"}
    )
    assert response.json["error"]["message"] == "Wrong login or password."


def test_validation_error_lists_fields(client):
    response = client.post("/api/v1/tokens", json={"login": ""}, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"login", "password"}
    assert error["fields"]["password"] == ["This field is required."]


def test_malformed_json_is_a_clear_400(client):
    response = client.post("/api/v1/tokens", data="{not json", content_type="application/json")
    assert response.status_code in (400, 422)
    assert "error" in response.json


def test_missing_or_bad_token_is_401_with_challenge(client):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


def test_405_keeps_its_allow_header(client):
    response = client.put("/api/v1/tokens")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.json["error"]["code"] == "method_not_allowed"


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_too_many_failures_is_429_with_retry_after(client, users):
    for _ in range(5):
        assert issue(client, password="wrong-pw").status_code == 401
    response = issue(client)
    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) > 0


def test_api_needs_no_csrf_but_html_forms_do(client, users):
    # bearer-token requests carry no cookie, so CSRF does not apply to them
    assert issue(client).status_code == 201


def test_openapi_document_is_valid_and_complete(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/tokens", "/api/v1/tokens/{token_id}", "/api/v1/me"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = spec["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("province", ["辽宁", "210000", "辽宁省"])
def test_regions_lists_counties_of_a_province(client, province):
    rows = client.get("/api/v1/regions", query_string={"province": province}).json
    names = {r["name"] for r in rows}
    assert "彰武县" in names and "金州区" in names
    assert all(r["level"] == "county" for r in rows)
