"""The problem ledger (台账) and the local reference prices officials record."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import (
    JSON,
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
from produce_match.catalog.models import Commodity, Region
from produce_match.database import utcnow
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.lots.models import Lot


def _enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, validate_strings=True)


class ProblemCategory(enum.StrEnum):
    no_buyer = "no_buyer"  #: nobody buys it
    transport = "transport"  #: trucks, roads, transport passes
    storage = "storage"  #: cold store, warehouse, spoiling
    payment = "payment"  #: money not received or disputed
    quality = "quality"  #: a quality dispute with a buyer
    other = "other"

    @property
    def label(self) -> Any:
        return _CATEGORY_LABELS[self]


_CATEGORY_LABELS = {
    ProblemCategory.no_buyer: _l("No buyer"),
    ProblemCategory.transport: _l("Transport or pass"),
    ProblemCategory.storage: _lp("problem category", "Storage"),
    ProblemCategory.payment: _lp("problem category", "Payment"),
    ProblemCategory.quality: _l("Quality dispute"),
    ProblemCategory.other: _l("Other"),
}


class ProblemStatus(enum.StrEnum):
    open = "open"  #: raised, nobody assigned yet
    assigned = "assigned"  #: an official follows it up
    closed = "closed"  #: solved and closed (销号) with its outcome; may be reopened

    @property
    def label(self) -> Any:
        return _PROBLEM_STATUS_LABELS[self]


_PROBLEM_STATUS_LABELS = {
    ProblemStatus.open: _l("open"),
    ProblemStatus.assigned: _l("assigned"),
    ProblemStatus.closed: _l("closed off (销号)"),
}


class ProblemAction(enum.StrEnum):
    assign = "assign"  #: the office gives it to an official (again: to another)
    close = "close"  #: solved and closed off (销号), with its outcome
    reopen = "reopen"  #: the outcome did not hold, and nobody was assigned
    reopen_to_assignee = "reopen_to_assignee"  #: the outcome did not hold: back to its official


#: THE transition table of problems: (from, action) -> to
PROBLEM_TRANSITIONS: dict[tuple[ProblemStatus, ProblemAction], ProblemStatus] = {
    (ProblemStatus.open, ProblemAction.assign): ProblemStatus.assigned,
    (ProblemStatus.assigned, ProblemAction.assign): ProblemStatus.assigned,
    (ProblemStatus.open, ProblemAction.close): ProblemStatus.closed,
    (ProblemStatus.assigned, ProblemAction.close): ProblemStatus.closed,
    (ProblemStatus.closed, ProblemAction.reopen): ProblemStatus.open,
    (ProblemStatus.closed, ProblemAction.reopen_to_assignee): ProblemStatus.assigned,
}


def _stale(_state: Any, _action: Any) -> Conflict:
    return Conflict(_l("This ledger entry has changed meanwhile."), code="stale")


PROBLEMS: Lifecycle[ProblemStatus, ProblemAction] = Lifecycle(
    "problems",
    ProblemStatus,
    ProblemAction,
    PROBLEM_TRANSITIONS,
    verbs={
        ProblemAction.assign: "assigned",
        ProblemAction.close: "closed",
        ProblemAction.reopen: "reopened",
        ProblemAction.reopen_to_assignee: "reopened",
    },
    illegal=_stale,
    stale=_stale,
)
#: entries still being worked on (every state that can be closed), and the closed ones
UNSOLVED = PROBLEMS.sources(ProblemAction.close)
SOLVED = frozenset(ProblemStatus) - UNSOLVED


class Problem(db.Model):
    """One entry of the problem ledger: a cooperative's problem, about a lot or about itself."""

    __tablename__ = "problems"
    __table_args__ = (
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed_has_closed_at"),
        Index("ix_problems_place_status", "province_code", "county_code", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), index=True)
    #: where it is (the lot's place, or the cooperative's): decides which offices see it
    province_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    county_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    township: Mapped[str | None] = mapped_column(String(60))
    village: Mapped[str | None] = mapped_column(String(60))
    category: Mapped[ProblemCategory] = mapped_column(_enum(ProblemCategory, "problem_category"))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[ProblemStatus] = mapped_column(
        _enum(ProblemStatus, "problem_status", 10), default=ProblemStatus.open
    )
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: what solved it (or why it was closed), written when it is closed; a reopening sets it
    #: aside (the earlier outcomes stay in the history, marked superseded)
    outcome: Mapped[str | None] = mapped_column(Text)
    #: why it was last reopened, and when (kept when it is closed again)
    reopen_reason: Mapped[str | None] = mapped_column(Text)
    reopened_at: Mapped[datetime | None]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cooperative: Mapped[Organisation] = relationship()
    lot: Mapped[Lot | None] = relationship()
    raised_by: Mapped[User] = relationship(foreign_keys=[raised_by_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    follow_ups: Mapped[list[FollowUp]] = relationship(
        back_populates="problem", order_by="FollowUp.id", cascade="all, delete-orphan"
    )
    photos: Mapped[list[ProblemPhoto]] = relationship(
        back_populates="problem", order_by="ProblemPhoto.id", cascade="all, delete-orphan"
    )


class FollowUp(db.Model):
    """What an official (or the cooperative) did or learnt about a problem, in order."""

    __tablename__ = "problem_follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="follow_ups")
    author: Mapped[User] = relationship()


class ProblemPhoto(db.Model):
    """A photo of a problem, re-encoded without metadata (as lots' photos are)."""

    __tablename__ = "problem_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="photos")


class ReferencePrice(db.Model):
    """The local (offline) purchase price of a commodity in a county, from a date on."""

    __tablename__ = "reference_prices"
    __table_args__ = (
        CheckConstraint("price_fen_per_t > 0", name="price_positive"),
        UniqueConstraint("commodity_id", "county_code", "valid_from", name="uq_reference_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commodity_id: Mapped[int] = mapped_column(ForeignKey("commodities.id"))
    province_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    county_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    #: fen per tonne, exact whatever unit it was entered in
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    #: the unit it was entered in (to show it back that way)
    price_unit: Mapped[str] = mapped_column(String(4), default="kg")
    valid_from: Mapped[date]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    commodity: Mapped[Commodity] = relationship()
    county: Mapped[Region] = relationship(foreign_keys=[county_code])


# --- export jobs: a large export is built by the worker and downloaded when ready ----------------


class ExportStatus(enum.StrEnum):
    queued = "queued"  #: asked for, waiting for the worker
    running = "running"  #: the worker is building the file
    ready = "ready"  #: the file is stored: it can be downloaded
    failed = "failed"  #: the build failed (the job says why)
    expired = "expired"  #: the file was removed after `EXPORT_KEEP_DAYS`

    @property
    def label(self) -> Any:
        return _EXPORT_STATUS_LABELS[self]


_EXPORT_STATUS_LABELS = {
    ExportStatus.queued: _l("waiting to be built"),
    ExportStatus.running: _l("being built"),
    ExportStatus.ready: _l("ready"),
    ExportStatus.failed: _lp("export status", "failed"),
    ExportStatus.expired: _l("removed (too old)"),
}


class ExportAction(enum.StrEnum):
    start = "start"  #: the worker takes the job
    finish = "finish"  #: the file is stored
    fail = "fail"  #: the build raised, or the job could not be started
    expire = "expire"  #: the periodic clean-up removed the file


#: THE transition table of export jobs: (from, action) -> to
EXPORT_TRANSITIONS: dict[tuple[ExportStatus, ExportAction], ExportStatus] = {
    (ExportStatus.queued, ExportAction.start): ExportStatus.running,
    (ExportStatus.queued, ExportAction.fail): ExportStatus.failed,
    (ExportStatus.running, ExportAction.finish): ExportStatus.ready,
    (ExportStatus.running, ExportAction.fail): ExportStatus.failed,
    (ExportStatus.ready, ExportAction.expire): ExportStatus.expired,
}

EXPORTS: Lifecycle[ExportStatus, ExportAction] = Lifecycle(
    "export_jobs",
    ExportStatus,
    ExportAction,
    EXPORT_TRANSITIONS,
    verbs={
        ExportAction.start: "started",
        ExportAction.finish: "finished",
        ExportAction.fail: "failed",
        ExportAction.expire: "expired",
    },
)
#: jobs the page keeps refreshing for (the worker still has something to do: they may fail)
UNFINISHED = EXPORTS.sources(ExportAction.fail)


class ExportJob(db.Model):
    """One export an official asked for: its filters, its progress and, once built, its file."""

    __tablename__ = "export_jobs"
    __table_args__ = (CheckConstraint("done >= 0 AND done <= total", name="progress_within_total"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: lots, deals, payments, problems or report (see `exports.KINDS`)
    kind: Mapped[str] = mapped_column(String(20))
    #: xlsx or csv
    fmt: Mapped[str] = mapped_column(String(8))
    #: the page's filters as asked (province, county, from, to, status, commodity, place, ...)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the language the file's headings are written in (the asker's)
    language: Mapped[str] = mapped_column(String(10), default="zh")
    status: Mapped[ExportStatus] = mapped_column(
        _enum(ExportStatus, "export_status", 10), default=ExportStatus.queued
    )
    #: progress: sheets built so far, of how many
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    #: the stored file (storage.py), while it is kept
    file_key: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(200))
    #: why the build failed (shown to the official)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]

    requested_by: Mapped[User] = relationship()
