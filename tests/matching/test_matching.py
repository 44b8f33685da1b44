"""Matches both ways, alerts, the plan on the demo world, and proposals that become orders."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import g
from flask_babel import force_locale
from sqlalchemy import func, select

from produce_match import policy
from produce_match.accounts.models import Organisation, Role, User
from produce_match.dates import local_today
from produce_match.demands import operations as demands
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.matching import alerts, proposals, queries
from produce_match.matching.models import MatchAlert, ProposalStatus
from produce_match.matching.plan import lot_offer, make_plan
from produce_match.notifications.messages import render
from produce_match.notifications.models import Notification
from produce_match.orders.models import Order, OrderStatus
from tests.conftest import login
from tests.factories import PASSWORD, make_demand, make_lot, make_user

TODAY = local_today()


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def notes_of(user, kind="match.lot_fits"):
    return db.session.scalars(
        select(Notification).where(Notification.user_id == user.id, Notification.kind == kind)
    ).all()


def test_posting_a_fitting_lot_alerts_the_buyer_once(users):
    demand = make_demand(users["buyer"])
    make_demand(users["buyer"], max_price="5")  # too cheap for the lot: no alert
    lot = make_lot(users["coop"], spoil_by=(TODAY + timedelta(days=21)).isoformat())
    assert [n.params["demand"] for n in notes_of(users["buyer"])] == [demand.id]
    text = render("match.lot_fits", notes_of(users["buyer"])[0].params)
    assert "黑豆" in text and "40 吨" in text and "6.80 元/公斤" in text
    # a price drop re-checks, but the pair was told already: no second alert
    lots.update_lot(users["coop"], lot, lots.LotInput(price="6.50"))
    db.session.commit()
    assert len(notes_of(users["buyer"])) == 1
    assert db.session.scalar(select(func.count(MatchAlert.id))) == 1
    # the alert table refuses a second row for the pair even when asked directly
    assert alerts._insert_alert(lot.id, demand.id, 1.0) is None


def test_a_price_drop_that_makes_it_fit_alerts(users):
    make_demand(users["buyer"], max_price="6.00")
    lot = make_lot(users["coop"])
    assert notes_of(users["buyer"]) == []
    lots.update_lot(users["coop"], lot, lots.LotInput(price="5.90"))
    db.session.commit()
    assert len(notes_of(users["buyer"])) == 1
    lots.update_lot(users["coop"], lot, lots.LotInput(price="6.20"))  # a rise alerts nobody
    lots.update_lot(users["coop"], lot, lots.LotInput(price="5.80"))
    db.session.commit()
    assert len(notes_of(users["buyer"])) == 1


def test_paused_demands_are_not_alerted_nor_matched(users):
    demand = make_demand(users["buyer"])
    demands.move(users["buyer"], demand, "pause")
    db.session.commit()
    lot = make_lot(users["coop"])
    assert notes_of(users["buyer"]) == [] and queries.matches_for_lot(lot) == []


def test_daily_digest_instead_of_immediate_alerts(users, runner):
    colleague = make_user("buyer2", Role.buyer, "南昌粮油公司")
    alerts.set_digest(colleague, True)
    db.session.commit()
    make_demand(users["buyer"])
    make_lot(users["coop"], title="第一批黑豆")
    make_lot(users["coop"], title="第二批黑豆")
    assert len(notes_of(users["buyer"])) == 2 and notes_of(colleague) == []
    result = runner.invoke(args=["demands", "digest"])
    assert result.exit_code == 0 and "1 digests sent" in result.output
    digest = notes_of(colleague, "match.digest")
    assert len(digest) == 1 and digest[0].params["count"] == 2
    assert "第一批黑豆" in render("match.digest", digest[0].params)
    # at most one a day, even with new alerts and another run
    make_lot(users["coop"], title="第三批黑豆")
    assert runner.invoke(args=["demands", "digest"]).output.startswith("0 digests")
    assert len(notes_of(colleague, "match.digest")) == 1


def test_lot_page_shows_ranked_buyers_to_its_cooperative_and_officials_only(client, users):
    make_demand(users["buyer"])
    lot = make_lot(users["coop"], spoil_by=(TODAY + timedelta(days=21)).isoformat())
    for name in ("coop", "official", "admin"):
        login(client, name, PASSWORD)
        page = client.get(f"/lots/{lot.id}").get_data(as_text=True)
        assert 'id="matches"' in page and "南昌粮油公司" in page, name
        assert "距离" in page and "天后变质" in page
        client.post("/logout")
    for name in ("buyer", "coop2", "jiangxi"):
        login(client, name, PASSWORD)
        page = client.get(f"/lots/{lot.id}").get_data(as_text=True)
        assert 'id="matches"' not in page, name
        client.post("/logout")
    assert 'id="matches"' not in client.get(f"/lots/{lot.id}").get_data(as_text=True)


def _token(client, name):
    body = client.post(
        "/api/v1/tokens", json={"login": name, "password": PASSWORD, "name": "t"}
    ).json
    return {"Authorization": f"Bearer {body['token']}", "Accept-Language": "zh"}


def test_matches_api_both_ways(client, users):
    demand = make_demand(users["buyer"])
    lot = make_lot(users["coop"])
    got = client.get(f"/api/v1/lots/{lot.id}/matches", headers=_token(client, "coop"))
    assert got.status_code == 200
    [match] = got.json
    assert match["demand"]["id"] == demand.id and match["demand"]["buyer"]["name"] == "南昌粮油公司"
    # the cooperative may not read the demand: no figure of its maximum (test_disclosure.py)
    assert match["score"] is None and match["transit_days"] >= 1
    assert any(r["kind"] == "price" and "买家上限之内" in r["text"] for r in match["reasons"])
    back = client.get(f"/api/v1/demands/{demand.id}/matches", headers=_token(client, "buyer"))
    assert [m["lot"]["id"] for m in back.json] == [lot.id]
    assert 0 < back.json[0]["score"] <= 100
    assert any(
        r["kind"] == "price" and "价格低于上限" in r["text"] for r in back.json[0]["reasons"]
    )
    # strangers: 404 for what they may not know, 403 for a lot they may see
    assert (
        client.get(
            f"/api/v1/demands/{demand.id}/matches", headers=_token(client, "coop")
        ).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/lots/{lot.id}/matches", headers=_token(client, "buyer")).status_code
        == 403
    )


# --- the demo world -------------------------------------------------------------------------


@pytest.fixture
def demo(runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    beans = db.session.scalar(
        select(Lot)
        .join(Lot.cooperative)
        .where(Organisation.name == "彰武县道亭村黑豆种植专业合作社", Lot.title.contains("黑豆"))
    )
    return beans


def test_demo_beans_have_ranked_buyers_with_reasons(demo):
    found = queries.matches_for_lot(demo)
    names = [f.demand.buyer.name for f in found]
    assert len(found) >= 3 and "江西南昌粮油批发有限公司" in names
    assert "上海禾鲜汇超市连锁有限公司" not in names  # its maximum price is below the lot's
    scores = [f.match.score.total for f in found]
    assert scores == sorted(scores, reverse=True)


def test_match_plan_json_on_the_demo_world(demo, runner):
    result = runner.invoke(args=["match", "plan", "--county", "彰武县", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) == {"allocations", "total_kg", "total_value_yuan", "bound_kg", "seconds"}
    beans = [a for a in body["allocations"] if a["lot_id"] == demo.id]
    assert sum(a["quantity_kg"] for a in beans) == 40_000  # every bean rescued
    assert body["total_kg"] == sum(a["quantity_kg"] for a in body["allocations"])
    assert body["total_kg"] <= body["bound_kg"]
    assert set(beans[0]) == {"lot_id", "demand_id", "quantity_kg"}
    value = runner.invoke(args=["match", "plan", "--objective", "value", "--json"])
    assert value.exit_code == 0 and json.loads(value.output)["total_value_yuan"] > 0
    assert runner.invoke(args=["match", "plan", "--county", "火星"]).exit_code != 0


def test_plan_page_for_officials_only(demo, client):
    login(client, "zhangwu", "demo-pass-2020")
    page = client.get("/match/plan").get_data(as_text=True)
    assert "彰武道亭村黑豆" in page and "江西南昌粮油批发有限公司" in page
    client.post("/logout")
    login(client, "buyer", "demo-pass-2020")
    assert client.get("/match/plan").status_code == 403


def _proposable(users, result):
    """Every allocation of the plan, sent as a proposal (the order rule's check): no error."""
    for a in result.allocations:
        proposals.propose(users["official"], a.lot, a.demand, a.quantity_kg)
    db.session.rollback()


def test_the_plan_keeps_the_lots_minimum_order(users):
    lot = make_lot(users["coop"])  # 40 t
    first = make_demand(users["buyer"], min_quantity="10", max_quantity="30")
    second = make_demand(users["buyer"], min_quantity="10", max_quantity="30")
    assert make_plan().plan.total_kg == 40_000  # split between the two demands
    lot.min_order_g = 25_000_000  # 25 t an order: only one of them can be served
    db.session.commit()
    result = make_plan()
    assert result.plan.total_kg == 30_000 and result.plan.bound_kg == 40_000
    [allocation] = result.allocations
    assert allocation.demand.id in {first.id, second.id} and allocation.quantity_kg == 30_000
    _proposable(users, result)


def test_the_plan_rounds_the_lots_minimum_up_to_whole_kilograms(users):
    lot = make_lot(users["coop"])  # 40 t
    lot.min_order_g = 20_000_500  # 20,000.5 kg: 20,001 kg in whole kilograms
    db.session.commit()
    # this demand takes at most 20,000.7 kg: the rule lets it meet the minimum in grams, but
    # no whole number of kilograms it can take does (20,000 kg would be refused)
    narrow = make_demand(users["buyer"], max_quantity="20.0007")
    wide = make_demand(users["buyer"], max_quantity="30")
    result = make_plan()
    assert [(a.demand.id, a.quantity_kg) for a in result.allocations] == [(wide.id, 30_000)]
    assert narrow.id not in {a.demand.id for a in result.allocations}
    _proposable(users, result)


def test_lot_offer_in_whole_kilograms():
    def lot(remaining_g, min_order_g):
        return SimpleNamespace(remaining_g=remaining_g, min_order_g=min_order_g)

    assert lot_offer(lot(7_500_500, None)) == (7_500, 0)  # what is left: rounded down
    assert lot_offer(lot(7_500_500, 3_000_001)) == (7_500, 3_001)  # the minimum: up
    assert lot_offer(lot(7_500_000, 3_000_000)) == (7_500, 3_000)
    # a minimum above what is left: only all of it, which whole kilograms can order only if
    # what is left is whole kilograms
    assert lot_offer(lot(2_500_000, 3_000_000)) == (2_500, 3_000)
    assert lot_offer(lot(2_500_500, 3_000_000)) == (0, 0)


# --- proposals ------------------------------------------------------------------------------


def test_proposal_accepted_by_both_becomes_an_accepted_order(users):
    demand = make_demand(users["buyer"])
    lot = make_lot(users["coop"])
    with pytest.raises(Exception):  # noqa: B017 - officials outside the lot's place may not
        proposals.propose(users["other_official"], lot, demand, 20_000)
    p = proposals.propose(users["official"], lot, demand, 20_000)
    db.session.commit()
    told = {
        n.user_id
        for n in db.session.scalars(
            select(Notification).where(Notification.kind == "match.proposed")
        )
    }
    assert told == {users["buyer"].id, users["coop"].id}
    assert policy.can(users["buyer"], "answer", p) and policy.can(users["coop"], "answer", p)
    assert not policy.can(users["official"], "answer", p)
    assert not policy.can(users["coop2"], policy.VIEW, p)
    proposals.answer(users["coop"], p, True)
    db.session.commit()
    with pytest.raises(Conflict):
        proposals.answer(users["coop"], p, True)  # answered already
    db.session.rollback()
    assert p.status is ProposalStatus.proposed
    proposals.answer(users["buyer"], p, True)
    db.session.commit()
    assert p.status is ProposalStatus.ordered
    order = db.session.get(Order, p.order_id)
    assert order.quantity_g == 20_000_000 and order.buyer_org_id == users["buyer"].organisation_id
    assert order.status is OrderStatus.awaiting_payment
    assert db.session.get(Lot, lot.id).remaining_g == 20_000_000


def test_declined_or_stale_proposals_place_nothing(users):
    demand = make_demand(users["buyer"])
    lot = make_lot(users["coop"])
    p = proposals.propose(users["official"], lot, demand, 30_000)
    q = proposals.propose(users["official"], lot, demand, 30_000)
    db.session.commit()
    proposals.answer(users["buyer"], p, False)
    db.session.commit()
    assert p.status is ProposalStatus.declined
    with pytest.raises(Conflict):
        proposals.answer(users["coop"], p, True)
    db.session.rollback()
    # the lot sells 20 t elsewhere: the second proposal can no longer be served
    other = make_user("other-buyer", Role.buyer, "别的公司", province="北京", county="丰台区")
    from produce_match.orders import operations as orders

    orders.place_order(other, lot, "20", "t")
    db.session.commit()
    proposals.answer(users["coop"], q, True)
    proposals.answer(users["buyer"], q, True)
    db.session.commit()
    assert q.status is ProposalStatus.failed and q.problem
    assert db.session.scalar(select(func.count(Order.id))) == 1


def test_proposal_pages(client, users):
    demand = make_demand(users["buyer"])
    lot = make_lot(users["coop"])
    p = proposals.propose(users["official"], lot, demand, 10_000)
    db.session.commit()
    login(client, "buyer", PASSWORD)
    page = client.get(f"/proposals/{p.id}").get_data(as_text=True)
    assert "/accept" in page
    client.post("/logout")
    login(client, "coop2", PASSWORD)
    assert client.get(f"/proposals/{p.id}").status_code == 404
    assert db.session.scalar(select(func.count(User.id))) == 7


def test_a_demand_registered_in_the_same_transaction_is_seen(users):
    coop, buyer = users["coop"], users["buyer"]
    beans = {
        "commodity": "黑豆",
        "quantity": "40",
        "unit": "t",
        "price": "6.80",
        "price_unit": "kg",
    }
    lots.create_lot(coop, coop.organisation, lots.LotInput(**beans))  # nobody wants beans yet
    demands.create_demand(
        buyer,
        buyer.organisation,
        demands.DemandInput(
            commodity="黑豆",
            min_quantity="10",
            max_quantity="40",
            unit="t",
            max_price="7.5",
            price_unit="kg",
            needed_by=(TODAY + timedelta(days=25)).isoformat(),
        ),
    )
    lots.create_lot(coop, coop.organisation, lots.LotInput(**beans))
    db.session.commit()
    assert len(notes_of(buyer)) == 1


def test_every_match_notification_has_words_in_both_languages(app):
    from produce_match.notifications.messages import kinds

    params = {
        "lot": 1,
        "lot_title": "彰武黑豆",
        "demand": 2,
        "commodity": "黑豆",
        "commodity_en": "Black bean",
        "remaining_g": 7_000_000,
        "unit": "t",
        "price_fen_per_t": 6_800_000,
        "price_unit": "kg",
        "score": 70.0,
        "count": 7,
        "lots": ["彰武黑豆"],
        "proposal": 3,
        "buyer": "南昌粮油公司",
        "cooperative": "道亭村合作社",
        "quantity_g": 7_000_000,
        "problem": "?",
        "side": "buyer",
    }
    match_kinds = [k for k in kinds() if k.startswith("match.")]
    assert len(match_kinds) == 6
    names = ("彰武黑豆", "黑豆", "南昌粮油公司", "道亭村合作社")
    for lang in ("zh", "en"):
        with app.test_request_context(), force_locale(lang):
            generic = render("no.such.kind", {})
            for kind in match_kinds:
                text = render(kind, params)
                assert "7" in text and text != generic, (kind, text)
                bare = text
                for name in names:
                    bare = bare.replace(name, "")
                chinese = any("\u4e00" <= ch <= "\u9fff" for ch in bare)
                assert chinese == (lang == "zh"), (lang, kind, text)
