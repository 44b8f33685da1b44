from __future__ import annotations

import enum

from sqlalchemy import JSON, Enum, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.extensions import db
from produce_match.units import MassUnit


class RegionLevel(enum.StrEnum):
    province = "province"  #: province, autonomous region or municipality (省级)
    prefecture = "prefecture"  #: prefecture-level city, prefecture, league (地级)
    county = "county"  #: county, county-level city, district, banner (县级)


class Region(db.Model):
    """An administrative division, keyed by its 6-digit code (adcode)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    #: the name people use in short: 辽宁 for 辽宁省, 彰武 for 彰武县
    short_name: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[RegionLevel] = mapped_column(
        Enum(RegionLevel, name="region_level", native_enum=False, length=12)
    )
    parent_code: Mapped[str | None] = mapped_column(String(6), index=True)
    #: the province a region lies in (its own code for a province)
    province_code: Mapped[str] = mapped_column(String(6), index=True)
    #: centroid, decimal degrees (coordinates, not quantities: floats are fine here)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)

    def __str__(self) -> str:
        return self.name


class HasPlace:
    """For models with province and county (regions), township and village."""

    province: Region | None
    county: Region | None
    township: str | None
    village: str | None

    @property
    def place(self) -> str:
        """'辽宁省 彰武县 梁家子镇 道亭村': the parts that are known, largest first."""
        parts = [
            self.province.name if self.province else None,
            self.county.name if self.county else None,
            self.township,
            self.village,
        ]
        return " ".join(p for p in parts if p)


class Category(enum.StrEnum):
    grain = "grain"  #: 粮食
    bean = "bean"  #: 豆类
    vegetable = "vegetable"  #: 蔬菜
    fruit = "fruit"  #: 水果
    nut = "nut"  #: 坚果
    mushroom = "mushroom"  #: 食用菌
    egg = "egg"  #: 禽蛋
    honey = "honey"  #: 蜂产品
    tea = "tea"  #: 茶叶
    herb = "herb"  #: 中药材
    oilseed = "oilseed"  #: 油料
    spice = "spice"  #: 调味品
    other = "other"  #: 其他


#: the code of each category's "other" entry is this prefix and the category: other_fruit
OTHER_PREFIX = "other_"


class Commodity(db.Model):
    """One entry of the catalogue: black bean, cherry, potato ..."""

    __tablename__ = "commodities"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stable ASCII code, used in files and the API ("black_bean")
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    #: full pinyin of name_zh, syllables separated by spaces ("hei dou"; ü written v)
    pinyin: Mapped[str] = mapped_column(String(120))
    traditional: Mapped[str | None] = mapped_column(String(40))
    synonyms_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    synonyms_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[Category] = mapped_column(
        Enum(Category, name="commodity_category", native_enum=False, length=20)
    )
    #: typical shelf life in ordinary storage: suggests a lot's spoil-by date
    shelf_life_days: Mapped[int]
    #: the unit this commodity is usually traded in
    unit: Mapped[MassUnit] = mapped_column(
        Enum(MassUnit, name="mass_unit", native_enum=False, length=4)
    )
    active: Mapped[bool] = mapped_column(default=True)

    names: Mapped[list[CommodityName]] = relationship(
        back_populates="commodity", cascade="all, delete-orphan"
    )

    def display_name(self, lang: str | None = None) -> str:
        """The name in `lang`, by default the reader's language: English pages never show the
        Chinese name, Chinese pages never the English one."""
        if lang is None:
            from produce_match.i18n import current_language

            lang = current_language()
        return self.name_zh if lang == "zh" else self.name_en

    def label(self, lang: str = "zh", typed_name: str | None = None) -> str:
        """Its name, after the name typed for produce posted under it: 榴莲干（其他水果）."""
        name = self.display_name(lang)
        if not typed_name:
            return name
        # Chinese text takes full-width brackets
        return f"{typed_name}（{name}）" if lang == "zh" else f"{typed_name} ({name})"

    @property
    def is_other(self) -> bool:
        """A category's "other" entry (其他水果 ...): it holds lots of produce not yet in the
        catalogue, each with the name its cooperative typed."""
        return self.code.startswith(OTHER_PREFIX)

    def __str__(self) -> str:
        return self.name_zh


class CommodityName(db.Model):
    """Every name a commodity is known by, normalised for lookup; each resolves to one entry."""

    __tablename__ = "commodity_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    commodity_id: Mapped[int] = mapped_column(
        ForeignKey("commodities.id", ondelete="CASCADE"), index=True
    )
    #: the normalised form: simplified, lower-case, without spaces ("heidou", "black bean")
    key: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    #: zh | traditional | synonym | en | pinyin | code
    kind: Mapped[str] = mapped_column(String(12))

    commodity: Mapped[Commodity] = relationship(back_populates="names")
