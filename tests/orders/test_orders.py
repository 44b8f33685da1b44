"""Orders through their operations: who may do what, stock that is always right, and timers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from produce_match import policy
from produce_match.accounts.models import Role
from produce_match.audit.models import AuditEvent
from produce_match.audit.operations import history
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.errors import Conflict, DomainError, ValidationFailed
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot, LotStatus
from produce_match.lots.updates import update_lots
from produce_match.orders import cli as orders_cli
from produce_match.orders import operations as orders
from produce_match.orders.models import (
    AUTO_CONFIRM,
    DISPUTE_WINDOW,
    PAYMENT_WINDOW,
    RESERVATION_HOLD,
    IllegalTransition,
    Order,
    OrderStatus,
    PaymentStatus,
)
from produce_match.orders.operations import NotAllowed
from produce_match.search.models import SearchDocument, SearchOutbox
from produce_match.search.service import _version as index_version
from produce_match.search.service import service as search_service
from tests.factories import make_lot, make_user

pytestmark = pytest.mark.usefixtures("index_left_to_its_queue")


S = OrderStatus
T = 1_000_000  # grams in a tonne
KG = 1000


@pytest.fixture
def lot(users) -> Lot:
    """One tonne of black beans at 6.80 元/kg from the Zhangwu cooperative."""
    return make_lot(users["coop"], quantity="1", unit="t")


@pytest.fixture
def buyer(users):
    return users["buyer"]


@pytest.fixture
def coop(users):
    return users["coop"]


def conserved() -> None:
    """For every lot: what is left plus what its orders hold is what was posted, from the db."""
    held = (
        select(func.coalesce(func.sum(Order.quantity_g), 0))
        .where(Order.lot_id == Lot.id, Order.released_at.is_(None))
        .scalar_subquery()
    )
    for lot_id, quantity, remaining, holding in db.session.execute(
        select(Lot.id, Lot.quantity_g, Lot.remaining_g, held)
    ):
        assert 0 <= remaining <= quantity, lot_id
        assert remaining + holding == quantity, lot_id


def in_db(lot: Lot) -> tuple[int, LotStatus]:
    """The lot's remaining quantity and status as stored (not as the session remembers)."""
    remaining, status = db.session.execute(
        select(Lot.__table__.c.remaining_g, Lot.__table__.c.status).where(Lot.id == lot.id)
    ).one()
    assert (lot.remaining_g, lot.status) == (remaining, status)  # the session is kept in step
    return remaining, status


def events(order: Order) -> list[tuple[str | None, str | None, str]]:
    return [(e.from_state, e.to_state, e.action) for e in history(order)]


def place(buyer, lot, quantity="100", unit="kg", **kwargs: Any) -> Order:
    order = orders.place_order(buyer, lot, quantity, unit, **kwargs)
    db.session.commit()
    return order


def accepted(users, lot, quantity="100", unit="kg") -> Order:
    order = place(users["buyer"], lot, quantity, unit)
    orders.accept(users["coop"], order)
    db.session.commit()
    return order


def paid(users, lot, quantity="100", unit="kg") -> Order:
    order = accepted(users, lot, quantity, unit)
    orders.mark_paid(order)
    db.session.commit()
    return order


def dispatched(users, lot, quantity="100", unit="kg", shipped="100") -> Order:
    order = paid(users, lot, quantity, unit)
    orders.dispatch(users["coop"], order, "辽A 12345", "139 1234 5678", shipped, unit)
    db.session.commit()
    return order


# --- placing --------------------------------------------------------------------------------


def test_placing_reserves_the_quantity_at_once(users, lot, buyer):
    before = utcnow()
    order = place(buyer, lot, "300", "斤")  # 150 kg
    assert (order.quantity_g, order.unit, order.status) == (150 * KG, "jin", S.reserved)
    assert order.payment_status is PaymentStatus.unpaid
    assert (order.buyer_org_id, order.buyer_user_id) == (buyer.organisation_id, buyer.id)
    assert order.cooperative_org_id == users["coop"].organisation_id
    assert order.price_fen_per_t == 680_000 and order.amount_fen == 102_000  # 1,020.00 元
    assert before + RESERVATION_HOLD <= order.reserved_until <= utcnow() + RESERVATION_HOLD
    assert order.pay_by is None and order.released_at is None
    assert order.reserved_g == 150 * KG
    assert in_db(lot) == (850 * KG, LotStatus.open)
    assert events(order) == [(None, "reserved", "placed")]
    assert history(order)[0].actor_id == buyer.id
    assert history(order)[0].changes["amount_fen"] == 102_000
    # the lot's new remaining quantity reaches the search index through the queue and the task
    # its commit enqueued (immediate in the tests), on either backend
    assert lot.id not in db.session.scalars(select(SearchOutbox.lot_id)).all()
    db.session.refresh(lot)
    assert search_service().backend.versions().get(lot.id) == index_version(lot)
    if search_service().in_database:
        assert db.session.get(SearchDocument, lot.id).remaining_g == 850 * KG
    conserved()


def test_the_price_is_frozen_when_the_order_is_placed(lot, buyer, coop):
    order = place(buyer, lot, "100", "kg")
    lots.update_lot(coop, lot, lots.LotInput(price="9.50", price_unit="kg"))
    db.session.commit()
    db.session.expire_all()
    assert lot.price_fen_per_t == 950_000
    assert (order.price_fen_per_t, order.amount_fen) == (680_000, 68_000)
    # the cooperative's edit keeps what orders hold
    assert lot.remaining_g == 900 * KG
    conserved()


def test_ordering_everything_sells_the_lot_out_and_cancelling_reopens_it(lot, buyer):
    order = place(buyer, lot, "1", "t")
    assert in_db(lot) == (0, LotStatus.sold_out)
    assert [(e.from_state, e.to_state, e.action) for e in history(lot)][-1] == (
        "open",
        "sold_out",
        "sold_out",
    )
    with pytest.raises(Conflict) as info:
        orders.place_order(buyer, lot, "1", "kg")
    assert info.value.code == "insufficient_quantity"
    db.session.rollback()
    orders.cancel(buyer, order, "买多了")
    db.session.commit()
    assert in_db(lot) == (T, LotStatus.open)
    assert history(lot)[-1].action == "reopened"
    assert history(lot)[-1].changes == {"order_id": order.id, "returned_g": T}
    conserved()


def test_insufficient_quantity_reserves_nothing(lot, buyer):
    place(buyer, lot, "900", "kg")
    with pytest.raises(Conflict) as info:
        orders.place_order(buyer, lot, "101", "kg")
    assert info.value.code == "insufficient_quantity" and info.value.status == 409
    assert "100 公斤" in str(info.value.message) or "100 kg" in str(info.value.message)
    db.session.rollback()
    assert in_db(lot) == (100 * KG, LotStatus.open)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    conserved()


def test_the_guarded_statement_decides_not_what_was_read(lot, buyer):
    """A stale read that says there is plenty: the database still refuses, nothing reserved."""
    from sqlalchemy.orm.attributes import set_committed_value

    place(buyer, lot, "990", "kg")
    set_committed_value(lot, "remaining_g", T)  # as if read before the other order
    with pytest.raises(Conflict) as info:
        orders.place_order(buyer, lot, "500", "kg")
    assert info.value.code == "insufficient_quantity"
    assert "10 公斤" in str(info.value.message) or "10 kg" in str(info.value.message)
    db.session.rollback()
    assert in_db(lot) == (10 * KG, LotStatus.open)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    conserved()


def test_a_refused_reservation_leaves_nothing_behind(lot, buyer, users):
    """The order, its audit record, its notices and the index's queue are written before the
    guarded statement: when it refuses, all of them go with the rollback."""
    from sqlalchemy.orm.attributes import set_committed_value

    from produce_match.notifications.models import Notification

    place(buyer, lot, "990", "kg")
    counts = [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Order, AuditEvent, Notification, SearchOutbox)
    ]
    set_committed_value(lot, "remaining_g", T)  # as if read before the other order
    with pytest.raises(Conflict):
        orders.place_order(buyer, lot, "500", "kg")
    db.session.rollback()
    assert [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Order, AuditEvent, Notification, SearchOutbox)
    ] == counts
    conserved()


def test_the_lot_is_held_from_the_guarded_statement_to_the_commit_and_no_longer(lot, buyer):
    """Every other order of the lot waits from the guarded UPDATE to the COMMIT: nothing but
    the commit follows it when an order is placed (reads, the order, its audit record, notices
    and the index's queue all come before), except the lot's own record when it sells out."""
    from sqlalchemy import event

    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        words = statement.split()
        verb = words[0].upper()
        if verb in ("INSERT", "DELETE"):
            statements.append(f"{verb} {words[2]}")
        elif verb in ("UPDATE", "SELECT"):
            statements.append(f"{verb} {words[1] if verb == 'UPDATE' else ''}".strip())

    def committed(_conn) -> None:
        statements.append("COMMIT")

    def placing(quantity: str) -> list[str]:
        """The statements of placing an order, up to its commit (the index's task follows)."""
        statements.clear()
        order = orders.place_order(buyer, lot, quantity, "kg")
        db.session.commit()
        assert order.id is not None
        return statements[: statements.index("COMMIT")]

    engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", committed)
    try:
        first = placing("300")
        last = placing("700")  # the rest: sold out
    finally:
        event.remove(engine, "before_cursor_execute", note)
        event.remove(engine, "commit", committed)
    assert first[-1] == "UPDATE lots" and first.count("UPDATE lots") == 1
    assert {"INSERT orders", "INSERT audit_events", "INSERT search_outbox"} <= set(first)
    assert last[-2:] == ["UPDATE lots", "INSERT audit_events"]  # the lot's sold_out record
    assert lot.status is LotStatus.sold_out
    conserved()


def test_only_the_lots_announced_are_written(lot, users):
    other = make_lot(users["coop"], quantity="1", unit="t")
    with pytest.raises(RuntimeError):
        update_lots(
            update(Lot).where(Lot.id.in_([lot.id, other.id])).values(min_order_g=0),
            only=[lot.id],
        )
    db.session.rollback()


def test_the_database_refuses_negative_stock(lot):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        update_lots(update(Lot).where(Lot.id == lot.id).values(remaining_g=-1))
    db.session.rollback()
    with pytest.raises(IntegrityError):
        update_lots(update(Lot).where(Lot.id == lot.id).values(remaining_g=T + 1))
    db.session.rollback()


@pytest.mark.parametrize(
    ("quantity", "unit", "field"),
    [
        ("0", "kg", "quantity"),
        ("-5", "kg", "quantity"),
        ("很多", "kg", "quantity"),
        ("", "kg", "quantity"),
        ("0.0001", "kg", "quantity"),  # finer than a gram
        ("10", "箱", "unit"),
    ],
)
def test_bad_quantities_are_refused(lot, buyer, quantity, unit, field):
    with pytest.raises(ValidationFailed) as info:
        orders.place_order(buyer, lot, quantity, unit)
    assert field in info.value.fields
    db.session.rollback()
    assert in_db(lot) == (T, LotStatus.open)


def test_an_order_that_rounds_to_nothing_is_refused(users, buyer):
    """1 g at 0.30 元/kg is 0.03 fen: rounded, the order would cost 0 and could never be paid."""
    cheap = make_lot(users["coop"], quantity="1", unit="t", price="0.30", price_unit="kg")
    with pytest.raises(ValidationFailed) as info:
        orders.place_order(buyer, cheap, "0.001", "kg")
    assert list(info.value.fields) == ["quantity"]
    assert "0.01" in str(info.value.message)
    db.session.rollback()
    assert in_db(cheap) == (T, LotStatus.open)
    assert db.session.query(Order).count() == 0
    # 17 g cost 0.51 fen, one fen rounded: payable, so accepted
    assert place(buyer, cheap, "0.017", "kg").amount_fen == 1


def test_the_cooperatives_minimum_order(lot, buyer):
    lot.min_order_g = 100 * KG  # the column the lots model gains (until then: an attribute)
    with pytest.raises(ValidationFailed) as info:
        orders.place_order(buyer, lot, "99", "kg")
    assert "quantity" in info.value.fields
    assert "100 公斤" in str(info.value.message) or "100 kg" in str(info.value.message)
    orders.place_order(buyer, lot, "200", "斤")  # exactly the minimum, in another unit
    orders.place_order(buyer, lot, "850", "kg")
    assert lot.remaining_g == 50 * KG
    # the last of a lot may be bought whatever the minimum, but only all of it
    with pytest.raises(ValidationFailed):
        orders.place_order(buyer, lot, "40", "kg")
    orders.place_order(buyer, lot, "50", "kg")
    assert in_db(lot) == (0, LotStatus.sold_out)
    conserved()


def test_no_orders_on_an_expired_lot(lot, buyer):
    lot.spoil_by = local_today() - timedelta(days=1)
    db.session.commit()
    with pytest.raises(Conflict) as info:  # past its date, whether or not recorded yet
        orders.place_order(buyer, lot, "1", "kg")
    assert info.value.code == "lot_not_open"
    db.session.rollback()
    lots.expire_lots()
    db.session.commit()
    with pytest.raises(Conflict) as info:
        orders.place_order(buyer, lot, "1", "kg")
    assert info.value.code == "lot_not_open"
    db.session.rollback()
    assert in_db(lot) == (T, LotStatus.expired)


def test_no_orders_on_a_withdrawn_lot(lot, buyer, coop):
    lots.withdraw_lot(coop, lot)
    db.session.commit()
    with pytest.raises(Conflict) as info:
        orders.place_order(buyer, lot, "1", "kg")
    assert info.value.code == "lot_not_open"
    db.session.rollback()
    assert in_db(lot) == (T, LotStatus.withdrawn)


def test_no_orders_on_a_lot_spoiling_at_the_instant_given(lot, buyer):
    later = utcnow() + timedelta(days=(lot.spoil_by - local_today()).days + 1)
    with pytest.raises(Conflict) as info:
        orders.place_order(buyer, lot, "1", "kg", now=later)
    assert info.value.code == "lot_not_open"


@pytest.mark.parametrize("who", ["coop", "coop2", "official", "province_official", "admin"])
def test_only_buyers_place_orders(users, lot, who):
    with pytest.raises(NotAllowed) as info:
        orders.place_order(users[who], lot, "1", "kg")
    assert info.value.status == 403
    db.session.rollback()
    assert in_db(lot) == (T, LotStatus.open)
    assert not policy.can(users[who], "create", Order)
    assert policy.can(users["buyer"], "create", Order)
    assert not policy.can(None, "create", Order)


# --- who may take which step ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["coop2", "buyer", "official", "admin"])
def test_only_the_lots_cooperative_accepts_or_rejects(users, lot, who):
    order = place(users["buyer"], lot)
    with pytest.raises(NotAllowed):
        orders.accept(users[who], order)
    with pytest.raises(NotAllowed):
        orders.reject(users[who], order, "不卖")
    assert order.status is S.reserved


def test_the_cooperative_accepts_and_payment_is_requested(users, lot, coop):
    order = place(users["buyer"], lot)
    now = utcnow()
    orders.accept(coop, order, now=now)
    db.session.commit()
    db.session.expire_all()
    assert order.status is S.awaiting_payment and order.pay_by == now + PAYMENT_WINDOW
    assert events(order) == [
        (None, "reserved", "placed"),
        ("reserved", "accepted", "accepted"),
        ("accepted", "awaiting_payment", "payment_requested"),
    ]
    assert [e.actor_id for e in history(order)] == [users["buyer"].id, coop.id, None]
    assert in_db(lot)[0] == 900 * KG  # still held


def test_rejection_needs_a_reason_and_gives_the_quantity_back(users, lot, coop):
    order = place(users["buyer"], lot)
    with pytest.raises(ValidationFailed) as info:
        orders.reject(coop, order, "  ")
    assert "reason" in info.value.fields
    orders.reject(coop, order, "这批已经 许给别人了")
    db.session.commit()
    assert order.status is S.rejected and order.cancel_reason == "这批已经 许给别人了"
    assert order.released_at is not None and order.reserved_g == 0
    assert in_db(lot) == (T, LotStatus.open)
    assert history(order)[-1].changes == {"reason": "这批已经 许给别人了"}
    conserved()


def at_stage(users, lot, stage: str) -> Order:
    if stage == "reserved":
        return place(users["buyer"], lot)
    return {"awaiting_payment": accepted, "paid": paid, "dispatched": dispatched}[stage](users, lot)


@pytest.mark.parametrize("stage", ["reserved", "awaiting_payment", "paid"])
@pytest.mark.parametrize("who", ["buyer", "coop"])
def test_either_side_cancels_before_dispatch(users, lot, stage, who):
    order = at_stage(users, lot, stage)
    orders.cancel(users[who], order, "路封了")
    db.session.commit()
    assert order.status is S.cancelled and order.cancel_reason == "路封了"
    assert events(order)[-1] == (stage, "cancelled", "cancelled")
    assert history(order)[-1].actor_id == users[who].id
    assert in_db(lot) == (T, LotStatus.open)
    # a paid order keeps its payment status: the refund is the payments side's job
    expected = PaymentStatus.paid if stage == "paid" else PaymentStatus.unpaid
    assert order.payment_status is expected
    conserved()


@pytest.mark.parametrize("who", ["buyer", "coop"])
def test_nobody_cancels_after_dispatch(users, lot, who):
    order = dispatched(users, lot)
    with pytest.raises(IllegalTransition):
        orders.cancel(users[who], order, "不要了")
    assert order.status is S.dispatched and order.released_at is None
    conserved()


@pytest.mark.parametrize("who", ["coop2", "official", "admin"])
def test_strangers_and_officials_do_not_cancel(users, lot, who):
    order = place(users["buyer"], lot)
    with pytest.raises(NotAllowed):
        orders.cancel(users[who], order, "x")


def test_another_buyer_may_not_touch_the_order(users, lot):
    other = make_user("buyer2", Role.buyer, "南昌第二粮油公司", province="江西", county="东湖区")
    order = place(users["buyer"], lot)
    for step in (
        lambda: orders.cancel(other, order, "x"),
        lambda: orders.accept(other, order),
    ):
        with pytest.raises(NotAllowed):
            step()
    assert not policy.can(other, policy.VIEW, order)
    # a colleague in the same buyer organisation may
    colleague = make_user("buyer3", Role.buyer, "南昌粮油公司")
    assert policy.can(colleague, policy.VIEW, order)
    assert policy.can(colleague, "cancel", order)


def test_mark_paid_only_from_awaiting_payment(users, lot):
    order = place(users["buyer"], lot)
    with pytest.raises(IllegalTransition):
        orders.mark_paid(order)
    orders.accept(users["coop"], order)
    paid_at = utcnow()
    orders.mark_paid(order, paid_at=paid_at)
    db.session.commit()
    assert (order.status, order.payment_status, order.paid_at) == (
        S.paid,
        PaymentStatus.paid,
        paid_at,
    )
    assert events(order)[-1] == ("awaiting_payment", "paid", "paid")
    assert history(order)[-1].actor_id is None
    with pytest.raises(IllegalTransition):
        orders.mark_paid(order)


def test_a_payment_made_in_time_counts_even_if_confirmed_late(users, lot):
    order = accepted(users, lot)
    late = order.pay_by + timedelta(minutes=5)
    orders.mark_paid(order, paid_at=order.pay_by - timedelta(minutes=1), now=late)
    assert order.status is S.paid
    # but money paid after the deadline does not revive the order
    order2 = accepted(users, lot)
    with pytest.raises(IllegalTransition):
        orders.mark_paid(order2, paid_at=late, now=late + timedelta(minutes=1))
    assert order2.status is S.expired
    conserved()


@pytest.mark.parametrize("who", ["coop2", "buyer", "official", "admin"])
def test_only_the_lots_cooperative_dispatches(users, lot, who):
    order = paid(users, lot)
    with pytest.raises(NotAllowed):
        orders.dispatch(users[who], order, "辽A12345", "13912345678", "100", "kg")
    assert order.status is S.paid


def test_only_paid_orders_are_dispatched(users, lot, coop):
    order = accepted(users, lot)
    with pytest.raises(IllegalTransition):
        orders.dispatch(coop, order, "辽A12345", "13912345678", "100", "kg")


def test_dispatch_records_the_truck_and_what_was_loaded(users, lot, coop):
    order = paid(users, lot)
    now = utcnow()
    with pytest.raises(ValidationFailed) as info:
        orders.dispatch(coop, order, "?", "call me", "101", "kg", now=now)
    assert set(info.value.fields) == {"vehicle_plate", "driver_phone", "shipped_quantity"}
    orders.dispatch(coop, order, "辽a·12345", "139-1234-5678", "190", "斤", now=now)
    db.session.commit()
    db.session.expire_all()
    assert (order.vehicle_plate, order.driver_phone, order.shipped_g) == (
        "辽A12345",
        "13912345678",
        95 * KG,
    )
    assert order.dispatched_at == now and order.auto_confirm_at == now + AUTO_CONFIRM
    event = history(order)[-1]
    assert (event.from_state, event.to_state, event.actor_id) == ("paid", "dispatched", coop.id)
    assert event.changes["vehicle_plate"] == "辽A12345"
    # a short shipment keeps the whole reservation: the lot is not credited with the rest
    assert in_db(lot)[0] == 900 * KG
    conserved()


@pytest.mark.parametrize("who", ["coop", "coop2", "official", "admin"])
def test_only_the_buyer_confirms_delivery(users, lot, who):
    order = dispatched(users, lot)
    with pytest.raises(NotAllowed):
        orders.confirm_delivery(users[who], order, "100", "kg")
    assert order.status is S.dispatched


def test_the_buyer_confirms_at_most_what_was_shipped(users, lot, buyer):
    order = dispatched(users, lot, shipped="98")
    with pytest.raises(ValidationFailed) as info:
        orders.confirm_delivery(buyer, order, "99", "kg")
    assert "accepted_quantity" in info.value.fields
    now = utcnow()
    orders.confirm_delivery(buyer, order, "97.5", "kg", now=now)
    db.session.commit()
    assert (order.status, order.accepted_g, order.shipped_g) == (S.delivered, 97_500, 98_000)
    assert order.delivered_at == now and order.dispute_until == now + DISPUTE_WINDOW
    assert history(order)[-1].changes == {"accepted_g": 97_500, "shipped_g": 98_000}


def test_the_buyer_may_accept_nothing_and_dispute(users, lot, buyer):
    order = dispatched(users, lot)
    orders.confirm_delivery(buyer, order, "0", "kg")
    orders.dispute(buyer, order, "全部发霉")
    assert (order.status, order.accepted_g, order.dispute_reason) == (S.disputed, 0, "全部发霉")


def test_the_whole_way_to_completion(users, lot, buyer, coop):
    order = dispatched(users, lot)
    orders.confirm_delivery(buyer, order, "100", "kg")
    db.session.commit()
    with pytest.raises(Conflict) as info:
        orders.complete(order)
    assert info.value.code == "dispute_window_open"
    counts = orders.expire_due(now=order.dispute_until)
    db.session.commit()
    assert counts == orders.TimerCounts(completed=1) and counts.total == 1
    assert order.status is S.completed
    assert events(order) == [
        (None, "reserved", "placed"),
        ("reserved", "accepted", "accepted"),
        ("accepted", "awaiting_payment", "payment_requested"),
        ("awaiting_payment", "paid", "paid"),
        ("paid", "dispatched", "dispatched"),
        ("dispatched", "delivered", "delivery_confirmed"),
        ("delivered", "completed", "completed"),
    ]
    actors = [e.actor_id for e in history(order)]
    assert actors == [buyer.id, coop.id, None, None, coop.id, buyer.id, None]
    # delivered goods stay sold: nothing goes back to the lot
    assert order.released_at is None and in_db(lot)[0] == 900 * KG
    for terminal_step in (
        lambda: orders.dispute(buyer, order, "晚了"),
        lambda: orders.cancel(buyer, order, "晚了"),
    ):
        with pytest.raises(IllegalTransition):
            terminal_step()
    conserved()


def test_disputes_within_the_window_and_their_resolution(users, lot, buyer):
    order = dispatched(users, lot)
    now = utcnow()
    orders.confirm_delivery(buyer, order, "100", "kg", now=now)
    with pytest.raises(NotAllowed):
        orders.dispute(users["coop"], order, "x")
    with pytest.raises(ValidationFailed):
        orders.dispute(buyer, order, "")
    orders.dispute(buyer, order, "短重 3 公斤，有过磅单照片", now=now + DISPUTE_WINDOW / 2)
    db.session.commit()
    assert order.status is S.disputed
    # the window has no hold on a dispute: it stays open until someone resolves it
    assert orders.expire_due(now=now + DISPUTE_WINDOW * 10).total == 0
    for who in ("buyer", "coop", "coop2", "other_official"):
        with pytest.raises(NotAllowed):
            orders.resolve(users[who], order, "退款 20 元")
    orders.resolve(users["official"], order, "合作社退还短重货款 20.40 元")
    db.session.commit()
    assert (order.status, order.resolution) == (S.resolved, "合作社退还短重货款 20.40 元")
    assert history(order)[-1].actor_id == users["official"].id


def test_an_administrator_resolves_anywhere(users, lot, buyer):
    order = dispatched(users, lot)
    orders.confirm_delivery(buyer, order, "100", "kg")
    orders.dispute(buyer, order, "质量不符")
    orders.resolve(users["admin"], order, "双方协商一致")
    assert order.status is S.resolved


def test_no_dispute_after_the_window(users, lot, buyer):
    order = dispatched(users, lot)
    now = utcnow()
    orders.confirm_delivery(buyer, order, "100", "kg", now=now)
    with pytest.raises(IllegalTransition):
        orders.dispute(buyer, order, "晚了", now=now + DISPUTE_WINDOW)
    assert order.status is S.completed  # the timer was applied first


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("buyer", True),
        ("coop", True),
        ("official", True),  # Zhangwu's office: the lot is in Zhangwu
        ("province_official", True),
        ("other_official", False),
        ("coop2", False),
        ("admin", True),
    ],
)
def test_who_sees_an_order(users, lot, who, sees):
    order = place(users["buyer"], lot)
    assert policy.can(users[who], policy.VIEW, order) is sees
    assert not policy.can(None, policy.VIEW, order)
    assert policy.can(users[who], "accept", order) is (who == "coop")
    assert policy.can(users[who], "confirm_delivery", order) is (who == "buyer")
    assert policy.can(users[who], "resolve", order) is (
        who in ("official", "province_official", "admin")
    )


# --- giving back exactly once -----------------------------------------------------------------


def test_cancelling_twice_gives_back_once(users, lot, buyer):
    order = place(buyer, lot, "400", "kg")
    orders.cancel(buyer, order, "第一次")
    db.session.commit()
    with pytest.raises(IllegalTransition):
        orders.cancel(users["coop"], order, "第二次")
    db.session.rollback()
    assert in_db(lot)[0] == T
    conserved()


def test_expiry_after_cancellation_gives_nothing_back(lot, buyer):
    order = place(buyer, lot, "400", "kg")
    orders.cancel(buyer, order, "不要了")
    db.session.commit()
    assert orders.expire_due(now=utcnow() + RESERVATION_HOLD * 2).total == 0
    assert not orders.apply_expiry(order, utcnow() + RESERVATION_HOLD * 2)
    assert in_db(lot)[0] == T
    assert [e.action for e in history(order)] == ["placed", "cancelled"]
    conserved()


def test_rejection_after_expiry_is_refused(users, lot, buyer):
    order = place(buyer, lot, "400", "kg")
    later = utcnow() + RESERVATION_HOLD
    with pytest.raises(IllegalTransition):
        orders.reject(users["coop"], order, "太晚了", now=later)
    assert order.status is S.expired
    assert in_db(lot)[0] == T
    assert [e.action for e in history(order)] == ["placed", "expired"]
    conserved()


def test_the_release_itself_is_guarded(lot, buyer):
    """Even called again behind the state table's back, the quantity goes back once."""
    order = place(buyer, lot, "400", "kg")
    orders.cancel(buyer, order, "不要了")
    assert orders._give_back(None, order, utcnow()) is False
    assert in_db(lot)[0] == T
    # a stale copy of the order that still believes it holds stock changes nothing either
    db.session.commit()
    db.session.execute(
        update(Order.__table__).where(Order.id == order.id).values(status=S.reserved)
    )  # as if another process still saw it reserved
    db.session.expire_all()
    orders.cancel(buyer, order, "又一次")
    assert in_db(lot)[0] == T
    db.session.rollback()
    conserved()


def test_a_concurrent_move_of_the_same_order_is_refused(users, lot, buyer):
    """The step is guarded on the state it was read in: a second writer finds it changed."""
    from sqlalchemy.orm.attributes import set_committed_value

    order = place(buyer, lot, "400", "kg")
    orders.accept(users["coop"], order)
    db.session.commit()
    set_committed_value(order, "status", S.reserved)  # a reader that has not seen the accept
    with pytest.raises(Conflict) as info:
        orders.cancel(buyer, order, "不要了")
    assert info.value.code == "order_changed"
    db.session.rollback()
    assert in_db(lot)[0] == 600 * KG
    conserved()


def test_quantities_are_conserved_through_any_sequence(users, lot):
    """Random steps by everyone, at random times: the books always balance."""
    rng = random.Random(20200415)
    coop, buyer = users["coop"], users["buyer"]
    other = make_lot(users["coop"], quantity="500", unit="kg", commodity="樱桃")  # spoils soon
    # 09:00 in Shanghai today, so that the walk is the same whatever the time of the run
    now = datetime.combine(local_today(), time(9), ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    made: list[Order] = []

    def forward(order: Order) -> None:
        """The next step on the happy path, whatever state the order is in (maybe illegal)."""
        if order.status is S.reserved:
            orders.accept(coop, order, now=now)
        elif order.status is S.awaiting_payment:
            orders.mark_paid(order, now=now)
        elif order.status is S.paid:
            shipped = str(rng.randint(1, order.quantity_g // KG))
            orders.dispatch(coop, order, "辽A12345", "13912345678", shipped, "kg", now=now)
        else:
            orders.confirm_delivery(buyer, order, "1", "kg", now=now)

    def step() -> None:
        choice = rng.randrange(10)
        order = rng.choice(made[-4:]) if made else None  # recent ones: they get somewhere
        if choice <= 2 or order is None:
            target = rng.choice([lot, other])
            quantity = str(rng.randint(1, 300))
            made.append(orders.place_order(buyer, target, quantity, "kg", now=now))
        elif choice <= 6:
            forward(order)
        elif choice == 7:
            orders.reject(coop, order, "不卖", now=now)
        elif choice == 8:
            orders.cancel(rng.choice([coop, buyer]), order, "取消", now=now)
        else:
            orders.expire_due(now=now)

    for _ in range(250):
        now += timedelta(hours=rng.choice([0, 0, 0, 1, 6, 30]))
        try:
            step()
            db.session.commit()
        except DomainError:
            db.session.rollback()
        conserved()
    statuses = {o.status for o in made}
    # the walk went everywhere: stock given back three ways, and goods delivered
    assert {S.expired, S.cancelled, S.rejected, S.delivered, S.completed} <= statuses


# --- timers -----------------------------------------------------------------------------------


def test_a_reservation_expires_when_read_after_its_hold(monkeypatch, lot, buyer, users):
    order = place(buyer, lot, "400", "kg")
    later = utcnow() + RESERVATION_HOLD + timedelta(seconds=1)
    assert order.current_status is S.reserved
    assert order.status_at(later) is S.expired  # what pages show before anything is recorded
    monkeypatch.setattr(orders, "utcnow", lambda: later)
    with pytest.raises(IllegalTransition):
        orders.accept(users["coop"], order)
    db.session.commit()
    assert order.status is S.expired and order.released_at == later
    event = history(order)[-1]
    assert (event.actor_id, event.from_state, event.to_state, event.changes) == (
        None,
        "reserved",
        "expired",
        {"reason": "not_accepted_in_time"},
    )
    assert in_db(lot)[0] == T
    conserved()


def test_an_unpaid_order_expires_by_the_command(monkeypatch, users, lot, runner, app):
    if "orders" not in app.cli.commands:  # until create_app registers it
        orders_cli.init_app(app)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"  # the command speaks the default language
    order = accepted(users, lot, "400", "kg")
    kept = paid(users, lot, "100", "kg")
    assert "Orders expired: 0;" in runner.invoke(args=["orders", "expire"]).output
    frozen = order.pay_by
    monkeypatch.setattr(orders, "utcnow", lambda: frozen)
    result = runner.invoke(args=["orders", "expire"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Orders expired: 1; deliveries confirmed automatically: 0; orders completed: 0."
    )
    db.session.expire_all()
    assert order.status is S.expired and kept.status is S.paid
    assert history(order)[-1].changes == {"reason": "not_paid_in_time"}
    assert in_db(lot)[0] == 900 * KG
    assert "Orders expired: 0;" in runner.invoke(args=["orders", "expire"]).output  # repeatable
    conserved()


def test_orders_expire_when_the_lot_spoils_before_dispatch(users, lot, buyer):
    reserved = place(buyer, lot, "100", "kg")
    waiting = accepted(users, lot, "100", "kg")
    paid_order = paid(users, lot, "100", "kg")
    on_its_way = dispatched(users, lot, "100", "kg")
    lot.spoil_by = local_today() - timedelta(days=1)
    db.session.commit()
    lots.expire_lots()
    db.session.commit()
    counts = orders.expire_due()
    db.session.commit()
    assert counts.expired == 3
    for order in (reserved, waiting, paid_order):
        assert order.status is S.expired
        assert history(order)[-1].changes == {"reason": "lot_spoiled"}
    assert on_its_way.status is S.dispatched  # already loaded: it is delivered, not expired
    # the quantity returns to the lot's books, but the lot stays expired
    assert in_db(lot) == (900 * KG, LotStatus.expired)
    conserved()


def test_a_sold_out_lot_that_spoiled_is_recorded_expired_when_stock_returns(lot, buyer):
    order = place(buyer, lot, "1", "t")
    lot.spoil_by = local_today() - timedelta(days=1)
    db.session.commit()
    assert lots.expire_lots() == 0  # sold out: the lots command leaves it alone
    assert orders.expire_due().expired == 1
    db.session.commit()
    assert order.status is S.expired
    assert in_db(lot) == (T, LotStatus.expired)
    assert (history(lot)[-1].from_state, history(lot)[-1].to_state) == ("sold_out", "expired")
    conserved()


def test_placing_an_order_first_frees_the_lots_expired_reservations(lot, buyer):
    first = place(buyer, lot, "1", "t")
    later = utcnow() + RESERVATION_HOLD
    order = orders.place_order(buyer, lot, "600", "kg", now=later)
    db.session.commit()
    assert first.status is S.expired and order.status is S.reserved
    assert in_db(lot) == (400 * KG, LotStatus.open)
    conserved()


def test_delivery_is_confirmed_automatically_after_a_week(users, lot):
    order = dispatched(users, lot, shipped="96")
    due = order.auto_confirm_at
    assert orders.expire_due(now=due - timedelta(seconds=1)).total == 0
    counts = orders.expire_due(now=due + timedelta(hours=1))
    db.session.commit()
    assert counts == orders.TimerCounts(confirmed=1)
    assert (order.status, order.accepted_g, order.delivered_at) == (S.delivered, 96 * KG, due)
    assert order.dispute_until == due + DISPUTE_WINDOW
    event = history(order)[-1]
    assert (event.action, event.actor_id) == ("delivery_auto_confirmed", None)
    # the buyer may still dispute within the window, counted from the due instant
    orders.dispute(users["buyer"], order, "少了", now=due + timedelta(days=1))
    assert order.status is S.disputed


def test_a_late_run_confirms_and_completes_in_one_go(users, lot):
    order = dispatched(users, lot)
    far = order.auto_confirm_at + DISPUTE_WINDOW + timedelta(days=1)
    assert order.status_at(far) is S.completed
    counts = orders.expire_due(now=far)
    assert counts == orders.TimerCounts(confirmed=1, completed=1)
    assert order.status is S.completed


def test_the_command_counts_only_what_it_recorded(users, lot):
    for _ in range(3):
        place(users["buyer"], lot, "10", "kg")
    assert orders.expire_due(now=utcnow() + RESERVATION_HOLD).expired == 3
    assert orders.expire_due(now=utcnow() + RESERVATION_HOLD).expired == 0
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "expired")
        )
        == 3
    )
    conserved()


def test_a_drivers_phone_is_read_in_ascii_digits(users, lot, coop):
    order = paid(users, lot)
    with pytest.raises(ValidationFailed) as info:
        orders.dispatch(coop, order, "辽A12345", "١٣٩١٢٣٤٥٦٧٨", "100", "kg")
    assert set(info.value.fields) == {"driver_phone"}
    orders.dispatch(coop, order, "辽A12345", "１３９－１２３４－５６７８", "100", "kg")
    db.session.commit()
    db.session.expire_all()
    assert order.driver_phone == "13912345678"
