"""Every organisation's reliability, computed from its orders (never stored).

`figures_of(org_ids)` reads the orders of many organisations in two queries (the orders with
the audit records of how those that ended early ended, then the audit records of when payment
was requested) and computes, for
each organisation, what it did as a seller (cooperative) and as a buyer:

As a seller (the lot's cooperative):

- **finished**: the orders that ended and that the cooperative answers for: completed,
  resolved (a dispute settled), rejected by the cooperative, cancelled by a member of the
  cooperative, and expired because it did not accept in time or the lot spoiled before
  dispatch. A buyer's cancellation and a buyer's failure to pay do not count against it.
- **completion rate**: (completed + disputes resolved with no refund) / finished.
- **on-time dispatch**: of the dispatched orders (both `paid_at` and `dispatched_at` known),
  the share dispatched within DISPATCH_ON_TIME_HOURS (config, 48) of the payment.
- **disputed share**: orders disputed (disputed or resolved) / orders delivered (delivered,
  completed, disputed, resolved); and how the disputes ended: resolved with a full refund,
  with a partial refund, with no refund, still open.

As a buyer:

- **finished**: completed, resolved, cancelled by a member of the buying organisation, expired
  because it did not pay in time. A cooperative's rejection or cancellation, and a lot that
  spoiled, do not count against the buyer.
- **completion rate**: (completed + disputes resolved with a refund: the buyer was right) /
  finished.
- **disputed share**: the disputes it raised / its orders delivered, and how they ended.
- **median days to pay**: from the moment payment was requested (the audit record
  `payment_requested`, written at acceptance; failing that `accepted`) to `paid_at`, the
  median over its paid orders, in days with one decimal.

A figure is shown only from MIN_ORDERS (3) orders behind it (finished orders for a completion
rate, dispatched orders for on-time dispatch, delivered orders for the disputed share, paid
orders for the days to pay); below that it is None and pages say "too few orders".

The match score (matching/rules.py) uses `records(...)`: the same completed and finished
counts, for each side, smoothed there with its prior.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from produce_match.accounts.models import User
from produce_match.audit.models import AuditEvent
from produce_match.extensions import db
from produce_match.orders.models import ExpiryCause, Order, OrderStatus

S = OrderStatus

#: the fewest orders behind a figure for it to be shown
MIN_ORDERS = 3
#: the default of DISPATCH_ON_TIME_HOURS
DEFAULT_ON_TIME_HOURS = 48

#: states of an order that reached the buyer (delivered, then maybe disputed)
DELIVERED = frozenset({S.delivered, S.completed, S.disputed, S.resolved})
DISPUTED = frozenset({S.disputed, S.resolved})
#: expiries the cooperative answers for, and the one the buyer answers for
SELLER_EXPIRIES = frozenset({ExpiryCause.not_accepted_in_time.value, ExpiryCause.lot_spoiled.value})
BUYER_EXPIRIES = frozenset({ExpiryCause.not_paid_in_time.value})
#: the audit verbs read: how an order ended early, and when payment was requested
_ENDINGS = ("cancelled", "expired")
_REQUESTED = ("payment_requested", "accepted")


@dataclass(frozen=True)
class Disputes:
    """How the disputes of one side ended (counts)."""

    full_refund: int = 0
    partial_refund: int = 0
    no_refund: int = 0
    open: int = 0

    @property
    def total(self) -> int:
        return self.full_refund + self.partial_refund + self.no_refund + self.open


@dataclass(frozen=True)
class Side:
    """One organisation's record on one side (seller or buyer).

    Every rate is None below MIN_ORDERS orders behind it (`too_few` says which).
    """

    #: finished orders it answers for, and how many of them ended well
    finished: int = 0
    completed: int = 0
    delivered: int = 0
    disputed: int = 0
    disputes: Disputes = field(default_factory=Disputes)
    #: seller: dispatched orders with both moments known, and those on time
    dispatched: int = 0
    on_time: int = 0
    #: buyer: paid orders with both moments known, and the median days from request to payment
    paid: int = 0
    median_days_to_pay: float | None = None

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.finished if self.finished >= MIN_ORDERS else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.dispatched if self.dispatched >= MIN_ORDERS else None

    @property
    def disputed_share(self) -> float | None:
        return self.disputed / self.delivered if self.delivered >= MIN_ORDERS else None

    @property
    def days_to_pay(self) -> float | None:
        return self.median_days_to_pay if self.paid >= MIN_ORDERS else None

    @property
    def any_orders(self) -> bool:
        return bool(self.finished or self.delivered or self.dispatched or self.paid)


@dataclass(frozen=True)
class Reliability:
    """An organisation's figures as a seller and as a buyer."""

    org_id: int
    seller: Side = field(default_factory=Side)
    buyer: Side = field(default_factory=Side)


def _on_time_hours() -> int:
    try:
        return int(current_app.config.get("DISPATCH_ON_TIME_HOURS", DEFAULT_ON_TIME_HOURS))
    except RuntimeError:  # no app: the default
        return DEFAULT_ON_TIME_HOURS


class _Tally:
    def __init__(self) -> None:
        self.finished = self.completed = self.delivered = self.disputed = 0
        self.full = self.partial = self.none = self.open = 0
        self.dispatched = self.on_time = 0
        self.days: list[float] = []

    def side(self) -> Side:
        median = round(statistics.median(self.days), 1) if self.days else None
        return Side(
            finished=self.finished,
            completed=self.completed,
            delivered=self.delivered,
            disputed=self.disputed,
            disputes=Disputes(self.full, self.partial, self.none, self.open),
            dispatched=self.dispatched,
            on_time=self.on_time,
            paid=len(self.days),
            median_days_to_pay=median,
        )


def _orders(ids: list[int]) -> list[Any]:
    """These orgs' orders, each with how it ended early if it did (the audit record of its
    cancellation or expiry, and the organisation of whoever cancelled it): one query."""
    actor = aliased(User)
    ending = aliased(AuditEvent)
    return list(
        db.session.execute(
            select(
                Order.id,
                Order.buyer_org_id,
                Order.cooperative_org_id,
                Order.status,
                Order.amount_fen,
                Order.resolution_refund_fen,
                Order.paid_at,
                Order.dispatched_at,
                ending.changes.label("ending_changes"),
                actor.organisation_id.label("ended_by_org"),
            )
            .outerjoin(
                ending,
                (ending.subject_type == "orders")
                & (ending.subject_id == Order.id)
                & ending.action.in_(_ENDINGS),
            )
            .outerjoin(actor, actor.id == ending.actor_id)
            .where(or_(Order.buyer_org_id.in_(ids), Order.cooperative_org_id.in_(ids)))
            .order_by(Order.id)
        )
    )


def _requests(ids: list[int]) -> dict[int, datetime]:
    """{order: when its payment was requested} for these orgs' orders (the audit trail)."""
    of_orgs = (
        select(Order.id)
        .where(or_(Order.buyer_org_id.in_(ids), Order.cooperative_org_id.in_(ids)))
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(AuditEvent.subject_id, AuditEvent.action, AuditEvent.at)
        .where(
            AuditEvent.subject_type == "orders",
            AuditEvent.action.in_(_REQUESTED),
            AuditEvent.subject_id.in_(of_orgs),
        )
        .order_by(AuditEvent.id)
    )
    requested: dict[int, datetime] = {}
    for order_id, action, at in rows:
        if order_id not in requested or action == "payment_requested":
            requested[order_id] = at
    return requested


def _blame(row: Any) -> tuple[bool, bool]:
    """Does the order's ending count against (the seller, the buyer)?"""
    status = row.status
    if status is S.rejected:
        return True, False
    if status is S.cancelled:
        org = row.ended_by_org
        return org == row.cooperative_org_id, org == row.buyer_org_id
    if status is S.expired:
        cause = (row.ending_changes or {}).get("reason")
        return cause in SELLER_EXPIRIES, cause in BUYER_EXPIRIES
    return False, False


def _tally(ids: list[int], *, full: bool) -> tuple[dict[int, _Tally], dict[int, _Tally]]:
    wanted = set(ids)
    sellers: dict[int, _Tally] = defaultdict(_Tally)
    buyers: dict[int, _Tally] = defaultdict(_Tally)
    if not ids:
        return sellers, buyers
    rows = _orders(ids)
    requested = _requests(ids) if full else {}
    limit = timedelta(hours=_on_time_hours())
    for row in rows:
        seller = sellers[row.cooperative_org_id] if row.cooperative_org_id in wanted else None
        buyer = buyers[row.buyer_org_id] if row.buyer_org_id in wanted else None
        status = row.status
        refund = row.resolution_refund_fen or 0
        against_seller, against_buyer = _blame(row)
        if seller is not None and (status in (S.completed, S.resolved) or against_seller):
            seller.finished += 1
            if status is S.completed or (status is S.resolved and refund == 0):
                seller.completed += 1
        if buyer is not None and (status in (S.completed, S.resolved) or against_buyer):
            buyer.finished += 1
            if status is S.completed or (status is S.resolved and refund > 0):
                buyer.completed += 1
        if not full:
            continue
        for tally in (seller, buyer):
            if tally is None or status not in DELIVERED:
                continue
            tally.delivered += 1
            if status in DISPUTED:
                tally.disputed += 1
                if status is S.disputed:
                    tally.open += 1
                elif refund <= 0:
                    tally.none += 1
                elif refund >= row.amount_fen:
                    tally.full += 1
                else:
                    tally.partial += 1
        if seller is not None and row.paid_at is not None and row.dispatched_at is not None:
            seller.dispatched += 1
            if row.dispatched_at - row.paid_at <= limit:
                seller.on_time += 1
        if buyer is not None and row.paid_at is not None and row.id in requested:
            days = (row.paid_at - requested[row.id]).total_seconds() / 86400
            buyer.days.append(max(0.0, days))
    return sellers, buyers


def figures_of(org_ids: Iterable[int]) -> dict[int, Reliability]:
    """Each organisation's figures, by id (every id asked for is in the answer)."""
    ids = sorted(set(org_ids))
    sellers, buyers = _tally(ids, full=True)
    return {
        org: Reliability(
            org,
            sellers[org].side() if org in sellers else Side(),
            buyers[org].side() if org in buyers else Side(),
        )
        for org in ids
    }


def figures_for(org_id: int) -> Reliability:
    """One organisation's figures."""
    return figures_of([org_id])[org_id]


def records(org_ids: Iterable[int]) -> dict[int, tuple[tuple[int, int], tuple[int, int]]]:
    """{org: ((completed, finished) as seller, (completed, finished) as buyer)}: the counts the
    match score smooths, by the same rules as the figures (organisations without finished
    orders are left out)."""
    ids = sorted(set(org_ids))
    sellers, buyers = _tally(ids, full=False)
    out = {}
    for org in ids:
        s = sellers.get(org)
        b = buyers.get(org)
        pair_s = (s.completed, s.finished) if s else (0, 0)
        pair_b = (b.completed, b.finished) if b else (0, 0)
        if pair_s[1] or pair_b[1]:
            out[org] = (pair_s, pair_b)
    return out
