"""Pages: the share kit of a lot, its posters, the short links /s/<code>, and the figures.

Who may share: anyone who can see an open lot. A visitor who is not logged in gets the links
without a sharer (derived from the lot and channel, see sharing.operations: nothing is written
for them); a logged-in user makes their own links once with a POST (生成我的分享链接), so that
what their shares bring is counted under their name, and the page shows those from then on.

A visit through /s/<code> is counted by a task (GETs never write): the redirect hands the
queue the code and the browser's key for the day. The browser's key comes from a random
first-party cookie (`pm_v`), never from its address; bots are not counted. When an order is
placed from a browser with that cookie, `_attribute` ties it to its first visit in 14 days.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from produce_match import policy
from produce_match.accounts.models import Organisation
from produce_match.cache import kept
from produce_match.database import utcnow
from produce_match.demands.models import Demand, DemandStatus
from produce_match.extensions import db
from produce_match.i18n import current_language
from produce_match.links import site_url
from produce_match.lots.models import Lot, LotStatus
from produce_match.orders.events import order_changed
from produce_match.orders.models import Order
from produce_match.queue import enqueue
from produce_match.sharing import content, poster, queries
from produce_match.sharing import operations as sharing
from produce_match.sharing.models import Channel, TargetKind

log = logging.getLogger("produce_match.sharing")

bp = Blueprint("sharing", __name__)

#: the browser's random first-party cookie (it names nobody); kept longer than the window
BROWSER_COOKIE = "pm_v"
BROWSER_COOKIE_DAYS = 30


def _sharer() -> Any:
    return current_user._get_current_object() if current_user.is_authenticated else None


def _channel(default: Channel | None = Channel.wechat_group) -> Channel:
    """The channel asked for in ?channel=; 400 with a message for an unknown one."""
    value = request.args.get("channel")
    if value is None or value == "":
        if default is None:
            abort(400, description=_("Say which channel the poster is for."))
        return default
    try:
        return Channel(value)
    except ValueError:
        abort(
            400,
            description=_(
                "Unknown channel %(channel)s. Choose one of: %(channels)s.",
                channel=value[:40],
                channels=", ".join(c.value for c in Channel),
            ),
        )


def _open_lot(lot_id: int) -> Lot:
    lot = policy.load(current_user, policy.VIEW, Lot, lot_id)
    if lot.current_status is not LotStatus.open:
        abort(404)
    return lot


def short_url(code: str) -> str:
    return site_url(url_for("sharing.follow", code=code))


def _codes(lot: Lot) -> dict[Channel, str] | None:
    return sharing.links_of(sharing.Target(TargetKind.lot, lot.id), _sharer())


@bp.route("/lots/<int:lot_id>/share")
def lot_kit(lot_id: int) -> Any:
    """The share kit: per channel a poster, a text to paste and the short link."""
    lot = _open_lot(lot_id)
    channel = _channel()
    codes = _codes(lot)
    card = content.lot_card(lot, current_language())
    url = short_url(codes[channel]) if codes else None
    return _kit_page(
        channel,
        url,
        content.lot_text(card, url, channel) if url else None,
        title=lot.title,
        name=f"lot-{lot.id}",
        back_url=url_for("lots.detail", lot_id=lot.id),
        back_text=_("Back to the lot"),
        endpoint="sharing.lot_kit",
        args={"lot_id": lot.id},
        make_url=url_for(".make_lot_links", lot_id=lot.id),
        poster_url=url_for(".lot_poster", lot_id=lot.id, channel=channel.value),
    )


def _kit_page(channel: Channel, url: str | None, text: str | None, **kit: Any) -> str:
    """The share kit page of a lot or a demand: its channels, the chosen one's link, text and
    poster (`kit`: title, name, back_url, back_text, endpoint, args, make_url, poster_url)."""
    return render_template(
        "sharing/kit.html",
        kit=kit,
        channel=channel,
        channels=list(Channel),
        url=url,
        text=text,
        poster_url=kit["poster_url"],
    )


@bp.route("/lots/<int:lot_id>/share", methods=["POST"])
@login_required
def make_lot_links(lot_id: int) -> Any:
    """Make (once) the user's own links to the lot, one per channel."""
    lot = _open_lot(lot_id)
    channel = request.form.get("channel", "")
    sharing.make_links(current_user, sharing.Target(TargetKind.lot, lot.id))
    wanted = channel if channel in Channel.__members__ else Channel.wechat_group.value
    return redirect(url_for(".lot_kit", lot_id=lot.id, channel=wanted))


@bp.route("/lots/<int:lot_id>/poster.png")
def lot_poster(lot_id: int) -> Any:
    """The poster of an open lot for a channel; its QR code is the short link of that channel
    (the user's own once made, else the link without a sharer)."""
    channel = _channel(default=None)
    lot = _open_lot(lot_id)
    codes = _codes(lot)
    mine = codes is not None and current_user.is_authenticated
    if codes is None:
        codes = sharing.links_of(sharing.Target(TargetKind.lot, lot.id), None)
    url, lang = short_url(codes[channel]), current_language()

    def draw() -> bytes:
        return poster.draw(content.poster_facts(lot, lang), url, channel)

    # kept while nothing it shows changes (the cache's generation moves on with every write
    # to lots, photos, orders and organisations) and for the day (the days left): crawlers
    # fetch it as the Open Graph image of every lot page shared
    key = f"poster:{lot.id}:{channel.value}:{lang}:{lot.today().isoformat()}:{url}"
    try:
        png = kept(key, draw, timeout=24 * 3600)
    except poster.NoFont as exc:
        log.error("%s", exc)
        abort(503, description=_("Posters cannot be drawn on this server yet (no Chinese font)."))
    response = Response(png, mimetype="image/png")
    # what is left and the days left change: kept for minutes; a user's own poster privately
    response.headers["Cache-Control"] = "private, max-age=300" if mine else "public, max-age=600"
    if mine:
        response.headers.add("Vary", "Cookie")
    return response


# --- buyers' demands: shared by those who may see them, so that sellers find the buyer -------


def _active_demand(demand_id: int) -> Demand:
    demand = policy.load(current_user, policy.VIEW, Demand, demand_id)
    if demand.status is not DemandStatus.active:
        abort(404)
    return demand


def _demand_codes(demand: Demand) -> tuple[dict[Channel, str] | None, bool]:
    """The user's own links to the demand, or (None, False) before they made them."""
    codes = sharing.links_of(sharing.Target(TargetKind.demand, demand.id), _sharer())
    return codes, codes is not None


@bp.route("/demands/<int:demand_id>/share")
@login_required
def demand_kit(demand_id: int) -> Any:
    """A demand's share kit, for those who may see it (its buyer, oversight). The links lead
    to the buyer's public profile, where a logged-in cooperative sees how to reach them."""
    demand = _active_demand(demand_id)
    channel = _channel()
    codes, _mine = _demand_codes(demand)
    url = short_url(codes[channel]) if codes else None
    card = content.demand_card(demand, current_language())
    title = _("Buying %(commodity)s", commodity=card.commodity)
    return _kit_page(
        channel,
        url,
        content.demand_text(card, url, channel) if url else None,
        title=title,
        name=f"demand-{demand.id}",
        back_url=url_for("demands.detail", demand_id=demand.id),
        back_text=title,
        endpoint="sharing.demand_kit",
        args={"demand_id": demand.id},
        make_url=url_for(".make_demand_links", demand_id=demand.id),
        poster_url=url_for(".demand_poster", demand_id=demand.id, channel=channel.value),
    )


@bp.route("/demands/<int:demand_id>/share", methods=["POST"])
@login_required
def make_demand_links(demand_id: int) -> Any:
    demand = _active_demand(demand_id)
    channel = request.form.get("channel", "")
    sharing.make_links(current_user, sharing.Target(TargetKind.demand, demand.id))
    wanted = channel if channel in Channel.__members__ else Channel.wechat_group.value
    return redirect(url_for(".demand_kit", demand_id=demand.id, channel=wanted))


@bp.route("/demands/<int:demand_id>/poster.png")
@login_required
def demand_poster(demand_id: int) -> Any:
    """A demand's poster; its QR code is the user's own link for the channel (before they
    made links, the link without a sharer)."""
    channel = _channel(default=None)
    demand = _active_demand(demand_id)
    codes, _mine = _demand_codes(demand)
    if codes is None:
        codes = sharing.links_of(sharing.Target(TargetKind.demand, demand.id), None)
    url, lang = short_url(codes[channel]), current_language()
    try:
        png = poster.draw(content.demand_poster_facts(demand, lang), url, channel)
    except poster.NoFont as exc:
        log.error("%s", exc)
        abort(503, description=_("Posters cannot be drawn on this server yet (no Chinese font)."))
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/s/<code>")
def follow(code: str) -> Any:
    """A short link: count the visit (through the queue) and go to its target."""
    resolved = sharing.resolve(code)
    if resolved is None:
        return render_template("sharing/unknown.html"), 404
    target = resolved.target
    if target.kind is TargetKind.lot:
        location = url_for("lots.detail", lot_id=target.id)
    elif target.kind is TargetKind.demand:  # the buyer's public profile: demands are private
        demand = db.session.get(Demand, target.id)
        if demand is None:
            return render_template("sharing/unknown.html"), 404
        location = url_for("accounts.organisation", org_id=demand.buyer_org_id)
    else:  # the county shop's page
        location = f"{request.script_root}/shops/{target.id}"
    response = redirect(location, 302)
    response.headers["Cache-Control"] = "no-store"
    if sharing.is_bot(request.headers.get("User-Agent")):
        return response
    browser = request.cookies.get(BROWSER_COOKIE) or ""
    if not 16 <= len(browser) <= 64 or not browser.replace("-", "").replace("_", "").isalnum():
        browser = sharing.new_browser_id()
    now = utcnow()
    visitor = sharing.visitor_key(browser, sharing.visit_day(now))
    try:
        enqueue("sharing.record_visit", resolved.code, visitor, now.isoformat())
    except Exception:  # noqa: BLE001  the redirect matters more than the count
        log.exception("could not enqueue the visit of share link %s", resolved.code)
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=BROWSER_COOKIE_DAYS * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )
    return response


@order_changed.connect
def _attribute(order: Order, event: str, actor: Any = None, **_kw: Any) -> None:
    """An order placed from a browser that came through a share link is attributed to it."""
    if event != "placed" or not has_request_context():
        return
    browser = request.cookies.get(BROWSER_COOKIE)
    if browser and len(browser) <= 64:
        sharing.attribute_order(order, browser, order.created_at)


def lot_share_figures(lot: Lot) -> list[queries.ChannelFigures] | None:
    """For a lot's page: the figures by channel, for its own cooperative only (else None)."""
    if not (current_user.is_authenticated and policy.can(current_user, "edit", lot)):
        return None
    return queries.for_lot(lot.id)


def shop_share_figures(office: Organisation) -> list[queries.ChannelFigures] | None:
    """For a county shop's page: the figures by channel of its share links, for the officials
    whose jurisdiction holds the office's (else None)."""
    if not current_user.is_authenticated:
        return None
    if not policy.can(current_user, "view_shop_figures", office):
        return None
    return queries.for_shop(office.id)


def lot_og(lot: Lot) -> dict[str, str]:
    """Open Graph values of a lot's page: absolute URLs, the WeChat group poster as image."""
    card = content.lot_card(lot, current_language())
    description = _(
        "%(commodity)s from %(place)s: %(left)s left at %(price)s. Seller: %(seller)s.",
        commodity=card.commodity,
        place=card.place,
        left=card.left,
        price=card.price,
        seller=card.seller,
    )
    image = None
    if lot.current_status is LotStatus.open:
        image = site_url(
            url_for("sharing.lot_poster", lot_id=lot.id, channel=Channel.wechat_group.value)
        )
    elif lot.photos:
        image = site_url(url_for("lots.media", key=lot.photos[0].key))
    return {
        "title": lot.title,
        "description": description,
        "url": site_url(url_for("lots.detail", lot_id=lot.id)),
        "image": image or "",
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(lot_share_figures, "lot_share_figures")
    app.add_template_global(lot_og, "lot_og")
    app.add_template_global(shop_share_figures, "shop_share_figures")
