"""The share card in WeChat's browser (JS-SDK), when WECHAT_APP_ID and WECHAT_APP_SECRET are set.

A page that has a card (a lot's, a shop's) carries its title, description, link and image in
`templates/web/_wechat_share.html`, with our own script. Inside WeChat's browser only, the
script asks `/wechat/jssdk-config` for the `wx.config` of the page's address, loads the JS-SDK
from WeChat and sets the card. So the page itself never waits for WeChat: it is the same for
every visitor and kept by the page cache, and when WeChat cannot be reached the page shows as
always and WeChat shares it with its plain card. Outside WeChat nothing is loaded from WeChat.
The Content-Security-Policy allows WeChat's script origin only when the card is configured.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, jsonify, request, url_for
from flask_babel import gettext as _

from produce_match import wechat
from produce_match.accounts.models import Organisation
from produce_match.lots.models import Lot
from produce_match.units import format_mass, format_price

bp = Blueprint("wechat", __name__)


def _no_store(response: Any, status: int = 200) -> Any:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/wechat/jssdk-config")
def jssdk_config() -> Any:
    """`wx.config`'s appId, timestamp, nonceStr and signature for the page at `?url=` (one of
    this site's addresses); 503 when there is no ticket (the page keeps WeChat's plain card)."""
    if not wechat.configured():
        return _no_store(jsonify({"error": {"code": "not_configured", "message": ""}}), 404)
    url = (request.args.get("url") or "").split("#", 1)[0]
    parts = urlsplit(url) if len(url) <= 2000 else None
    if parts is None or parts.scheme not in ("http", "https") or parts.netloc != request.host:
        message = _("The address to sign must be a page of this site.")
        return _no_store(jsonify({"error": {"code": "bad_url", "message": message}}), 400)
    config = wechat.share_config(url)
    if config is None:
        message = _("WeChat cannot be reached right now.")
        return _no_store(jsonify({"error": {"code": "unavailable", "message": message}}), 503)
    return _no_store(jsonify(config))


def share_card(subject: Lot | Organisation | None) -> dict[str, Any] | None:
    """The card of a lot or a shop (title, desc, link, imgUrl), None when not configured."""
    if subject is None or not wechat.configured():
        return None
    from produce_match.i18n import current_language

    lang = current_language()
    icon = url_for("static", filename="img/share.png", _external=True)
    if isinstance(subject, Lot):
        photo = subject.photos[0] if subject.photos else None
        left = format_mass(subject.remaining_g, subject.quantity_unit, lang)
        price = format_price(subject.price_fen_per_t, subject.price_unit, lang)
        return {
            "title": subject.title,
            "desc": _(
                "%(left)s left, %(price)s, %(place)s. It must be sold within %(d)d days.",
                left=left,
                price=price,
                place=subject.place,
                d=max(subject.days_left, 0),
            ),
            "link": url_for("lots.detail", lot_id=subject.id, _external=True),
            "img": url_for("lots.media", key=photo.thumb_key, _external=True) if photo else icon,
        }
    return {
        "title": _("%(office)s's shop", office=subject.name),
        "desc": _("Stranded produce of the villages, most urgent first."),
        "link": url_for("shops.shop", office_id=subject.id, _external=True),
        "img": icon,
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(share_card, "wechat_share_card")
    app.add_template_global(
        lambda: {"sdk": wechat.SDK_URL, "fallback": wechat.SDK_FALLBACK_URL},
        "wechat_sdk",
    )
    if app.config.get("WECHAT_APP_ID") and app.config.get("WECHAT_APP_SECRET"):
        # the share card's script origin, and only when the card is configured
        app.config["CSP_SCRIPT_SRC"] = [
            *app.config.get("CSP_SCRIPT_SRC", []),
            *wechat.SCRIPT_ORIGINS,
        ]
