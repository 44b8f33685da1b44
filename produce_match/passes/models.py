"""Transport passes: the states and the one table of moves of a pass, and the tables of the
whitelists, checkpoints and suspensions that decide and follow them.

A pass lets one vehicle carry one cargo from an origin county to a destination county within a
date window. It is approved by an official of the origin county, or at once when its applicant
stands on a whitelist that counts there (the origin office's own, or one it recognises, 互认).
Checkpoint staff of any office scan its QR code and record the vehicle's passages; the
timeline reads loading → exit → entry → delivery. Whether a pass is *valid* right now is
derived (`verdict`): approved, inside its window, not suspended.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation, User
from produce_match.catalog.models import Commodity, Region
from produce_match.database import utcnow
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.units import MassUnit


def _enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, validate_strings=True)


class PassStatus(enum.StrEnum):
    pending = "pending"  #: asked for; waits for an official of the origin county
    approved = "approved"  #: may travel inside its window (valid unless the window has passed)
    rejected = "rejected"  #: an official of the origin county said no, with a reason
    withdrawn = "withdrawn"  #: its applicant called it off
    revoked = "revoked"  #: an office took it back, with a reason; never valid again
    suspended = "suspended"  #: its organisation's passes are suspended (熔断) until lifted
    completed = "completed"  #: the cargo was delivered; the pass has served

    @property
    def label(self) -> Any:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    PassStatus.pending: _lp("pass status", "pending approval"),
    PassStatus.approved: _lp("pass status", "approved"),
    PassStatus.rejected: _lp("pass status", "rejected"),
    PassStatus.withdrawn: _lp("pass status", "withdrawn"),
    PassStatus.revoked: _lp("pass status", "revoked"),
    PassStatus.suspended: _lp("pass status", "suspended"),
    PassStatus.completed: _lp("pass status", "delivered"),
}


class PassAction(enum.StrEnum):
    approve = "approve"  #: an official of the origin county, or the whitelist at once
    reject = "reject"  #: an official of the origin county, with a reason
    withdraw = "withdraw"  #: the applicant, before delivery (or the order called off)
    revoke = "revoke"  #: an office of the origin or destination county, with a reason
    suspend = "suspend"  #: an office suspends all passes of an organisation
    reinstate = "reinstate"  #: the suspension was lifted
    complete = "complete"  #: the cargo was delivered


S, A = PassStatus, PassAction

#: THE table of a pass's moves. Every move not here is refused.
PASSES: Lifecycle[PassStatus, PassAction] = Lifecycle(
    "transport_passes",
    PassStatus,
    PassAction,
    {
        (S.pending, A.approve): S.approved,
        (S.pending, A.reject): S.rejected,
        (S.pending, A.withdraw): S.withdrawn,
        (S.approved, A.withdraw): S.withdrawn,
        (S.suspended, A.withdraw): S.withdrawn,  # its order called off while suspended
        (S.approved, A.revoke): S.revoked,
        (S.suspended, A.revoke): S.revoked,
        (S.approved, A.suspend): S.suspended,
        (S.suspended, A.reinstate): S.approved,
        (S.approved, A.complete): S.completed,
    },
    verbs={
        A.approve: "approved",
        A.reject: "rejected",
        A.withdraw: "withdrawn",
        A.revoke: "revoked",
        A.suspend: "suspended",
        A.reinstate: "reinstated",
        A.complete: "completed",
    },
    illegal=lambda state, action: Conflict(
        _l("This pass cannot be changed so in its present state."), code="illegal_transition"
    ),
    stale=lambda state, action: Conflict(
        _l("This pass was changed meanwhile. Reload it and try again."), code="state_changed"
    ),
)

#: the passes still on the road or about to be: what the officials count as active
ACTIVE = (S.pending, S.approved, S.suspended)


class Verdict(enum.StrEnum):
    """What the verification page says, in its colour."""

    valid = "valid"  #: green: approved and today is inside the window
    pending = "pending"  #: orange: waiting for approval, or approved and not yet started
    invalid = "invalid"  #: red: rejected, withdrawn, revoked, suspended, expired or used


class PassageDirection(enum.StrEnum):
    out = "out"  #: leaving the checkpoint's county (出): the exit
    in_ = "in"  #: entering it (进): the entry

    @property
    def label(self) -> Any:
        return _l("exit") if self is PassageDirection.out else _l("entry")


class StepKind(enum.StrEnum):
    """The steps of a pass's timeline, in their order."""

    loading = "loading"
    exit = "exit"
    entry = "entry"
    delivery = "delivery"

    @property
    def label(self) -> Any:
        return _STEP_LABELS[self]


_STEP_LABELS = {
    StepKind.loading: _lp("pass step", "Loading"),
    StepKind.exit: _lp("pass step", "Exit"),
    StepKind.entry: _lp("pass step", "Entry"),
    StepKind.delivery: _lp("pass step", "Delivery"),
}


class CheckpointKind(enum.StrEnum):
    expressway_exit = "expressway_exit"  #: 高速出入口
    county_border = "county_border"  #: 县界卡口
    other = "other"  #: 其他检查点

    @property
    def label(self) -> Any:
        return _CHECKPOINT_LABELS[self]


_CHECKPOINT_LABELS = {
    CheckpointKind.expressway_exit: _l("Expressway exit"),
    CheckpointKind.county_border: _l("County border"),
    CheckpointKind.other: _l("Other checkpoint"),
}


def new_pass_code() -> str:
    """The secret part of a pass's verification address (the number is sequential, so it is
    not what the QR code carries: nobody can walk through the passes by counting)."""
    return secrets.token_urlsafe(9)


class TransportPass(db.Model):
    """One vehicle, one cargo, one route, one date window (一车一码)."""

    __tablename__ = "transport_passes"
    __table_args__ = (
        CheckConstraint("valid_until >= valid_from", name="ck_pass_window"),
        CheckConstraint("cargo_g > 0", name="ck_pass_cargo"),
        Index("ix_passes_origin_status", "origin_county_code", "status"),
        Index("ix_passes_dest_status", "dest_county_code", "status"),
        Index("ix_passes_applicant", "applicant_org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the county's code and the year's sequence: 210922-2026-00017
    number: Mapped[str] = mapped_column(String(24), unique=True)
    #: what the QR code carries (the public verification page's address)
    code: Mapped[str] = mapped_column(String(16), unique=True, default=new_pass_code)
    status: Mapped[PassStatus] = mapped_column(
        _enum(PassStatus, "pass_status"), default=PassStatus.pending
    )
    applicant_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    applicant_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: the order it carries, if it is one of ours
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    plate: Mapped[str] = mapped_column(String(12), index=True)
    driver_name: Mapped[str] = mapped_column(String(30))
    driver_phone: Mapped[str] = mapped_column(String(20))
    origin_province_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    origin_county_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    dest_province_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    dest_county_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    #: checkpoints the vehicle means to pass, in order (ids); the scans say where it did
    route: Mapped[list[int]] = mapped_column(JSON, default=list)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    commodity_id: Mapped[int] = mapped_column(ForeignKey("commodities.id"))
    cargo_g: Mapped[int] = mapped_column(BigInteger)
    #: the unit the quantity was given in (shown in it)
    cargo_unit: Mapped[MassUnit] = mapped_column(_enum(MassUnit, "mass_unit", 4))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: approved or rejected: when and by whom (None: by the whitelist)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the whitelist entry that approved it at once
    whitelist_entry_id: Mapped[int | None] = mapped_column(ForeignKey("whitelist_entries.id"))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    suspension_id: Mapped[int | None] = mapped_column(ForeignKey("pass_suspensions.id"))
    loaded_at: Mapped[datetime | None]
    exited_at: Mapped[datetime | None]
    entered_at: Mapped[datetime | None]
    #: after the entry: when the vehicle should have reached its destination
    expected_by: Mapped[datetime | None] = mapped_column(index=True)
    #: when the destination office was told that it had not
    overdue_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    applicant_org: Mapped[Organisation] = relationship(foreign_keys=[applicant_org_id])
    applicant_user: Mapped[User] = relationship(foreign_keys=[applicant_user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    order = relationship("Order")
    commodity: Mapped[Commodity] = relationship()
    origin_province: Mapped[Region] = relationship(foreign_keys=[origin_province_code])
    origin_county: Mapped[Region] = relationship(foreign_keys=[origin_county_code])
    dest_province: Mapped[Region] = relationship(foreign_keys=[dest_province_code])
    dest_county: Mapped[Region] = relationship(foreign_keys=[dest_county_code])
    scans: Mapped[list[PassScan]] = relationship(
        back_populates="transport_pass", order_by="PassScan.at", cascade="all, delete-orphan"
    )

    @property
    def origin(self) -> str:
        return f"{self.origin_province.name} {self.origin_county.name}"

    @property
    def destination(self) -> str:
        return f"{self.dest_province.name} {self.dest_county.name}"

    @property
    def wait_minutes(self) -> int | None:
        """How long the applicant waited for the decision (None: still waiting)."""
        if self.decided_at is None:
            return None
        return max(0, int((self.decided_at - self.created_at).total_seconds() // 60))


class PassScan(db.Model):
    """A step of a pass's timeline: a passage at a checkpoint (scanned by its staff), or, for a
    pass without an order, the loading and the delivery its applicant recorded."""

    __tablename__ = "pass_scans"
    __table_args__ = (
        CheckConstraint(
            "(kind IN ('exit', 'entry')) = (checkpoint_id IS NOT NULL)", name="ck_scan_checkpoint"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int] = mapped_column(
        ForeignKey("transport_passes.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[StepKind] = mapped_column(_enum(StepKind, "pass_step", 10))
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: an optional photo (of the plate, of the load): storage keys
    photo_key: Mapped[str | None] = mapped_column(String(200))
    thumb_key: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(200))

    transport_pass: Mapped[TransportPass] = relationship(back_populates="scans")
    checkpoint: Mapped[Checkpoint | None] = relationship()
    recorded_by: Mapped[User] = relationship()


class Checkpoint(db.Model):
    """An expressway exit or a county border where an office checks vehicles."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("office_id", "name", name="uq_checkpoint_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[CheckpointKind] = mapped_column(_enum(CheckpointKind, "checkpoint_kind"))
    province_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    county_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: no longer in use (kept: the scans made there still name it)
    retired_at: Mapped[datetime | None]

    office: Mapped[Organisation] = relationship()
    province: Mapped[Region] = relationship(foreign_keys=[province_code])
    county: Mapped[Region] = relationship(foreign_keys=[county_code])


class WhitelistEntry(db.Model):
    """An organisation an office trusts (白名单): its passes from the office's jurisdiction are
    approved at once, inside the entry's validity period."""

    __tablename__ = "whitelist_entries"
    __table_args__ = (
        CheckConstraint("valid_until >= valid_from", name="ck_whitelist_window"),
        Index("ix_whitelist_office_org", "office_id", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    office: Mapped[Organisation] = relationship(foreign_keys=[office_id])
    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])

    def in_force(self, day: date) -> bool:
        return self.removed_at is None and self.valid_from <= day <= self.valid_until


class Recognition(db.Model):
    """An office counts another office's whitelist as its own (互认)."""

    __tablename__ = "whitelist_recognitions"
    __table_args__ = (
        UniqueConstraint("office_id", "recognised_office_id", name="uq_recognition"),
        CheckConstraint("office_id <> recognised_office_id", name="ck_recognition_other"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    recognised_office_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    office: Mapped[Organisation] = relationship(foreign_keys=[office_id])
    recognised_office: Mapped[Organisation] = relationship(foreign_keys=[recognised_office_id])


class Suspension(db.Model):
    """An office suspends all passes of an organisation that broke the rules (熔断), from or to
    its jurisdiction, until it lifts the suspension."""

    __tablename__ = "pass_suspensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    office: Mapped[Organisation] = relationship(foreign_keys=[office_id])
    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])


class PassCounter(db.Model):
    """The last number given in a county in a year (the pass number's sequence)."""

    __tablename__ = "pass_counters"

    county_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)
