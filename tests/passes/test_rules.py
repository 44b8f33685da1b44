"""The finer rules of passes: plates as written, the date window and the colour it gives, whose
whitelist counts where, who decides, withdraws and records steps, races, numbers and the audit
trail (the main journeys are in test_operations.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select, update
from werkzeug.exceptions import Forbidden

from produce_match.accounts.operations import PlaceInput
from produce_match.audit.operations import history
from produce_match.catalog.models import Region
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.orders import operations as orders
from produce_match.passes import operations as passes
from produce_match.passes.models import PassStatus, StepKind, TransportPass, Verdict
from produce_match.passes.plates import is_new_energy, is_plate, mask_plate, normalise_plate
from produce_match.passes.queries import public_facts, verdict, verdict_reason
from tests.factories import make_user
from tests.passes.conftest import apply, shipment

# --- plates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("辽A12345", "辽A12345"),
        ("辽a12345", "辽A12345"),
        (" 辽A 123 45 ", "辽A12345"),
        ("辽A·12345", "辽A12345"),
        ("辽A•12345", "辽A12345"),
        ("辽A.123-45", "辽A12345"),
        ("辽a_1234挂", "辽A1234挂"),
        ("粤bd 12345", "粤BD12345"),
        (None, ""),
        ("", ""),
    ],
)
def test_a_plate_is_written_one_way(typed, written):
    assert normalise_plate(typed) == written


@pytest.mark.parametrize(
    ("plate", "new_energy"),
    [
        ("辽A12345", False),  # ordinary: five digits
        ("京AB1234", False),  # ordinary: letters among them
        ("沪ZZZ999", False),
        ("蒙K0000A", False),
        ("辽A1234挂", False),  # a trailer
        ("辽B1234学", False),  # a coach trainer
        ("粤BD12345", True),  # a small new-energy car: D (electric)
        ("粤BF12345", True),  # F (plug-in hybrid)
        ("粤BDA1234", True),  # a letter in the second place
        ("京AA12345", True),  # since 2021: A–K
        ("京AK12345", True),
        ("京AH12345", True),
        ("辽A12345D", True),  # a large new-energy vehicle: the letter last
        ("辽A12345F", True),
        ("辽A12345K", True),
    ],
)
def test_every_kind_of_civil_plate_is_taken(plate, new_energy):
    assert is_plate(plate)
    assert is_new_energy(plate) is new_energy


@pytest.mark.parametrize(
    "plate",
    [
        "辽I12345",  # I is never a city's letter
        "辽O12345",  # nor O
        "辽A1I345",  # nor among the characters
        "辽A12O45",
        "京AI12345",  # nor a new-energy letter
        "京AL12345",  # new-energy letters stop at K
        "辽A12345L",
        "辽A12345I",
        "台A12345",  # no such province abbreviation on the mainland's plates
        "港A12345",
        "A辽12345",
        "辽A1234",  # too short
        "辽A123456",  # too long for an ordinary plate, not a new-energy one
        "辽A123456D",
        "辽A12345挂",  # a trailer has four
        "辽A123挂",
        "辽A1234警",  # not a civil plate
        "辽A12345 ",  # not normalised
        "辽a12345",
        "",
    ],
)
def test_other_plates_are_refused(plate):
    assert not is_plate(plate)
    assert not is_new_energy(plate)


@pytest.mark.parametrize(
    ("plate", "masked"),
    [
        ("辽A12345", "辽A·***45"),
        ("粤BD12345", "粤B·****45"),
        ("辽A1234挂", "辽A·***4挂"),
        ("辽A1", "***"),
        ("", ""),
    ],
)
def test_a_masked_plate_shows_its_ends_only(plate, masked):
    assert mask_plate(plate) == masked
    if len(plate) >= 5:
        assert plate[2:-2] not in mask_plate(plate)


# --- the window -----------------------------------------------------------------------------


def _refused(user, **fields) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        passes.apply(user, shipment(**fields))
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(TransportPass)) == 0
    return refused.value.fields


def test_a_window_starts_today_at_the_earliest_and_ends_after_it_starts(world):
    today = local_today()
    fields = _refused(world["haulier"], valid_from=today - timedelta(days=1))
    assert list(fields) == ["valid_from"]
    fields = _refused(
        world["haulier"], valid_from=today + timedelta(days=2), valid_until=today + timedelta(1)
    )
    assert list(fields) == ["valid_until"]
    assert list(_refused(world["haulier"], valid_from="明天下午")) == ["valid_from"]
    assert list(_refused(world["haulier"], valid_until="2026-02-30")) == ["valid_until"]


def test_a_window_is_at_most_pass_max_days_long(world):
    today, longest = local_today(), current_app.config["PASS_MAX_DAYS"]
    fields = _refused(world["haulier"], valid_until=today + timedelta(days=longest))
    assert str(longest) in fields["valid_until"][0]
    row = apply(world["haulier"], valid_until=today + timedelta(days=longest - 1))
    assert (row.valid_until - row.valid_from).days + 1 == longest
    # without a last day, the pass is for its first day only
    row = apply(world["haulier"], plate="辽A54321", valid_until=None)
    assert row.valid_from == row.valid_until == today


def test_a_pending_pass_past_its_window_is_red(world):
    row = apply(world["haulier"], valid_until=local_today())
    assert verdict(row) is Verdict.pending
    tomorrow = utcnow() + timedelta(days=1)
    assert verdict(row, tomorrow) is Verdict.invalid
    assert str(verdict_reason(row, tomorrow)) == "已过期"
    assert public_facts(row, tomorrow)["verdict"] == "invalid"


def test_an_approved_pass_before_its_first_day_is_orange_and_stops_the_vehicle(world):
    today = local_today()
    row = apply(
        world["haulier"], valid_from=today + timedelta(days=2), valid_until=today + timedelta(4)
    )
    passes.approve(world["official"], row)
    db.session.commit()
    assert verdict(row) is Verdict.pending
    with force_locale("en"):
        assert str(verdict_reason(row)) == "Not valid before its first day"
    assert public_facts(row)["verdict"] == "pending"
    with pytest.raises(Conflict) as refused:
        passes.record_passage(world["gate"], row, world["exit_point"], "out")
    assert refused.value.code == "pass_invalid"
    assert verdict(row, utcnow() + timedelta(days=2)) is Verdict.valid


# --- whose whitelist counts where -----------------------------------------------------------


def _entry(official, org_name: str, **fields):
    today = local_today()
    data = {
        "organisation": org_name,
        "valid_from": today,
        "valid_until": today + timedelta(days=30),
        "reason": "保供运输企业",
    }
    data.update(fields)
    entry = passes.add_entry(official, passes.EntryInput(**data))
    db.session.commit()
    return entry


def test_a_province_offices_whitelist_covers_its_counties(world):
    entry = _entry(world["province_official"], "彰武顺达物流")
    row = apply(world["haulier"])
    assert row.status is PassStatus.approved and row.whitelist_entry_id == entry.id
    other = apply(world["haulier"], plate="辽B12345", origin=PlaceInput("辽宁", "金州区"))
    assert other.status is PassStatus.approved


def test_a_county_offices_whitelist_stops_at_its_border(world):
    _entry(world["official"], "彰武顺达物流")
    neighbour = PlaceInput("辽宁", "阜新蒙古族自治县")
    row = apply(world["haulier"], origin=neighbour)
    assert row.status is PassStatus.pending and row.whitelist_entry_id is None
    # nor does the destination's whitelist approve what leaves Zhangwu
    _entry(world["other_official"], "南昌粮油公司")
    assert apply(world["buyer"]).status is PassStatus.pending


def test_a_lapsed_or_not_yet_valid_entry_is_not_applied(world):
    today = local_today()
    later = _entry(
        world["official"],
        "彰武顺达物流",
        valid_from=today + timedelta(days=1),
        valid_until=today + timedelta(days=5),
    )
    assert apply(world["haulier"]).status is PassStatus.pending
    zhangwu, org_id = db.session.get(Region, "210922"), world["haulier"].organisation_id
    assert passes.whitelisted(org_id, zhangwu, today) is None
    assert passes.whitelisted(org_id, zhangwu, today + timedelta(days=1)) == later
    # the entry's days went by (as if it were a week later)
    later.valid_from, later.valid_until = today - timedelta(days=9), today - timedelta(days=1)
    db.session.commit()
    assert apply(world["haulier"], plate="辽A54321").status is PassStatus.pending


# --- who decides, who withdraws -------------------------------------------------------------


def test_an_official_of_the_origin_province_approves(world):
    row = apply(world["haulier"])
    passes.approve(world["province_official"], row)
    db.session.commit()
    assert row.status is PassStatus.approved
    assert row.decided_by_id == world["province_official"].id


def test_the_destination_office_may_revoke_but_not_decide(world):
    row = apply(world["haulier"])
    for act in (
        lambda: passes.approve(world["other_official"], row),
        lambda: passes.reject(world["other_official"], row, "不同意"),
    ):
        with pytest.raises(Forbidden):
            act()
    with pytest.raises(Conflict):  # a pending pass is rejected, never revoked
        passes.revoke(world["other_official"], row, "不同意")
    db.session.rollback()
    passes.approve(world["official"], row)
    db.session.commit()
    for who in ("coop2", "gate", "other_gate", "admin"):
        with pytest.raises(Forbidden):
            passes.revoke(world[who], row, "x")
    passes.revoke(world["other_official"], row, "目的地不接收")
    db.session.commit()
    assert row.status is PassStatus.revoked and row.revoke_reason == "目的地不接收"


def test_the_applicant_withdraws_a_pass_before_it_has_served(world):
    waiting = apply(world["haulier"])
    approved = apply(world["haulier"], plate="辽A54321")
    passes.approve(world["official"], approved)
    db.session.commit()
    colleague = make_user("haulier2", role=world["haulier"].role, org="彰武顺达物流")
    for who in (world["official"], world["coop"], world["gate"], world["admin"]):
        with pytest.raises(Forbidden):
            passes.withdraw(who, waiting)
    passes.withdraw(world["haulier"], waiting)
    passes.withdraw(colleague, approved)  # any member of the applicant organisation
    db.session.commit()
    assert waiting.status is approved.status is PassStatus.withdrawn
    assert verdict(approved) is Verdict.invalid
    with pytest.raises(Conflict):
        passes.withdraw(world["haulier"], waiting)
    with pytest.raises(Conflict):
        passes.approve(world["official"], waiting)


def test_a_called_off_order_withdraws_its_passes(world, paid_order):
    data = passes.PassInput(plate="辽A12345", driver_name="王师傅", driver_phone="13912345678")
    approved = passes.apply(world["coop"], data, order=paid_order)
    passes.approve(world["official"], approved)
    data.plate = "辽A54321"
    waiting = passes.apply(world["coop"], data, order=paid_order)
    unrelated = apply(world["haulier"])
    db.session.commit()
    orders.cancel(world["buyer"], paid_order, "市场行情变化")
    db.session.commit()
    for row in (approved, waiting, unrelated):
        db.session.refresh(row)
    assert approved.status is waiting.status is PassStatus.withdrawn
    assert unrelated.status is PassStatus.pending
    (event,) = [e for e in history(approved) if e.action == "withdrawn"]
    assert event.actor_id == world["buyer"].id and event.changes["order"] == "cancel"


def test_only_the_applicant_of_a_pass_without_an_order_records_its_steps(world, paid_order):
    data = passes.PassInput(plate="辽A12345", driver_name="王师傅", driver_phone="13912345678")
    carried = passes.apply(world["coop"], data, order=paid_order)
    passes.approve(world["official"], carried)
    row = apply(world["haulier"], plate="辽A54321")
    with pytest.raises(Conflict):  # not approved yet: nothing is loaded on it
        passes.record_step(world["haulier"], row, "loading")
    db.session.rollback()
    passes.approve(world["official"], row)
    db.session.commit()
    with pytest.raises(Forbidden):  # the order's own dispatch and delivery are its steps
        passes.record_step(world["coop"], carried, "loading")
    for who in ("official", "other_official", "gate", "buyer", "coop", "admin"):
        with pytest.raises(Forbidden):
            passes.record_step(world[who], row, "loading")
    with pytest.raises(ValidationFailed):
        passes.record_step(world["haulier"], row, "exit")
    passes.record_step(world["haulier"], row, StepKind.loading)
    db.session.commit()
    with pytest.raises(Conflict):
        passes.record_step(world["haulier"], row, "loading")
    passes.record_step(world["haulier"], row, "delivery")
    db.session.commit()
    assert row.status is PassStatus.completed
    assert row.loaded_at is not None and row.delivered_at is not None
    assert verdict(row) is Verdict.invalid


# --- races, numbers, the trail --------------------------------------------------------------


def test_of_two_approvals_of_one_pass_the_second_is_refused(world):
    row = apply(world["haulier"])
    assert row.status is PassStatus.pending  # the province official's page shows it waiting
    table = TransportPass.__table__
    # meanwhile the county official's approval reaches the table (its own statement: the
    # province official's object still says pending)
    db.session.execute(
        update(table)
        .where(table.c.id == row.id)
        .values(status="approved", decided_by_id=world["official"].id)
    )
    assert row.status is PassStatus.pending
    with pytest.raises(Conflict) as lost:
        passes.approve(world["province_official"], row)
    assert lost.value.code == "state_changed"
    db.session.expire(row)
    assert row.status is PassStatus.approved and row.decided_by_id == world["official"].id
    assert [e.action for e in history(row)] == ["applied"]  # the loser wrote nothing
    with pytest.raises(Conflict) as again:  # and seen as it is now, approving is no move
        passes.approve(world["province_official"], row)
    assert again.value.code == "illegal_transition"


def test_numbers_count_per_county_and_year(world):
    year = local_today().year
    first = apply(world["haulier"])
    elsewhere = apply(world["haulier"], plate="辽B12345", origin=PlaceInput("辽宁", "金州区"))
    second = apply(world["haulier"], plate="辽A54321")
    assert first.number == f"210922-{year}-00001"
    assert elsewhere.number == f"210213-{year}-00001"
    assert second.number == f"210922-{year}-00002"
    numbers = db.session.scalars(select(TransportPass.number)).all()
    codes = db.session.scalars(select(TransportPass.code)).all()
    assert len(set(numbers)) == len(numbers) == len(set(codes)) == 3


def test_every_change_leaves_an_audit_record(world):
    point = passes.add_checkpoint(world["official"], "彰武县界", "county_border", PlaceInput())
    entry = _entry(world["official"], "金州樱桃合作社")
    recognition = passes.recognise(world["official"], world["other_official"].organisation)
    db.session.commit()
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    passes.record_step(world["haulier"], row, "loading")
    passes.record_passage(world["gate"], row, point, "out")
    passes.record_passage(world["other_gate"], row, world["entry_point"], "in")
    db.session.commit()
    suspension = passes.suspend(world["official"], world["haulier"].organisation, "超载")
    passes.lift(world["official"], suspension)
    passes.record_step(world["haulier"], row, "delivery")
    db.session.commit()
    assert [e.action for e in history(row)] == [
        "applied",
        "approved",
        "loading_recorded",
        "passage_recorded",
        "passage_recorded",
        "suspended",
        "reinstated",
        "completed",
    ]
    assert [e.actor_id for e in history(row)][:2] == [world["haulier"].id, world["official"].id]
    other = apply(world["haulier"], plate="辽A54321")
    passes.reject(world["official"], other, "信息不全")
    revoked = apply(world["haulier"], plate="辽A11111")
    passes.approve(world["official"], revoked)
    passes.revoke(world["official"], revoked, "违规")
    db.session.commit()
    assert [e.action for e in history(other)] == ["applied", "rejected"]
    assert [e.action for e in history(revoked)][-1] == "revoked"
    passes.retire_checkpoint(world["official"], point)
    passes.remove_entry(world["official"], entry)
    passes.end_recognition(world["official"], recognition)
    db.session.commit()
    assert [e.action for e in history(point)] == ["created", "retired"]
    assert [e.action for e in history(entry)] == ["created", "removed"]
    assert [e.action for e in history(recognition)] == ["created", "removed"]
    assert [e.action for e in history(suspension)] == ["created", "lifted"]


def test_a_called_off_order_withdraws_its_suspended_pass_too(world, paid_order):
    data = passes.PassInput(plate="辽A12345", driver_name="王师傅", driver_phone="13912345678")
    row = passes.apply(world["coop"], data, order=paid_order)
    passes.approve(world["official"], row)
    suspension = passes.suspend(world["official"], world["coop"].organisation, "超载运输")
    db.session.commit()
    assert row.status is PassStatus.suspended
    orders.cancel(world["buyer"], paid_order, "市场行情变化")
    db.session.commit()
    db.session.refresh(row)
    assert row.status is PassStatus.withdrawn
    assert passes.lift(world["official"], suspension) == 0  # not back on the road
    db.session.commit()
    db.session.refresh(row)
    assert row.status is PassStatus.withdrawn and verdict(row) is Verdict.invalid
