"""Reading the ladder: a lot's current step (recorded, or as computed when the worker has not
yet come), the office's at-risk lots, and the tonnes saved at each step. Reads only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from produce_match.accounts.models import Organisation
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.monitor.queries import OpenLots, Scope
from produce_match.orders.models import TAKEN, Order, in_table_order, lot_today
from produce_match.rescue import operations
from produce_match.rescue.models import (
    LADDER,
    Donation,
    ProposalStatus,
    RescueProposal,
    RescueStep,
)


@dataclass
class LotRescue:
    """A lot's place on the ladder: its latest proposal (None: not recorded yet) and the step
    and figures to show (the proposal's, or as computed today without writing anything)."""

    lot: Lot
    step: RescueStep | None
    proposal: RescueProposal | None
    figures: operations.Figures | None
    proposals: list[RescueProposal] = field(default_factory=list)

    @property
    def status(self) -> ProposalStatus | None:
        return self.proposal.status if self.proposal is not None else None

    @property
    def waiting(self) -> bool:
        """The cooperative may answer (a recorded proposal still waits)."""
        return self.proposal is not None and self.proposal.status is ProposalStatus.proposed


def _proposals(lot_ids: list[int]) -> dict[int, list[RescueProposal]]:
    found: dict[int, list[RescueProposal]] = defaultdict(list)
    if not lot_ids:
        return found
    for p in db.session.scalars(
        select(RescueProposal).where(RescueProposal.lot_id.in_(lot_ids)).order_by(RescueProposal.id)
    ):
        found[p.lot_id].append(p)
    for items in found.values():
        items.sort(key=lambda p: p.step.rung)
    return found


def _figures_of(p: RescueProposal) -> operations.Figures:
    return operations.Figures(
        p.step,
        p.days_left,
        p.proposed_price_fen_per_t,
        p.demands_before,
        p.demands_after,
        p.buyers_reached,
    )


def of_lot(
    lot: Lot,
    now: datetime | None = None,
    *,
    proposals: list[RescueProposal] | None = None,
    compute: bool = True,
) -> LotRescue:
    """The lot's step: the latest recorded, unless a later one is due and not yet recorded (then
    the due one, computed; `compute=False`: without its figures)."""
    now = now or utcnow()
    if proposals is None:
        proposals = _proposals([lot.id]).get(lot.id, [])
    latest = proposals[-1] if proposals else None
    due = operations.due_for(lot, lot_today(lot, now))
    if due is not None and (latest is None or due.rung > latest.step.rung):
        found = operations.figures(lot, due, lot_today(lot, now)) if compute else None
        return LotRescue(lot, due, None, found, proposals)
    if latest is None:
        return LotRescue(lot, None, None, None, proposals)
    return LotRescue(lot, latest.step, latest, _figures_of(latest), proposals)


def donations_of(lot: Lot) -> list[Donation]:
    return list(
        db.session.scalars(
            select(Donation)
            .where(Donation.lot_id == lot.id)
            .options(selectinload(Donation.recipient_org))
            .order_by(Donation.id)
        )
    )


def recipients() -> list[Organisation]:
    """The buyers a cooperative may choose to give to: food banks and consumption-aid buyers
    (anyone else is typed by name)."""
    return operations.aid_targets()


def at_risk(scope: Scope, now: datetime | None = None) -> list[LotRescue]:
    """The open lots of the scope within the ladder's widest threshold or on it already, soonest
    first, each with
    its step (recorded, or due but not yet recorded: figures left out, the worker writes them)."""
    now = now or utcnow()
    lots = OpenLots(scope)
    near = or_(
        lots.within(max(operations.step_days())),
        Lot.id.in_(select(RescueProposal.lot_id)),  # on the ladder already
    )
    found = list(db.session.scalars(lots.query(near)))
    by_lot = _proposals([lot.id for lot in found])
    return [of_lot(lot, now, proposals=by_lot.get(lot.id, []), compute=False) for lot in found]


@dataclass(frozen=True)
class Saved:
    """Grams saved at one step over a place: ordered (orders taken) and donated."""

    step: RescueStep
    lots: int
    ordered_g: int
    donated_g: int

    @property
    def total_g(self) -> int:
        return self.ordered_g + self.donated_g


def saved(scope: Scope) -> list[Saved]:
    """Per step: the quantities of taken orders placed on a lot after the step was proposed and
    before the next step (for the lot) was, and, at the aid step, the quantities donated."""
    proposals = list(
        db.session.execute(
            select(RescueProposal.lot_id, RescueProposal.step, RescueProposal.proposed_at)
            .join(Lot, Lot.id == RescueProposal.lot_id)
            .where(*scope.holds(Lot.province_code, Lot.county_code))
        )
    )
    windows: dict[int, list[tuple[RescueStep, datetime]]] = defaultdict(list)
    for lot_id, step, at in proposals:
        windows[lot_id].append((RescueStep(step), at))
    ordered: dict[RescueStep, int] = defaultdict(int)
    lots_at: dict[RescueStep, int] = defaultdict(int)
    if windows:
        orders = db.session.execute(
            select(Order.lot_id, Order.created_at, Order.quantity_g).where(
                Order.lot_id.in_(list(windows)), Order.status.in_(in_table_order(TAKEN))
            )
        ).all()
        by_lot: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
        for lot_id, at, grams in orders:
            by_lot[lot_id].append((at, grams))
        for lot_id, steps in windows.items():
            steps.sort(key=lambda s: s[0].rung)
            for i, (step, start) in enumerate(steps):
                lots_at[step] += 1
                end = steps[i + 1][1] if i + 1 < len(steps) else None
                ordered[step] += sum(
                    g
                    for at, g in by_lot.get(lot_id, [])
                    if at >= start and (end is None or at < end)
                )
    donated = int(
        db.session.scalar(
            select(func.coalesce(func.sum(Donation.quantity_g), 0))
            .join(Lot, Lot.id == Donation.lot_id)
            .where(*scope.holds(Lot.province_code, Lot.county_code))
        )
        or 0
    )
    return [
        Saved(
            step,
            lots_at[step],
            ordered[step],
            donated if step is RescueStep.aid else 0,
        )
        for step in LADDER
    ]
