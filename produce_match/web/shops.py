"""County shops (县域店铺): a public page per office listing the open lots of its jurisdiction,
most urgent first, with its share area, and the printable A4 flyer of several lots with their
QR codes for market boards and village notice boards. `init_app` also registers the public
feeds (web/feeds.py) and the WeChat share card (web/wechat.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from produce_match import policy
from produce_match.accounts.models import Organisation
from produce_match.links import external_url
from produce_match.lots.models import Lot
from produce_match.sharing import operations as sharing
from produce_match.sharing.models import Channel, TargetKind
from produce_match.shops import queries
from produce_match.units import format_mass
from produce_match.web.pagecache import kept_for_visitors
from produce_match.web.qr import qr_svg
from produce_match.web.sharing import short_url

bp = Blueprint("shops", __name__)

#: lots on one page of a shop
PER_PAGE = 20
#: lots on a flyer: the most urgent by default, at most this many chosen
FLYER_DEFAULT = 6
FLYER_MAX = 8
#: the lots a flyer's official can tick from (the most urgent of the jurisdiction)
FLYER_CHOICES = 40


def public_link(kind: TargetKind, target_id: int, channel: str) -> str:
    """THE address a shared text or a printed QR code leads to: the short link `/s/<code>` of
    `channel` (wechat_group, moments, douyin, kuaishou, weibo, sms, print, other) without a
    sharer, derived and signed (no row until its first visit), so that the visits and orders it
    brings are counted under its channel, for lots and for shops alike."""
    return short_url(sharing.anonymous_code(sharing.Target(kind, target_id), Channel(channel)))


def lot_link(lot: Lot, channel: str) -> str:
    return public_link(TargetKind.lot, lot.id, channel)


def shop_link(office: Organisation, channel: str) -> str:
    return public_link(TargetKind.shop, office.id, channel)


def _office(office_id: int) -> Organisation:
    office = queries.office(office_id)
    if office is None:
        abort(404)
    return office


def _where(office: Organisation) -> str:
    """The jurisdiction's name: 辽宁省 彰武县, or 辽宁省."""
    return " ".join(r.name for r in (office.province, office.county) if r is not None)


@bp.route("/shops")
@kept_for_visitors
def index() -> Any:
    """Every county's (and province's) shop, with its number of lots on offer."""
    return render_template("shops/index.html", offices=queries.offices())


@bp.route("/shops/<int:office_id>")
@kept_for_visitors
def shop(office_id: int) -> Any:
    office = _office(office_id)
    wanted = queries.Wanted(queries.jurisdiction(office))
    count, grams = queries.count_open(wanted)
    pages = max(1, -(-count // PER_PAGE))
    number = min(max(1, request.args.get("page", 1, type=int)), pages)
    lots = queries.open_lots(wanted, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    # the first lot's photo stands for the shop where a share card shows an image
    photo = next((lot.photos[0] for lot in lots if lot.photos), None)
    return render_template(
        "shops/shop.html",
        office=office,
        where=_where(office),
        lots=lots,
        count=count,
        grams=grams,
        pager={"number": number, "pages": pages},
        photo_url=external_url("lots.media", key=photo.key) if photo else None,
        share=_share(office, count, grams, lots),
        show_hotline=policy.can(current_user, "view_hotline", office),
        feed_args=_feed_args(office),
    )


def _feed_args(office: Organisation) -> dict[str, str]:
    if office.county_code:
        return {"county": office.county_code}
    return {"province": office.province_code or ""}


def _share(office: Organisation, count: int, grams: int, lots: list[Lot]) -> dict[str, Any]:
    """The shop's share area: its address, its QR code and ready-to-paste texts by channel."""
    from produce_match.i18n import current_language

    tonnes = format_mass(grams, None, current_language())
    soonest = min((lot.days_left for lot in lots), default=None)
    head = _(
        "%(office)s's shop: %(n)d lots of stranded produce (%(q)s) are looking for buyers.",
        office=office.name,
        n=count,
        q=tonnes,
    )
    urgent = (
        _(" The most urgent spoils in %(d)d days.", d=soonest)
        if soonest is not None and soonest > 0
        else ""
    )
    hotline = _(" Hotline: %(phone)s.", phone=office.phone) if office.phone else ""
    tags = _("#HelpFarmers #StrandedProduce")
    channels = [
        ("wechat_group", _("WeChat group"), f"{head}{urgent}{hotline}"),
        ("moments", _("Moments"), _("Help the villages sell before it spoils! ") + head + urgent),
        ("douyin", _("Douyin"), f"{head}{urgent} {tags}"),
        ("kuaishou", _("Kuaishou"), f"{head}{urgent} {tags}"),
        ("weibo", _("Weibo"), _("#HelpFarmers# ") + head + urgent + hotline),
    ]
    texts = []
    for channel, name, text in channels:
        link = shop_link(office, channel)
        texts.append({"channel": channel, "name": name, "text": f"{text} {link}"})
    url = shop_link(office, "other")
    return {"url": url, "qr": qr_svg(url), "texts": texts}


def _chosen_ids() -> list[int]:
    """The lot ids ticked for a flyer (`?lot=3&lot=7`, or `?lots=3,7`); malformed ones are
    left out."""
    raw = request.args.getlist("lot") + ",".join(request.args.getlist("lots")).split(",")
    ids = []
    for item in raw:
        item = item.strip()
        if item.isdigit() and len(item) < 10 and int(item) not in ids:
            ids.append(int(item))
    return ids[:FLYER_MAX]


@bp.route("/shops/<int:office_id>/flyer")
@kept_for_visitors
def flyer(office_id: int) -> Any:
    """The printable A4 flyer: the chosen lots (else the most urgent), each with its QR code."""
    office = _office(office_id)
    wanted = queries.Wanted(queries.jurisdiction(office))
    ids = _chosen_ids()
    lots = (
        queries.chosen_lots(wanted, ids) if ids else queries.open_lots(wanted, limit=FLYER_DEFAULT)
    )
    shop_url = shop_link(office, "print")
    return render_template(
        "shops/flyer.html",
        office=office,
        where=_where(office),
        lots=[(lot, qr_svg(lot_link(lot, "print"))) for lot in lots],
        chosen=ids,
        choices=queries.open_lots(wanted, limit=FLYER_CHOICES),
        flyer_max=FLYER_MAX,
        shop_url=shop_url,
        shop_qr=qr_svg(shop_url),
        show_hotline=policy.can(current_user, "view_hotline", office),
    )


def lot_shops(lot: Lot) -> list[Organisation]:
    """The shops a lot is on (the offices whose jurisdiction holds it), for its page."""
    return queries.offices_covering(lot)


def own_shop() -> Organisation | None:
    """The signed-in official's office, when it has a shop (for the officials' area)."""
    org = current_user.organisation if current_user.is_authenticated else None
    if org is None or not current_user.is_official:
        return None
    return queries.office(org.id)


def init_app(app: Flask) -> None:
    from produce_match.web import feeds, wechat

    app.register_blueprint(bp)
    app.register_blueprint(feeds.bp)
    wechat.init_app(app)
    app.add_template_global(lot_shops, "lot_shops")
    app.add_template_global(own_shop, "own_shop")
    app.add_template_global(feeds.feed_links, "feed_links")
