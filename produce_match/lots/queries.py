"""Reading lots: what is on offer, what is most urgent, what a cooperative has (read-only)."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload, selectinload

from produce_match.catalog import commodities
from produce_match.catalog.models import Commodity
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, sellable


def on_offer() -> Select[tuple[Lot]]:
    """Lots that can sell (see `models.can_sell`), as of today in Asia/Shanghai."""
    return select(Lot).where(sellable(local_today()))


def with_details(query: Select[tuple[Lot]]) -> Select[tuple[Lot]]:
    return query.options(
        selectinload(Lot.commodity),
        selectinload(Lot.cooperative),
        selectinload(Lot.photos),
        selectinload(Lot.province),
        selectinload(Lot.county),
    )


def most_urgent(limit: int = 8) -> list[Lot]:
    return list(
        db.session.scalars(with_details(on_offer().order_by(Lot.spoil_by, Lot.id)).limit(limit))
    )


def for_page(lot_id: int) -> Lot | None:
    """A lot with what its page shows of it (its produce, cooperative, place, photos), in two
    queries instead of one for each."""
    return db.session.scalar(
        select(Lot)
        .where(Lot.id == lot_id)
        .options(
            joinedload(Lot.commodity),
            joinedload(Lot.cooperative),
            joinedload(Lot.province),
            joinedload(Lot.county),
            selectinload(Lot.photos),
        )
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


def uncatalogued() -> list[tuple[str, Commodity, int]]:
    """(name as typed, the "other" entry it is under, number of lots) of produce posted without
    a catalogue entry, most lots first: for administrators to add to the catalogue. A name the
    catalogue knows by now is left out."""
    rows = db.session.execute(
        select(Lot.commodity_name, Lot.commodity_id, func.count())
        .where(Lot.commodity_name.is_not(None))
        .group_by(Lot.commodity_name, Lot.commodity_id)
        .order_by(func.count().desc(), Lot.commodity_name)
    ).all()
    found = []
    for name, commodity_id, count in rows:
        if commodities.resolve(name) is None:
            other = db.session.get(Commodity, commodity_id)
            assert other is not None
            found.append((str(name), other, int(count)))
    return found
