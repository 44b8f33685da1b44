"""Finding commodities by any of their names (read-only)."""

from __future__ import annotations

from sqlalchemy import select

from produce_match.catalog.models import OTHER_PREFIX, Category, Commodity, CommodityName
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


#: how a spreadsheet or a person names a category, besides its code: Chinese and English
_CATEGORY_NAMES = {
    Category.grain: ("粮食", "谷物", "grains"),
    Category.bean: ("豆类", "豆", "beans"),
    Category.vegetable: ("蔬菜", "菜", "vegetables"),
    Category.fruit: ("水果", "果品", "fruits"),
    Category.nut: ("坚果", "干果", "nuts"),
    Category.mushroom: ("食用菌", "菌菇", "mushrooms"),
    Category.egg: ("禽蛋", "蛋", "eggs"),
    Category.honey: ("蜂产品", "蜂蜜"),
    Category.tea: ("茶叶", "茶"),
    Category.herb: ("中药材", "药材", "herbs", "medicinal herbs"),
    Category.oilseed: ("油料", "oilseeds"),
    Category.spice: ("调味品", "香料", "spices"),
    Category.other: ("其他", "其它", "other produce"),
}
_CATEGORY_OF = {
    normalise(name): category
    for category, names in _CATEGORY_NAMES.items()
    for name in (category.value, *names)
}


def category_of(text: str | None) -> Category | None:
    """fruit, Fruits, 水果 -> Category.fruit; None for anything else."""
    return _CATEGORY_OF.get(normalise(text)) if text else None


def other_of(category: str | None) -> Commodity | None:
    """The "other" entry of a category (fruit or 水果 -> 其他水果), where produce not in the
    catalogue is posted; None for an unknown category, or a catalogue loaded without it."""
    found = category_of(category)
    if found is None:
        return None
    return db.session.scalar(select(Commodity).where(Commodity.code == OTHER_PREFIX + found.value))


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
