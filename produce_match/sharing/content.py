"""What a share says about a lot: the poster's facts and the ready-to-paste texts per channel."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from produce_match.demands.models import Demand
from produce_match.lots.models import Lot
from produce_match.sharing.models import Channel
from produce_match.sharing.poster import PosterFacts
from produce_match.storage import get_storage
from produce_match.units import format_mass, format_price


@dataclass(frozen=True)
class LotCard:
    """A lot as a share tells it, in the reader's language."""

    commodity: str
    left: str
    price: str
    days_left: int
    place: str
    seller: str
    verified: bool


def lot_card(lot: Lot, lang: str) -> LotCard:
    county = lot.county.name if lot.county else ""
    place = " ".join(p for p in (county, lot.township, lot.village) if p)
    return LotCard(
        commodity=lot.commodity_label(lang),
        left=format_mass(lot.remaining_g, lot.quantity_unit, lang),
        price=format_price(lot.price_fen_per_t, lot.price_unit, lang),
        days_left=max(lot.days_left, 0),
        place=place,
        seller=lot.cooperative.name,
        verified=lot.cooperative.verified,
    )


def _days(n: int) -> str:
    return _("last day") if n == 0 else _("%(n)d days left", n=n)


def poster_facts(lot: Lot, lang: str) -> PosterFacts:
    """The poster's words for `lot`, and its first photo if it has one."""
    card = lot_card(lot, lang)
    photo = None
    if lot.photos:
        try:
            photo = get_storage().read(lot.photos[0].key)
        except (FileNotFoundError, ValueError):
            photo = None
    return PosterFacts(
        headline=card.commodity,
        left=_("%(q)s left", q=card.left),
        price=card.price,
        days=_days(card.days_left),
        place=card.place,
        seller=card.seller,
        verified=_("Verified") if card.verified else None,
        scan=_("Scan to see the lot and order"),
        urgent=_("Must sell"),
        photo=photo,
    )


def lot_text(card: LotCard, url: str, channel: Channel) -> str:
    """The ready-to-paste text for `channel`, with the short link."""
    values = {
        "commodity": card.commodity,
        "left": card.left,
        "price": card.price,
        "days": _days(card.days_left),
        "place": card.place,
        "seller": card.seller,
        "badge": _(" (verified)") if card.verified else "",
        "url": url,
    }
    if channel is Channel.wechat_group:
        return _(
            "[Must sell] %(commodity)s from %(place)s: %(left)s left at %(price)s, "
            "%(days)s. Seller: %(seller)s%(badge)s. Details and orders: %(url)s",
            **values,
        )
    if channel is Channel.moments:
        return _(
            "Help the village sell: %(place)s %(commodity)s, %(left)s left, %(price)s, "
            "%(days)s. Please pass it on! %(url)s",
            **values,
        )
    if channel in (Channel.douyin, Channel.kuaishou):
        return _(
            "%(place)s %(commodity)s needs buyers: %(left)s left, %(price)s, %(days)s. "
            "Order at %(url)s #helpfarmers #%(commodity)s",
            **values,
        )
    if channel is Channel.weibo:
        return _(
            "#HelpFarmers# %(place)s %(commodity)s: %(left)s left at %(price)s, %(days)s. "
            "%(seller)s%(badge)s. %(url)s",
            **values,
        )
    if channel is Channel.sms:
        return _("%(commodity)s %(left)s, %(price)s, %(days)s: %(url)s", **values)
    return _(
        "%(commodity)s from %(place)s: %(left)s left at %(price)s, %(days)s. %(url)s", **values
    )


@dataclass(frozen=True)
class DemandCard:
    """A buyer's demand as a share tells it, in the reader's language."""

    commodity: str
    quantity: str
    price: str
    needed_by: str
    place: str
    buyer: str
    verified: bool


def demand_card(demand: Demand, lang: str) -> DemandCard:
    unit = demand.quantity_unit
    low = format_mass(demand.min_quantity_g, unit, lang)
    high = format_mass(demand.max_quantity_g, unit, lang)
    return DemandCard(
        commodity=demand.commodity.label(lang),
        quantity=high if low == high else f"{low}–{high}",
        price=format_price(demand.max_price_fen_per_t, demand.price_unit, lang),
        needed_by=demand.needed_by.isoformat(),
        place=demand.place,
        buyer=demand.buyer.name,
        verified=demand.buyer.verified,
    )


def demand_text(card: DemandCard, url: str, channel: Channel) -> str:
    """The ready-to-paste text of a demand for `channel`, with the short link."""
    text = _(
        "[Buying] %(commodity)s, %(quantity)s, at most %(price)s, delivered to %(place)s by "
        "%(date)s. Buyer: %(buyer)s%(badge)s. Sellers, get in touch: %(url)s",
        commodity=card.commodity,
        quantity=card.quantity,
        price=card.price,
        place=card.place,
        date=card.needed_by,
        buyer=card.buyer,
        badge=_(" (verified)") if card.verified else "",
        url=url,
    )
    if channel in (Channel.douyin, Channel.kuaishou, Channel.weibo):
        text += " " + _("#helpfarmers #%(commodity)s", commodity=card.commodity)
    return text


def demand_poster_facts(demand: Demand, lang: str) -> PosterFacts:
    card = demand_card(demand, lang)
    return PosterFacts(
        headline=card.commodity,
        left=_("Buying %(q)s", q=card.quantity),
        price=_("At most %(price)s", price=card.price),
        days=_("by %(date)s", date=card.needed_by),
        place=_("Delivered to %(place)s", place=card.place),
        seller=card.buyer,
        verified=_("Verified") if card.verified else None,
        scan=_("Scan to contact the buyer"),
        urgent=_("Buying"),
    )
