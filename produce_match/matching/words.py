"""A match's reasons in words, in the reader's language (the rule gives kinds and numbers)."""

from __future__ import annotations

from flask_babel import gettext as _

from produce_match.matching.rules import Failure, Reason, ReasonKind


def reason_text(reason: Reason) -> str:
    """'价格低于上限 12%', '距离 180 公里', '3 天后变质' ..."""
    kind, value = reason.kind, reason.value
    if kind is ReasonKind.quantity:
        return _("covers %(pct)d%% of the demand", pct=round(value * 100))
    if kind is ReasonKind.lot_share:
        return _("takes %(pct)d%% of the lot", pct=round(value * 100))
    if kind is ReasonKind.price:
        if value is None:  # told to someone who may not know the buyer's maximum
            return _("price within the buyer's maximum")
        pct = round(value * 100)
        if pct <= 0:
            return _("price at the buyer's maximum")
        return _("price %(pct)d%% below the maximum", pct=pct)
    if kind is ReasonKind.distance:
        return _("%(km)d km away", km=round(value))
    if kind is ReasonKind.urgency:
        if value <= 0:
            return _("spoils today")
        return _("spoils in %(n)d days", n=int(value))
    if kind is ReasonKind.reliability:
        done, total, weight = reason.extra
        return _(
            "buyer completed %(done)d of %(total)d orders (weight %(weight)d)",
            done=done,
            total=total,
            weight=weight,
        )
    if kind is ReasonKind.new_buyer:
        return _("new buyer (weight %(weight)d)", weight=reason.extra[0])
    if kind is ReasonKind.seller_reliability:
        done, total, weight = reason.extra
        return _(
            "cooperative completed %(done)d of %(total)d orders (weight %(weight)d)",
            done=done,
            total=total,
            weight=weight,
        )
    if kind is ReasonKind.new_seller:
        return _("new cooperative (weight %(weight)d)", weight=reason.extra[0])
    if kind is ReasonKind.verified:
        if value >= 2:
            return _("both verified")
        if value >= 1:
            return _("one side verified")
        return _("neither side verified")
    return str(kind)


def failure_text(failure: Failure) -> str:
    """Why a lot cannot serve a demand, in words."""
    return {
        Failure.commodity: _("not the commodity asked for"),
        Failure.grade: _("grade not accepted"),
        Failure.price: _("price above the buyer's maximum"),
        Failure.distance: _("farther than the buyer's maximum distance"),
        Failure.spoils: _("would spoil before it arrives"),
        Failure.late: _("would arrive after the needed-by date"),
        Failure.lot_closed: _("the lot is not on offer"),
        Failure.demand_closed: _("the demand is not active"),
        Failure.too_little: _("less left than the buyer's minimum"),
        Failure.lot_minimum: _("the lot's minimum order is more than the buyer takes"),
    }[failure]
