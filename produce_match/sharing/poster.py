"""Posters: a PNG per lot and channel, drawn on the server with Pillow.

3:4 (1080 x 1440) for WeChat groups, Moments, Weibo, text messages, print and the rest; 9:16
(1080 x 1920) for Douyin and Kuaishou. The lot's first photo or a plain placeholder, what it is,
what is left, the price, the days left, the village and county, the cooperative and its
verified badge (认证), and a QR code of the short link for that channel.

Chinese needs a CJK font: `POSTER_FONT` names one, else the usual Debian paths are searched
(`.ci/run` installs fonts-wqy-microhei). Without one the poster cannot be drawn:
`flask check-deploy` says so, and the poster's URL answers 503 with a message.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
from flask import current_app
from PIL import Image, ImageDraw, ImageFont, ImageOps

from produce_match.deploy import also_check
from produce_match.sharing.models import Channel

#: where Debian and Ubuntu put the CJK fonts (fonts-wqy-microhei, fonts-wqy-zenhei,
#: fonts-noto-cjk), searched in this order when POSTER_FONT is not set
FONT_SEARCH = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)

WIDTH = 1080
HEIGHT_WIDE = 1440  # 3:4
HEIGHT_TALL = 1920  # 9:16

_INK = (33, 37, 41)
_MUTED = (96, 103, 112)
_GREEN = (25, 118, 72)
_RED = (200, 40, 40)
_PAPER = (255, 253, 247)


class NoFont(RuntimeError):
    """No CJK font was found: the poster cannot be drawn."""


def font_path(configured: str | None = None, search: tuple[str, ...] = FONT_SEARCH) -> str | None:
    """The font the posters use: `configured` if it is a file, else the first found in `search`."""
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in search:
        if Path(candidate).is_file():
            return candidate
    return None


def _font_problems(cfg: Mapping[str, Any]) -> list[str]:
    configured = cfg.get("POSTER_FONT")
    if font_path(configured) is not None:
        return []
    if configured:
        return [f"POSTER_FONT names {configured!r}, which is not a file: posters cannot be drawn."]
    return [
        "No CJK font for the share posters: install fonts-wqy-microhei (apt-get install "
        "fonts-wqy-microhei) or set POSTER_FONT to a .ttf/.ttc/.otf file with Chinese glyphs."
    ]


also_check(_font_problems)


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class PosterFacts:
    """What a poster says, already in the reader's language."""

    headline: str  # the commodity: 黑豆
    left: str  # 还剩 40 吨
    price: str  # 3.00 元/斤
    days: str  # 还剩 21 天
    place: str  # 辽宁省 彰武县 道亭村
    seller: str  # the cooperative's name
    verified: str | None  # 认证, or None for an unverified seller
    scan: str  # 扫码查看详情、下单
    urgent: str  # 急售
    photo: bytes | None = None


def size_of(channel: Channel) -> tuple[int, int]:
    return (WIDTH, HEIGHT_TALL if channel.tall else HEIGHT_WIDE)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, lines: int) -> list[str]:
    """Break `text` into at most `lines` lines of at most `width` pixels (any character may
    end a line in Chinese); the last line ends with … when cut."""
    out: list[str] = []
    line = ""
    for ch in text:
        if draw.textlength(line + ch, font=font) > width:
            out.append(line)
            line = ch.lstrip()
            if len(out) == lines:
                break
        else:
            line += ch
    else:
        out.append(line)
        return out
    last = out[-1]
    while last and draw.textlength(last + "…", font=font) > width:
        last = last[:-1]
    out[-1] = last + "…"
    return out


def qr_image(url: str, box: int) -> Image.Image:
    """The QR code of `url`, `box` pixels wide with its quiet zone."""
    qr = segno.make(url, error="m", micro=False)
    buf = io.BytesIO()
    modules = qr.symbol_size(scale=1, border=4)[0]
    qr.save(buf, kind="png", scale=max(1, box // modules), border=4)
    buf.seek(0)
    image = Image.open(buf).convert("RGB")
    return image.resize((box, box), Image.NEAREST)


def _photo_or_placeholder(facts: PosterFacts, size: tuple[int, int], font: str) -> Image.Image:
    if facts.photo:
        try:
            with Image.open(io.BytesIO(facts.photo)) as photo:
                return ImageOps.fit(photo.convert("RGB"), size, Image.LANCZOS)
        except (OSError, ValueError):
            pass  # a photo that cannot be read: the placeholder
    image = Image.new("RGB", size, (231, 241, 232))
    draw = ImageDraw.Draw(image)
    big = _font(font, 160)
    text = facts.headline[:6]
    w = draw.textlength(text, font=big)
    draw.text(((size[0] - w) / 2, size[1] / 2 - 100), text, font=big, fill=_GREEN)
    return image


def draw(facts: PosterFacts, url: str, channel: Channel, *, font: str | None = None) -> bytes:
    """The poster as PNG bytes; NoFont when no CJK font is there."""
    font = font or font_path(current_app.config.get("POSTER_FONT"))
    if font is None:
        raise NoFont(_font_problems(current_app.config)[0])
    width, height = size_of(channel)
    tall = channel.tall
    poster = Image.new("RGB", (width, height), _PAPER)
    photo_h = 820 if tall else 560
    poster.paste(_photo_or_placeholder(facts, (width, photo_h), font), (0, 0))
    d = ImageDraw.Draw(poster)
    pad = 60

    # the urgency ribbon over the photo's lower edge
    ribbon = _font(font, 48)
    text = f"{facts.urgent} · {facts.days}"
    w = d.textlength(text, font=ribbon)
    d.rounded_rectangle((pad - 10, photo_h - 100, pad + w + 30, photo_h - 24), 14, fill=_RED)
    d.text((pad + 10, photo_h - 92), text, font=ribbon, fill="white")

    y = photo_h + (50 if tall else 36)
    head = _font(font, 110 if tall else 88)
    for line in _wrap(d, facts.headline, head, width - 2 * pad, 1):
        d.text((pad, y), line, font=head, fill=_INK)
        y += head.size + 20
    big = _font(font, 76 if tall else 60)
    d.text((pad, y), facts.left, font=big, fill=_INK)
    y += big.size + 16
    d.text((pad, y), facts.price, font=big, fill=_RED)
    y += big.size + (36 if tall else 24)
    small = _font(font, 46 if tall else 40)
    for line in _wrap(d, facts.place, small, width - 2 * pad, 2):
        d.text((pad, y), line, font=small, fill=_MUTED)
        y += small.size + 12

    # the bottom band: the seller and its badge on the left, the QR code on the right
    qr_box = 420 if tall else 340
    qr_top = height - qr_box - pad
    poster.paste(qr_image(url, qr_box), (width - pad - qr_box, qr_top))
    text_w = width - 3 * pad - qr_box
    seller_font = _font(font, 40)
    sy = qr_top + 10
    for line in _wrap(d, facts.seller, seller_font, text_w, 3):
        d.text((pad, sy), line, font=seller_font, fill=_INK)
        sy += seller_font.size + 10
    if facts.verified:
        badge = _font(font, 36)
        bw = d.textlength(facts.verified, font=badge)
        d.rounded_rectangle((pad, sy + 8, pad + bw + 36, sy + 66), 12, fill=_GREEN)
        d.text((pad + 18, sy + 14), facts.verified, font=badge, fill="white")
        sy += 90
    scan = _font(font, 36)
    for line in _wrap(d, facts.scan, scan, text_w, 2):
        d.text((pad, max(sy + 10, qr_top + qr_box - 100)), line, font=scan, fill=_MUTED)
        sy += scan.size + 8

    buf = io.BytesIO()
    poster.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
