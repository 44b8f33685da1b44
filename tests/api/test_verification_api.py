"""The verification API: own claims (list, submit with a base64 photo, withdraw), the deciders'
queue and decisions; 404 for what one may not see, 403 for a step one may not take, 422 for a
number that does not add up (nothing stored), 409 for a second waiting claim; the resident ID
number only ever masked."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select

from produce_match.extensions import db
from produce_match.trust.models import ClaimStatus, IdentityClaim
from tests.factories import PASSWORD, jpeg_bytes
from tests.trust import conftest as trust_fixtures
from tests.trust.conftest import CODE, RESIDENT_ID

world = trust_fixtures.world

LOGINS = ("coop", "coop2", "buyer", "haulier", "official", "provincial", "jiangxi", "gate", "admin")


@pytest.fixture
def tokens(client, world) -> dict[str, dict[str, str]]:
    out = {}
    for login in LOGINS:
        response = client.post("/api/v1/tokens", json={"login": login, "password": PASSWORD})
        assert response.status_code == 201, response.json
        out[login] = {
            "Authorization": f"Bearer {response.json['token']}",
            "Accept-Language": "en",
        }
    return out


def licence() -> str:
    return base64.b64encode(jpeg_bytes(400, 300)).decode()


def submit(client, headers, **fields):
    body = {"kind": "credit_code", "credit_code": CODE, "person_name": "李支书"}
    body["photo"] = licence()
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("/api/v1/verification", json=body, headers=headers)


def test_a_member_submits_lists_and_withdraws(client, tokens):
    response = submit(client, tokens["coop"])
    assert response.status_code == 201, response.json
    claim = response.json
    assert claim["status"] == "submitted" and claim["credit_code"] == CODE
    assert claim["photo"].endswith(f"/verifications/{claim['id']}/photo/full.jpg")
    assert client.get(claim["photo"], headers=tokens["coop"]).status_code == 200
    assert client.get(claim["photo"], headers=tokens["official"]).status_code == 200
    assert client.get(claim["photo"], headers=tokens["buyer"]).status_code == 404
    own = client.get("/api/v1/verification", headers=tokens["coop"]).json
    assert own["verified"] is False and [c["id"] for c in own["items"]] == [claim["id"]]
    again = submit(client, tokens["coop"])
    assert again.status_code == 409 and again.json["error"]["code"] == "claim_waiting"
    other = client.post(
        f"/api/v1/verification/{claim['id']}/withdraw", json={}, headers=tokens["coop2"]
    )
    assert other.status_code == 404
    done = client.post(
        f"/api/v1/verification/{claim['id']}/withdraw", json={}, headers=tokens["coop"]
    )
    assert done.status_code == 200 and done.json["status"] == "withdrawn"


@pytest.mark.parametrize("who", ["official", "provincial", "jiangxi", "gate", "admin"])
def test_only_members_of_claimant_organisations_submit(client, tokens, who):
    assert submit(client, tokens[who]).status_code == 403
    assert client.get("/api/v1/verification", headers=tokens[who]).status_code == 403


def test_an_invalid_code_is_422_with_the_field_in_the_callers_language(client, tokens):
    response = submit(client, tokens["coop"], credit_code="93210922MA0000001G")
    assert response.status_code == 422
    assert "credit_code" in response.json["error"]["fields"]
    zh = {**tokens["coop"], "Accept-Language": "zh-CN"}
    response = submit(client, zh, credit_code="93210922MA0000001G")
    assert "校验" in response.json["error"]["fields"]["credit_code"][0]
    bad_photo = submit(client, tokens["coop"], photo="not base64!")
    assert bad_photo.status_code == 422 and "photo" in bad_photo.json["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(IdentityClaim)) == 0


def test_the_resident_id_is_only_ever_masked(client, tokens):
    response = submit(
        client,
        tokens["haulier"],
        kind="resident_id",
        credit_code=None,
        photo=None,
        resident_id=RESIDENT_ID,
        person_name="马师傅",
    )
    assert response.status_code == 201, response.json
    claim_id = response.json["id"]
    for who, url in (
        ("haulier", "/api/v1/verification"),
        ("official", "/api/v1/verifications"),
        ("admin", f"/api/v1/verifications/{claim_id}"),
        ("official", f"/api/v1/verifications/{claim_id}/verify"),
    ):
        if url.endswith("/verify"):
            answer = client.post(url, json={}, headers=tokens[who])
        else:
            answer = client.get(url, headers=tokens[who])
        assert answer.status_code == 200, (url, answer.json)
        text = answer.get_data(as_text=True)
        assert RESIDENT_ID not in text and "110***********002X" in text


#: who decides a claim of the Zhangwu cooperative: 200, 403 (sees it, may not) or 404
DECIDERS = {
    "coop": 403,
    "coop2": 404,
    "buyer": 404,
    "haulier": 404,
    "official": 200,
    "provincial": 200,
    "jiangxi": 404,
    "gate": 404,
    "admin": 200,
}


@pytest.mark.parametrize("who", DECIDERS)
def test_who_verifies(client, tokens, who):
    claim_id = submit(client, tokens["coop"]).json["id"]
    response = client.post(f"/api/v1/verifications/{claim_id}/verify", json={}, headers=tokens[who])
    assert response.status_code == DECIDERS[who]
    db.session.expire_all()
    claim = db.session.get(IdentityClaim, claim_id)
    assert (claim.status is ClaimStatus.verified) is (DECIDERS[who] == 200)
    assert claim.org.verified is (DECIDERS[who] == 200)


def test_reject_and_revoke_need_a_reason(client, tokens):
    claim_id = submit(client, tokens["coop"]).json["id"]
    url = f"/api/v1/verifications/{claim_id}"
    assert client.post(f"{url}/reject", json={}, headers=tokens["official"]).status_code == 422
    rejected = client.post(f"{url}/reject", json={"reason": "模糊"}, headers=tokens["official"])
    assert rejected.status_code == 200 and rejected.json["reason"] == "模糊"
    assert client.post(f"{url}/verify", json={}, headers=tokens["official"]).status_code == 409
    claim_id = submit(client, tokens["coop"]).json["id"]
    url = f"/api/v1/verifications/{claim_id}"
    assert client.post(f"{url}/verify", json={}, headers=tokens["admin"]).status_code == 200
    own = client.get("/api/v1/verification", headers=tokens["coop"]).json
    assert own["verified"] is True and own["verified_as"] == "credit_code"
    assert client.post(f"{url}/revoke", json={}, headers=tokens["admin"]).status_code == 422
    revoked = client.post(f"{url}/revoke", json={"reason": "吊销"}, headers=tokens["jiangxi"])
    assert revoked.status_code == 404
    revoked = client.post(f"{url}/revoke", json={"reason": "吊销"}, headers=tokens["official"])
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    assert client.get("/api/v1/verification", headers=tokens["coop"]).json["verified"] is False


def test_the_queue_by_area_and_status(client, tokens):
    zhangwu = submit(client, tokens["coop"]).json["id"]
    nanchang = submit(client, tokens["buyer"], credit_code="91360102MA0000002U").json["id"]

    def ids(who, **query):
        response = client.get("/api/v1/verifications", query_string=query, headers=tokens[who])
        assert response.status_code == 200, response.json
        return {c["id"] for c in response.json["items"]}

    assert ids("official") == {zhangwu}
    assert ids("jiangxi") == {nanchang}
    assert ids("admin") == {zhangwu, nanchang}
    assert ids("official", status="verified") == set()
    assert ids("admin", status="all") == {zhangwu, nanchang}
    for who in ("coop", "buyer", "haulier", "gate"):
        assert client.get("/api/v1/verifications", headers=tokens[who]).status_code == 403
    assert client.get("/api/v1/verifications").status_code == 401
