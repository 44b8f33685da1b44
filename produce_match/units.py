"""Mass and money as people write them (斤, 公斤, 吨; 元), stored exactly as integers.

Mass is stored in grams, money in fen (1 元 = 100 分). A price is kept as entered (fen per its
own unit) and compared as fen per tonne, which is an exact integer whatever unit it was entered
in: 1 元/斤 = 2,000 元/吨, 1 元/公斤 = 1,000 元/吨. Nothing here uses floats.
"""

from __future__ import annotations

import enum
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l


class MassUnit(enum.StrEnum):
    jin = "jin"  #: 斤, half a kilogram
    kg = "kg"  #: 公斤 / 千克
    t = "t"  #: 吨, 1,000 kg

    @property
    def grams(self) -> int:
        return GRAMS[self]

    @property
    def zh(self) -> str:
        return ZH_NAMES[self]


GRAMS = {MassUnit.jin: 500, MassUnit.kg: 1000, MassUnit.t: 1_000_000}
ZH_NAMES = {MassUnit.jin: "斤", MassUnit.kg: "公斤", MassUnit.t: "吨"}
EN_NAMES = {MassUnit.jin: "jin", MassUnit.kg: "kg", MassUnit.t: "t"}

_ALIASES = {
    "jin": MassUnit.jin,
    "斤": MassUnit.jin,
    "市斤": MassUnit.jin,
    "kg": MassUnit.kg,
    "公斤": MassUnit.kg,
    "千克": MassUnit.kg,
    "kgs": MassUnit.kg,
    "kilogram": MassUnit.kg,
    "kilograms": MassUnit.kg,
    "t": MassUnit.t,
    "吨": MassUnit.t,
    "公吨": MassUnit.t,
    "ton": MassUnit.t,
    "tons": MassUnit.t,
    "tonne": MassUnit.t,
    "tonnes": MassUnit.t,
}
_PRICE_PREFIX = re.compile(r"^(元|yuan|rmb|cny|¥|￥)?\s*/\s*")

#: the largest quantity accepted: 1,000,000 t (far beyond any lot; keeps integers in range)
MAX_GRAMS = 10**12
#: the largest price accepted: 1,000,000 元 per unit
MAX_PRICE_FEN = 10**8


class UnitError(ValueError):
    """Input that is not a quantity, a price or a unit; `message` is for people."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


def parse_unit(text: str | MassUnit | None) -> MassUnit:
    """'斤', 'jin', '公斤', 'kg', '吨', 't', and price units '元/斤', 'yuan/kg' -> MassUnit."""
    if isinstance(text, MassUnit):
        return text
    key = (text or "").strip().lower()
    key = _PRICE_PREFIX.sub("", key).strip()
    try:
        return _ALIASES[key]
    except KeyError:
        raise UnitError(
            _l("Unknown unit: %(unit)s. Use 斤, 公斤 (kg) or 吨 (t).", unit=text or "")
        ) from None


#: the largest power of ten a typed number may have, either way (10^18 g is a trillion tonnes)
MAX_EXPONENT = 18


def _decimal(text: str | int | Decimal, what: object) -> Decimal:
    if isinstance(text, int | Decimal):
        value = Decimal(text)
    else:
        cleaned = str(text).strip().replace(",", "").replace("，", "").replace(" ", "")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise UnitError(_l("%(what)s must be a number.", what=what)) from None
    if not value.is_finite():
        raise UnitError(_l("%(what)s must be a number.", what=what))
    # far beyond any real quantity or price, and beyond what exact arithmetic should carry
    # ("1e999999" would overflow the decimal context when converted to grams)
    if value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        raise UnitError(_l("%(what)s is out of range.", what=what))
    return value


def to_grams(amount: str | int | Decimal, unit: str | MassUnit) -> int:
    """An amount in a unit, as exact integer grams ('40', '吨' -> 40,000,000)."""
    mass_unit = parse_unit(unit)
    value = _decimal(amount, _l("The quantity"))
    grams = value * mass_unit.grams
    if grams <= 0:
        raise UnitError(_l("The quantity must be more than zero."))
    if grams != grams.to_integral_value():
        raise UnitError(_l("The quantity is more precise than a gram."))
    if grams > MAX_GRAMS:
        raise UnitError(_l("The quantity is too large."))
    return int(grams)


def to_fen(amount: str | int | Decimal) -> int:
    """Yuan as exact integer fen ('6.80' -> 680); more than two decimals is refused."""
    value = _decimal(amount, _l("The price"))
    fen = value * 100
    if fen <= 0:
        raise UnitError(_l("The price must be more than zero."))
    if fen != fen.to_integral_value():
        raise UnitError(_l("A price has at most two decimals (fen)."))
    if fen > MAX_PRICE_FEN:
        raise UnitError(_l("The price is too large."))
    return int(fen)


def fen_per_tonne(price_fen: int, unit: str | MassUnit) -> int:
    """A price in fen per `unit`, as exact fen per tonne (the common scale for comparing)."""
    return price_fen * (1_000_000 // parse_unit(unit).grams)


def grams_in(grams: int, unit: str | MassUnit) -> Decimal:
    """Grams expressed in a unit, exactly (750 g in jin -> 1.5)."""
    return Decimal(grams) / Decimal(parse_unit(unit).grams)


def price_in(fen_per_t: int, unit: str | MassUnit) -> Decimal:
    """A price (fen per tonne) in yuan per `unit`, exactly (680,000 fen/t in kg -> 6.8)."""
    per_unit_fen = Decimal(fen_per_t) * parse_unit(unit).grams / Decimal(1_000_000)
    return per_unit_fen / 100


def cost_fen(grams: int, fen_per_t: int) -> int:
    """What `grams` cost at a price, in fen, rounded half up to the fen."""
    exact = Decimal(grams) * Decimal(fen_per_t) / Decimal(1_000_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _plain(value: Decimal, places: int) -> str:
    """At most `places` decimals, no trailing zeros, thousands not grouped."""
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def amount_text(grams: int, unit: str | MassUnit) -> str:
    """Grams as the bare number a form shows in `unit`, exactly (750 g in jin -> '1.5')."""
    return _plain(grams_in(grams, unit), 6)


def yuan_text(fen: int) -> str:
    """Fen as the bare yuan amount a form shows (680 -> '6.80')."""
    return f"{fen // 100}.{fen % 100:02d}"


def format_mass(grams: int, unit: str | MassUnit | None = None, lang: str = "zh") -> str:
    """'40 吨', '1.5 斤', '20万斤', '9.8 t', '200,000 jin': as people write it.

    In `unit` (or the largest unit that reads naturally); in Chinese, ten thousand 斤 and more
    is counted in 万斤, and ten thousand 公斤 and more in 吨.
    """
    if unit is None:
        unit = (
            MassUnit.t if grams >= 1_000_000 else (MassUnit.kg if grams >= 1000 else MassUnit.jin)
        )
    mass_unit = parse_unit(unit)
    amount = grams_in(grams, mass_unit)
    if lang == "zh":
        if mass_unit is MassUnit.jin and amount >= 10_000:
            return f"{_plain(amount / 10_000, 2)}万斤"
        if mass_unit is MassUnit.kg and amount >= 10_000:
            mass_unit, amount = MassUnit.t, grams_in(grams, MassUnit.t)
        return f"{_plain(amount, 3)} {ZH_NAMES[mass_unit]}"
    text = _plain(amount, 3)
    whole, _, fraction = text.partition(".")
    grouped = f"{int(whole):,}" + (f".{fraction}" if fraction else "")
    return f"{grouped} {EN_NAMES[mass_unit]}"


def format_price(fen_per_t: int, unit: str | MassUnit, lang: str = "zh") -> str:
    """'6.80 元/公斤' or '6.80 yuan/kg': two decimals, more only where the price has them."""
    mass_unit = parse_unit(unit)
    value = price_in(fen_per_t, mass_unit)
    text = format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")
    if value != value.quantize(Decimal("0.01")):
        text = _plain(value, 4)
    if lang == "zh":
        return f"{text} 元/{ZH_NAMES[mass_unit]}"
    return f"{text} yuan/{EN_NAMES[mass_unit]}"


def format_money(fen: int, lang: str = "zh") -> str:
    """'298,000.00 元' / '298,000.00 yuan'."""
    sign, fen = ("-" if fen < 0 else ""), abs(fen)
    text = f"{sign}{fen // 100:,}.{fen % 100:02d}"
    return f"{text} 元" if lang == "zh" else f"{text} yuan"
