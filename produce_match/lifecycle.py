"""One lifecycle pattern for every stateful model: a table of moves, one guarded move, typed events.

Each stateful model declares, beside itself in its `models.py`, its states (an enum), its
actions (an enum) and ONE table of legal moves, `(from state, action) -> to state`, wrapped in
a `Lifecycle`. The sets of states that queries need (live, terminal, and the model's own
groupings such as "sellable" or "taken") are derived from that table or declared next to it,
never re-declared elsewhere. A newcomer finds a model's states and moves in its `models.py`.

`Lifecycle.move` is the only way a state changes after the row was created:

1. the move must be in the table (else `IllegalMove`, nothing written);
2. one guarded statement, `UPDATE ... SET status = :to WHERE id = :id AND status IN (:froms)`
   (every state from which `action` leads to the same `to`, or only the state the caller saw),
   whose row count says whether it happened: 0 rows means someone else moved it meanwhile
   (`StaleMove`, or None with `strict=False`), so two requests never both move a row;
3. the audit record (`audit.operations.record`, with the model's past-tense verb);
4. a typed event, `Moved`, sent to the receivers that subscribed to this lifecycle's actions
   (`LOTS.on(LotAction.withdraw)(receiver)`). Receivers run inside the transaction and only
   add rows to the session. They subscribe to the actions (enum members), never to the audit
   verbs, which are words for people reading the trail.

This module is kernel level: it knows no domain, only the audit trail and the database.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from blinker import Signal
from flask_babel import lazy_gettext as _l
from sqlalchemy import Table, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ClauseElement

from produce_match.audit.operations import record
from produce_match.errors import Conflict
from produce_match.extensions import db

S = TypeVar("S", bound=enum.Enum)
A = TypeVar("A", bound=enum.Enum)

__all__ = ["IllegalMove", "Lifecycle", "MoveRefused", "Moved", "StaleMove"]


class MoveRefused(Conflict):
    """A move that did not happen; nothing was written."""

    code = "illegal_transition"

    def __init__(self, message: Any, *, state: Any = None, action: Any = None) -> None:
        super().__init__(message)
        self.state = state  # not `status`: DomainError.status is the HTTP status (409)
        self.action = action


class IllegalMove(MoveRefused):
    """The table has no such move from the row's present state."""

    code = "illegal_transition"


class StaleMove(MoveRefused):
    """The row left the state the move starts from while the move was being made."""

    code = "state_changed"


@dataclass(frozen=True)
class Moved:
    """What a move did: sent, typed, to the receivers of its lifecycle's actions."""

    lifecycle: Lifecycle[Any, Any]
    subject: Any
    action: enum.Enum
    before: enum.Enum
    after: enum.Enum
    actor: Any
    facts: Mapping[str, Any] | None


def _default_illegal(state: Any, action: Any) -> MoveRefused:
    return IllegalMove(_l("This cannot be done in its present state."), state=state, action=action)


def _default_stale(state: Any, action: Any) -> MoveRefused:
    return StaleMove(
        _l("This was changed meanwhile. Reload it and try again."), state=state, action=action
    )


Executor = Callable[[Any], int]


class Lifecycle(Generic[S, A]):
    """A model's states, actions and table of moves; derived state sets; the guarded move."""

    def __init__(
        self,
        model: str,
        states: type[S],
        actions: type[A],
        transitions: Mapping[tuple[S, A], S],
        *,
        verbs: Mapping[A, str] | None = None,
        column: str = "status",
        illegal: Callable[[Any, Any], Exception] = _default_illegal,
        stale: Callable[[Any, Any], Exception] = _default_stale,
    ) -> None:
        for (before, action), after in transitions.items():
            if not (
                isinstance(before, states)
                and isinstance(action, actions)
                and isinstance(after, states)
            ):
                raise TypeError(f"{model}: ({before!r}, {action!r}) -> {after!r} is not typed")
        self.model = model
        self.states = states
        self.actions = actions
        self.transitions: Mapping[tuple[S, A], S] = dict(transitions)
        self.verbs: Mapping[A, str] = dict(verbs or {})
        self.column = column
        self._illegal = illegal
        self._stale = stale
        self._signal = Signal(f"{model}-moved")
        self._deliveries: dict[Callable[[Moved], None], Callable[..., None]] = {}
        #: states no move leaves
        self.terminal: frozenset[S] = frozenset(
            s for s in states if not any(b is s for b, _a in self.transitions)
        )
        #: states some move leaves: the row is still going somewhere
        self.live: frozenset[S] = frozenset(states) - self.terminal

    # --- reading the table ------------------------------------------------------------------

    def target(self, state: Any, action: Any) -> S | None:
        """Where `action` leads from `state`, or None if the table has no such move."""
        try:
            key = (self.states(state), self.actions(action))
        except ValueError:
            return None
        return self.transitions.get(key)

    def allows(self, state: Any, action: Any) -> bool:
        return self.target(state, action) is not None

    def sources(self, action: A) -> frozenset[S]:
        """Every state `action` may start from."""
        return frozenset(b for b, a in self.transitions if a is action)

    def actions_from(self, state: Any) -> list[A]:
        """The actions the table allows from `state`, in table order."""
        return [a for b, a in self.transitions if b == state]

    def verb(self, action: A) -> str:
        """The audit trail's word for `action` (past tense): declared, else the action's name."""
        return self.verbs.get(action, str(action.value))

    # --- typed events -----------------------------------------------------------------------

    def on(self, *actions: A) -> Callable[[Callable[[Moved], None]], Callable[[Moved], None]]:
        """Subscribe a receiver to these actions of this lifecycle (all actions if none given).

        The receiver gets one argument, the `Moved` event. Receivers are kept (strong refs).
        """
        for action in actions:
            if not isinstance(action, self.actions):
                raise TypeError(f"{action!r} is not an action of {self.model}")
        wanted = frozenset(actions)

        def connect(receiver: Callable[[Moved], None]) -> Callable[[Moved], None]:
            def deliver(_sender: Any, event: Moved) -> None:
                if not wanted or event.action in wanted:
                    receiver(event)

            self._signal.connect(deliver, weak=False)
            self._deliveries[receiver] = deliver
            return receiver

        return connect

    def off(self, receiver: Callable[[Moved], None]) -> None:
        """Unsubscribe a receiver connected with `on` (tests)."""
        deliver = self._deliveries.pop(receiver, None)
        if deliver is not None:
            self._signal.disconnect(deliver)

    # --- the move ---------------------------------------------------------------------------

    def move(
        self,
        subject: Any,
        action: A,
        *,
        actor: Any = None,
        expected: S | None = None,
        values: Mapping[str, Any] | None = None,
        where: Iterable[Any] = (),
        facts: Mapping[str, Any] | None = None,
        execute: Executor | None = None,
        strict: bool = True,
    ) -> Moved | None:
        """Move `subject` (a model instance) by `action`: guarded UPDATE, audit, typed event.

        `expected`: the state the caller saw (the move is then guarded on exactly that state);
        without it, on every state from which `action` reaches the same target as from the
        row's present one. `values`: other columns the same statement sets (plain values are
        put on `subject`, SQL expressions are expired to be read again). `where`: further
        conditions of the guard. `facts`: the audit record's `changes`. `execute`: runs the
        statement and returns its row count (for tables that need their own path, e.g. lots).

        Returns the event. A move the table does not have from the present state raises the
        lifecycle's illegal error, a lost race its stale error; with strict=False both return
        None instead (for steps that may come twice: a provider's repeated notification).
        """
        table: Table = type(subject).__table__
        status = table.c[self.column]
        if expected is None:
            before_raw = db.session.scalar(select(status).where(table.c.id == subject.id))
        else:
            before_raw = expected
        after = self.target(before_raw, action) if before_raw is not None else None
        if after is None:
            if strict:
                raise self._illegal(before_raw, action)
            return None
        before = self.states(before_raw)
        if expected is not None:
            froms = [before]
        else:
            froms = sorted(
                (b for (b, a), t in self.transitions.items() if a is action and t is after),
                key=lambda s: str(s.value),
            )
        changes = {self.column: after, **(values or {})}
        statement = (
            update(table)
            .where(table.c.id == subject.id, status.in_([s.value for s in froms]), *where)
            .values(**changes)
        )
        rows = execute(statement) if execute else db.session.execute(statement).rowcount
        if rows != 1:
            if strict:
                raise self._stale(before, action)
            return None
        expired = []
        for name, value in changes.items():
            if isinstance(value, ClauseElement):
                expired.append(name)
            else:
                set_committed_value(subject, name, value)
        if expired:
            db.session.expire(subject, expired)
        return self._announce(subject, action, before, after, actor, facts)

    def recorded(
        self,
        subject: Any,
        action: A,
        before: Any,
        *,
        actor: Any = None,
        facts: Mapping[str, Any] | None = None,
    ) -> Moved:
        """Audit and announce a move that a larger guarded statement of the caller's made
        (e.g. the statement that takes a lot's stock also marks it sold out, atomically)."""
        after = self.target(before, action)
        if after is None:
            raise self._illegal(before, action)
        return self._announce(subject, action, self.states(before), after, actor, facts)

    def _announce(
        self,
        subject: Any,
        action: A,
        before: S,
        after: S,
        actor: Any,
        facts: Mapping[str, Any] | None,
    ) -> Moved:
        record(
            actor,
            subject,
            self.verb(action),
            from_state=str(before.value),
            to_state=str(after.value),
            changes=dict(facts) if facts else None,
        )
        event = Moved(self, subject, action, before, after, actor, facts)
        self._signal.send(self, event=event)
        return event
