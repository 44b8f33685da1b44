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
* The work per photo is bounded too, so that a few uploads cannot starve or kill the web workers:
  a JPEG (what phone cameras write) is decoded at a reduced size where that is enough (libjpeg
  scales by 1/2, 1/4 or 1/8 while decoding, at a fraction of the memory and time), up to
  `MAX_JPEG_PIXELS`; PNG, WebP, GIF and progressive JPEG need memory for every pixel, so they are
  held to the size of a phone's screenshot or an exported photo, `MAX_PIXELS`; every image is
  reduced before it is converted and re-encoded.

The functions here need no app; only the messages of `PhotoRejected` are lazy translations, so
they render in the language of the request that shows them.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps

#: formats accepted as uploads (MPO is what some cameras write for JPEGs with a second image)
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "MPO"})
#: formats that libjpeg decodes at a reduced size (Pillow's draft mode)
REDUCIBLE_FORMATS = frozenset({"JPEG", "MPO"})
#: the most pixels of a PNG, WebP, GIF or progressive JPEG, whose decoding needs memory for every
#: pixel: 4096 x 3072, a 12-megapixel photo (4032 x 3024) saved as PNG, or any phone's screenshot
MAX_PIXELS = 4096 * 3072
#: the most pixels of a baseline JPEG, decoded at a reduced size: 8192 x 6144, a 50-megapixel
#: phone camera (a larger photo does not fit in the upload limit anyway)
MAX_JPEG_PIXELS = 8192 * 6144
JPEG_QUALITY = 85
WHITE = (255, 255, 255)

# Pillow's own bomb limit (a warning above it, an error above twice it) is checked when a file is
# opened, before ours are: the largest image we accept, so that anything beyond it is refused
# there, before even its header is looked at further.
Image.MAX_IMAGE_PIXELS = MAX_JPEG_PIXELS

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
    max_pixels: int = MAX_PIXELS,
    max_jpeg_pixels: int = MAX_JPEG_PIXELS,
    full_side: int = 1600,
    thumb_side: int = 480,
) -> ProcessedPhoto:
    """Check an uploaded photo and re-encode it without metadata; PhotoRejected if unusable.

    The result is upright (EXIF orientation applied), RGB (transparency on white), the first frame
    of an animation, at most `full_side` pixels on its longest side (never enlarged), with a
    thumbnail of at most `thumb_side`. A JPEG may have up to `max_jpeg_pixels`, any other format
    up to `max_pixels`: both are checked from the header, before any pixel is decoded.
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
            full = _decode(data, max_pixels, max_jpeg_pixels, full_side)
        except PhotoRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            jpeg = data.startswith(b"\xff\xd8")  # the limit that applies, for the message
            raise _too_many_pixels(max_jpeg_pixels if jpeg else max_pixels) from None
        except _DECODE_ERRORS:
            raise _not_an_image() from None
    thumb = full.copy()
    thumb.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    return ProcessedPhoto(
        full=_encode_jpeg(full), thumb=_encode_jpeg(thumb), width=full.width, height=full.height
    )


def _decode(data: bytes, max_pixels: int, max_jpeg_pixels: int, side: int) -> Image.Image:
    """Identify the image from its header and check it; then decode its first frame, upright,
    clean and at most `side` pixels on its longest side."""
    with Image.open(io.BytesIO(data)) as image:  # reads the header only
        if image.format not in ACCEPTED_FORMATS:
            raise PhotoRejected(
                "unsupported",
                _l("This image format is not supported. Upload a JPEG, PNG or WebP image."),
            )
        width, height = image.size
        if width < 1 or height < 1:
            raise _not_an_image()
        reducible = image.format in REDUCIBLE_FORMATS
        # a progressive JPEG is decoded from all of its coefficients, kept in memory at full
        # size whatever the scale: as costly as a PNG of as many pixels
        whole = not reducible or bool(image.info.get("progressive"))
        limit = max_pixels if whole else max_jpeg_pixels
        if width * height > limit:
            raise _too_many_pixels(limit)
        if reducible:
            # libjpeg decodes straight to the smallest scale (1/2, 1/4, 1/8) that still covers
            # the target size (its longest side `side`), whichever way it turns out to be upright
            scale = min(1.0, side / max(width, height))
            image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        image.load()  # the first frame: an image is positioned on frame 0 when opened
        ImageOps.exif_transpose(image, in_place=True)  # no copy of the whole image
        return _clean_copy(_reduced(image, side))


def _reduced(image: Image.Image, side: int) -> Image.Image:
    """The image at most `side` pixels on its longest side, resampled in a mode that keeps its
    colours (a palette or 1-bit image would otherwise be resized pixel by pixel)."""
    if max(image.size) <= side:
        return image
    if image.mode in ("P", "PA", "1") or (image.mode == "L" and "transparency" in image.info):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif image.mode == "I" or image.mode.startswith("I;16"):
        image = _eight_bits(image)
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "RGBa"):
        image = image.convert("RGB")  # CMYK, YCbCr and the like
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # an integer box reduction down to the nearest multiple of the target first, then Lanczos
    # for the last step: a whole 16-megapixel image through Lanczos costs twice the time
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)


def _eight_bits(image: Image.Image) -> Image.Image:
    """16-bit greyscale (PNG) as 8 bits; a plain conversion would clip it to white."""
    return image.convert("I").point(lambda value: value / 256).convert("L")


def _clean_copy(image: Image.Image) -> Image.Image:
    """The pixels alone, in RGB on a fresh image: no EXIF, XMP, comment or ICC profile in `info`.

    A fresh image is needed because Pillow's JPEG writer falls back to `info` for some metadata
    (the comment, at least) even when it is not passed to `save`.
    """
    if image.mode == "I" or image.mode.startswith("I;16"):
        image = _eight_bits(image)
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
