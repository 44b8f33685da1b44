"""Reading lots: what is on offer, what is most urgent, what a cooperative has (read-only)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, LotStatus


def on_offer() -> Select[tuple[Lot]]:
    """Open lots with quantity left whose spoil-by date has not passed (today, Asia/Shanghai)."""
    return select(Lot).where(
        Lot.status == LotStatus.open, Lot.spoil_by >= local_today(), Lot.remaining_g > 0
    )


def with_details(query: Select[tuple[Lot]]) -> Select[tuple[Lot]]:
    return query.options(
        selectinload(Lot.commodity),
        selectinload(Lot.cooperative),
        selectinload(Lot.photos),
        selectinload(Lot.province),
        selectinload(Lot.county),
    )


@dataclass
class LotFilters:
    commodity_id: int | None = None
    province_code: str | None = None
    county_code: str | None = None
    status: str | None = None  # None: on offer; "all": every status but withdrawn


def browse(filters: LotFilters) -> Select[tuple[Lot]]:
    """Lots for the public list: on offer (or of one status), most urgent first."""
    if filters.status in (None, "", LotStatus.open.value):
        query = on_offer()
    elif filters.status == "all":
        query = select(Lot).where(Lot.status != LotStatus.withdrawn)
    else:
        status = LotStatus(filters.status)
        if status is LotStatus.expired:  # recorded as expired, or open but past its date
            query = select(Lot).where(
                (Lot.status == LotStatus.expired)
                | ((Lot.status == LotStatus.open) & (Lot.spoil_by < local_today()))
            )
        else:
            query = select(Lot).where(Lot.status == status)
    if filters.commodity_id:
        query = query.where(Lot.commodity_id == filters.commodity_id)
    if filters.province_code:
        query = query.where(Lot.province_code == filters.province_code)
    if filters.county_code:
        query = query.where(Lot.county_code == filters.county_code)
    return with_details(query.order_by(Lot.spoil_by, Lot.id))


def most_urgent(limit: int = 8) -> list[Lot]:
    return list(
        db.session.scalars(with_details(on_offer().order_by(Lot.spoil_by, Lot.id)).limit(limit))
    )


def stranded_totals() -> tuple[int, int]:
    """(number of lots on offer, grams left in them)."""
    sub = on_offer().subquery()
    count, grams = db.session.execute(
        select(func.count(), func.coalesce(func.sum(sub.c.remaining_g), 0))
    ).one()
    return int(count), int(grams)


def of_cooperative(org_id: int) -> list[Lot]:
    """All of a cooperative's lots, newest first."""
    return list(
        db.session.scalars(
            with_details(select(Lot).where(Lot.cooperative_id == org_id)).order_by(
                Lot.created_at.desc(), Lot.id.desc()
            )
        )
    )
