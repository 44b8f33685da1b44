"""The permission policy, for every role."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import Forbidden, NotFound

from produce_match import policy
from produce_match.accounts import operations as accounts
from produce_match.accounts.models import ApiToken, Organisation, OrgKind, User


def org(users, key) -> Organisation:
    return users[key].organisation


@pytest.mark.parametrize("who", [None, "coop", "coop2", "buyer", "official", "admin"])
def test_everyone_sees_public_organisation_profiles(users, who):
    user = users[who] if who else None
    assert policy.can(user, policy.VIEW, org(users, "coop"))


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (None, False),
        ("coop", True),  # its own members
        ("coop2", False),  # another cooperative
        ("buyer", True),  # buyers may contact sellers
        ("official", True),  # Zhangwu's office covers Zhangwu
        ("province_official", True),  # the province office covers its counties
        ("other_official", False),  # a Jiangxi office does not
        ("admin", True),
    ],
)
def test_contact_details_of_a_cooperative(users, who, expected):
    user = users[who] if who else None
    assert policy.can(user, "view_contact", org(users, "coop")) is expected


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("coop", True),
        ("coop2", False),
        ("buyer", False),
        ("official", False),
        ("admin", True),
    ],
)
def test_editing_an_organisation(users, who, expected):
    assert policy.can(users[who], "edit", org(users, "coop")) is expected


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("coop", False),
        ("buyer", False),
        ("other_official", False),
        ("official", True),  # the county's office
        ("province_official", True),  # its province covers the county
        ("admin", True),
    ],
)
def test_admins_and_the_county_officials_verify(users, who, expected):
    assert policy.can(users[who], "verify", org(users, "coop")) is expected


def test_offices_are_not_verified(users):
    assert not policy.can(users["admin"], "verify", org(users, "official"))


def test_users_see_themselves_admins_see_all(users):
    assert policy.can(users["coop"], policy.VIEW, users["coop"])
    assert not policy.can(users["coop"], policy.VIEW, users["buyer"])
    assert not policy.can(users["official"], policy.VIEW, users["coop"])
    assert policy.can(users["admin"], policy.VIEW, users["coop"])
    assert policy.can(users["admin"], "disable", users["coop"])
    assert not policy.can(users["admin"], "disable", users["admin"])
    assert not policy.can(users["coop"], "disable", users["buyer"])
    assert policy.can(users["admin"], "list", User) and not policy.can(users["coop"], "list", User)


def test_tokens_belong_to_their_owner_only(users):
    token, _raw = accounts.issue_token(users["coop"], "t")
    assert policy.can(users["coop"], "revoke", token)
    for other in ("coop2", "buyer", "official", "admin"):
        assert not policy.can(users[other], policy.VIEW, token)
        with pytest.raises(NotFound):
            policy.ensure(users[other], "revoke", token)
    assert not policy.can(None, "create", ApiToken)


def test_disabled_users_can_do_nothing(users):
    from produce_match.database import utcnow

    users["admin"].disabled_at = utcnow()
    assert not policy.can(users["admin"], "verify", org(users, "coop"))
    assert not policy.admin_area(users["admin"])


def test_ensure_distinguishes_unknown_from_forbidden(users):
    target = org(users, "coop")
    with pytest.raises(Forbidden):  # may see the organisation, may not edit it
        policy.ensure(users["buyer"], "edit", target)


def test_jurisdiction():
    office = Organisation(
        name="x", kind=OrgKind.office, province_code="210000", county_code="210922"
    )
    province_office = Organisation(name="y", kind=OrgKind.office, province_code="210000")
    assert policy.covers(office, "210000", "210922")
    assert not policy.covers(office, "210000", "210213")
    assert policy.covers(province_office, "210000", "210213")
    assert not policy.covers(province_office, "360000", "360102")
    coop = Organisation(name="z", kind=OrgKind.cooperative, province_code="210000")
    assert not policy.covers(coop, "210000", None)


def test_only_traders_trade(users):
    assert policy.trades(users["coop"]) and policy.trades(users["buyer"])
    assert not policy.trades(users["official"]) and not policy.trades(users["admin"])


def test_admin_pages_are_invisible_to_others(client, users):
    from tests.conftest import login
    from tests.factories import PASSWORD

    assert client.get("/admin/users").status_code == 404
    login(client, "official", PASSWORD)
    assert client.get("/admin/users").status_code == 404
    assert client.get("/admin/organisations").status_code == 404
    admin = client.application.test_client()
    login(admin, "admin", PASSWORD)
    assert admin.get("/admin/users").status_code == 200
