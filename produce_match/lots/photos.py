"""Photos of produce lots: check an upload and re-encode it as clean JPEGs.

Every uploaded photo is decoded and written out again as a new JPEG, never stored as received:

* Phone cameras record where a photo was taken in its EXIF GPS tags. A farmer photographing a
  harvest at home would publish where they live, so the stored photo carries no metadata at all
  (no EXIF, GPS, XMP, comments or ICC profile), only pixels.
* A file crafted to attack an image decoder, or a polyglot that is also HTML or a script, does not
  survive being decoded to pixels and encoded again by us; what is stored and served is always a
  plain JPEG that we wrote ourselves.
* Sizes are bounded before any pixel is decoded, so a small file that claims to be a huge image
  (a decompression bomb) is refused instead of exhausting memory.

The functions here need no app; only the messages of `PhotoRejected` are lazy translations, so
they render in the language of the request that shows them.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps

#: formats accepted as uploads (MPO is what some cameras write for JPEGs with a second image)
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "MPO"})
JPEG_QUALITY = 85
WHITE = (255, 255, 255)

# What Pillow raises on data that is not a well-formed image: unidentified (an OSError), truncated
# or corrupt (OSError, SyntaxError, ValueError, EOFError, struct.error) and, for some malformed
# headers and metadata, an IndexError, KeyError or TypeError.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
)


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo re-encoded as JPEG: the full-size image, its thumbnail, and the full size."""

    full: bytes
    thumb: bytes
    width: int
    height: int


class PhotoRejected(Exception):
    """An upload that cannot be used as a photo; `message` is a lazy translation for the user."""

    def __init__(self, code: str, message: object) -> None:
        # The code, not the message, goes to Exception: rendering a lazy string needs an app.
        super().__init__(code)
        self.code = code  # not_an_image, too_large, too_many_pixels or unsupported
        self.message = message


def _not_an_image() -> PhotoRejected:
    return PhotoRejected(
        "not_an_image", _l("This file is not a photo. Upload a JPEG, PNG or WebP image.")
    )


def _too_many_pixels(max_pixels: int) -> PhotoRejected:
    return PhotoRejected(
        "too_many_pixels",
        _l(
            "The photo has too many pixels (at most %(mp)d megapixels).",
            mp=max(1, max_pixels // 1_000_000),
        ),
    )


def process_photo(
    data: bytes,
    *,
    max_bytes: int = 15 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    full_side: int = 1600,
    thumb_side: int = 480,
) -> ProcessedPhoto:
    """Check an uploaded photo and re-encode it without metadata; PhotoRejected if unusable.

    The result is upright (EXIF orientation applied), RGB (transparency on white), the first frame
    of an animation, at most `full_side` pixels on its longest side (never enlarged), with a
    thumbnail of at most `thumb_side`.
    """
    if len(data) > max_bytes:
        raise PhotoRejected(
            "too_large",
            _l("The photo is larger than %(mb)d MB.", mb=max(1, max_bytes // (1024 * 1024))),
        )
    with warnings.catch_warnings():
        # Pillow warns about, or refuses, images larger than its own limit: both are bombs to us.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            full = _decode(data, max_pixels)
        except PhotoRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(max_pixels) from None
        except _DECODE_ERRORS:
            raise _not_an_image() from None
    full.thumbnail((full_side, full_side), Image.Resampling.LANCZOS)
    thumb = full.copy()
    thumb.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    return ProcessedPhoto(
        full=_encode_jpeg(full), thumb=_encode_jpeg(thumb), width=full.width, height=full.height
    )


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the image from its header and check it; then decode its first frame, upright."""
    with Image.open(io.BytesIO(data)) as image:  # reads the header only
        if image.format not in ACCEPTED_FORMATS:
            raise PhotoRejected(
                "unsupported",
                _l("This image format is not supported. Upload a JPEG, PNG or WebP image."),
            )
        width, height = image.size
        if width < 1 or height < 1:
            raise _not_an_image()
        if width * height > max_pixels:
            raise _too_many_pixels(max_pixels)
        image.load()  # the first frame: an image is positioned on frame 0 when opened
        with ImageOps.exif_transpose(image) as upright:
            return _clean_copy(upright)


def _clean_copy(image: Image.Image) -> Image.Image:
    """The pixels alone, in RGB on a fresh image: no EXIF, XMP, comment or ICC profile in `info`.

    A fresh image is needed because Pillow's JPEG writer falls back to `info` for some metadata
    (the comment, at least) even when it is not passed to `save`.
    """
    if image.mode == "I" or image.mode.startswith("I;16"):
        # 16-bit greyscale (PNG): scale to 8 bits; a plain conversion would clip it to white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    elif image.mode in ("LA", "PA", "RGBa") or "transparency" in image.info:
        # An alpha channel, or a transparent colour (PNG tRNS, GIF): both become white below.
        image = image.convert("RGBA")
    canvas = Image.new("RGB", image.size, WHITE)
    if image.mode == "RGBA":
        canvas.paste(image, mask=image.getchannel("A"))
    else:
        canvas.paste(image.convert("RGB") if image.mode != "RGB" else image)
    return canvas


def _encode_jpeg(image: Image.Image) -> bytes:
    """Encode as a progressive, optimised JPEG, passing no metadata of any kind."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()
