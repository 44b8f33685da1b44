"""Finding commodities by any of their names (read-only)."""

from __future__ import annotations

from sqlalchemy import select

from produce_match.catalog.models import Commodity, CommodityName
from produce_match.catalog.names import english_singular, normalise
from produce_match.extensions import db


def all_active() -> list[Commodity]:
    """The catalogue, by category and Chinese name."""
    return list(
        db.session.scalars(
            select(Commodity)
            .where(Commodity.active.is_(True))
            .order_by(Commodity.category, Commodity.pinyin)
        )
    )


def resolve(text: str | None) -> Commodity | None:
    """The one commodity a name means, by code, Chinese, traditional, synonym, English or pinyin.

    黑豆, 乌豆, 黑大豆, 烏豆, heidou, hei dou, Black beans and black_bean all give the black bean.
    """
    key = normalise(text)
    if not key:
        return None
    keys = [key]
    if singular := english_singular(key):
        keys.append(singular)
    for candidate in keys:
        found = db.session.scalar(
            select(Commodity).join(CommodityName).where(CommodityName.key == candidate)
        )
        if found is not None:
            return found
    return None


def suggest(text: str | None, limit: int = 10) -> list[Commodity]:
    """Commodities with a name starting with `text`; an exact match comes first."""
    key = normalise(text)
    if not key:
        return []
    exact = resolve(text)
    ids = list(
        db.session.scalars(
            select(CommodityName.commodity_id)
            .join(Commodity)
            .where(CommodityName.key.startswith(key, autoescape=True), Commodity.active.is_(True))
            .group_by(CommodityName.commodity_id)
            .order_by(CommodityName.commodity_id)
            .limit(limit + 1)
        )
    )
    found = {c.id: c for c in db.session.scalars(select(Commodity).where(Commodity.id.in_(ids)))}
    ordered = [exact] if exact is not None else []
    ordered += [found[i] for i in ids if found[i] is not exact]
    return ordered[:limit]
