"""The one lifecycle pattern: every stateful model has a table, and the one move helper guards,
audits and announces each move (and writes nothing when the move is illegal or raced)."""

from __future__ import annotations

import enum
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import Enum, func, select, update

from produce_match.accounts.models import CODES
from produce_match.audit.models import AuditEvent
from produce_match.audit.operations import history
from produce_match.demands.models import DEMANDS, Demand, DemandAction, DemandStatus
from produce_match.extensions import db
from produce_match.lifecycle import IllegalMove, Lifecycle, Moved, StaleMove
from produce_match.lots.models import LOTS, SELLABLE, LotStatus, can_sell, sellable
from produce_match.lots.rules import meets_minimum
from produce_match.matching.models import AWAITING_ANSWERS, PROPOSALS
from produce_match.monitor.models import EXPORTS, PROBLEMS, SOLVED, UNFINISHED, UNSOLVED
from produce_match.notifications.models import DELIVERIES as NOTICE_DELIVERIES
from produce_match.orders import models as order_models
from produce_match.partners.models import DELIVERIES as OUTGOING_DELIVERIES
from produce_match.partners.models import ENDPOINTS, ROBOTS
from produce_match.passes.models import ACTIVE as ACTIVE_PASSES
from produce_match.passes.models import PASSES
from produce_match.payments.models import INSTRUCTIONS, OPEN_PAYMENTS, OUTSTANDING, PAYMENTS
from produce_match.rescue.models import PROPOSALS as RESCUE_PROPOSALS
from produce_match.trust.models import CLAIMS
from tests import factories

LIFECYCLES = [
    order_models.ORDERS,
    LOTS,
    PAYMENTS,
    INSTRUCTIONS,
    DEMANDS,
    PROPOSALS,
    PROBLEMS,
    EXPORTS,
    CODES,
    NOTICE_DELIVERIES,
    ENDPOINTS,
    ROBOTS,
    OUTGOING_DELIVERIES,
    PASSES,
    CLAIMS,
    RESCUE_PROPOSALS,
]

#: the sets each model's queries use, derived beside its table
DERIVED = {
    "orders": [
        order_models.BEFORE_DISPATCH,
        order_models.RELEASING,
        order_models.TAKEN,
        order_models.SUCCEEDED,
        order_models.BUYER_ACCOUNTABLE,
    ],
    "lots": [SELLABLE],
    "payments": [OPEN_PAYMENTS],
    "payment_instructions": [OUTSTANDING],
    "demands": [],
    "match_proposals": [AWAITING_ANSWERS],
    "export_jobs": [UNFINISHED],
    "problems": [UNSOLVED, SOLVED],
    "phone_codes": [],
    "notification_deliveries": [],
    "webhook_endpoints": [],
    "group_robots": [],
    "outgoing_deliveries": [],
    "transport_passes": [ACTIVE_PASSES],
    "identity_claims": [],
    "rescue_proposals": [],
}


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


# --- every stateful model has a table -------------------------------------------------------


def _state_columns():
    """(table name, enum class) of every model column named status holding an enum."""
    for mapper in db.Model.registry.mappers:
        table = mapper.local_table
        column = table.c.get("status")
        if column is not None and isinstance(column.type, Enum) and column.type.enum_class:
            yield table.name, column.type.enum_class


def test_every_stateful_model_declares_its_lifecycle():
    declared = {lc.model: lc for lc in LIFECYCLES}
    found = dict(_state_columns())
    assert set(found) == set(declared), "a model with a status column has no lifecycle table"
    for name, enum_class in found.items():
        assert declared[name].states is enum_class


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.model)
def test_every_state_is_in_the_table_and_the_derived_sets_cover_it(lifecycle):
    states = frozenset(lifecycle.states)
    in_table = {b for b, _a in lifecycle.transitions} | set(lifecycle.transitions.values())
    assert in_table == states, f"{lifecycle.model}: states the table never names"
    assert lifecycle.live | lifecycle.terminal == states
    assert not lifecycle.live & lifecycle.terminal
    for group in DERIVED[lifecycle.model]:
        assert group and frozenset(group) <= states
    # every action is used, and each action leads to one state from a given state
    assert {a for _b, a in lifecycle.transitions} == set(lifecycle.actions)
    for action in lifecycle.actions:
        assert lifecycle.verb(action)


def test_derived_order_sets_are_what_the_queries_used_to_spell_out():
    S = order_models.OrderStatus
    assert {
        S.accepted,
        S.awaiting_payment,
        S.paid,
        S.dispatched,
        S.delivered,
        S.completed,
        S.disputed,
        S.resolved,
    } == order_models.TAKEN
    assert {
        S.reserved,
        S.accepted,
        S.awaiting_payment,
        S.paid,
        S.dispatched,
        S.delivered,
        S.disputed,
    } == order_models.LIVE
    assert {
        S.completed,
        S.cancelled,
        S.expired,
        S.disputed,
        S.resolved,
    } == order_models.BUYER_ACCOUNTABLE
    assert {LotStatus.open} == SELLABLE
    assert {PROBLEMS.states("closed")} == SOLVED


def test_a_table_of_untyped_moves_is_refused():
    class St(enum.StrEnum):
        a = "a"
        b = "b"

    class Ac(enum.StrEnum):
        go = "go"

    with pytest.raises(TypeError):
        Lifecycle("things", St, Ac, {("a", Ac.go): St.b})
    with pytest.raises(TypeError):
        DEMANDS.on("pause")  # listeners subscribe to typed actions, never to words


# --- the helper -----------------------------------------------------------------------------


@pytest.fixture
def demand(users):
    return factories.make_demand(users["buyer"])


@pytest.fixture
def heard():
    """Every demand move announced while the test runs."""
    events: list[Moved] = []

    def receiver(event: Moved) -> None:
        events.append(event)

    DEMANDS.on()(receiver)
    yield events
    DEMANDS.off(receiver)


def _audit_count() -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)))


def test_a_move_updates_audits_and_announces_once(users, demand, heard):
    paused: list[Moved] = []

    @DEMANDS.on(DemandAction.pause)
    def on_pause(event: Moved) -> None:
        paused.append(event)

    try:
        event = DEMANDS.move(demand, DemandAction.pause, actor=users["buyer"])
        DEMANDS.move(demand, DemandAction.close, actor=users["buyer"])
    finally:
        DEMANDS.off(on_pause)
    db.session.commit()
    assert event is not None and event.before is DemandStatus.active
    assert [e.action for e in heard] == [DemandAction.pause, DemandAction.close]
    assert [e.action for e in paused] == [DemandAction.pause]  # only what it subscribed to
    assert heard[0].subject is demand and heard[0].actor is users["buyer"]
    assert heard[1].after is DemandStatus.closed
    assert demand.status is DemandStatus.closed
    assert db.session.scalar(select(Demand.status).where(Demand.id == demand.id)) == "closed"
    steps = [(e.action, e.from_state, e.to_state, e.actor_id) for e in history(demand)][-2:]
    assert steps == [
        ("paused", "active", "paused", users["buyer"].id),
        ("closed", "paused", "closed", users["buyer"].id),
    ]


def test_an_illegal_move_is_refused_and_writes_nothing(users, demand, heard):
    DEMANDS.move(demand, DemandAction.close, actor=users["buyer"])
    db.session.commit()
    before = _audit_count()
    with pytest.raises(IllegalMove) as refused:
        DEMANDS.move(demand, DemandAction.resume, actor=users["buyer"])
    assert refused.value.status == 409 and refused.value.code == "illegal_transition"
    assert DEMANDS.move(demand, DemandAction.resume, strict=False) is None
    assert _audit_count() == before
    assert [e.action for e in heard] == [DemandAction.close]
    assert db.session.scalar(select(Demand.status).where(Demand.id == demand.id)) == "closed"


def test_a_lost_race_is_refused_cleanly(users, demand, heard):
    """The caller read `active`; meanwhile someone else closed it: the guarded UPDATE finds no
    row in the state it starts from, so nothing is written, recorded or announced."""
    assert demand.status is DemandStatus.active
    db.session.execute(  # the other request's move, past this one's read
        update(Demand)
        .where(Demand.id == demand.id)
        .values(status=DemandStatus.closed)
        .execution_options(synchronize_session=False)
    )
    before = _audit_count()
    with pytest.raises(StaleMove) as refused:
        DEMANDS.move(demand, DemandAction.pause, actor=users["buyer"], expected=DemandStatus.active)
    assert refused.value.code == "state_changed"
    moved = DEMANDS.move(demand, DemandAction.pause, expected=DemandStatus.active, strict=False)
    assert moved is None
    assert _audit_count() == before and heard == []
    assert db.session.scalar(select(Demand.status).where(Demand.id == demand.id)) == "closed"


def test_the_guard_holds_extra_conditions(users, demand, heard):
    moved = DEMANDS.move(
        demand,
        DemandAction.pause,
        where=[Demand.id == -1],
        strict=False,  # matches no row
    )
    assert moved is None and heard == []
    assert db.session.scalar(select(Demand.status).where(Demand.id == demand.id)) == "active"


# --- one rule for what a lot can sell, one minimum-order rule -------------------------------


class _Stock:
    def __init__(self, min_order_g, remaining_g):
        self.min_order_g, self.remaining_g = min_order_g, remaining_g


@pytest.mark.parametrize(
    ("min_order_g", "remaining_g", "grams", "ok"),
    [
        (None, 5000, 1, True),  # no minimum
        (0, 5000, 1, True),
        (2000, 5000, 1999, False),  # below the minimum
        (2000, 5000, 2000, True),
        (2000, 1500, 1500, True),  # the last of a lot, whatever the minimum
        (2000, 5000, 5000, True),
    ],
)
def test_the_minimum_order_rule(min_order_g, remaining_g, grams, ok):
    assert meets_minimum(_Stock(min_order_g, remaining_g), grams) is ok


def test_can_sell_and_its_sql_form_agree(users):
    from produce_match.dates import local_today
    from produce_match.lots import operations as lots
    from produce_match.lots.models import Lot

    coop = users["coop"]
    on_offer = factories.make_lot(coop)
    withdrawn = factories.make_lot(coop)
    lots.withdraw_lot(coop, withdrawn)
    db.session.commit()
    listed = set(
        db.session.scalars(
            select(Lot.id).where(Lot.id.in_([on_offer.id, withdrawn.id]), sellable(local_today()))
        )
    )
    assert listed == {on_offer.id}
    assert can_sell(on_offer) and not can_sell(withdrawn)
    assert on_offer.orderable and not withdrawn.orderable
    assert can_sell(on_offer, on_offer.remaining_g) and not can_sell(
        on_offer, on_offer.remaining_g + 1
    )
    tomorrow = local_today() + timedelta(days=1)
    assert not set(db.session.scalars(select(Lot.id).where(sellable(tomorrow, at_least_g=10**12))))


def test_the_helper_imports_no_domain():
    import ast
    from pathlib import Path

    import produce_match.lifecycle as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    ours = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("produce_match")
    }
    assert ours == {
        "produce_match.audit.operations",
        "produce_match.errors",
        "produce_match.extensions",
    }
