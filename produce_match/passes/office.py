"""What an office's pages read: the approval queue and its tabs, the office's checkpoints and
suspensions, the organisations whose passes touch its jurisdiction. Nothing here writes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from produce_match.accounts.models import Organisation, OrgKind, User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.passes.models import (
    Checkpoint,
    PassStatus,
    Suspension,
    TransportPass,
)
from produce_match.passes.queries import visible_passes

#: how many passes a tab shows at most (the oldest waiting first, else the newest)
TAB_LIMIT = 200


class QueueTab(enum.StrEnum):
    pending = "pending"  #: waiting for this office (origin in the jurisdiction), oldest first
    approved = "approved"  #: approved, not yet on the road
    transit = "transit"  #: exited or entered, not delivered
    overdue = "overdue"  #: flagged, or past the time it was expected at its destination
    stopped = "stopped"  #: rejected, revoked or suspended

    @property
    def label(self) -> Any:
        return _TAB_LABELS[self]


_TAB_LABELS = {
    QueueTab.pending: _l("Waiting for approval"),
    QueueTab.approved: _l("Approved"),
    QueueTab.transit: _l("On the road"),
    QueueTab.overdue: _l("Overdue"),
    QueueTab.stopped: _l("Rejected or revoked"),
}


def _origin_inside(office: Organisation) -> Any:
    if office.county_code is None:
        return TransportPass.origin_province_code == office.province_code
    return and_(
        TransportPass.origin_province_code == office.province_code,
        TransportPass.origin_county_code == office.county_code,
    )


def _late(now: datetime) -> Any:
    return and_(
        TransportPass.status == PassStatus.approved,
        TransportPass.delivered_at.is_(None),
        or_(TransportPass.overdue_at.is_not(None), TransportPass.expected_by < now),
    )


def _condition(tab: QueueTab, office: Organisation, now: datetime) -> Any:
    approved = TransportPass.status == PassStatus.approved
    on_road = or_(TransportPass.exited_at.is_not(None), TransportPass.entered_at.is_not(None))
    if tab is QueueTab.pending:
        return and_(TransportPass.status == PassStatus.pending, _origin_inside(office))
    if tab is QueueTab.approved:
        return and_(approved, ~on_road)
    if tab is QueueTab.transit:
        return and_(approved, on_road, TransportPass.delivered_at.is_(None))
    if tab is QueueTab.overdue:
        return _late(now)
    return TransportPass.status.in_((PassStatus.rejected, PassStatus.revoked, PassStatus.suspended))


def queue(user: User, tab: QueueTab, now: datetime | None = None) -> list[TransportPass]:
    """The passes of a tab of the official's queue: those waiting oldest first (the one that
    waited longest is decided first), the others newest first."""
    now = now or utcnow()
    office = user.organisation
    query = visible_passes(user).where(_condition(tab, office, now))
    if tab is QueueTab.pending:
        query = query.order_by(None).order_by(TransportPass.created_at, TransportPass.id)
    query = query.options(
        selectinload(TransportPass.applicant_org),
        selectinload(TransportPass.commodity),
        selectinload(TransportPass.origin_county),
        selectinload(TransportPass.origin_province),
        selectinload(TransportPass.dest_county),
        selectinload(TransportPass.dest_province),
    )
    return list(db.session.scalars(query.limit(TAB_LIMIT)))


def tab_counts(user: User, now: datetime | None = None) -> dict[QueueTab, int]:
    now = now or utcnow()
    office = user.organisation
    counts = {}
    for tab in QueueTab:
        inner = visible_passes(user).where(_condition(tab, office, now)).order_by(None)
        counts[tab] = db.session.scalar(select(func.count()).select_from(inner.subquery())) or 0
    return counts


def waited_minutes(row: TransportPass, now: datetime | None = None) -> int:
    """How long a pending pass has waited so far."""
    return max(0, int(((now or utcnow()) - row.created_at).total_seconds() // 60))


def is_late(row: TransportPass, now: datetime | None = None) -> bool:
    """Flagged overdue, or past the time it was expected, and not delivered."""
    now = now or utcnow()
    return (
        row.status is PassStatus.approved
        and row.delivered_at is None
        and (row.overdue_at is not None or (row.expected_by is not None and row.expected_by < now))
    )


def checkpoints_of(office: Organisation | None, *, retired: bool = True) -> list[Checkpoint]:
    """The office's checkpoints: in use first, by name."""
    if office is None:
        return []
    query = select(Checkpoint).where(Checkpoint.office_id == office.id)
    if not retired:
        query = query.where(Checkpoint.retired_at.is_(None))
    query = query.order_by(Checkpoint.retired_at.is_not(None), Checkpoint.name)
    return list(db.session.scalars(query.options(selectinload(Checkpoint.county))))


def suspensions_of(office: Organisation) -> list[Suspension]:
    """The office's suspensions: those in force first, then the lifted, newest first."""
    return list(
        db.session.scalars(
            select(Suspension)
            .where(Suspension.office_id == office.id)
            .order_by(Suspension.lifted_at.is_not(None), Suspension.created_at.desc())
            .options(selectinload(Suspension.organisation))
        )
    )


def applicants_near(user: User, limit: int = 200) -> list[Organisation]:
    """The organisations that asked for passes from or to the official's jurisdiction."""
    ids = visible_passes(user).order_by(None).with_only_columns(TransportPass.applicant_org_id)
    return list(
        db.session.scalars(
            select(Organisation)
            .where(Organisation.id.in_(ids.distinct()))
            .order_by(Organisation.name)
            .limit(limit)
        )
    )


def suspendable(name_or_id: str | None) -> Organisation | None:
    """A cooperative, buyer or haulier by its id or its exact name."""
    text = " ".join(str(name_or_id or "").split())
    if not text:
        return None
    query = select(Organisation).where(
        Organisation.kind.in_((OrgKind.cooperative, OrgKind.buyer, OrgKind.haulier))
    )
    if text.isdigit():
        return db.session.scalar(query.where(Organisation.id == int(text)))
    return db.session.scalar(query.where(Organisation.name == text))
