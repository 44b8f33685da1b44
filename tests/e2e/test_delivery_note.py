"""The delivery note's QR code ("一车一码") is read back by a real decoder: from the page as
Chromium shows it on a phone, and from the PDF it prints, rasterised as a printer would."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.e2e.conftest import ARTIFACTS, fits_the_screen, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def decode_qr(image: Image.Image) -> list[str]:
    """The texts of the QR codes a real decoder finds in `image`."""
    found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [code.text for code in found]


def rasterise_pdf(pdf: bytes, workdir: Path, dpi: int = 150) -> Image.Image:
    """The PDF's first page as an image, the way a printer driver would draw it."""
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (poppler-utils) is needed to read the printed note"
    source = workdir / "note.pdf"
    source.write_bytes(pdf)
    out = str(workdir / "page")
    # a fixed program on a file we just wrote
    subprocess.run(
        [pdftoppm, "-png", "-r", str(dpi), "-f", "1", "-l", "1", str(source), out], check=True
    )  # noqa: S603
    (page,) = sorted(workdir.glob("page*.png"))
    return Image.open(page)


@pytest.fixture
def dispatched_order(live_server) -> dict[str, Any]:
    """An order of 10 t of black beans, paid and on its way, in its own live site."""
    from produce_match.extensions import db
    from produce_match.orders import operations as orders
    from tests.factories import make_lot, make_world

    with live_server.app.app_context():
        users = make_world()
        lot = make_lot(users["coop"])
        order = orders.place_order(users["buyer"], lot, "10", "t")
        orders.accept(users["coop"], order)
        orders.mark_paid(order)
        orders.dispatch(users["coop"], order, "辽J35721", "13941800123", "10", "t")
        db.session.commit()
        return {"id": order.id, "code": order.tracking_code, "lot_id": lot.id}


def test_the_delivery_note_qr_code_reads_back_on_screen_and_in_print(
    phone_page, live_server, dispatched_order, tmp_path
):
    page = phone_page
    page.goto("/login")
    page.locator("#login").fill("buyer")
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    # the order form asks where it goes, filled in with the buyer's place and phone
    page.goto(f"/lots/{dispatched_order['lot_id']}/order")
    assert page.locator("#delivery_county").input_value() == "东湖区"
    assert page.locator("#receiver_phone").input_value() == "13800138000"
    assert fits_the_screen(page)
    screenshot(page, "orders-order-form-delivery")
    page.goto(f"/orders/{dispatched_order['id']}/note")
    track_url = f"{live_server.url}/track/{dispatched_order['code']}"
    assert page.locator(".track").inner_text() == track_url

    # on the phone's screen: the whole symbol, quiet zone included, is drawn and decodes
    qr = page.locator(".qr svg")
    box = qr.bounding_box()
    assert box["width"] > 100 and abs(box["width"] - box["height"]) < 1
    shot = Image.open(io.BytesIO(qr.screenshot()))
    assert decode_qr(shot) == [track_url]
    assert decode_qr(Image.open(screenshot(page, "orders-note-qr-360px"))) == [track_url]

    # printed on A4: the PDF Chromium prints, rasterised at 150 dpi, decodes too
    pdf = page.pdf(format="A4", print_background=True)
    printed = rasterise_pdf(pdf, tmp_path)
    printed.save(ARTIFACTS / "orders-note-qr-print.png")
    assert decode_qr(printed) == [track_url]
