"""实名认证: who may submit, see, verify, reject and revoke an identity claim; what is checked
before anything is stored; one waiting claim; the masked resident ID; the badge; the audit."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import Forbidden

from produce_match import policy
from produce_match.audit.operations import history
from produce_match.dates import local_datetime
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import PhotoUpload
from produce_match.notifications.models import Notification
from produce_match.trust import verification
from produce_match.trust.models import ClaimStatus, IdentityClaim
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes
from tests.trust.conftest import CODE, RESIDENT_ID

EVERYONE = (
    "coop",
    "coop2",
    "buyer",
    "haulier",
    "official",
    "province_official",
    "other_official",
    "gate",
    "admin",
    None,
)


def claim_input(**fields) -> verification.ClaimInput:
    values = {
        "kind": "credit_code",
        "person_name": "李支书",
        "credit_code": CODE,
        "photo": jpeg_bytes(400, 300),
    }
    values.update(fields)
    return verification.ClaimInput(**values)


def submitted(world, who: str = "coop", **fields) -> IdentityClaim:
    claim = verification.submit(world[who], claim_input(**fields))
    db.session.commit()
    return claim


def _user(world, who):
    return world[who] if who is not None else None


def stored_claim_files(app) -> list[Path]:
    return list((Path(app.config["UPLOAD_DIR"]) / "claims").rglob("*.jpg"))


# --- who may do what --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("coop", True),
        ("coop2", True),
        ("buyer", True),
        ("haulier", True),
        ("official", False),
        ("province_official", False),
        ("other_official", False),
        ("gate", False),
        ("admin", False),
        (None, False),
    ],
)
def test_who_may_submit(world, who, expected):
    assert policy.can(_user(world, who), "create", IdentityClaim) is expected


#: (who, sees the claim, withdraws it, decides it) for a claim of the Zhangwu cooperative
RULES = {
    "coop": (True, True, False),
    "coop2": (False, False, False),
    "buyer": (False, False, False),
    "haulier": (False, False, False),  # another organisation of the same county
    "official": (True, False, True),  # the county's office
    "province_official": (True, False, True),  # its province covers the county
    "other_official": (False, False, False),
    "gate": (False, False, False),  # checkpoint staff of the county's office
    "admin": (True, False, True),
    None: (False, False, False),
}


@pytest.mark.parametrize("who", EVERYONE)
def test_who_sees_and_decides_a_claim(world, who):
    claim = submitted(world)
    sees, withdraws, decides = RULES[who]
    user = _user(world, who)
    assert policy.can(user, policy.VIEW, claim) is sees
    assert policy.can(user, "withdraw", claim) is withdraws
    for action in ("verify", "reject", "revoke"):
        assert policy.can(user, action, claim) is decides
    assert policy.can(user, "list", IdentityClaim) is (
        who in ("official", "province_official", "other_official", "admin")
    )


@pytest.mark.parametrize("who", [w for w in EVERYONE if w and not RULES[w][2]])
def test_others_cannot_verify_reject_or_revoke(world, who):
    claim = submitted(world)
    with pytest.raises(Forbidden):
        verification.verify(world[who], claim)
    with pytest.raises(Forbidden):
        verification.reject(world[who], claim, "no")
    verification.verify(world["admin"], claim)
    with pytest.raises(Forbidden):
        verification.revoke(world[who], claim, "no")
    db.session.rollback()


@pytest.mark.parametrize("who", ["coop2", "buyer", "official", "admin"])
def test_only_members_withdraw(world, who):
    claim = submitted(world)
    with pytest.raises(Forbidden):
        verification.withdraw(world[who], claim)


def test_offices_have_nothing_to_verify(world):
    office = world["official"].organisation
    assert not policy.can(world["admin"], "verify", office)
    with pytest.raises(Forbidden):
        verification.submit(world["official"], claim_input())


# --- what is checked before anything is stored ------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"credit_code": "93210922MA0000001G"}, "credit_code"),  # wrong check character
        ({"credit_code": "93210922MA000001"}, "credit_code"),  # too short
        ({"credit_code": "93210922MA000000IF"}, "credit_code"),  # no I in a credit code
        ({"credit_code": ""}, "credit_code"),
        ({"person_name": "  "}, "person_name"),
        ({"photo": None}, "photo"),  # a licence needs its photo
        ({"kind": "passport"}, "kind"),
        ({"kind": "resident_id", "resident_id": "110105194912310021"}, "resident_id"),
        ({"kind": "resident_id", "resident_id": "110105194913310020"}, "resident_id"),
    ],
)
def test_invalid_claims_store_nothing(app, world, fields, field):
    with pytest.raises(ValidationFailed) as refused:
        verification.submit(world["coop"], claim_input(**fields))
    assert field in refused.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(IdentityClaim)) == 0
    assert db.session.scalar(select(func.count()).select_from(PhotoUpload)) == 0
    assert stored_claim_files(app) == []


def test_a_code_typed_with_spaces_and_full_width_is_stored_as_printed(world):
    typed = "９３２１ ０９２２-ma00 00001f"
    claim = submitted(world, credit_code=typed)
    assert claim.credit_code == CODE


def test_one_waiting_claim_per_organisation(world):
    first = submitted(world)
    with pytest.raises(Conflict) as refused:
        verification.submit(world["coop"], claim_input())
    assert refused.value.code == "claim_waiting"
    assert "已有一份认证申请正在等待审核" in str(refused.value.message)
    db.session.rollback()
    verification.withdraw(world["coop"], first)
    db.session.commit()
    again = submitted(world)
    assert again.status is ClaimStatus.submitted and first.status is ClaimStatus.withdrawn


def test_a_verified_organisation_does_not_submit_again(world):
    verification.verify(world["official"], submitted(world))
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        verification.submit(world["coop"], claim_input())
    assert refused.value.code == "already_verified"


# --- decisions: the organisation, the audit, the notices --------------------------------------


def test_verify_marks_the_organisation_with_what_and_who_and_tells_its_members(world):
    claim = submitted(world)
    official = world["official"]
    verification.verify(official, claim)
    db.session.commit()
    org = world["coop"].organisation
    assert claim.status is ClaimStatus.verified and claim.decided_by_id == official.id
    assert org.verified and org.verified_by_id == official.id
    assert org.verified_as == "credit_code"
    assert [e.action for e in history(claim)] == ["submitted", "verified"]
    last = history(org)[-1]
    assert last.action == "verified" and last.actor_id == official.id
    assert last.changes["as"] == "credit_code" and last.changes["claim"] == claim.id
    told = db.session.scalars(
        select(Notification).where(Notification.kind == "verification.verified")
    ).all()
    assert [n.user_id for n in told] == [world["coop"].id]
    # the county's officials were told of the request when it came
    asked = db.session.scalars(
        select(Notification.user_id).where(Notification.kind == "verification.submitted")
    ).all()
    assert set(asked) == {official.id, world["province_official"].id}


def test_reject_needs_a_reason_and_tells_the_members(world):
    claim = submitted(world)
    with pytest.raises(ValidationFailed) as refused:
        verification.reject(world["official"], claim, "  ")
    assert "reason" in refused.value.fields
    db.session.rollback()
    verification.reject(world["official"], claim, "照片看不清")
    db.session.commit()
    assert claim.status is ClaimStatus.rejected and claim.reason == "照片看不清"
    assert not world["coop"].organisation.verified
    notice = db.session.scalar(
        select(Notification).where(Notification.kind == "verification.rejected")
    )
    assert notice.user_id == world["coop"].id and notice.params["reason"] == "照片看不清"
    with pytest.raises(Conflict):  # decided already
        verification.verify(world["official"], claim)


def test_revoke_needs_a_reason_and_clears_the_organisation(world):
    claim = submitted(world)
    verification.verify(world["admin"], claim)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        verification.revoke(world["official"], claim, "")
    db.session.rollback()
    verification.revoke(world["official"], claim, "营业执照已吊销")
    db.session.commit()
    org = world["coop"].organisation
    assert claim.status is ClaimStatus.revoked and claim.reason == "营业执照已吊销"
    assert not org.verified and org.verified_as is None and org.verified_by_id is None
    assert [e.action for e in history(org)][-2:] == ["verified", "unverified"]
    assert history(claim)[-1].action == "revoked"
    # revoked: the organisation may ask again
    assert submitted(world).status is ClaimStatus.submitted


def test_an_organisation_verified_before_claims_can_be_revoked(world):
    from produce_match.accounts import operations as accounts

    org = world["coop2"].organisation
    accounts.set_verified(org, world["admin"], True)
    db.session.commit()
    verification.revoke_organisation(world["admin"], org, "没有材料")
    db.session.commit()
    assert not org.verified and history(org)[-1].action == "unverified"


def test_resident_id_claims_need_no_photo_and_are_masked(world):
    claim = submitted(
        world,
        who="haulier",
        kind="resident_id",
        resident_id=RESIDENT_ID,
        photo=None,
        person_name="马师傅",
        credit_code=None,
    )
    assert claim.resident_id == RESIDENT_ID and claim.photo_key is None
    assert claim.masked_resident_id == "110***********002X"
    verification.verify(world["official"], claim)
    db.session.commit()
    assert world["haulier"].organisation.verified_as == "resident_id"
    assert all(RESIDENT_ID not in str(e.changes) for e in history(claim))


# --- pages ---------------------------------------------------------------------------------


ZH = {"Accept-Language": "zh-CN"}


def zh_date(instant) -> str:
    day = local_datetime(instant).date()
    return f"{day.year}年{day.month}月{day.day}日"


def test_a_member_submits_on_the_page_with_the_licence_photo(app, client, world):
    login(client, "coop", PASSWORD)
    page = client.get("/account/verification", headers=ZH)
    assert page.status_code == 200 and "实名认证" in page.get_data(as_text=True)
    response = post_form(
        client,
        "/account/verification",
        {
            "kind": "credit_code",
            "credit_code": CODE,
            "person_name": "李支书",
            "photo": (io.BytesIO(jpeg_bytes(400, 300)), "licence.jpg"),
        },
        page="/account/verification",
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    claim = db.session.scalar(select(IdentityClaim))
    assert claim.credit_code == CODE and claim.photo_key.startswith(f"claims/{claim.org_id}/")
    html = client.get("/account/verification", headers=ZH).get_data(as_text=True)
    assert CODE in html and "等待审核" in html
    photo = f"/verifications/{claim.id}/full.jpg"
    assert client.get(photo).status_code == 200
    official = app.test_client()
    login(official, "official", PASSWORD)
    assert official.get(photo).status_code == 200
    buyer = app.test_client()
    login(buyer, "buyer", PASSWORD)
    assert buyer.get(photo).status_code == 404


def test_an_invalid_code_on_the_page_says_why_in_chinese_and_stores_nothing(app, client, world):
    login(client, "coop", PASSWORD)
    response = post_form(
        client,
        "/account/verification",
        {
            "kind": "credit_code",
            "credit_code": "93210922MA0000001G",
            "person_name": "李支书",
            "photo": (io.BytesIO(jpeg_bytes(400, 300)), "licence.jpg"),
        },
        page="/account/verification",
        content_type="multipart/form-data",
        headers=ZH,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "统一社会信用代码" in html and "校验" in html
    assert db.session.scalar(select(func.count()).select_from(IdentityClaim)) == 0
    assert stored_claim_files(app) == []


@pytest.mark.parametrize(
    "who", ["official", "province_official", "other_official", "gate", "admin"]
)
def test_the_own_page_is_for_members_only(client, world, who):
    login(client, world[who].login, PASSWORD)
    assert client.get("/account/verification").status_code == 404


def test_the_resident_id_is_masked_on_every_page(app, client, world):
    claim = submitted(
        world, kind="resident_id", resident_id=RESIDENT_ID, photo=None, credit_code=None
    )
    for who in ("coop", "official", "admin"):
        c = app.test_client()
        login(c, world[who].login, PASSWORD)
        page = "/account/verification" if who == "coop" else "/office/verifications"
        html = c.get(page, headers=ZH).get_data(as_text=True)
        assert "110***********002X" in html and RESIDENT_ID not in html
    assert claim.id


def test_the_review_queue_shows_the_area_and_verifies_in_one_tap(app, client, world):
    claim = submitted(world)
    other = submitted(world, who="buyer", credit_code="91360102MA0000002U")
    login(client, "official", PASSWORD)
    html = client.get("/office/verifications", headers=ZH).get_data(as_text=True)
    assert "道亭村合作社" in html and "南昌粮油公司" not in html
    assert f"/verifications/{claim.id}/thumb.jpg" in html
    assert "身份核验" in html or "实名认证" in html  # the nav names the queue
    response = post_form(
        client, f"/office/verifications/{claim.id}/verify", {}, page="/office/verifications"
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert claim.status is ClaimStatus.verified
    # the other county's claim is not the official's to decide
    response = post_form(
        client, f"/office/verifications/{other.id}/verify", {}, page="/office/verifications"
    )
    assert response.status_code == 404
    jiangxi = app.test_client()
    login(jiangxi, "jiangxi", PASSWORD)
    html = jiangxi.get("/office/verifications").get_data(as_text=True)
    assert "南昌粮油公司" in html and "道亭村合作社" not in html


def test_reject_and_revoke_on_the_page_need_a_reason(client, world):
    claim = submitted(world)
    login(client, "admin", PASSWORD)
    page = "/office/verifications"
    post_form(client, f"{page}/{claim.id}/reject", {"reason": ""}, page=page)
    db.session.expire_all()
    assert claim.status is ClaimStatus.submitted
    post_form(client, f"{page}/{claim.id}/reject", {"reason": "号码与执照不符"}, page=page)
    db.session.expire_all()
    assert claim.status is ClaimStatus.rejected and claim.reason == "号码与执照不符"
    again = submitted(world)
    post_form(client, f"{page}/{again.id}/verify", {}, page=page)
    post_form(client, f"{page}/{again.id}/revoke", {"reason": "吊销"}, page=page)
    db.session.expire_all()
    assert again.status is ClaimStatus.revoked and not world["coop"].organisation.verified


@pytest.mark.parametrize("who", ["coop", "buyer", "haulier", "gate"])
def test_the_review_queue_is_for_deciders_only(client, world, who):
    login(client, world[who].login, PASSWORD)
    assert client.get("/office/verifications").status_code == 404


def test_the_badge_says_what_was_verified_and_when(app, client, world):
    org = world["coop"].organisation
    html = client.get(f"/organisations/{org.id}", headers=ZH).get_data(as_text=True)
    assert "尚未认证" in html or "未认证" in html
    verification.verify(world["official"], submitted(world))
    db.session.commit()
    html = client.get(f"/organisations/{org.id}", headers=ZH).get_data(as_text=True)
    assert f"✔ 已实名认证 · 统一社会信用代码 · {zh_date(org.verified_at)}" in html
    english = client.get(f"/organisations/{org.id}", headers={"Accept-Language": "en"})
    assert "Verified identity · unified social credit code · " in english.get_data(as_text=True)


def test_a_badge_without_a_kind_says_verified_and_the_date(client, world):
    from produce_match.accounts import operations as accounts

    org = world["coop2"].organisation
    accounts.set_verified(org, world["admin"], True)
    db.session.commit()
    html = client.get(f"/organisations/{org.id}", headers=ZH).get_data(as_text=True)
    assert re.search(rf"✔ 已实名认证 · {zh_date(org.verified_at)}", html)


def test_the_admin_organisations_page_links_to_the_claims(client, world):
    login(client, "admin", PASSWORD)
    html = client.get("/admin/organisations?show=all").get_data(as_text=True)
    org = world["coop"].organisation
    assert f"/office/verifications?org={org.id}" in html
    assert "/verify" not in html  # the bare toggle is gone
    assert client.get(f"/office/verifications?org={org.id}").status_code == 200


def test_an_admin_revokes_a_verification_made_before_claims_on_the_page(client, world):
    from produce_match.accounts import operations as accounts

    org = world["coop2"].organisation
    accounts.set_verified(org, world["admin"], True)
    db.session.commit()
    login(client, "admin", PASSWORD)
    page = f"/office/verifications?org={org.id}"
    assert "revoke" in client.get(page).get_data(as_text=True)
    post_form(
        client,
        f"/office/verifications/organisations/{org.id}/revoke",
        {"reason": "无材料", "next": page},
        page=page,
    )
    db.session.expire_all()
    assert not org.verified


def test_anonymous_visitors_see_only_the_badge(client, world):
    claim = submitted(world)
    for url in (
        "/account/verification",
        "/office/verifications",
        f"/verifications/{claim.id}/full.jpg",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    org = world["coop"].organisation
    assert client.get(f"/organisations/{org.id}").status_code == 200
    assert client.get("/api/v1/verification").status_code == 401
