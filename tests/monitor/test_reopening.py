"""A reopened ledger entry says why it was reopened (on the entry, in its history, in the API);
the outcome it had is marked superseded, not shown as if it still held; and the cooperative
adds its own follow-ups (what happened since), which the office is told of."""

from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import select

from produce_match.extensions import db
from produce_match.monitor import operations as monitor
from produce_match.monitor.models import Problem, ProblemStatus
from produce_match.notifications.models import Notification
from tests.conftest import login, post_form
from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def _headers(client, name):
    token = client.post(
        "/api/v1/tokens", json={"login": name, "password": PASSWORD, "name": "t"}
    ).json["token"]
    return {"Authorization": f"Bearer {token}"}


def _kinds(user) -> list[str]:
    return list(
        db.session.scalars(
            select(Notification.kind)
            .where(Notification.user_id == user.id)
            .order_by(Notification.id)
        )
    )


def test_the_reason_and_the_superseded_outcome_through_the_api(client, users):
    coop, office = _headers(client, "coop"), _headers(client, "official")
    pid = client.post(
        "/api/v1/problems", json={"category": "no_buyer", "description": "黑豆40吨没人收"},
        headers=coop,
    ).json["id"]  # fmt: skip
    client.post(
        f"/api/v1/problems/{pid}/assign", json={"assignee_id": users["official"].id},
        headers=office,
    )  # fmt: skip
    client.post(
        f"/api/v1/problems/{pid}/close", json={"outcome": "南昌粮油收了40吨"}, headers=office
    )

    reopened = client.post(
        f"/api/v1/problems/{pid}/reopen", json={"reason": "只收了一半"}, headers=coop
    )
    assert reopened.status_code == 200, reopened.json
    body = reopened.json
    assert body["status"] == "assigned"
    assert body["reopen_reason"] == "只收了一半" and body["reopened_at"]
    assert body["outcome"] is None  # not shown as if it still held
    steps = [(s["action"], s["text"], s["superseded"]) for s in body["history"]]
    assert ("closed", "南昌粮油收了40吨", True) in steps
    assert ("reopened", "只收了一半", False) in steps

    # the cooperative tells what happened since; the official it is assigned to is told
    followed = client.post(
        f"/api/v1/problems/{pid}/follow-ups", json={"note": "买家只来了一辆车"}, headers=coop
    )
    assert followed.status_code == 201, followed.json
    [note] = followed.json["follow_ups"]
    assert (note["note"], note["by_cooperative"]) == ("买家只来了一辆车", True)
    assert _kinds(users["official"])[-1] == "problem.followed_up"

    closed = client.post(
        f"/api/v1/problems/{pid}/close", json={"outcome": "余下20吨卖给了海河豆制品"},
        headers=office,
    ).json  # fmt: skip
    assert closed["outcome"] == "余下20吨卖给了海河豆制品"
    assert closed["reopen_reason"] == "只收了一半"  # it was reopened once, and why
    closings = [(s["text"], s["superseded"]) for s in closed["history"] if s["action"] == "closed"]
    assert closings == [("南昌粮油收了40吨", True), ("余下20吨卖给了海河豆制品", False)]
    assert client.get(f"/api/v1/problems/{pid}", headers=coop).json["history"] == closed["history"]
    listed = client.get("/api/v1/problems", headers=office).json
    assert [p["reopen_reason"] for p in listed] == ["只收了一半"]


def test_the_entry_page_shows_the_reason_and_marks_the_earlier_outcome(app, users):
    coop_user, official = users["coop"], users["official"]
    problem = monitor.raise_problem(coop_user, coop_user.organisation, "payment", "货款没到")
    monitor.close(official, problem, "货款已到账")
    db.session.commit()
    url = f"/monitor/problems/{problem.id}"

    coop = app.test_client()
    login(coop, "coop", PASSWORD)
    post_form(coop, url + "/reopen", {"reason": "只到了一半的钱"}, page=url)
    page = coop.get(url).get_data(as_text=True)
    assert 'class="reopen-reason"' in page and "只到了一半的钱" in page
    assert 'class="outcome superseded"' in page and "货款已到账" in page and "已失效" in page
    history = page.split('class="plain history"')[1]
    assert "只到了一半的钱" in history and "已失效" in history
    # the cooperative may add a follow-up, not close its own entry
    assert 'id="note"' in page and 'id="outcome"' not in page
    response = post_form(coop, url + "/follow_up", {"note": "买家说下周付清"}, page=url)
    assert response.status_code == 302
    db.session.expire_all()
    problem = db.session.get(Problem, problem.id)
    assert [f.note for f in problem.follow_ups] == ["买家说下周付清"]
    assert problem.status is ProblemStatus.open
    # nobody was assigned: the office of the place is told (and not the other province's)
    assert "problem.followed_up" in _kinds(official)
    assert "problem.followed_up" in _kinds(users["province_official"])
    assert "problem.followed_up" not in _kinds(users["other_official"])

    office = app.test_client()
    login(office, "official", PASSWORD)
    page = office.get(url).get_data(as_text=True)
    assert "买家说下周付清" in page and "道亭村合作社" in page.split("follow-ups")[1]


def test_other_cooperatives_and_buyers_still_cannot_add_to_an_entry(client, users):
    coop_user = users["coop"]
    problem = monitor.raise_problem(coop_user, coop_user.organisation, "storage", "冷库坏了")
    db.session.commit()
    for name, status in (("coop2", 404), ("buyer", 404), ("jiangxi", 404)):
        got = client.post(
            f"/api/v1/problems/{problem.id}/follow-ups", json={"note": "x"},
            headers=_headers(client, name),
        )  # fmt: skip
        assert got.status_code == status, name
    assert db.session.get(Problem, problem.id).follow_ups == []
