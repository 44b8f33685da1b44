"""Figures by channel: visits, orders, mass and money brought by share links.

Every function answers one row per channel, in the fixed order of `Channel`, zeros included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select

from produce_match.accounts.models import Organisation
from produce_match.demands.models import Demand
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.orders.models import RELEASING, Order
from produce_match.sharing.models import (
    Channel,
    ShareAttribution,
    ShareLink,
    ShareVisit,
    TargetKind,
)


@dataclass
class ChannelFigures:
    channel: Channel
    visits: int = 0
    orders: int = 0
    #: the orders' mass in grams and amount in fen (orders later rejected, cancelled or
    #: expired are not counted)
    grams: int = 0
    fen: int = 0

    def as_json(self) -> dict[str, Any]:
        """For the API: kg and yuan as exact decimal strings."""
        kg = Decimal(self.grams) / 1000
        return {
            "channel": self.channel.value,
            "visits": self.visits,
            "orders": self.orders,
            "kg": f"{kg.quantize(Decimal('0.001')):f}",
            "yuan": f"{self.fen // 100}.{self.fen % 100:02d}",
        }


def _figures(
    link_conditions: list[Any],
    joins: list[tuple[Any, Any]],
    since: datetime | None,
    until: datetime | None,
) -> list[ChannelFigures]:
    rows = {channel: ChannelFigures(channel) for channel in Channel}

    visits = select(ShareLink.channel, func.count(ShareVisit.id)).join(
        ShareVisit, ShareVisit.link_id == ShareLink.id
    )
    orders = (
        select(
            ShareAttribution.channel,
            func.count(Order.id),
            func.coalesce(func.sum(Order.quantity_g), 0),
            func.coalesce(func.sum(Order.amount_fen), 0),
        )
        .join(ShareLink, ShareLink.id == ShareAttribution.link_id)
        .join(Order, Order.id == ShareAttribution.order_id)
        .where(Order.status.not_in(RELEASING))
    )
    for model, on in joins:
        visits = visits.outerjoin(model, on)
        orders = orders.outerjoin(model, on)
    visits = visits.where(*link_conditions)
    orders = orders.where(*link_conditions)
    if since is not None:
        visits = visits.where(ShareVisit.at >= since)
        orders = orders.where(Order.created_at >= since)
    if until is not None:
        visits = visits.where(ShareVisit.at < until)
        orders = orders.where(Order.created_at < until)
    for channel, n in db.session.execute(visits.group_by(ShareLink.channel)):
        rows[channel].visits = int(n)
    for channel, n, grams, fen in db.session.execute(orders.group_by(ShareAttribution.channel)):
        row = rows[channel]
        row.orders, row.grams, row.fen = int(n), int(grams), int(fen)
    return list(rows.values())


def for_lot(
    lot_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[ChannelFigures]:
    """What the share links of one lot brought (its cooperative's page)."""
    return _figures(
        [ShareLink.kind == TargetKind.lot, ShareLink.lot_id == lot_id], [], since, until
    )


def for_shop(
    office_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[ChannelFigures]:
    """What the share links of one office's county shop (/shops/<office_id>) brought."""
    return _figures(
        [ShareLink.kind == TargetKind.shop, ShareLink.office_id == office_id], [], since, until
    )


def for_place(
    province_code: str | None,
    county_code: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ChannelFigures]:
    """What share links brought in a place (None, None: everywhere): links to its lots and its
    buyers' demands (by their places) and to the shops of its offices."""

    def holds(model: Any) -> Any:
        conditions = []
        if province_code is not None:
            conditions.append(model.province_code == province_code)
        if county_code is not None:
            conditions.append(model.county_code == county_code)
        return and_(*conditions) if conditions else None

    if province_code is None and county_code is None:
        return _figures([], [], since, until)
    joins = [
        (Lot, Lot.id == ShareLink.lot_id),
        (Demand, Demand.id == ShareLink.demand_id),
        (Organisation, Organisation.id == ShareLink.office_id),
    ]
    condition = or_(
        and_(ShareLink.kind == TargetKind.lot, holds(Lot)),
        and_(ShareLink.kind == TargetKind.demand, holds(Demand)),
        and_(ShareLink.kind == TargetKind.shop, holds(Organisation)),
    )
    return _figures([condition], joins, since, until)


def totals(rows: list[ChannelFigures]) -> ChannelFigures:
    """The sum of rows (a table's last line)."""
    out = ChannelFigures(Channel.other)
    for row in rows:
        out.visits += row.visits
        out.orders += row.orders
        out.grams += row.grams
        out.fen += row.fen
    return out
