"""QR codes on our pages: one way to draw them, so that every one of them can be scanned."""

from __future__ import annotations

import segno
from markupsafe import Markup

#: modules of white around the symbol: the quiet zone the QR standard asks for; decoders
#: find the three finder patterns by it, on screen and on paper
QUIET_ZONE = 4


def qr_svg(data: str) -> Markup:
    """`data` as an inline SVG QR code that the page's CSS may scale to any size.

    The SVG carries a viewBox and no width or height of its own: CSS sizes the whole symbol,
    quiet zone included, instead of cutting a fixed-size drawing (which clipped the finder
    patterns). The light modules are painted white so that the code reads on any background.
    """
    code = segno.make(data, error="m")
    svg = code.svg_inline(
        border=QUIET_ZONE, omitsize=True, light="#fff", svgclass="qr-code", lineclass=None
    )
    # only black and white squares: `data` is encoded in the modules, none of it is text here
    return Markup(svg)  # noqa: S704
