"""The rescue box on the lot's page, the answers, donations and receipts, the office's page,
the API, and who may do what. GET requests write nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import func, select, update

from produce_match.audit.models import AuditEvent
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from produce_match.rescue import operations
from produce_match.rescue.models import Donation, ProposalStatus, RescueProposal, RescueStep
from tests.api.test_orders_api import auth
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_lot
from tests.rescue.conftest import days_on

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _writes() -> tuple[int, int, int]:
    return _count(RescueProposal), _count(Donation), _count(AuditEvent)


def _proposal(lot: Lot, step: RescueStep) -> RescueProposal:
    db.session.expire_all()
    return db.session.scalar(
        select(RescueProposal).where(RescueProposal.lot_id == lot.id, RescueProposal.step == step)
    )


@pytest.fixture
def due_lot(rescue_world):
    """The lot five days before it spoils (widen due), the worker not yet come."""
    lot = make_lot(
        rescue_world["coop"],
        grade="二级",
        spoil_by=(rescue_world["lot"].spoil_by - timedelta(days=3)).isoformat(),
    )
    return lot


def test_the_lot_page_shows_the_due_step_without_writing(client, rescue_world, due_lot):
    login(client, "coop", PASSWORD)
    office = client.application.test_client()
    login(office, "official", PASSWORD)
    buyer = client.application.test_client()
    login(buyer, "buyer", PASSWORD)
    before = _writes()
    page = client.get(f"/lots/{due_lot.id}", headers=ZH).get_data(as_text=True)
    assert "救助建议" in page and "扩大推送范围" in page
    assert "一小时内" in page  # the worker records it; the page only shows it
    # the office sees it too, read-only
    page = office.get(f"/lots/{due_lot.id}", headers=ZH).get_data(as_text=True)
    box = page.split('id="rescue"')[1].split("</section>")[0]
    assert "扩大推送范围" in box and "<form" not in box
    # a buyer sees no box
    assert 'id="rescue"' not in buyer.get(f"/lots/{due_lot.id}").get_data(as_text=True)
    assert office.get("/monitor/rescue").status_code == 200
    assert (
        client.get(f"/api/v1/lots/{due_lot.id}/rescue", headers=auth(client, "coop")).json["step"]
        == "widen"
    )
    assert _writes()[:2] == before[:2]
    assert _writes()[2] == before[2] + 1  # the API token issued above, nothing else


def test_the_cooperative_takes_reprice_on_the_page(client, rescue_world):
    lot = rescue_world["lot"]
    operations.propose_due(days_on(1))
    db.session.commit()
    login(client, "coop", PASSWORD)
    page = client.get(f"/lots/{lot.id}", headers=ZH).get_data(as_text=True)
    assert "降到 5.20 元/公斤" in page and "从 1 条增加到 3 条" in page
    proposal = _proposal(lot, RescueStep.reprice)
    response = post_form(client, f"/rescue/{proposal.id}/take", {"price": "5.20"}, page="/")
    assert response.status_code == 302
    assert db.session.get(Lot, lot.id).price_fen_per_t == 520_000
    assert _proposal(lot, RescueStep.reprice).status is ProposalStatus.taken


@pytest.mark.parametrize("who", ["buyer", "official", "coop2", "admin"])
def test_only_the_cooperative_answers(client, rescue_world, who):
    lot = rescue_world["lot"]
    operations.propose_due(days_on(5))
    db.session.commit()
    proposal = _proposal(lot, RescueStep.aid)
    login(client, who, PASSWORD)
    before = _writes()
    for url in (f"/rescue/{proposal.id}/take", f"/rescue/{proposal.id}/decline"):
        assert post_form(client, url, {}, page="/").status_code in (403, 404)
    donation = {"quantity": "1", "unit": "t", "recipient_name": "村小学"}
    assert post_form(client, f"/lots/{lot.id}/donations", donation, page="/").status_code in (
        403,
        404,
    )
    assert _writes() == before
    assert _proposal(lot, RescueStep.aid).status is ProposalStatus.proposed


def test_donating_on_the_page_and_the_receipt(client, rescue_world):
    w = rescue_world
    lot = w["lot"]
    operations.propose_due(days_on(5))
    db.session.commit()
    login(client, "coop", PASSWORD)
    page = client.get(f"/lots/{lot.id}", headers=ZH).get_data(as_text=True)
    assert "沈阳食物银行" in page  # a recipient to choose
    response = post_form(
        client,
        f"/lots/{lot.id}/donations",
        {"quantity": "1000", "unit": "jin", "recipient_org_id": w["bank"].organisation_id},
        page="/",
    )
    assert response.status_code == 302
    donation = db.session.scalar(select(Donation))
    assert response.headers["Location"].endswith(f"/donations/{donation.id}")
    receipt = client.get(f"/donations/{donation.id}", headers=ZH).get_data(as_text=True)
    assert "捐赠凭证" in receipt and donation.receipt_no in receipt
    assert "1,000 斤" in receipt or "1000 斤" in receipt
    assert "3,400" in receipt  # 500 kg at 6.80 元/公斤
    assert db.session.get(Lot, lot.id).remaining_g == 39_500_000
    # too much: refused, nothing written
    before = _writes()
    too_much = post_form(
        client,
        f"/lots/{lot.id}/donations",
        {"quantity": "50", "unit": "t", "recipient_name": "x"},
        page="/",
    )
    assert too_much.status_code == 302
    assert _writes() == before and db.session.get(Lot, lot.id).remaining_g == 39_500_000
    # who sees the receipt
    for who, status in [("bank", 200), ("official", 200), ("buyer", 404), ("coop2", 404)]:
        other = client.application.test_client()
        login(other, who, PASSWORD)
        assert other.get(f"/donations/{donation.id}").status_code == status, who


def test_the_office_page_and_tonnes_saved_per_step(client, rescue_world):
    w = rescue_world
    lot = w["lot"]
    operations.propose_due(days_on(1))  # reprice
    db.session.commit()
    operations.propose_due(days_on(3))  # widen
    db.session.commit()
    operations.propose_due(days_on(5))  # aid
    db.session.commit()
    # a hand-made history: the steps proposed at known instants, orders between them
    t0 = utcnow() - timedelta(days=3)
    at = {
        RescueStep.reprice: t0,
        RescueStep.widen: t0 + timedelta(days=1),
        RescueStep.aid: t0 + timedelta(days=2),
    }
    for step, when in at.items():
        _proposal(lot, step).proposed_at = when
        db.session.commit()

    def order(grams, when, status=OrderStatus.accepted):
        placed = orders.place_order(w["buyer"], lot, str(grams // 1000), "kg")
        db.session.flush()
        db.session.execute(
            update(Order)
            .where(Order.id == placed.id)
            .values(created_at=when, status=status)
            .execution_options(synchronize_session=False)
        )

    order(2_000_000, t0 - timedelta(hours=1))  # before the ladder: not counted
    order(3_000_000, t0 + timedelta(hours=1))  # reprice
    order(4_000_000, t0 + timedelta(days=1, hours=1))  # widen
    order(9_000_000, t0 + timedelta(days=1, hours=2), OrderStatus.rejected)  # not taken
    order(1_000_000, t0 + timedelta(days=2, hours=1))  # aid
    db.session.commit()
    operations.donate(w["coop"], lot, quantity="500", unit="kg", recipient_name="村小学")
    db.session.commit()

    login(client, "official", PASSWORD)
    before = _writes()
    page = client.get("/monitor/rescue", headers=ZH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert lot.title in html and "滞销救助" in html
    api = client.get("/api/v1/monitor/rescue", headers=auth(client, "official")).json
    saved = {row["step"]: row for row in api["saved"]}
    assert saved["reprice"]["ordered_g"] == 3_000_000
    assert saved["widen"]["ordered_g"] == 4_000_000
    assert saved["aid"]["ordered_g"] == 1_000_000 and saved["aid"]["donated_g"] == 500_000
    assert saved["aid"]["total_g"] == 1_500_000
    assert [row["step"] for row in api["lots"] if row["lot_id"] == lot.id] == ["aid"]
    assert _writes()[:2] == before[:2]
    # another county's office sees none of it; buyers and cooperatives get 404
    jiangxi = client.application.test_client()
    login(jiangxi, "jiangxi", PASSWORD)
    assert lot.title not in jiangxi.get("/monitor/rescue").get_data(as_text=True)
    for who in ("coop", "buyer"):
        other = client.application.test_client()
        login(other, who, PASSWORD)
        assert other.get("/monitor/rescue").status_code == 404


def test_the_api(client, rescue_world):
    w = rescue_world
    lot = w["lot"]
    coop = auth(client, "coop")
    due = client.get(f"/api/v1/lots/{lot.id}/rescue", headers=coop).json
    assert due["step"] is None  # eight days left
    operations.propose_due(days_on(1))
    db.session.commit()
    body = client.get(f"/api/v1/lots/{lot.id}/rescue", headers=coop).json
    assert (body["step"], body["status"], body["proposed_price_fen_per_t"]) == (
        "reprice",
        "proposed",
        520_000,
    )
    assert (
        client.get(f"/api/v1/lots/{lot.id}/rescue", headers=auth(client, "buyer")).status_code
        == 403  # the lot is public; its rescue is not
    )
    assert (
        client.get(f"/api/v1/lots/{lot.id}/rescue", headers=auth(client, "official")).status_code
        == 200
    )
    pid = body["proposal_id"]
    assert (
        client.post(f"/api/v1/rescue/{pid}/decline", headers=auth(client, "official")).status_code
        == 403
    )
    answered = client.post(f"/api/v1/rescue/{pid}/decline", headers=coop)
    assert answered.status_code == 200 and answered.json["status"] == "declined"
    assert client.post(f"/api/v1/rescue/{pid}/take", json={}, headers=coop).status_code == 409
    gift = client.post(
        f"/api/v1/lots/{lot.id}/donations",
        json={"quantity": "2", "unit": "t", "recipient_org_id": w["bank"].organisation_id},
        headers=coop,
    )
    assert gift.status_code == 201, gift.json
    assert gift.json["quantity_g"] == 2_000_000 and gift.json["value_fen"] == 1_360_000
    too_much = client.post(
        f"/api/v1/lots/{lot.id}/donations",
        json={"quantity": "39", "unit": "t", "recipient_name": "x"},
        headers=coop,
    )
    assert too_much.status_code == 422 and "quantity" in too_much.json["error"]["fields"]
    got = client.get(f"/api/v1/donations/{gift.json['id']}", headers=auth(client, "bank"))
    assert got.status_code == 200 and got.json["receipt_no"] == gift.json["receipt_no"]
    assert (
        client.get(
            f"/api/v1/donations/{gift.json['id']}", headers=auth(client, "buyer")
        ).status_code
        == 404
    )
    assert client.get("/api/v1/monitor/rescue", headers=coop).status_code == 404
