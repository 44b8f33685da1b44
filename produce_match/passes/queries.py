"""Reading passes: the verdict a checkpoint sees, the timeline, the public facts, the lists.

Nothing here writes. Whether a pass is valid is derived from its status and its window, in
China's calendar, at the moment it is asked: an approved pass whose last day has passed is
expired without any timer having run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from produce_match.accounts.models import Role, User
from produce_match.catalog.models import Region
from produce_match.database import utcnow
from produce_match.dates import local_datetime
from produce_match.extensions import db
from produce_match.passes.models import (
    PassScan,
    PassStatus,
    StepKind,
    TransportPass,
    Verdict,
)
from produce_match.passes.plates import mask_plate
from produce_match.units import format_mass


def _day(now: datetime | None) -> date:
    return local_datetime(now or utcnow()).date()


def verdict(row: TransportPass, now: datetime | None = None) -> Verdict:
    """Green, orange or red, now."""
    today = _day(now)
    if row.status is PassStatus.pending:
        return Verdict.invalid if today > row.valid_until else Verdict.pending
    if row.status is PassStatus.approved:
        if today > row.valid_until:
            return Verdict.invalid
        return Verdict.pending if today < row.valid_from else Verdict.valid
    return Verdict.invalid


def verdict_reason(row: TransportPass, now: datetime | None = None) -> Any:
    """The verdict in words: why it has its colour."""
    today = _day(now)
    if row.status in (PassStatus.pending, PassStatus.approved) and today > row.valid_until:
        return _l("Expired")
    if row.status is PassStatus.pending:
        return _l("Waiting for approval")
    if row.status is PassStatus.approved:
        return _l("Not valid before its first day") if today < row.valid_from else _l("Valid")
    return {
        PassStatus.rejected: _l("Rejected"),
        PassStatus.withdrawn: _l("Withdrawn by its applicant"),
        PassStatus.revoked: _l("Revoked"),
        PassStatus.suspended: _l("Suspended"),
        PassStatus.completed: _l("Used: the cargo was delivered"),
    }[row.status]


@dataclass(frozen=True)
class Step:
    kind: StepKind
    at: datetime | None  #: None: not yet
    place: str | None  #: the checkpoint's name, or the county
    photos: tuple[tuple[str, str], ...] = ()  #: (full, thumb) storage keys


def timeline(row: TransportPass) -> list[Step]:
    """Loading → exit → entry → delivery: when each happened (the first of each kind)."""
    first: dict[StepKind, PassScan] = {}
    for scan in row.scans:
        first.setdefault(scan.kind, scan)

    def place_of(kind: StepKind) -> str | None:
        scan = first.get(kind)
        if scan is not None and scan.checkpoint is not None:
            return scan.checkpoint.name
        return None

    def photos_of(kind: StepKind) -> tuple[tuple[str, str], ...]:
        scan = first.get(kind)
        return ((scan.photo_key, scan.thumb_key),) if scan and scan.photo_key else ()

    loading_photos = photos_of(StepKind.loading)
    order = row.order
    if order is not None:
        loading_photos = (
            tuple((p.key, p.thumb_key) for p in order.photos if p.purpose.value == "loading")
            or loading_photos
        )
    return [
        Step(StepKind.loading, row.loaded_at, row.origin, loading_photos),
        Step(StepKind.exit, row.exited_at, place_of(StepKind.exit), photos_of(StepKind.exit)),
        Step(StepKind.entry, row.entered_at, place_of(StepKind.entry), photos_of(StepKind.entry)),
        Step(StepKind.delivery, row.delivered_at, row.destination, photos_of(StepKind.delivery)),
    ]


def overdue(row: TransportPass, now: datetime | None = None) -> bool:
    """Entered, not delivered, and past the time it was expected at its destination."""
    return (
        row.status is PassStatus.approved
        and row.expected_by is not None
        and row.delivered_at is None
        and (now or utcnow()) > row.expected_by
    )


def public_facts(row: TransportPass, now: datetime | None = None) -> dict[str, Any]:
    """What anyone holding the QR code may know: no name, no phone, the plate masked."""
    return {
        "number": row.number,
        "verdict": verdict(row, now).value,
        "reason": str(verdict_reason(row, now)),
        "status": row.status.value,
        "plate": mask_plate(row.plate),
        "cargo": {
            "commodity": row.commodity.code,
            "commodity_name": row.commodity.name_zh,
            "quantity": format_mass(row.cargo_g, row.cargo_unit),
        },
        "origin": row.origin,
        "destination": row.destination,
        "valid_from": row.valid_from.isoformat(),
        "valid_until": row.valid_until.isoformat(),
        "steps": [
            {"step": step.kind.value, "at": step.at.isoformat() if step.at else None}
            for step in timeline(row)
        ],
    }


def by_code(code: str) -> TransportPass | None:
    if not code or len(code) > 16:
        return None
    return db.session.scalar(
        select(TransportPass)
        .where(TransportPass.code == code)
        .options(
            # what the verification page reads, in the one statement and one for the scans
            joinedload(TransportPass.commodity),
            joinedload(TransportPass.origin_province),
            joinedload(TransportPass.origin_county),
            joinedload(TransportPass.dest_province),
            joinedload(TransportPass.dest_county),
            selectinload(TransportPass.scans).joinedload(PassScan.checkpoint),
        )
    )


def visible_passes(user: User) -> Any:
    """A query of the passes `user` may see in a list: the organisation's own, and for an
    official those from or to the office's jurisdiction."""
    query = select(TransportPass).order_by(TransportPass.created_at.desc(), TransportPass.id.desc())
    if user.is_admin:
        return query
    if user.role is Role.official and user.organisation is not None:
        office = user.organisation
        if office.province_code is None:
            return query.where(False)
        if office.county_code is None:
            return query.where(
                or_(
                    TransportPass.origin_province_code == office.province_code,
                    TransportPass.dest_province_code == office.province_code,
                )
            )
        return query.where(
            or_(
                TransportPass.origin_county_code == office.county_code,
                TransportPass.dest_county_code == office.county_code,
            )
        )
    if user.role in (Role.cooperative, Role.buyer, Role.haulier):
        return query.where(TransportPass.applicant_org_id == user.organisation_id)
    return query.where(False)


def place_name(region: Region | None) -> str:
    return region.name if region is not None else ""
