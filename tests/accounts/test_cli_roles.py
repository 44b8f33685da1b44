"""`flask users create` for the roles of transport passes: hauliers and checkpoint staff."""

from __future__ import annotations

from sqlalchemy import select

from produce_match.accounts.models import OrgKind, Role, User
from produce_match.extensions import db
from tests.factories import PASSWORD, make_user


def create(runner, *args: str):
    db.session.commit()
    result = runner.invoke(args=["users", "create", "--password", PASSWORD, *args])
    db.session.commit()
    return result


def test_a_haulier_is_created_with_its_organisation(runner):
    result = create(
        runner, "--login", "shunda", "--role", "haulier", "--org", "彰武顺达物流有限公司",
        "--province", "辽宁", "--county", "彰武",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.login == "shunda"))
    assert user.role is Role.haulier and user.organisation.kind is OrgKind.haulier
    assert user.organisation.county.name == "彰武县"


def test_checkpoint_staff_join_an_existing_office(runner, app):
    make_user("zhangwu", Role.official, "彰武县电子商务办公室", province="辽宁", county="彰武")
    result = create(
        runner, "--login", "zhangwu_gate", "--role", "checkpoint", "--org", "彰武县电子商务办公室"
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.login == "zhangwu_gate"))
    assert user.role is Role.checkpoint and user.organisation.name == "彰武县电子商务办公室"


def test_checkpoint_staff_of_an_unknown_office_are_refused(runner, app):
    result = create(runner, "--login", "gate", "--role", "checkpoint", "--org", "没有这个办公室")
    assert result.exit_code != 0
    assert "检查站工作人员须属于已有的办公室" in result.output  # the site's language
    assert db.session.scalar(select(User).where(User.login == "gate")) is None


def test_checkpoint_staff_of_a_cooperative_are_refused(runner, app):
    make_user("coop", Role.cooperative, "道亭村合作社", province="辽宁", county="彰武")
    result = create(runner, "--login", "gate", "--role", "checkpoint", "--org", "道亭村合作社")
    assert result.exit_code != 0
    assert db.session.scalar(select(User).where(User.login == "gate")) is None
