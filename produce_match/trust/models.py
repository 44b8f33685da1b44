"""Identity claims (实名认证) and their one table of moves; ratings after completion.

An organisation is verified when an administrator, or an official of its county, verifies the
claim it submitted: a registered organisation's 统一社会信用代码, legal representative and a
photo of its business licence, or a family farm's or farmer's resident ID number and holder.
`Organisation.verified_at` is set by that move and cleared when the verification is revoked;
the badge says what was verified (the claim's kind) and when.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation, User
from produce_match.database import utcnow
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.orders.models import Order, Party
from produce_match.trust.identity import mask_resident_id


def _enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, validate_strings=True)


class IdentityKind(enum.StrEnum):
    credit_code = "credit_code"  #: a registered organisation: 统一社会信用代码 and its licence
    resident_id = "resident_id"  #: a family farm or a farmer: the holder's resident ID number

    @property
    def label(self) -> Any:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    IdentityKind.credit_code: _l("unified social credit code and business licence"),
    IdentityKind.resident_id: _l("resident ID of the holder"),
}


class ClaimStatus(enum.StrEnum):
    submitted = "submitted"  #: waits for an administrator or an official of the county
    verified = "verified"  #: checked against the licence or ID; the organisation is verified
    rejected = "rejected"  #: not verified, with a reason; the organisation may submit again
    withdrawn = "withdrawn"  #: its organisation called it off before a decision
    revoked = "revoked"  #: the verification was taken back, with a reason

    @property
    def label(self) -> Any:
        return _CLAIM_LABELS[self]


_CLAIM_LABELS = {
    ClaimStatus.submitted: _lp("identity claim", "waiting for review"),
    ClaimStatus.verified: _lp("identity claim", "verified"),
    ClaimStatus.rejected: _lp("identity claim", "rejected"),
    ClaimStatus.withdrawn: _lp("identity claim", "withdrawn"),
    ClaimStatus.revoked: _lp("identity claim", "revoked"),
}


class ClaimAction(enum.StrEnum):
    verify = "verify"  #: an administrator, or an official of the organisation's county
    reject = "reject"  #: the same people, with a reason
    withdraw = "withdraw"  #: a member of the organisation, before the decision
    revoke = "revoke"  #: the same people as verify, with a reason


C, CA = ClaimStatus, ClaimAction

#: THE table of an identity claim's moves. Every move not here is refused.
CLAIMS: Lifecycle[ClaimStatus, ClaimAction] = Lifecycle(
    "identity_claims",
    ClaimStatus,
    ClaimAction,
    {
        (C.submitted, CA.verify): C.verified,
        (C.submitted, CA.reject): C.rejected,
        (C.submitted, CA.withdraw): C.withdrawn,
        (C.verified, CA.revoke): C.revoked,
    },
    verbs={
        CA.verify: "verified",
        CA.reject: "rejected",
        CA.withdraw: "withdrawn",
        CA.revoke: "revoked",
    },
    illegal=lambda state, action: Conflict(
        _l("This verification request cannot be changed so in its present state."),
        code="illegal_transition",
    ),
    stale=lambda state, action: Conflict(
        _l("This verification request was changed meanwhile. Reload it and try again."),
        code="state_changed",
    ),
)


class IdentityClaim(db.Model):
    """What an organisation submitted to be verified, and the decision on it."""

    __tablename__ = "identity_claims"
    __table_args__ = (
        # one claim waiting per organisation
        Index(
            "uq_identity_claims_one_waiting",
            "org_id",
            unique=True,
            sqlite_where=text("status = 'submitted'"),
            postgresql_where=text("status = 'submitted'"),
        ),
        CheckConstraint(
            "(kind = 'credit_code' AND credit_code IS NOT NULL) "
            "OR (kind = 'resident_id' AND resident_id IS NOT NULL)",
            name="number_of_its_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[IdentityKind] = mapped_column(_enum(IdentityKind, "identity_kind"))
    #: 18 characters, checked (GB 32100-2015) before it is stored
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    #: 法定代表人 (credit code), or the holder of the resident ID (family farm, farmer)
    person_name: Mapped[str] = mapped_column(String(60))
    #: 18 characters, checked (GB 11643-1999); pages show it masked (`masked_resident_id`)
    resident_id: Mapped[str | None] = mapped_column(String(18))
    #: the photo of the business licence (or of the ID card), in the private storage
    photo_key: Mapped[str | None] = mapped_column(String(200))
    photo_thumb_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ClaimStatus] = mapped_column(
        _enum(ClaimStatus, "claim_status"), default=ClaimStatus.submitted, index=True
    )
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    #: why it was rejected or revoked
    reason: Mapped[str | None] = mapped_column(Text)

    org: Mapped[Organisation] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def masked_resident_id(self) -> str:
        return mask_resident_id(self.resident_id)


class RatingTag(enum.StrEnum):
    """The few fixed things a rating may say, besides its stars."""

    as_described = "as_described"  #: 货品与描述一致 (the buyer about the cooperative)
    shipped_on_time = "shipped_on_time"  #: 按时发货 (the buyer about the cooperative)
    well_packed = "well_packed"  #: 包装完好 (the buyer about the cooperative)
    paid_promptly = "paid_promptly"  #: 付款及时 (the cooperative about the buyer)
    fair_inspection = "fair_inspection"  #: 验收公道 (the cooperative about the buyer)
    received_on_time = "received_on_time"  #: 按时收货 (the cooperative about the buyer)
    responsive = "responsive"  #: 沟通顺畅 (either side)

    @property
    def label(self) -> Any:
        return _TAG_LABELS[self]


_TAG_LABELS = {
    RatingTag.as_described: _l("goods as described"),
    RatingTag.shipped_on_time: _l("shipped on time"),
    RatingTag.well_packed: _l("well packed"),
    RatingTag.paid_promptly: _l("paid promptly"),
    RatingTag.fair_inspection: _l("fair inspection"),
    RatingTag.received_on_time: _l("took delivery on time"),
    RatingTag.responsive: _l("easy to reach"),
}

#: the tags each side may give: the buyer rates the cooperative, and the other way round
TAGS_BY = {
    Party.buyer: (
        RatingTag.as_described,
        RatingTag.shipped_on_time,
        RatingTag.well_packed,
        RatingTag.responsive,
    ),
    Party.cooperative: (
        RatingTag.paid_promptly,
        RatingTag.fair_inspection,
        RatingTag.received_on_time,
        RatingTag.responsive,
    ),
}


class Rating(db.Model):
    """One side's rating of the other after an order completed; one per side per order."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("order_id", "by_party", name="uq_ratings_order_side"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_in_range"),
        Index("ix_ratings_ratee_created", "ratee_org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    #: the side that rates: buyer (rating the cooperative) or cooperative (rating the buyer)
    by_party: Mapped[Party] = mapped_column(_enum(Party, "rating_party", 12))
    rater_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    ratee_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    stars: Mapped[int]
    #: RatingTag values, from TAGS_BY[by_party]
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship()
    rater_org: Mapped[Organisation] = relationship(foreign_keys=[rater_org_id])
    ratee_org: Mapped[Organisation] = relationship(foreign_keys=[ratee_org_id])
