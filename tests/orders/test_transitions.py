"""The order state table, tested without an app: every legal move, and every other one refused."""

from __future__ import annotations

import inspect
import itertools
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from produce_match.errors import Conflict
from produce_match.orders import models
from produce_match.orders.models import (
    AUTO_CONFIRM,
    BEFORE_DISPATCH,
    DISPUTE_WINDOW,
    RELEASING,
    TERMINAL,
    TRANSITIONS,
    ExpiryCause,
    IllegalTransition,
    OrderAction,
    OrderStatus,
    Party,
    PaymentStatus,
    actions_from,
    due_action,
    parties,
    parties_for,
    transition,
)

S, A, P = OrderStatus, OrderAction, Party

#: the table as the issue describes it, written out once more by hand: a change to the table
#: must be a change to this list too
EXPECTED = {
    ("reserved", "accept"): ("accepted", {"cooperative"}),
    ("reserved", "reject"): ("rejected", {"cooperative"}),
    ("accepted", "request_payment"): ("awaiting_payment", {"system"}),
    ("awaiting_payment", "pay"): ("paid", {"system"}),
    ("paid", "dispatch"): ("dispatched", {"cooperative"}),
    ("dispatched", "confirm_delivery"): ("delivered", {"buyer"}),
    ("dispatched", "auto_confirm"): ("delivered", {"system"}),
    ("delivered", "complete"): ("completed", {"system"}),
    ("delivered", "dispute"): ("disputed", {"buyer"}),
    ("disputed", "resolve"): ("resolved", {"official"}),
    ("reserved", "cancel"): ("cancelled", {"buyer", "cooperative"}),
    ("accepted", "cancel"): ("cancelled", {"buyer", "cooperative"}),
    ("awaiting_payment", "cancel"): ("cancelled", {"buyer", "cooperative"}),
    ("paid", "cancel"): ("cancelled", {"buyer", "cooperative"}),
    ("reserved", "expire"): ("expired", {"system"}),
    ("accepted", "expire"): ("expired", {"system"}),
    ("awaiting_payment", "expire"): ("expired", {"system"}),
    ("paid", "expire"): ("expired", {"system"}),
}

ALL_PAIRS = list(itertools.product(list(OrderStatus), list(OrderAction)))
ILLEGAL = [(s, a) for s, a in ALL_PAIRS if (s, a) not in TRANSITIONS]


def test_the_table_is_exactly_the_documented_one():
    actual = {
        (s.value, a.value): (t.value, {p.value for p in who})
        for (s, a), (t, who) in TRANSITIONS.items()
    }
    assert actual == EXPECTED


@pytest.mark.parametrize(("status", "action"), list(TRANSITIONS), ids=lambda x: str(x))
def test_every_legal_move_is_allowed(status, action):
    to, who = TRANSITIONS[(status, action)]
    assert transition(status, action) is to
    assert transition(status.value, action.value) is to  # plain strings work the same
    assert parties(status, action) == who and who


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=lambda x: str(x))
def test_every_other_move_is_refused(status, action):
    with pytest.raises(IllegalTransition) as info:
        transition(status, action)
    error = info.value
    assert isinstance(error, Conflict)
    assert (error.code, error.status) == ("illegal_transition", 409)
    assert (error.order_status, error.action) == (status, action)
    assert parties(status, action) == frozenset()


def test_the_cross_product_is_covered():
    assert len(ILLEGAL) + len(TRANSITIONS) == len(OrderStatus) * len(OrderAction) == 144


@pytest.mark.parametrize(
    ("status", "action"),
    [("reserved", "teleport"), ("nonsense", "accept"), ("", ""), ("RESERVED", "accept")],
)
def test_unknown_states_and_actions_are_refused(status, action):
    with pytest.raises(IllegalTransition):
        transition(status, action)


def test_terminal_states():
    assert {S.rejected, S.completed, S.cancelled, S.expired, S.resolved} == TERMINAL
    for status in TERMINAL:
        assert actions_from(status) == []


def test_every_state_is_reachable_and_every_path_ends():
    reachable: set[OrderStatus] = {S.reserved}
    while new := {t for (s, _a), (t, _w) in TRANSITIONS.items() if s in reachable} - reachable:
        reachable |= new
    assert reachable == set(OrderStatus)
    # no cycles: every move goes further down the declaration order, so every path ends
    rank = {s: i for i, s in enumerate(OrderStatus)}
    for (s, _a), (t, _who) in TRANSITIONS.items():
        assert rank[t] > rank[s]


def test_only_releasing_moves_give_stock_back():
    assert {S.rejected, S.cancelled, S.expired} == RELEASING
    # stock goes back only from states that still hold it, i.e. before dispatch
    for (s, _a), (t, _who) in TRANSITIONS.items():
        if t in RELEASING:
            assert s in BEFORE_DISPATCH


def test_cancel_only_before_dispatch_by_either_side():
    for status in OrderStatus:
        allowed = (status, A.cancel) in TRANSITIONS
        assert allowed is (status in BEFORE_DISPATCH)
    assert parties_for("cancel") == {P.buyer, P.cooperative}
    assert parties_for("resolve") == {P.official}
    assert parties_for("accept") == {P.cooperative}
    assert parties_for("confirm_delivery") == {P.buyer}
    assert P.official not in parties_for("dispatch")


def test_every_value_is_documented():
    source = inspect.getsource(models)
    for member in [*OrderStatus, *OrderAction, *PaymentStatus, *Party, *ExpiryCause]:
        line = next(x for x in source.splitlines() if x.strip().startswith(f"{member.name} = "))
        assert "#:" in line, member


# --- timers (pure) ---------------------------------------------------------------------------

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # noon in Shanghai


def fake(status: S, *, spoil_by: date = date(2026, 6, 30), **times) -> SimpleNamespace:
    values = {
        "reserved_until": NOW + timedelta(hours=1),
        "pay_by": None,
        "auto_confirm_at": None,
        "dispute_until": None,
    }
    values.update(times)
    lot = SimpleNamespace(spoil_by=spoil_by, timezone="Asia/Shanghai")
    return SimpleNamespace(status=status, lot=lot, **values)


def test_nothing_is_due_before_its_time():
    assert due_action(fake(S.reserved), NOW) is None
    assert due_action(fake(S.awaiting_payment, pay_by=NOW + timedelta(seconds=1)), NOW) is None


def test_a_reservation_expires_at_its_deadline():
    order = fake(S.reserved, reserved_until=NOW)
    assert due_action(order, NOW) == (A.expire, ExpiryCause.not_accepted_in_time)


@pytest.mark.parametrize("status", [S.accepted, S.awaiting_payment])
def test_an_unpaid_order_expires_at_pay_by(status):
    order = fake(status, pay_by=NOW - timedelta(minutes=1))
    assert due_action(order, NOW) == (A.expire, ExpiryCause.not_paid_in_time)


@pytest.mark.parametrize("status", BEFORE_DISPATCH)
def test_an_order_expires_when_its_lot_spoils_before_dispatch(status):
    # 2026-06-01 is the spoil-by date itself: still good; the day after, spoiled
    assert due_action(fake(status, spoil_by=date(2026, 6, 1)), NOW) is None
    order = fake(status, spoil_by=date(2026, 5, 31))
    assert due_action(order, NOW) == (A.expire, ExpiryCause.lot_spoiled)


def test_the_lot_spoils_by_its_own_calendar():
    # 2026-05-31 23:30 in Shanghai is 15:30 UTC: the spoil-by date 2026-05-31 has not passed
    late = datetime(2026, 5, 31, 15, 30, tzinfo=UTC)
    assert due_action(fake(S.paid, spoil_by=date(2026, 5, 31)), late) is None
    assert due_action(fake(S.paid, spoil_by=date(2026, 5, 31)), late + timedelta(hours=1))


def test_a_dispatched_order_never_expires_but_is_confirmed_in_time():
    order = fake(S.dispatched, spoil_by=date(2020, 1, 1), auto_confirm_at=NOW + AUTO_CONFIRM)
    assert due_action(order, NOW) is None
    assert due_action(order, NOW + AUTO_CONFIRM) == (A.auto_confirm, None)


def test_a_delivery_completes_after_the_dispute_window():
    order = fake(S.delivered, dispute_until=NOW + DISPUTE_WINDOW)
    assert due_action(order, NOW) is None
    assert due_action(order, NOW + DISPUTE_WINDOW) == (A.complete, None)


@pytest.mark.parametrize("status", sorted(TERMINAL | {S.disputed}))
def test_nothing_is_due_for_ended_or_disputed_orders(status):
    order = fake(
        status,
        spoil_by=date(2020, 1, 1),
        reserved_until=NOW - timedelta(days=9),
        pay_by=NOW - timedelta(days=9),
        auto_confirm_at=NOW - timedelta(days=9),
        dispute_until=NOW - timedelta(days=9),
    )
    assert due_action(order, NOW) is None
