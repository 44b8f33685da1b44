"""The rescue ladder's steps, the proposals made for a lot, and donations with their receipts.

As a lot's spoil-by date nears with quantity left, the worker proposes the next step to its
cooperative (and shows it to the office), one step at a time, never going back down:

1. reprice: a price that would make the lot fit more active demands (with their number);
2. widen: alert buyers further away, and processors that take lower grades;
3. aid: consumption-aid buyers (agencies' canteens, schools) and food banks; what is given
   away is recorded as a donation, with a receipt.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation, User
from produce_match.database import utcnow
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.lots.models import Lot
from produce_match.units import MassUnit


def _enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, validate_strings=True)


class RescueStep(enum.StrEnum):
    """The rungs of the ladder, in the order they come (LADDER)."""

    reprice = "reprice"  #: a price that fits more active demands
    widen = "widen"  #: buyers further away, and processors that take lower grades
    aid = "aid"  #: consumption-aid buyers (canteens, schools) and food banks; donation

    @property
    def label(self) -> Any:
        return _STEP_LABELS[self]

    @property
    def rung(self) -> int:
        """1, 2, 3: the step's place on the ladder."""
        return LADDER.index(self) + 1


LADDER = (RescueStep.reprice, RescueStep.widen, RescueStep.aid)

_STEP_LABELS = {
    RescueStep.reprice: _l("adjust the price"),
    RescueStep.widen: _l("reach further"),
    RescueStep.aid: _l("consumption aid and donation"),
}


class ProposalStatus(enum.StrEnum):
    proposed = "proposed"  #: waits for the cooperative
    taken = "taken"  #: the cooperative took the step (new price, alert sent, aid buyers told)
    declined = "declined"  #: the cooperative chose not to
    lapsed = "lapsed"  #: the next step came, or the lot closed, before an answer

    @property
    def label(self) -> Any:
        return _PROPOSAL_LABELS[self]


_PROPOSAL_LABELS = {
    ProposalStatus.proposed: _lp("rescue step", "proposed"),
    ProposalStatus.taken: _lp("rescue step", "taken"),
    ProposalStatus.declined: _lp("rescue step", "declined"),
    ProposalStatus.lapsed: _lp("rescue step", "lapsed"),
}


class ProposalAction(enum.StrEnum):
    take = "take"  #: a member of the lot's cooperative
    decline = "decline"  #: a member of the lot's cooperative
    lapse = "lapse"  #: the worker: a later step was proposed, or the lot closed


P, PA = ProposalStatus, ProposalAction

#: THE table of a rescue proposal's moves. Every move not here is refused.
PROPOSALS: Lifecycle[ProposalStatus, ProposalAction] = Lifecycle(
    "rescue_proposals",
    ProposalStatus,
    ProposalAction,
    {
        (P.proposed, PA.take): P.taken,
        (P.proposed, PA.decline): P.declined,
        (P.proposed, PA.lapse): P.lapsed,
    },
    verbs={PA.take: "taken", PA.decline: "declined", PA.lapse: "lapsed"},
    illegal=lambda state, action: Conflict(
        _l("This step has already been answered."), code="illegal_transition"
    ),
    stale=lambda state, action: Conflict(
        _l("This step was answered meanwhile. Reload the page."), code="state_changed"
    ),
)


class RescueProposal(db.Model):
    """One step of the ladder proposed for one lot (at most one of each step per lot)."""

    __tablename__ = "rescue_proposals"
    __table_args__ = (
        UniqueConstraint("lot_id", "step", name="uq_rescue_proposals_lot_step"),
        Index("ix_rescue_proposals_status_step", "status", "step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    step: Mapped[RescueStep] = mapped_column(_enum(RescueStep, "rescue_step", 10))
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus, "proposal_status", 10), default=ProposalStatus.proposed
    )
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the lot as it stood when the step was proposed
    days_left: Mapped[int]
    remaining_g: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    #: reprice: the price proposed (fen per tonne), and how many active demands the lot fits
    #: at its own price and at the proposed one
    proposed_price_fen_per_t: Mapped[int | None] = mapped_column(BigInteger)
    demands_before: Mapped[int | None]
    demands_after: Mapped[int | None]
    #: widen and aid: how many buyers the step would reach (and did, once taken)
    buyers_reached: Mapped[int | None]
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    lot: Mapped[Lot] = relationship()


class Donation(db.Model):
    """Produce given away from a lot, with the receipt the recipient and the donor keep."""

    __tablename__ = "donations"
    __table_args__ = (CheckConstraint("quantity_g > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 捐赠凭证 number, e.g. JZ-210922-2026-0001 (county of the lot, year, running number)
    receipt_no: Mapped[str] = mapped_column(String(32), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_proposals.id"))
    donor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: a buyer organisation on the platform (food bank, canteen, school), or a name only
    recipient_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    recipient_name: Mapped[str] = mapped_column(String(120))
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[MassUnit] = mapped_column(_enum(MassUnit, "mass_unit", 4))
    #: what it was worth at the lot's asking price when given (fen): for the receipt
    value_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    donated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    lot: Mapped[Lot] = relationship()
    donor_org: Mapped[Organisation] = relationship(foreign_keys=[donor_org_id])
    recipient_org: Mapped[Organisation | None] = relationship(foreign_keys=[recipient_org_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
