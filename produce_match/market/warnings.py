"""The price below which posting a lot or accepting an order is warned: a share
(PRICE_WARNING_PERCENT, whole percent) of the reference price in force where the lot is.

Compared exactly in integer fen per tonne: price * 100 < percent * reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from produce_match.i18n import current_language
from produce_match.market.queries import Reference, Source, reference_in_force
from produce_match.units import MassUnit, format_price


@dataclass(frozen=True)
class PriceWarning:
    """A price below the warned share of the reference price in force."""

    price_fen_per_t: int
    reference_fen_per_t: int
    #: the configured share (PRICE_WARNING_PERCENT)
    threshold_percent: int
    #: the price's share of the reference, whole percent rounded down (66 for 4.00 of 6.00)
    percent: int
    #: where the reference comes from: the county's own, or its province's
    source: Source
    valid_from: date

    def message(self, unit: str | MassUnit, *, accepting: bool = False) -> str:
        """The warning in the user's language, prices in `unit` (the lot's own)."""
        lang = current_language()
        values: dict[str, Any] = {
            "price": format_price(self.price_fen_per_t, unit, lang),
            "reference": format_price(self.reference_fen_per_t, unit, lang),
            "threshold": self.threshold_percent,
            "share": self.percent,
        }
        county = self.source is Source.county
        if accepting:
            if county:
                return _(
                    "This order's price %(price)s is below %(threshold)d%% of the county's "
                    "reference price %(reference)s (only %(share)d%%). Accept it anyway?",
                    **values,
                )
            return _(
                "This order's price %(price)s is below %(threshold)d%% of the province's "
                "reference price %(reference)s (only %(share)d%%). Accept it anyway?",
                **values,
            )
        if county:
            return _(
                "Your price %(price)s is below %(threshold)d%% of the county's reference price "
                "%(reference)s (only %(share)d%%). Post it anyway?",
                **values,
            )
        return _(
            "Your price %(price)s is below %(threshold)d%% of the province's reference price "
            "%(reference)s (only %(share)d%%). Post it anyway?",
            **values,
        )

    def figures(self) -> dict[str, Any]:
        """The numbers, for the API's error body."""
        return {
            "price_fen_per_t": self.price_fen_per_t,
            "reference_fen_per_t": self.reference_fen_per_t,
            "reference_source": self.source.value,
            "reference_valid_from": self.valid_from.isoformat(),
            "threshold_percent": self.threshold_percent,
            "percent": self.percent,
        }


def below(price_fen_per_t: int, reference: Reference, threshold: int) -> bool:
    """Exactly: is the price below `threshold` percent of the reference?"""
    return price_fen_per_t * 100 < threshold * reference.price_fen_per_t


def price_warning(
    commodity_id: int,
    province_code: str | None,
    county_code: str | None,
    price_fen_per_t: int,
) -> PriceWarning | None:
    """A warning when the price is below PRICE_WARNING_PERCENT % of the reference price in
    force for the commodity where the lot is (the county's, else its province's); None when
    there is no reference, the price is at or above the share, or the warning is off (0)."""
    threshold = current_app.config["PRICE_WARNING_PERCENT"]
    if threshold <= 0:
        return None
    reference = reference_in_force(commodity_id, province_code, county_code)
    if reference is None or not below(price_fen_per_t, reference, threshold):
        return None
    return PriceWarning(
        price_fen_per_t=price_fen_per_t,
        reference_fen_per_t=reference.price_fen_per_t,
        threshold_percent=threshold,
        percent=price_fen_per_t * 100 // reference.price_fen_per_t,
        source=reference.source,
        valid_from=reference.valid_from,
    )
