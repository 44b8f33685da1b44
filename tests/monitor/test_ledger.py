"""The problem ledger's whole life: raised (with photos), assigned, followed up, closed (销号),
reopened and closed again; each step guarded, recorded and told to the people concerned."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from produce_match.audit.operations import history
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.monitor import operations as monitor
from produce_match.monitor.models import Problem, ProblemStatus
from produce_match.notifications.messages import render
from produce_match.notifications.models import Notification
from produce_match.storage import get_storage
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes, make_lot


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    from flask import g

    yield
    g.pop("search_pending", None)


def kinds(user) -> list[str]:
    return list(
        db.session.scalars(
            select(Notification.kind)
            .where(Notification.user_id == user.id)
            .order_by(Notification.id)
        )
    )


def test_the_whole_life_through_the_pages(app, users):
    lot = make_lot(users["coop"], title="道亭村黑豆")
    coop = app.test_client()
    login(coop, "coop", PASSWORD)
    response = post_form(
        coop,
        "/monitor/problems/new",
        {
            "category": "no_buyer",
            "description": '=HYPERLINK("http://x") 黑豆40吨没人收',
            "lot_id": str(lot.id),
            "photos": (__import__("io").BytesIO(jpeg_bytes(gps=True)), "beans.jpg"),
        },
        page=f"/monitor/problems/new?lot_id={lot.id}",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    problem = db.session.scalars(select(Problem)).one()
    assert (problem.status, problem.lot_id, problem.village) == (ProblemStatus.open, lot.id, None)
    assert len(problem.photos) == 1
    stored = get_storage().read(problem.photos[0].key)
    assert stored.startswith(b"\xff\xd8") and b"Exif" not in stored  # re-encoded, no GPS
    assert "problem.raised" in kinds(users["official"])
    assert "problem.raised" in kinds(users["province_official"])
    assert "problem.raised" not in kinds(users["other_official"])

    office = app.test_client()
    login(office, "official", PASSWORD)
    url = f"/monitor/problems/{problem.id}"
    # the cooperative cannot run its own entry
    assert (
        post_form(
            coop, url + "/assign", {"assignee_id": users["official"].id}, page=url
        ).status_code
        == 403
    )  # noqa: E501
    post_form(office, url + "/assign", {"assignee_id": users["official"].id}, page=url)
    post_form(office, url + "/follow_up", {"note": "联系了南昌粮油"}, page=url)
    post_form(office, url + "/close", {"outcome": "南昌粮油收了20吨"}, page=url)
    db.session.expire_all()
    problem = db.session.get(Problem, problem.id)
    assert problem.status is ProblemStatus.closed and problem.closed_at is not None
    assert problem.outcome == "南昌粮油收了20吨"
    assert [f.note for f in problem.follow_ups] == ["联系了南昌粮油"]
    page = coop.get(url).get_data(as_text=True)
    assert "联系了南昌粮油" in page and "南昌粮油收了20吨" in page  # the cooperative sees them
    assert kinds(users["coop"]) == [
        "problem.assigned", "problem.followed_up", "problem.closed",
    ]  # fmt: skip

    post_form(coop, url + "/reopen", {"reason": "只收了一半"}, page=url)
    db.session.expire_all()
    problem = db.session.get(Problem, problem.id)
    assert problem.status is ProblemStatus.assigned and problem.closed_at is None
    post_form(office, url + "/close", {"outcome": "余下20吨卖给了海河豆制品"}, page=url)
    db.session.expire_all()
    events = [
        (e.action, e.from_state, e.to_state) for e in history(db.session.get(Problem, problem.id))
    ]
    assert events == [
        ("raised", None, "open"),
        ("assigned", "open", "assigned"),
        ("followed_up", None, None),
        ("closed", "assigned", "closed"),
        ("reopened", "closed", "assigned"),
        ("closed", "assigned", "closed"),
    ]


def test_steps_are_guarded_and_checked(app, users):
    coop, official = users["coop"], users["official"]
    problem = monitor.raise_problem(coop, coop.organisation, "payment", "货款没到")
    db.session.commit()
    with pytest.raises(ValidationFailed):  # Jiangxi's official does not cover Zhangwu
        monitor.assign(official, problem, users["other_official"])
    db.session.rollback()
    monitor.close(official, problem, "到账了")
    db.session.commit()
    with pytest.raises(Conflict):
        monitor.close(official, problem, "again")
    with pytest.raises(Conflict):
        monitor.follow_up(official, problem, "too late")
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        monitor.raise_problem(coop, coop.organisation, "nonsense", "x")
    with pytest.raises(ValidationFailed):
        monitor.raise_problem(coop, coop.organisation, "other", "   ")
    from werkzeug.exceptions import NotFound

    with pytest.raises(NotFound):  # another cooperative's name
        monitor.raise_problem(coop, users["coop2"].organisation, "other", "x")
    with pytest.raises(NotFound):  # an office outside its jurisdiction
        monitor.raise_problem(users["other_official"], coop.organisation, "other", "x")


def test_a_stale_click_changes_nothing(app, users):
    coop, official = users["coop"], users["official"]
    problem = monitor.raise_problem(coop, coop.organisation, "storage", "冷库坏了")
    db.session.commit()
    # another official closed it in the meantime; this session still believes it is open
    db.session.execute(
        Problem.__table__.update()
        .where(Problem.id == problem.id)
        .values(status="closed", closed_at=problem.raised_at, outcome="修好了")
    )
    with pytest.raises(Conflict):
        monitor.close(official, problem, "修好了")


def test_the_ledger_through_the_api(client, users):
    def token(who):
        return client.post(
            "/api/v1/tokens", json={"login": who, "password": PASSWORD, "name": "t"}
        ).json["token"]

    coop = {"Authorization": f"Bearer {token('coop')}"}
    office = {"Authorization": f"Bearer {token('official')}"}
    raised = client.post(
        "/api/v1/problems", json={"category": "transport", "description": "没有通行证"},
        headers=coop,
    )  # fmt: skip
    assert raised.status_code == 201, raised.json
    pid = raised.json["id"]
    assert raised.json["status"] == "open"
    assert (
        client.post(
            f"/api/v1/problems/{pid}/close", json={"outcome": "x"}, headers=coop
        ).status_code
        == 403
    )  # noqa: E501
    assigned = client.post(
        f"/api/v1/problems/{pid}/assign", json={"assignee_id": users["official"].id},
        headers=office,
    )  # fmt: skip
    assert assigned.json["status"] == "assigned"
    followed = client.post(
        f"/api/v1/problems/{pid}/follow-ups", json={"note": "已办理"}, headers=office
    )
    assert [f["note"] for f in followed.json["follow_ups"]] == ["已办理"]
    closed = client.post(
        f"/api/v1/problems/{pid}/close", json={"outcome": "通行证已发"}, headers=office
    )  # noqa: E501
    assert (closed.json["status"], closed.json["outcome"]) == ("closed", "通行证已发")
    again = client.post(f"/api/v1/problems/{pid}/close", json={"outcome": "x"}, headers=office)
    assert again.status_code == 409
    reopened = client.post(
        f"/api/v1/problems/{pid}/reopen", json={"reason": "又被拦了"}, headers=coop
    )  # noqa: E501
    assert reopened.json["status"] == "assigned"
    on_behalf = client.post(
        "/api/v1/problems",
        json={
            "category": "other",
            "description": "代报",
            "cooperative_id": users["coop"].organisation_id,
        },  # noqa: E501
        headers=office,
    )
    assert (
        on_behalf.status_code == 201
        and on_behalf.json["cooperative_id"] == users["coop"].organisation_id
    )  # noqa: E501


def test_every_ledger_message_reads_in_both_languages(app, users):
    from flask_babel import force_locale

    params = {"problem": 1, "cooperative": "道亭村", "category": "no_buyer",
              "assignee": "王", "outcome": "好", "reason": "坏"}  # fmt: skip
    for kind in ("problem.raised", "problem.assigned", "problem.followed_up",
                 "problem.closed", "problem.reopened"):  # fmt: skip
        with app.test_request_context(), force_locale("zh"):
            zh = render(kind, params)
        with app.test_request_context(), force_locale("en"):
            en = render(kind, params)
        assert zh != en and "道亭村" in zh
