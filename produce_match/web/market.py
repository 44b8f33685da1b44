"""Pages: prices for everyone (行情), per commodity and place: the reference price in force and
the weekly median price paid on the platform, as a table and a chart."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from produce_match import policy
from produce_match.catalog import commodities, regions
from produce_match.catalog.models import Commodity
from produce_match.extensions import db
from produce_match.i18n import current_language
from produce_match.market import queries
from produce_match.market.charts import Series, line_chart
from produce_match.units import MassUnit, format_price, parse_unit

bp = Blueprint("market", __name__)


def _commodity(text: str | None) -> Commodity | None:
    if not text or not text.isdigit():
        return None
    commodity = db.session.get(Commodity, int(text))
    return commodity if commodity is not None and commodity.active else None


def _unit(text: str | None) -> MassUnit:
    try:
        return parse_unit(text) if text else MassUnit.kg
    except ValueError:
        return MassUnit.kg


def week_label(week: queries.Week) -> str:
    return _("Week %(week)d, %(year)d", week=week.week, year=week.year)


def chart(market: queries.Market, unit: MassUnit) -> Any:
    lang = current_language()
    return line_chart(
        [week_label(w) for w in market.weeks],
        [
            Series(
                _("Reference price"),
                [w.reference.price_fen_per_t if w.reference else None for w in market.weeks],
                "chart-line-reference",
            ),
            Series(
                _("Median paid on the platform"),
                [w.median_fen_per_t for w in market.weeks],
                "chart-line-median",
            ),
        ],
        title=_("Prices of %(commodity)s by week", commodity=market.commodity.display_name()),
        text=lambda fen: format_price(fen, unit, lang),
    )


@bp.route("/market")
@login_required
def index() -> Any:
    """Choose a commodity and a place (nationwide, a province, a county) and see its prices."""
    args = request.args
    commodity = _commodity(args.get("commodity"))
    # no place asked for: the account's own province; an empty choice is nationwide
    org = current_user.organisation
    if "province" in args or "county" in args:
        province_code, county_code = args.get("province") or None, args.get("county") or None
    else:
        province_code, county_code = (org.province_code if org else None), None
    place = queries.place_of(province_code, county_code)
    unit = _unit(args.get("unit"))
    market = queries.market(commodity, place) if commodity is not None else None
    if market is not None:
        policy.ensure(current_user, policy.VIEW, market)
    return render_template(
        "market/index.html",
        commodities=[c for c in commodities.all_active() if not c.is_other],
        commodity=commodity,
        place=place,
        provinces=regions.provinces(),
        counties=regions.counties(place.province_code) if place.province else [],
        unit=unit,
        units=list(MassUnit),
        market=market,
        chart=chart(market, unit) if market is not None else None,
        week_label=week_label,
        min_orders=queries.MIN_ORDERS,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
