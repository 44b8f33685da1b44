"""The ladder on a lot whose date approaches (time moved by the tests), answers and donations."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from produce_match.audit.models import AuditEvent
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import Lot, LotStatus
from produce_match.notifications.models import Notification
from produce_match.rescue import operations
from produce_match.rescue.models import Donation, ProposalStatus, RescueProposal, RescueStep
from tests.rescue.conftest import days_on


def _proposals(lot: Lot) -> list[RescueProposal]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(RescueProposal)
            .where(RescueProposal.lot_id == lot.id)
            .order_by(RescueProposal.id)
        )
    )


def _notices(user, kind: str) -> int:
    return db.session.scalar(
        select(func.count()).where(Notification.user_id == user.id, Notification.kind == kind)
    )


def test_the_ladder_as_the_date_approaches(rescue_world):
    w = rescue_world
    lot = w["lot"]

    assert operations.propose_due(days_on(0)) == {"proposed": 0, "lapsed": 0}  # 8 days left
    assert _proposals(lot) == []

    operations.propose_due(days_on(1))  # 7 days left: reprice
    db.session.commit()
    [reprice] = _proposals(lot)
    assert (reprice.step, reprice.status, reprice.days_left) == (
        RescueStep.reprice,
        ProposalStatus.proposed,
        7,
    )
    assert reprice.proposed_price_fen_per_t == 520_000  # 5.20 元/公斤
    assert (reprice.demands_before, reprice.demands_after) == (1, 3)
    assert reprice.remaining_g == 40_000_000 and reprice.price_fen_per_t == 680_000
    assert _notices(w["coop"], "rescue.proposed") == 1

    assert operations.propose_due(days_on(2))["proposed"] == 0  # 6 days: nothing new
    assert len(_proposals(lot)) == 1

    operations.propose_due(days_on(3))  # 5 days left: widen; reprice lapses unanswered
    db.session.commit()
    reprice, widen = _proposals(lot)
    assert reprice.status is ProposalStatus.lapsed
    assert (widen.step, widen.status, widen.days_left) == (RescueStep.widen, "proposed", 5)
    assert widen.buyers_reached == 2  # the far wholesaler and the processor
    operations.take(w["coop"], widen, now=days_on(3))
    db.session.commit()
    assert _proposals(lot)[1].status is ProposalStatus.taken
    assert _notices(w["far"], "rescue.widened") == 1
    assert _notices(w["processor"], "rescue.widened") == 1
    assert _notices(w["buyer"], "rescue.widened") == 0  # fits already: alerted when posted

    operations.propose_due(days_on(5))  # 3 days left: aid
    db.session.commit()
    steps = _proposals(lot)
    assert [p.step for p in steps] == [RescueStep.reprice, RescueStep.widen, RescueStep.aid]
    assert steps[1].status is ProposalStatus.taken  # answered: stays as it was
    assert steps[2].buyers_reached == 3  # canteen, school, food bank
    operations.take(w["coop"], steps[2], now=days_on(5))
    db.session.commit()
    for who in ("canteen", "school", "bank"):
        assert _notices(w[who], "rescue.aid") == 1
    assert _notices(w["buyer"], "rescue.aid") == 0

    # never a lower step after a higher one, never twice
    assert operations.propose_due(days_on(5))["proposed"] == 0
    assert len(_proposals(lot)) == 3
    assert (
        db.session.scalar(
            select(func.count()).where(
                AuditEvent.subject_type == "rescue_proposals", AuditEvent.action == "proposed"
            )
        )
        == 3
    )


def test_the_first_step_can_be_a_later_one(rescue_world):
    """A lot posted three days before it spoils goes straight to aid."""
    lot = rescue_world["lot"]
    operations.propose_due(days_on(6))  # 2 days left
    [only] = _proposals(lot)
    assert only.step is RescueStep.aid


def test_taking_reprice_sets_the_price_through_the_lot(rescue_world):
    w = rescue_world
    operations.propose_due(days_on(1))
    db.session.commit()
    [reprice] = _proposals(w["lot"])
    operations.take(w["coop"], reprice)
    db.session.commit()
    lot = db.session.get(Lot, w["lot"].id)
    assert lot.price_fen_per_t == 520_000 and lot.price_unit.value == "kg"
    with pytest.raises(Conflict):
        operations.take(w["coop"], reprice)
    assert (
        db.session.scalar(
            select(func.count()).where(
                AuditEvent.subject_type == "lots",
                AuditEvent.subject_id == lot.id,
                AuditEvent.action == "edited",
            )
        )
        == 1
    )


def test_the_cooperative_may_adjust_the_price(rescue_world):
    w = rescue_world
    operations.propose_due(days_on(1))
    [reprice] = _proposals(w["lot"])
    operations.take(w["coop"], reprice, price="2.90", price_unit="jin")
    db.session.commit()
    assert db.session.get(Lot, w["lot"].id).price_fen_per_t == 580_000


def test_declining_and_a_closed_lot_lapsing(rescue_world):
    w = rescue_world
    operations.propose_due(days_on(1))
    [reprice] = _proposals(w["lot"])
    operations.decline(w["coop"], reprice)
    db.session.commit()
    assert _proposals(w["lot"])[0].status is ProposalStatus.declined

    operations.propose_due(days_on(3))
    db.session.commit()
    widen = _proposals(w["lot"])[1]
    from produce_match.lots import operations as lots

    lots.withdraw_lot(w["coop"], db.session.get(Lot, w["lot"].id))
    db.session.commit()
    assert operations.propose_due(days_on(3))["lapsed"] == 1
    db.session.commit()
    assert _proposals(w["lot"])[1].status is ProposalStatus.lapsed
    assert widen.id == _proposals(w["lot"])[1].id


def test_a_donation_reduces_the_lot_and_makes_a_receipt(rescue_world):
    w = rescue_world
    lot = w["lot"]
    gift = operations.donate(
        w["coop"],
        lot,
        quantity="2",
        unit="t",
        recipient_org_id=w["bank"].organisation_id,
        note="春节前送达",
    )
    db.session.commit()
    lot = db.session.get(Lot, lot.id)
    assert lot.remaining_g == 38_000_000
    assert gift.receipt_no.startswith(f"JZ-{lot.county_code}-") and gift.receipt_no.endswith(
        "-0001"
    )
    assert gift.value_fen == 1_360_000  # 2 t at 6.80 元/公斤
    assert gift.recipient_name == "沈阳食物银行"
    assert _notices(w["bank"], "rescue.donated") == 1
    second = operations.donate(w["coop"], lot, quantity="500", unit="jin", recipient_name="村小学")
    db.session.commit()
    assert second.receipt_no.endswith("-0002") and second.quantity_g == 250_000


def test_giving_away_more_than_is_left_writes_nothing(rescue_world):
    w = rescue_world
    lot = w["lot"]
    with pytest.raises(ValidationFailed) as refused:
        operations.donate(w["coop"], lot, quantity="41", unit="t", recipient_name="村小学")
    assert "quantity" in refused.value.fields
    db.session.rollback()
    assert db.session.get(Lot, lot.id).remaining_g == 40_000_000
    assert db.session.scalar(select(func.count()).select_from(Donation)) == 0


def test_giving_away_the_rest_sells_the_lot_out(rescue_world):
    w = rescue_world
    operations.donate(w["coop"], w["lot"], quantity="40", unit="t", recipient_name="食物银行")
    db.session.commit()
    lot = db.session.get(Lot, w["lot"].id)
    assert lot.remaining_g == 0 and lot.status is LotStatus.sold_out


def test_a_donation_needs_a_recipient_and_a_quantity(rescue_world):
    w = rescue_world
    with pytest.raises(ValidationFailed) as refused:
        operations.donate(w["coop"], w["lot"], quantity="0", unit="t")
    assert set(refused.value.fields) == {"quantity", "recipient"}
