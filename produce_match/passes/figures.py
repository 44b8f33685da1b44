"""The officials' figures of passes: what was asked, decided and delivered in a period, what is
waiting and what is on the road, for a place (a county, a province, or everywhere) and per
county of origin. Nothing here writes; the officials' page, its exports and `GET /api/v1/stats`
all read it.

The place and the period are those of the officials' area (`monitor.queries.Scope` and
`Period`; anything with the same attributes will do). What the figures count:

- the office's decisions are about the passes *from* the place (their origin county is in it):
  `asked` (asked for in the period), `approved` (approved in the period; `approved_at_once` of
  them by a whitelist), `rejected` (in the period), `revoked` (in the period), `completed`
  (delivered in the period), `pending` (waiting now, whenever asked) and the median minutes an
  official took to approve (human decisions in the period; the whitelist's are not waiting);
- the vehicles on the road are those *from or to* the place (the destination office is told of
  the late ones): `in_transit` (approved, exited or entered, not delivered) and `overdue`
  (approved, not delivered, and flagged or past the time it was expected at its destination).

`by_county` has the same figures for each county of origin inside the place: there the road
figures count the vehicles from that county only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import selectinload

from produce_match.catalog.models import Region
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.passes.models import PassStatus, TransportPass

P = TransportPass


class Place(Protocol):
    """A place the figures are about: a county, a province, or everywhere (None, None)."""

    province_code: str | None
    county_code: str | None


class Span(Protocol):
    """Calendar days as instants: from `since` (inclusive) to `until` (exclusive)."""

    @property
    def since(self) -> datetime: ...

    @property
    def until(self) -> datetime: ...


@dataclass
class PassFigures:
    """The figures of one place (or of one county of origin in it) over one period."""

    county_code: str | None = None
    name: str = ""
    asked: int = 0
    approved: int = 0
    approved_at_once: int = 0
    rejected: int = 0
    revoked: int = 0
    pending: int = 0
    completed: int = 0
    in_transit: int = 0
    overdue: int = 0
    #: minutes from asking to an official's approval, one per pass approved in the period
    minutes_to_approve: list[int] = field(default_factory=list)
    by_county: list[PassFigures] = field(default_factory=list)

    @property
    def median_minutes_to_approve(self) -> Decimal | None:
        """The median of the minutes officials took to approve (None: nothing approved)."""
        spans = sorted(self.minutes_to_approve)
        if not spans:
            return None
        middle = len(spans) // 2
        value = (
            Decimal(spans[middle])
            if len(spans) % 2
            else Decimal(spans[middle - 1] + spans[middle]) / 2
        )
        return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def as_json(self) -> dict[str, Any]:
        median = self.median_minutes_to_approve
        out: dict[str, Any] = {
            "asked": self.asked,
            "approved": self.approved,
            "approved_at_once": self.approved_at_once,
            "rejected": self.rejected,
            "revoked": self.revoked,
            "pending": self.pending,
            "median_minutes_to_approve": None if median is None else format(median, "f"),
            "in_transit": self.in_transit,
            "overdue": self.overdue,
            "completed": self.completed,
        }
        if self.county_code is not None:
            return {"county": self.county_code, "name": self.name, **out}
        out["by_county"] = [row.as_json() for row in self.by_county]
        return out


def _inside(place: Place, province_col: Any, county_col: Any) -> Any:
    conditions = []
    if place.province_code is not None:
        conditions.append(province_col == place.province_code)
    if place.county_code is not None:
        conditions.append(county_col == place.county_code)
    return and_(*conditions) if conditions else true()


def from_place(place: Place) -> Any:
    """SQL: the pass's origin county lies in the place."""
    return _inside(place, P.origin_province_code, P.origin_county_code)


def from_or_to(place: Place) -> Any:
    """SQL: the pass's origin or destination county lies in the place."""
    if place.province_code is None and place.county_code is None:
        return true()
    return or_(from_place(place), _inside(place, P.dest_province_code, P.dest_county_code))


def _on_road() -> Any:
    return and_(P.status == PassStatus.approved, P.delivered_at.is_(None))


def _in_transit() -> Any:
    return and_(_on_road(), or_(P.exited_at.is_not(None), P.entered_at.is_not(None)))


def _overdue(now: datetime) -> Any:
    return and_(_on_road(), or_(P.overdue_at.is_not(None), P.expected_by < now))


def _count(condition: Any) -> Any:
    return func.count(case((condition, 1)))


def pass_figures(place: Place, period: Span, *, now: datetime | None = None) -> PassFigures:
    """The figures of the place over the period, and per county of origin (see the module)."""
    now = now or utcnow()

    def within(column: Any) -> Any:
        return and_(column >= period.since, column < period.until)

    approved = and_(
        P.decided_at.is_not(None), P.status != PassStatus.rejected, within(P.decided_at)
    )
    columns = {
        "asked": _count(within(P.created_at)),
        "approved": _count(approved),
        "approved_at_once": _count(and_(approved, P.whitelist_entry_id.is_not(None))),
        "rejected": _count(and_(P.status == PassStatus.rejected, within(P.decided_at))),
        "revoked": _count(and_(P.revoked_at.is_not(None), within(P.revoked_at))),
        "pending": _count(P.status == PassStatus.pending),
        "completed": _count(and_(P.status == PassStatus.completed, within(P.delivered_at))),
        "in_transit": _count(_in_transit()),
        "overdue": _count(_overdue(now)),
    }
    rows: dict[str, PassFigures] = {}
    query = (
        select(P.origin_county_code, *columns.values())
        .where(from_place(place))
        .group_by(P.origin_county_code)
    )
    for code, *counts in db.session.execute(query):
        rows[code] = PassFigures(code, **dict(zip(columns, counts, strict=True)))
    waits = select(P.origin_county_code, P.created_at, P.decided_at).where(
        from_place(place), approved, P.decided_by_id.is_not(None)
    )
    for code, asked_at, decided_at in db.session.execute(waits):
        minutes = max(0, int((decided_at - asked_at).total_seconds() // 60))
        rows[code].minutes_to_approve.append(minutes)
    names = {
        code: name
        for code, name in db.session.execute(
            select(Region.code, Region.name).where(Region.code.in_(list(rows)))
        )
    }
    total = PassFigures()
    for code, row in rows.items():
        row.name = names.get(code, code)
        for name in ("asked", "approved", "approved_at_once", "rejected", "revoked"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.pending += row.pending
        total.completed += row.completed
        total.minutes_to_approve += row.minutes_to_approve
    road = db.session.execute(
        select(_count(_in_transit()), _count(_overdue(now))).where(from_or_to(place))
    ).one()
    total.in_transit, total.overdue = road
    total.by_county = sorted(rows.values(), key=lambda r: (-r.asked, r.county_code or ""))
    return total


def on_the_road(place: Place, *, now: datetime | None = None, limit: int = 200) -> list[Any]:
    """The vehicles from or to the place that are on the road (in transit) or late (overdue):
    the late first, then by when they are expected."""
    now = now or utcnow()
    late = _overdue(now)
    query = (
        select(P)
        .where(from_or_to(place), or_(_in_transit(), late))
        .order_by(case((late, 0), else_=1), P.expected_by.is_(None), P.expected_by, P.id)
        .options(
            selectinload(P.applicant_org),
            selectinload(P.origin_county),
            selectinload(P.origin_province),
            selectinload(P.dest_county),
            selectinload(P.dest_province),
        )
        .limit(limit)
    )
    return list(db.session.scalars(query))


def is_overdue(row: TransportPass, now: datetime | None = None) -> bool:
    """Approved, not delivered, and flagged or past the time expected at its destination."""
    now = now or utcnow()
    return (
        row.status is PassStatus.approved
        and row.delivered_at is None
        and (row.overdue_at is not None or (row.expected_by is not None and row.expected_by < now))
    )


def asked_in(place: Place, period: Span) -> list[TransportPass]:
    """The passes from or to the place asked for in the period, oldest first (the export)."""
    query = (
        select(P)
        .where(from_or_to(place), P.created_at >= period.since, P.created_at < period.until)
        .order_by(P.created_at, P.id)
        .options(
            selectinload(P.applicant_org),
            selectinload(P.commodity),
            selectinload(P.origin_county),
            selectinload(P.origin_province),
            selectinload(P.dest_county),
            selectinload(P.dest_province),
        )
    )
    return list(db.session.scalars(query))
