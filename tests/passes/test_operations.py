"""The rules of passes, through their operations: who decides, whitelists, scans, the order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from produce_match.audit.operations import history
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.notifications.models import Notification
from produce_match.orders import operations as orders
from produce_match.passes import operations as passes
from produce_match.passes.models import PassStatus, Verdict
from produce_match.passes.queries import public_facts, timeline, verdict
from tests.passes.conftest import apply, shipment


def kinds_of(user) -> list[str]:
    return list(
        db.session.scalars(select(Notification.kind).where(Notification.user_id == user.id))
    )


def test_a_pass_waits_for_the_origin_county_and_its_officials_are_told(world):
    row = apply(world["haulier"])
    assert row.status is PassStatus.pending
    assert row.number.startswith("210922-")
    assert verdict(row) is Verdict.pending
    assert "pass.pending" in kinds_of(world["official"])
    assert "pass.pending" in kinds_of(world["province_official"])
    assert "pass.pending" not in kinds_of(world["other_official"])


def test_numbers_follow_the_county_sequence(world):
    first = apply(world["haulier"])
    second = apply(world["haulier"], plate="辽A54321")
    assert int(second.number.rsplit("-", 1)[1]) == int(first.number.rsplit("-", 1)[1]) + 1


def test_only_an_official_of_the_origin_county_approves(world):
    row = apply(world["haulier"])
    for who in ("other_official", "gate", "coop", "buyer", "admin", "haulier"):
        with pytest.raises(Forbidden):
            passes.approve(world[who], row)
    passes.approve(world["official"], row)
    db.session.commit()
    assert row.status is PassStatus.approved
    assert row.decided_by_id == world["official"].id
    assert row.wait_minutes is not None
    assert verdict(row) is Verdict.valid
    assert "pass.approved" in kinds_of(world["haulier"])


def test_a_rejection_needs_a_reason(world):
    row = apply(world["haulier"])
    with pytest.raises(ValidationFailed):
        passes.reject(world["official"], row, "  ")
    passes.reject(world["official"], row, "货物与申报不符")
    db.session.commit()
    assert row.status is PassStatus.rejected
    assert verdict(row) is Verdict.invalid
    with pytest.raises(Conflict):
        passes.approve(world["official"], row)


def test_a_whitelisted_applicant_is_approved_at_once(world):
    today = local_today()
    passes.add_entry(
        world["official"],
        passes.EntryInput("彰武顺达物流", today, today + timedelta(days=30), "保供企业"),
    )
    db.session.commit()
    row = apply(world["haulier"])
    assert row.status is PassStatus.approved
    assert row.whitelist_entry_id is not None
    assert row.decided_by_id is None
    assert row.wait_minutes == 0


def test_another_offices_whitelist_counts_once_recognised(world):
    today = local_today()
    passes.add_entry(
        world["other_official"],
        passes.EntryInput("彰武顺达物流", today, today + timedelta(days=30), "江西保供名单"),
    )
    db.session.commit()
    assert apply(world["haulier"]).status is PassStatus.pending
    passes.recognise(world["official"], world["other_official"].organisation)
    db.session.commit()
    assert apply(world["haulier"], plate="辽A54321").status is PassStatus.approved


def test_a_removed_or_lapsed_entry_does_not_count(world):
    today = local_today()
    entry = passes.add_entry(
        world["official"],
        passes.EntryInput("彰武顺达物流", today, today + timedelta(days=30), "保供企业"),
    )
    db.session.commit()
    passes.remove_entry(world["official"], entry)
    db.session.commit()
    assert apply(world["haulier"]).status is PassStatus.pending
    with pytest.raises(ValidationFailed):
        passes.add_entry(
            world["official"],
            passes.EntryInput(
                "彰武顺达物流", today - timedelta(days=9), today - timedelta(days=1), "旧"
            ),
        )


@pytest.mark.parametrize(
    "plate",
    ["辽A12345", "辽a 123·45", "京AB1234", "辽A1234挂", "粤BD12345", "粤BFA1234", "辽A12345D"],
)
def test_plates_people_write_are_taken(world, plate):
    assert apply(world["haulier"], plate=plate).status is PassStatus.pending


@pytest.mark.parametrize(
    "plate",
    ["", "A12345", "辽12345", "辽I12345", "辽A1234", "辽A123456789", "X辽A12345", "辽AO1234"],
)
def test_other_plates_are_refused_and_nothing_is_written(world, plate):
    with pytest.raises(ValidationFailed) as refused:
        passes.apply(world["haulier"], shipment(plate=plate))
    assert "plate" in refused.value.fields
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(passes.TransportPass)) == 0


def test_officials_and_checkpoint_staff_never_apply(world):
    for who in ("official", "gate", "admin"):
        with pytest.raises(Forbidden):
            passes.apply(world[who], shipment())


def test_checkpoint_staff_record_passages_only_at_their_offices_checkpoints(world):
    row = apply(world["haulier"])
    with pytest.raises(Conflict):  # pending: the vehicle may not pass
        passes.record_passage(world["gate"], row, world["exit_point"], "out")
    db.session.rollback()
    passes.approve(world["official"], row)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        passes.record_passage(world["gate"], row, world["entry_point"], "in")
    for who in ("coop", "buyer", "haulier", "admin"):
        with pytest.raises(Forbidden):
            passes.record_passage(world[who], row, world["exit_point"], "out")
    with pytest.raises(Forbidden):
        passes.approve(world["gate"], row)
    passes.record_passage(world["gate"], row, world["exit_point"], "out")
    passes.record_passage(world["other_gate"], row, world["entry_point"], "in")
    db.session.commit()
    assert row.exited_at is not None and row.entered_at is not None
    assert row.expected_by > row.entered_at
    steps = {step.kind.value: step for step in timeline(row)}
    assert steps["exit"].place == "彰武高速出口"
    assert steps["entry"].place == "东湖区界卡口"


def test_a_vehicle_that_entered_and_did_not_arrive_is_flagged_once(world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    passes.record_passage(world["other_gate"], row, world["entry_point"], "in")
    db.session.commit()
    assert passes.flag_overdue(row.expected_by - timedelta(minutes=1)) == 0
    assert passes.flag_overdue(row.expected_by + timedelta(minutes=1)) == 1
    db.session.commit()
    assert passes.flag_overdue(row.expected_by + timedelta(hours=1)) == 0
    assert "pass.overdue" in kinds_of(world["other_official"])
    assert "pass.overdue" not in kinds_of(world["official"])


def test_revocation_shows_at_once_and_stops_the_vehicle(world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    with pytest.raises(Forbidden):
        passes.revoke(world["haulier"], row, "x")
    passes.revoke(world["other_official"], row, "途中私自加货")  # the destination may revoke
    db.session.commit()
    assert row.status is PassStatus.revoked
    assert public_facts(row)["verdict"] == "invalid"
    with pytest.raises(Conflict):
        passes.record_passage(world["gate"], row, world["exit_point"], "out")


def test_suspension_holds_every_pass_of_the_organisation_until_lifted(world):
    first = apply(world["haulier"])
    second = apply(world["haulier"], plate="辽A54321")
    passes.approve(world["official"], first)
    db.session.commit()
    suspension = passes.suspend(world["official"], world["haulier"].organisation, "超载运输")
    db.session.commit()
    assert first.status is PassStatus.suspended
    assert verdict(first) is Verdict.invalid
    with pytest.raises(Conflict):
        passes.approve(world["official"], second)
    db.session.rollback()
    with pytest.raises(Conflict):
        apply(world["haulier"], plate="辽A11111")
    db.session.rollback()
    assert passes.lift(world["official"], suspension) == 1
    db.session.commit()
    assert first.status is PassStatus.approved
    passes.approve(world["official"], second)


def test_an_expired_pass_is_red_without_any_timer(world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    later = utcnow() + timedelta(days=5)
    assert verdict(row, later) is Verdict.invalid
    assert public_facts(row, later)["reason"] == "已过期"


def test_the_public_facts_leak_no_personal_data(world):
    row = apply(world["haulier"])
    facts = repr(public_facts(row))
    for secret in ("王师傅", "13912345678", "辽A12345", "彰武顺达物流"):
        assert secret not in facts
    assert "辽A·***45" in facts


def test_an_orders_pass_follows_its_order(world, paid_order):
    data = passes.PassInput(plate="辽A12345", driver_name="王师傅", driver_phone="13912345678")
    row = passes.apply(world["coop"], data, order=paid_order)
    db.session.commit()
    assert row.origin_county_code == "210922"
    assert row.dest_county_code == paid_order.delivery_county_code
    assert row.cargo_g == paid_order.quantity_g
    passes.approve(world["official"], row)
    orders.dispatch(world["coop"], paid_order, "辽A12345", "13912345678", "10", "t")
    db.session.commit()
    db.session.refresh(row)
    assert row.loaded_at is not None
    orders.confirm_delivery(world["buyer"], paid_order, "10", "t")
    db.session.commit()
    db.session.refresh(row)
    assert row.status is PassStatus.completed
    assert [s.at is not None for s in timeline(row)] == [True, False, False, True]
    assert {e.action for e in history(row)} >= {"applied", "approved", "completed"}


def test_a_pass_is_not_asked_for_an_unpaid_order(world, paid_order):
    other = orders.place_order(world["buyer"], paid_order.lot, "1", "t")
    db.session.commit()
    with pytest.raises(Conflict):
        passes.apply(world["buyer"], passes.PassInput(plate="辽A12345"), order=other)
    with pytest.raises(Forbidden):
        passes.apply(world["haulier"], passes.PassInput(plate="辽A12345"), order=paid_order)
