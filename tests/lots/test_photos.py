"""Photo processing (re-encoded, upright, no metadata, bounded) and the upload storage."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel
from PIL import Image, ImageFile, PngImagePlugin

from produce_match.lots.photos import PhotoRejected, ProcessedPhoto, process_photo
from produce_match.storage import LocalStorage, Storage, get_storage

RED = (220, 20, 20)
BLUE = (20, 20, 220)
GREEN = (20, 200, 20)


# --- helpers ------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def noisy(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """An RGB image of random pixels: compresses badly, so a truncation cuts into pixel data."""
    width, height = size
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(width * height * 3))


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def rejected(data: bytes, **limits: int) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as info:
        process_photo(data, **limits)
    return info.value


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (its pixel data is one byte)."""
    data = encode(Image.new("1", (1, 1)), "PNG")
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return data[:16] + ihdr + crc + data[33:]


@pytest.fixture
def babel_app() -> Flask:
    app = Flask(__name__)
    Babel(app)
    return app


# --- metadata -----------------------------------------------------------------------------------


def test_exif_gps_xmp_and_comment_are_removed():
    exif = Image.Exif()
    exif[0x010F] = "AcmePhone"  # Make
    exif[0x8825] = {  # GPSInfo: where the farmer lives
        1: "N",
        2: (39.0, 54.0, 27.0),
        3: "E",
        4: (116.0, 23.0, 50.0),
    }
    source = encode(
        noisy((320, 240)), "JPEG", exif=exif, comment=b"farm of Li Wei", xmp=b"<x:xmpmeta/>"
    )
    with Image.open(io.BytesIO(source)) as check:  # the input really carries all of it
        assert check.getexif().get_ifd(0x8825)[1] == "N"
        assert check.getexif()[0x010F] == "AcmePhone"
        assert "comment" in check.info and "xmp" in check.info

    photo = process_photo(source)
    for data in (photo.full, photo.thumb):
        image = opened(data)
        assert image.format == "JPEG"
        assert len(image.getexif()) == 0
        assert image.getexif().get_ifd(0x8825) == {}
        for key in ("exif", "comment", "xmp", "icc_profile"):
            assert key not in image.info
        for marker in (b"Exif", b"AcmePhone", b"Li Wei", b"xmpmeta"):
            assert marker not in data


def test_png_text_and_exif_chunks_are_removed():
    text = PngImagePlugin.PngInfo()
    text.add_text("Location", "Zhangwu county, farm 7")
    exif = Image.Exif()
    exif[0x010F] = "AcmePhone"
    source = encode(Image.new("RGB", (64, 64), RED), "PNG", pnginfo=text, exif=exif)
    photo = process_photo(source)
    image = opened(photo.full)
    assert len(image.getexif()) == 0 and "exif" not in image.info
    assert b"Zhangwu" not in photo.full and b"AcmePhone" not in photo.full


# --- orientation, colour, frames ----------------------------------------------------------------


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (200, 100), RED)
    image.paste(BLUE, (100, 0, 200, 100))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    photo = process_photo(encode(image, "JPEG", exif=exif, quality=95))
    assert (photo.width, photo.height) == (100, 200)
    out = opened(photo.full)
    assert out.size == (100, 200)
    assert 0x0112 not in out.getexif()  # no orientation left to apply a second time
    assert close_to(out.getpixel((50, 40)), RED)  # the left side is now on top
    assert close_to(out.getpixel((50, 160)), BLUE)


def test_transparent_png_becomes_rgb_jpeg_on_white():
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((*RED, 255), (25, 25, 75, 75))
    photo = process_photo(encode(image, "PNG"))
    out = opened(photo.full)
    assert out.format == "JPEG" and out.mode == "RGB"
    assert close_to(out.getpixel((5, 5)), (255, 255, 255), 10)
    assert close_to(out.getpixel((50, 50)), RED)


def test_palette_png_with_transparent_colour_is_white_and_warns_nothing():
    image = Image.new("P", (60, 60), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (256 * 3 - 6))
    image.paste(1, (20, 20, 40, 40))
    source = encode(image, "PNG", transparency=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = opened(process_photo(source).full)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((5, 5)), (255, 255, 255), 10)
    assert close_to(out.getpixel((30, 30)), RED)


def test_sixteen_bit_greyscale_is_scaled_not_clipped_to_white():
    source = encode(Image.new("I;16", (40, 40), 128 * 256), "PNG")
    out = opened(process_photo(source).full)
    assert close_to(out.getpixel((20, 20)), (128, 128, 128), 10)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (80, 60), colour) for colour in (RED, GREEN, BLUE)]
    source = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(source)) as check:
        assert check.n_frames == 3
    photo = process_photo(source)
    out = opened(photo.full)
    assert out.format == "JPEG" and out.size == (80, 60)
    assert close_to(out.getpixel((40, 30)), RED)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_accepted_formats(fmt):
    photo = process_photo(encode(Image.new("RGB", (30, 20), GREEN), fmt))
    assert isinstance(photo, ProcessedPhoto)
    assert (photo.width, photo.height) == (30, 20)
    assert opened(photo.thumb).format == "JPEG"


# --- sizes --------------------------------------------------------------------------------------


def test_large_photo_is_scaled_down_with_a_thumbnail():
    photo = process_photo(encode(Image.new("RGB", (4000, 3000), GREEN), "JPEG"))
    assert (photo.width, photo.height) == (1600, 1200)
    assert opened(photo.full).size == (1600, 1200)
    assert opened(photo.thumb).size == (480, 360)


def test_portrait_photo_is_bounded_by_its_height():
    photo = process_photo(encode(Image.new("RGB", (900, 3000), GREEN), "PNG"))
    assert (photo.width, photo.height) == (480, 1600)
    assert opened(photo.thumb).size == (144, 480)


def test_small_photo_is_not_upscaled():
    photo = process_photo(encode(Image.new("RGB", (300, 200), GREEN), "JPEG"))
    assert (photo.width, photo.height) == (300, 200)
    assert opened(photo.full).size == (300, 200)
    assert opened(photo.thumb).size == (300, 200)


def test_sides_can_be_configured():
    photo = process_photo(
        encode(Image.new("RGB", (1000, 500), GREEN), "PNG"), full_side=800, thumb_side=100
    )
    assert (photo.width, photo.height) == (800, 400)
    assert opened(photo.thumb).size == (100, 50)


# --- refusals -----------------------------------------------------------------------------------


def test_text_file_is_not_an_image():
    assert rejected(b"Apples, 2 tonnes, Zhangwu county\n").code == "not_an_image"


def test_random_bytes_are_not_an_image():
    assert rejected(random.Random(7).randbytes(4096)).code == "not_an_image"


def test_empty_upload_is_not_an_image():
    assert rejected(b"").code == "not_an_image"


def test_truncated_jpeg_is_not_an_image():
    data = encode(noisy((400, 300)), "JPEG", quality=90)
    assert rejected(data[: len(data) // 2]).code == "not_an_image"


def test_corrupt_png_is_not_an_image():
    data = bytearray(encode(noisy((100, 100)), "PNG"))
    data[200:260] = b"\x00" * 60  # breaks the compressed data (and its CRC)
    assert rejected(bytes(data)).code == "not_an_image"


def test_too_large_is_refused_before_decoding(babel_app):
    data = b"x" * 2000  # not even an image: the size is checked first
    exc = rejected(data, max_bytes=1000)
    assert exc.code == "too_large"
    with babel_app.app_context():
        assert str(exc.message) == "The photo is larger than 1 MB."
    big = rejected(b"x" * (15 * 1024 * 1024 + 1))
    with babel_app.app_context():
        assert str(big.message) == "The photo is larger than 15 MB."


def test_exactly_max_bytes_is_accepted():
    data = encode(Image.new("RGB", (10, 10), GREEN), "PNG")
    assert process_photo(data, max_bytes=len(data)).width == 10


def test_huge_header_is_too_many_pixels(babel_app):
    # 20000 x 20000 is beyond Pillow's own limit, which raises DecompressionBombError.
    exc = rejected(png_claiming_size(20_000, 20_000))
    assert exc.code == "too_many_pixels"
    with babel_app.app_context():
        assert str(exc.message) == "The photo has too many pixels (at most 12 megapixels)."


def test_too_many_pixels_is_checked_before_decoding():
    # The file holds one byte of pixels: had it been decoded, it would be not_an_image.
    assert rejected(png_claiming_size(7000, 7000)).code == "too_many_pixels"  # 49 MP > 40 MP
    assert rejected(png_claiming_size(50, 50), max_pixels=2000).code == "too_many_pixels"


def test_pillow_bomb_warning_is_too_many_pixels_and_filters_are_restored():
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        # Even where warnings are ignored (not pytest's "error"), Pillow's warning refuses it.
        warnings.simplefilter("ignore")
        filters = list(warnings.filters)
        # 10000 x 10000 passes our (raised) limit, but Pillow warns about it: refused all the same.
        exc = rejected(png_claiming_size(10_000, 10_000), max_pixels=500_000_000)
        assert exc.code == "too_many_pixels"
        assert warnings.filters == filters
    assert limit == Image.MAX_IMAGE_PIXELS


# --- the cost of a photo is bounded -----------------------------------------------------------


def test_the_reports_6324_pixel_png_is_refused_from_its_header():
    # 40 megapixels of PNG cost seconds of CPU and half a gigabyte to decode; no phone makes one
    assert rejected(png_claiming_size(6324, 6324)).code == "too_many_pixels"
    assert rejected(png_claiming_size(4096, 3073)).code == "too_many_pixels"
    # a phone's screenshot, or a 12-megapixel photo saved as PNG, is still welcome
    assert rejected(png_claiming_size(4096, 3072)).code == "not_an_image"  # decoded: one byte


def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image Pillow decodes from now on (after any reduction by the decoder)."""
    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        if self.tile:  # not yet decoded: this call decodes it
            sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


def test_a_large_jpeg_is_decoded_at_a_reduced_size(monkeypatch):
    source = encode(Image.new("RGB", (8000, 6000), GREEN), "JPEG")
    sizes = decoded_sizes(monkeypatch)
    photo = process_photo(source)
    # libjpeg scaled it by 1/4 while decoding: 3 million pixels in memory, not 48 million
    assert sizes == [(2000, 1500)]
    assert (photo.width, photo.height) == (1600, 1200)


def test_a_turned_jpeg_is_reduced_enough_either_way(monkeypatch):
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees: 6000 wide and 8000 high
    source = encode(Image.new("RGB", (8000, 6000), GREEN), "JPEG", exif=exif)
    sizes = decoded_sizes(monkeypatch)
    photo = process_photo(source)
    assert sizes == [(2000, 1500)]
    assert (photo.width, photo.height) == (1200, 1600)


def test_a_progressive_jpeg_is_held_to_the_png_limit():
    # libjpeg keeps every coefficient of a progressive JPEG in memory, whatever the scale
    big = Image.new("RGB", (5000, 4000), GREEN)
    assert rejected(encode(big, "JPEG", progressive=True)).code == "too_many_pixels"
    assert process_photo(encode(big, "JPEG")).width == 1600  # the same as a baseline JPEG
    assert rejected(encode(Image.new("RGB", (8193, 6144)), "JPEG")).code == "too_many_pixels"


@pytest.mark.parametrize("mode", ["P", "RGBA"])
def test_reduced_images_keep_their_colours(mode):
    image = Image.new("RGB", (3300, 2000), RED).convert(mode)
    out = opened(process_photo(encode(image, "PNG")).full)
    assert out.size == (1600, 970)
    assert close_to(out.getpixel((800, 485)), RED, 10)


@pytest.mark.slow
def test_the_worst_photos_are_refused_or_processed_in_bounded_memory(tmp_path):
    """The report's six PNGs, and the costliest photo of each kind still accepted (those that
    bench/photos.py sends to gunicorn), processed in a fresh process: its memory stays bounded."""
    from bench.photos import accepted_photos, issue_photos

    paths = []
    for name, data in [*issue_photos()[:1], *accepted_photos()]:
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    # the peak resident memory of this process alone (getrusage's would count the parent's too,
    # since it survives exec)
    script = (
        "import json, re, sys\n"
        "from produce_match.lots.photos import PhotoRejected, process_photo\n"
        "def peak():\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
        "base = peak()\n"
        "outcomes = []\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        process_photo(open(path, 'rb').read())\n"
        "        outcomes.append('processed')\n"
        "    except PhotoRejected as exc:\n"
        "        outcomes.append(exc.code)\n"
        "print(json.dumps({'outcomes': outcomes, 'peak_mib': (peak() - base) // 1024}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["outcomes"] == ["too_many_pixels"] + ["processed"] * 6
    # the costliest accepted photo (the WebP) needs about 200 MiB; the report's PNG took 460
    assert result["peak_mib"] < 256, result


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_other_formats_are_unsupported(fmt, babel_app):
    exc = rejected(encode(Image.new("RGB", (20, 20), GREEN), fmt))
    assert exc.code == "unsupported"
    with babel_app.app_context():
        assert "JPEG, PNG or WebP" in str(exc.message)


def test_not_an_image_message(babel_app):
    exc = rejected(b"hello")
    assert str(exc) == "not_an_image"  # no app needed to print the exception
    with babel_app.app_context():
        assert str(exc.message) == "This file is not a photo. Upload a JPEG, PNG or WebP image."


# --- storage ------------------------------------------------------------------------------------


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_storage_round_trip(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")  # created on demand
    key = "lots/12/3f2a9c.jpg"
    assert not storage.exists(key)
    storage.save(key, b"first")
    assert storage.exists(key)
    assert storage.read(key) == b"first"
    assert storage.path(key) == (tmp_path / "uploads" / "lots" / "12" / "3f2a9c.jpg").resolve()
    storage.save(key, b"second")  # replaces
    assert storage.read(key) == b"second"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # a missing key: no error
    with pytest.raises(FileNotFoundError):
        storage.read(key)
    assert isinstance(storage, Storage)


def test_storage_save_leaves_no_temporary_files(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.save("lots/1/a.jpg", b"a" * 10_000)
    storage.save("lots/1/a.jpg", b"b" * 10)
    storage.save("lots/1/b.jpg", b"c")
    assert files_under(tmp_path) == ["lots/1/a.jpg", "lots/1/b.jpg"]
    assert (tmp_path / "lots/1/a.jpg").stat().st_mode & 0o777 == 0o644


def test_storage_failed_save_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path)
    storage.save("lots/1/a.jpg", b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        storage.save("lots/1/a.jpg", b"new")
    monkeypatch.undo()
    assert storage.read("lots/1/a.jpg") == b"old"
    assert files_under(tmp_path) == ["lots/1/a.jpg"]


@pytest.mark.parametrize(
    "key",
    [
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a/..",
        "..",
        "a\\b",
        "..\\x",
        "a\x00b",
        "",
        ".",
        "a//b",
        "a/",
        "./a",
    ],
)
def test_storage_refuses_bad_keys(tmp_path, key):
    storage = LocalStorage(tmp_path / "root")
    for operation in (
        lambda: storage.save(key, b"x"),
        lambda: storage.read(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.path(key),
    ):
        with pytest.raises(ValueError):
            operation()
    assert not (tmp_path / "x").exists()


def test_storage_refuses_a_symlink_out_of_the_root(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(root)
    with pytest.raises(ValueError):
        storage.save("escape/x.jpg", b"x")
    assert not (outside / "x.jpg").exists()


def test_get_storage_is_one_per_app(tmp_path):
    app = Flask(__name__)
    app.config["UPLOAD_DIR"] = str(tmp_path / "shared")
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, LocalStorage)
        assert get_storage() is storage
        storage.save("lots/1/a.jpg", b"x")
    assert (tmp_path / "shared" / "lots" / "1" / "a.jpg").read_bytes() == b"x"
    other = Flask(__name__)
    other.config["UPLOAD_DIR"] = str(tmp_path / "other")
    with other.app_context():
        assert get_storage() is not storage
