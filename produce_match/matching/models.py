from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import User
from produce_match.database import utcnow
from produce_match.demands.models import Demand
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.lots.models import Lot
from produce_match.orders.models import Order


class MatchAlert(db.Model):
    """A lot that fits a demand, told to the buyer once: the unique pair is the guard."""

    __tablename__ = "match_alerts"
    __table_args__ = (UniqueConstraint("lot_id", "demand_id", name="uq_match_alerts_lot_demand"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"))
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), index=True)
    #: the score when it was found (a tenth of a point)
    score: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lot: Mapped[Lot] = relationship()
    demand: Mapped[Demand] = relationship()


class AlertSetting(db.Model):
    """How a user wants to hear of fitting lots: at once (no row), or in one daily digest."""

    __tablename__ = "alert_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    daily_digest: Mapped[bool] = mapped_column(default=False)
    #: the last alert the digests have covered, and the day of the last digest (Asia/Shanghai)
    digest_through_id: Mapped[int] = mapped_column(default=0)
    digest_sent_on: Mapped[date | None]


class ProposalStatus(enum.StrEnum):
    proposed = "proposed"  #: sent to both parties; waiting for their answers
    ordered = "ordered"  #: both accepted: an order was placed and accepted
    declined = "declined"  #: one party declined
    failed = "failed"  #: both accepted, but the order could not be placed (lot changed)

    @property
    def label(self) -> Any:
        """The status in words, in the user's language."""
        return _PROPOSAL_LABELS[self]


class ProposalAction(enum.StrEnum):
    order = "order"  #: both accepted and the order was placed and accepted
    decline = "decline"  #: one party declined
    fail = "fail"  #: both accepted, but no order could be placed


#: THE transition table of proposals: (from, action) -> to. The answers themselves are not
#: moves: each is one guarded write of its side's answer while the proposal is still live.
PROPOSAL_TRANSITIONS: dict[tuple[ProposalStatus, ProposalAction], ProposalStatus] = {
    (ProposalStatus.proposed, ProposalAction.order): ProposalStatus.ordered,
    (ProposalStatus.proposed, ProposalAction.decline): ProposalStatus.declined,
    (ProposalStatus.proposed, ProposalAction.fail): ProposalStatus.failed,
}
PROPOSALS: Lifecycle[ProposalStatus, ProposalAction] = Lifecycle(
    "match_proposals",
    ProposalStatus,
    ProposalAction,
    PROPOSAL_TRANSITIONS,
    verbs={
        ProposalAction.order: "ordered",
        ProposalAction.decline: "declined",
        ProposalAction.fail: "failed",
    },
)
#: proposals still waiting for answers (the only state anything moves from)
AWAITING_ANSWERS = PROPOSALS.live


class Answer(enum.StrEnum):
    accepted = "accepted"
    declined = "declined"

    @property
    def label(self) -> Any:
        """The answer in words: a party agrees to a proposal (同意), it does not take an order."""
        return _ANSWER_LABELS[self]


_PROPOSAL_LABELS = {
    ProposalStatus.proposed: _l("proposed"),
    ProposalStatus.ordered: _l("ordered"),
    ProposalStatus.declined: _l("declined"),
    ProposalStatus.failed: _l("failed"),
}
_ANSWER_LABELS = {
    Answer.accepted: _lp("answer to a proposal", "accepted"),
    Answer.declined: _lp("answer to a proposal", "declined"),
}


class Proposal(db.Model):
    """An official's proposal: this much of a lot to this demand; both parties answer."""

    __tablename__ = "match_proposals"
    __table_args__ = (CheckConstraint("quantity_g > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id"), index=True)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ProposalStatus] = mapped_column(
        Enum(ProposalStatus, name="proposal_status", native_enum=False, length=10),
        default=ProposalStatus.proposed,
    )
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    buyer_answer: Mapped[Answer | None] = mapped_column(
        Enum(Answer, name="proposal_answer", native_enum=False, length=10)
    )
    buyer_answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cooperative_answer: Mapped[Answer | None] = mapped_column(
        Enum(Answer, name="proposal_answer", native_enum=False, length=10)
    )
    cooperative_answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    #: why it failed, when it did (the order's refusal, in words)
    problem: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lot: Mapped[Lot] = relationship()
    demand: Mapped[Demand] = relationship()
    order: Mapped[Order | None] = relationship()
    proposed_by: Mapped[User] = relationship(foreign_keys=[proposed_by_id])
    buyer_answered_by: Mapped[User | None] = relationship(foreign_keys=[buyer_answered_by_id])
    cooperative_answered_by: Mapped[User | None] = relationship(
        foreign_keys=[cooperative_answered_by_id]
    )
