"""The applicant's pass pages, the driver's and the public verification page: who sees what,
the application form, the prefill from an order, and what the public page never shows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.passes import operations as passes
from produce_match.passes.models import PassScan, PassStatus, TransportPass
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes
from tests.passes.conftest import apply
from tests.shops.test_shops import _decoded

EN = {"Accept-Language": "en"}


def browser(app, who: str):
    """A client logged in as the `world` user `who` (by its login name)."""
    client = app.test_client()
    login(client, LOGINS.get(who, who), PASSWORD)
    return client


LOGINS = {"province_official": "provincial", "other_official": "jiangxi"}


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(TransportPass))


def form_data(**fields) -> dict:
    today = local_today()
    data = {
        "plate": "辽A12345",
        "driver_name": "王师傅",
        "driver_phone": "13912345678",
        "origin_province": "210000",
        "origin_county": "彰武县",
        "dest_province": "360000",
        "dest_county": "东湖区",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=3)).isoformat(),
        "commodity": "黑豆",
        "quantity": "20",
        "unit": "t",
    }
    data.update(fields)
    return data


@pytest.fixture
def codes(app):
    """The region codes of the test places (the form posts the province's code)."""
    from produce_match.catalog import regions

    liaoning, _ = regions.find_place("辽宁", None)
    jiangxi, _ = regions.find_place("江西", None)
    return {"liaoning": liaoning.code, "jiangxi": jiangxi.code}


def posted(client, codes, **fields):
    data = form_data(origin_province=codes["liaoning"], dest_province=codes["jiangxi"], **fields)
    return post_form(client, "/passes/new", data, page="/passes/new")


# --- who sees which page ----------------------------------------------------------------------


def test_who_may_open_the_application_form(app, world):
    for who in ("coop", "buyer", "haulier"):
        assert browser(app, who).get("/passes/new").status_code == 200, who
    for who in ("official", "province_official", "gate", "admin"):
        assert browser(app, who).get("/passes/new").status_code == 403, who
    assert app.test_client().get("/passes/new").status_code == 302  # to the login page


def test_every_page_of_a_pass_for_each_role(app, world):
    row = apply(world["haulier"])
    pages = [f"/passes/{row.id}", f"/passes/{row.id}/print", f"/passes/{row.id}/show"]
    for who in ("haulier", "official", "province_official", "other_official", "admin"):
        client = browser(app, who)
        for page in pages:
            assert client.get(page).status_code == 200, (who, page)
    for who in ("coop", "buyer", "coop2", "gate", "other_gate"):
        client = browser(app, who)
        for page in pages:
            assert client.get(page).status_code == 404, (who, page)
    anonymous = app.test_client()
    for page in pages:
        assert anonymous.get(page).status_code == 302
    assert anonymous.get(f"/v/{row.code}").status_code == 200
    assert browser(app, "gate").get(f"/v/{row.code}").status_code == 200


def test_the_list_is_the_organisations_own(app, world):
    mine = apply(world["haulier"])
    theirs = apply(world["coop"], plate="辽B54321")
    page = browser(app, "haulier").get("/passes").text
    assert mine.number in page and theirs.number not in page
    assert "已等待" in page or "Waiting for" in page
    official = browser(app, "official").get("/passes")
    assert official.status_code == 200 and 'href="/office/passes"' in official.text
    assert mine.number not in official.text
    assert browser(app, "gate").get("/passes").status_code == 403


def test_withdraw_is_the_applicants_and_the_order_side_sees_but_may_not(app, world, paid_order):
    row = passes.apply(world["coop"], _order_input(), order=paid_order)
    db.session.commit()
    buyer = browser(app, "buyer")
    detail = buyer.get(f"/passes/{row.id}")
    assert detail.status_code == 200 and "/withdraw" not in detail.text
    page = f"/passes/{row.id}"
    assert post_form(buyer, f"/passes/{row.id}/withdraw", {}, page=page).status_code == 403
    # an order's pass takes its loading and delivery from the order: no steps on the pass
    coop = browser(app, "coop")
    steps = post_form(coop, f"/passes/{row.id}/steps", {"kind": "loading"}, page=page)
    assert steps.status_code == 403
    official = browser(app, "official")
    assert post_form(official, f"/passes/{row.id}/withdraw", {}, page=page).status_code == 403
    other = browser(app, "coop2")
    assert post_form(other, f"/passes/{row.id}/withdraw", {}, page="/passes").status_code == 404
    assert post_form(coop, f"/passes/{row.id}/withdraw", {}, page=page).status_code == 302
    db.session.expire_all()
    assert db.session.get(TransportPass, row.id).status is PassStatus.withdrawn


def _order_input() -> passes.PassInput:
    return passes.PassInput(plate="辽A12345", driver_name="王师傅", driver_phone="13912345678")


# --- the application ---------------------------------------------------------------------------


def test_applying_through_the_form(app, world, codes):
    client = browser(app, "haulier")
    response = posted(client, codes, route=[str(world["exit_point"].id)])
    assert response.status_code == 302, response.text[:3000]
    row = db.session.scalars(select(TransportPass)).one()
    assert response.location == f"/passes/{row.id}"
    assert row.route == [world["exit_point"].id] and row.cargo_unit.value == "t"
    page = client.get(response.location).text
    assert row.number in page and "彰武高速出口" in page and "王师傅" in page
    assert "20 吨" in page or "20吨" in page


@pytest.mark.parametrize(
    ("fields", "marked"),
    [
        ({"plate": "ABC123"}, "plate"),
        ({"driver_name": ""}, "driver_name"),
        ({"driver_phone": "12345"}, "driver_phone"),
        ({"dest_county": "没有这个县"}, "dest_county"),
        ({"valid_until": "2000-01-01"}, "valid_until"),
        ({"commodity": "不存在的东西"}, "commodity"),
        ({"quantity": "-3"}, "quantity"),
        ({"route": ["999999"]}, "route"),
    ],
)
def test_bad_input_is_marked_and_nothing_is_written(app, world, codes, fields, marked):
    client = browser(app, "haulier")
    response = posted(client, codes, **fields)
    assert response.status_code == 422
    assert count() == 0
    html = response.text
    # the marked field carries its message (the field's block has the error class)
    block = re.search(rf'<div class="field[^"]*has-error[^"]*">\s*<label for="{marked}"', html)
    route_marked = marked == "route" and "route-field has-error" in html
    assert block or route_marked, marked


def test_an_order_prefills_the_form_and_fixes_the_route_and_cargo(app, world, paid_order):
    coop = browser(app, "coop")
    order_page = coop.get(f"/orders/{paid_order.id}").text
    assert f'href="/passes/new?order={paid_order.id}"' in order_page
    form = coop.get(f"/passes/new?order={paid_order.id}")
    assert form.status_code == 200
    assert "彰武" in form.text and "东湖区" in form.text and "黑豆" in form.text
    assert 'name="origin_county"' not in form.text and 'name="commodity"' not in form.text
    assert re.search(r'name="quantity"[^>]*value="10"', form.text)
    page = f"/passes/new?order={paid_order.id}"
    response = post_form(
        coop,
        page,
        {
            "plate": "辽A12345",
            "driver_name": "王师傅",
            "driver_phone": "13912345678",
            "commodity": "苹果",  # ignored: the order's cargo
            "quantity": "10",
            "unit": "t",
        },
        page=page,
    )
    assert response.status_code == 302, response.text[:3000]
    row = db.session.scalars(select(TransportPass)).one()
    assert row.order_id == paid_order.id and row.commodity_id == paid_order.lot.commodity_id
    # the order's page lists it with its status
    assert row.number in coop.get(f"/orders/{paid_order.id}").text
    assert row.number in browser(app, "buyer").get(f"/orders/{paid_order.id}").text


def test_an_order_not_ready_or_not_ones_own_gives_no_form(app, world, paid_order):
    assert browser(app, "coop2").get(f"/passes/new?order={paid_order.id}").status_code == 404
    assert browser(app, "haulier").get(f"/passes/new?order={paid_order.id}").status_code == 404
    from produce_match.orders import operations as orders
    from tests.factories import make_lot

    lot = make_lot(world["coop"], quantity="40", unit="t")
    reserved = orders.place_order(world["buyer"], lot, "5", "t")
    db.session.commit()
    coop = browser(app, "coop")
    assert f"/passes/new?order={reserved.id}" not in coop.get(f"/orders/{reserved.id}").text
    response = coop.get(f"/passes/new?order={reserved.id}")
    assert response.status_code == 302 and response.location == f"/orders/{reserved.id}"


# --- steps of a pass without an order ------------------------------------------------------------


def test_the_applicant_records_the_loading_with_a_photo_and_the_delivery(app, world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    client = browser(app, "haulier")
    page = f"/passes/{row.id}"
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(page).text)
    import io

    response = client.post(
        f"/passes/{row.id}/steps",
        data={
            "kind": "loading",
            "csrf_token": csrf.group(1),
            "photo": (io.BytesIO(jpeg_bytes()), "load.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    scan = db.session.scalars(select(PassScan)).one()
    html = client.get(page).text
    thumb = f"/passes/{row.id}/photos/{scan.id}/thumb.jpg"
    assert thumb in html
    assert client.get(thumb).headers["Content-Type"] == "image/jpeg"
    assert browser(app, "coop").get(thumb).status_code == 404
    assert browser(app, "official").get(thumb).status_code == 200
    response = post_form(client, f"/passes/{row.id}/steps", {"kind": "delivery"}, page=page)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(TransportPass, row.id).status is PassStatus.completed
    assert post_form(
        client, f"/passes/{row.id}/steps", {"kind": "exit"}, page=page
    ).status_code in (
        409,
        422,
    )


# --- the public verification page ----------------------------------------------------------------


def test_the_verification_page_leaks_nothing_personal(app, world):
    row = apply(world["haulier"], driver_name="赵大勇", driver_phone="13700001111")
    passes.approve(world["official"], row)
    db.session.commit()
    response = app.test_client().get(f"/v/{row.code}")
    html = response.text
    assert response.status_code == 200
    for secret in ("赵大勇", "13700001111", "辽A12345", world["haulier"].organisation.name):
        assert secret not in html, secret
    assert "辽A·***45" in html and "verdict-valid" in html and "黑豆" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "noindex" in response.headers["X-Robots-Tag"] and 'name="robots"' in html


def test_a_revocation_shows_at_once(app, world):
    row = apply(world["haulier"])
    passes.approve(world["official"], row)
    db.session.commit()
    visitor = app.test_client()
    assert "verdict-valid" in visitor.get(f"/v/{row.code}").text
    passes.revoke(world["official"], row, "超载")
    db.session.commit()
    again = visitor.get(f"/v/{row.code}", headers=EN).text
    assert "verdict-invalid" in again and "Revoked" in again


def test_an_unknown_code_is_a_friendly_404(app):
    response = app.test_client().get("/v/nosuchcode", headers=EN)
    assert response.status_code == 404 and "No transport pass has this code" in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_the_printed_qr_code_opens_the_verification_page(app, world):
    row = apply(world["haulier"])
    html = browser(app, "haulier").get(f"/passes/{row.id}/print").text
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    url = _decoded(svg)
    assert url == f"http://localhost/v/{row.code}"
    assert row.plate in html and "王师傅" in html
    phone = browser(app, "haulier").get(f"/passes/{row.id}/show").text
    assert _decoded(re.search(r"<svg.*?</svg>", phone, re.S).group(0)) == url
