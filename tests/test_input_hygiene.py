"""Whatever a visitor sends, through any door: a clear 4xx in their language, never a 500, and
never a redirect to another site (items 13, 16, 19 and 24 of the hardening issue)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import g

from produce_match.extensions import db
from produce_match.inputs import MAX_JSON_DEPTH, local_target
from produce_match.lots.models import Lot
from produce_match.monitor.models import ExportJob
from produce_match.payments.providers.sandbox import signed_headers
from tests.conftest import export_file, login, post_form
from tests.factories import PASSWORD, make_lot

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def token_headers(client, who: str, **extra: str) -> dict[str, str]:
    token = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}", **extra}


# --- item 13: redirects to what the user sent stay on this site ----------------------------

#: targets a browser reads as another site (or that cannot be a header at all)
FOREIGN = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "\t//evil.example",
    " //evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F/evil.example",
    "/%252F%252Fevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\x00/evil.example",
    "/\x85/evil.example",
    "/x\r\nSet-Cookie: a=b",
]


@pytest.mark.parametrize("target", FOREIGN)
def test_foreign_targets_are_not_local(target):
    assert local_target(target) is None


@pytest.mark.parametrize(
    "target", ["/account", "/lots?q=%E9%BB%91%E8%B1%86&page=2", "/orders/3#pay", "/x?next=//a"]
)
def test_our_own_pages_are_local(target):
    assert local_target(target) == target


@pytest.mark.parametrize("target", ["/\t/evil.example", "/x\r\nSet-Cookie: a=b", "/\\evil.example"])
def test_every_redirect_from_user_input_stays_on_the_site(client, users, target):
    """The login, the language switch and a payment's check, each with a hostile `next`."""
    response = post_form(
        client, "/login?" + _query(target), {"login": "buyer", "password": PASSWORD}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = post_form(client, "/language", {"lang": "en", "next": target}, page="/account")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = post_form(client, "/language", {"lang": "zh", "next": "/account"}, page="/account")
    assert response.headers["Location"] == "/account"  # our own page is still fine


def test_a_payments_check_redirects_only_to_our_pages(client, users):
    from produce_match.orders import operations as orders
    from produce_match.payments import operations as payments
    from produce_match.payments import service

    lot = make_lot(users["coop"], quantity="1", unit="t")
    order = orders.place_order(users["buyer"], lot, "100", "kg")
    db.session.commit()
    orders.accept(users["coop"], order)
    db.session.commit()
    payments.save_payout_account(
        users["coop"],
        users["coop"].organisation_id,
        "道亭村黑豆合作社",
        "彰武农商行",
        "6228 4800 1234",
    )
    payment_id, order_id = service.create_payment(users["buyer"], order, "transfer").id, order.id
    login(client, "buyer", PASSWORD)
    page = f"/orders/{order_id}"
    for target in ("/\t/evil.example", "/%2F%2Fevil.example", "/x\r\nSet-Cookie: a=b"):
        response = post_form(client, f"/payments/{payment_id}/check", {"next": target}, page=page)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/payments/orders/{order_id}"
    response = post_form(client, f"/payments/{payment_id}/check", {"next": page}, page=page)
    assert response.headers["Location"] == page


def _query(target: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": target})


# --- item 19: every JSON body the API parses gets the JSON limits and checks ----------------

JSON_TYPES = ["application/json", "application/merge-patch+json", "application/vnd.api+json"]


@pytest.mark.parametrize("mimetype", JSON_TYPES)
@pytest.mark.parametrize("text", ["a\\u0000b", "x\\udc00", "a\\u0001b", "x\\u001bx"])
def test_unstorable_text_is_refused_in_every_json_type(client, users, mimetype, text):
    body = '{"login": "coop", "password": "' + PASSWORD + '", "name": "' + text + '"}'
    response = client.post("/api/v1/tokens", data=body, content_type=mimetype, headers=EN)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "cannot be stored" in response.json["error"]["message"]


@pytest.mark.parametrize("mimetype", JSON_TYPES)
def test_the_json_size_limit_holds_for_every_json_type(client, users, mimetype):
    body = '{"login": "coop", "password": "' + "x" * 300_000 + '"}'
    response = client.post("/api/v1/tokens", data=body, content_type=mimetype, headers=ZH)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


# --- item 24: crafted input gets a clear 4xx in the user's language -------------------------


@pytest.mark.parametrize("method, path", [("POST", "/payments/notify/sandbox"), ("GET", "/")])
def test_a_large_json_body_to_a_page_is_413(client, method, path):
    body = '{"a": "' + "x" * 300_000 + '"}'
    response = client.open(path, method=method, data=body, content_type="application/json")
    assert response.status_code == 413


def test_a_form_larger_than_the_limit_is_413_in_chinese(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # the same check as the real 40 MiB
    response = client.post("/login", data={"login": "x" * (2 * 1024 * 1024)}, headers=ZH)
    assert response.status_code == 413
    assert "提交的内容过大" in response.get_data(as_text=True)


def _deep(depth: int) -> str:
    return '{"login": ' + "[" * depth + "]" * depth + ', "password": "p"}'


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 120_000])
@pytest.mark.parametrize("path", ["/api/v1/tokens", "/api/v1/orders", "/lots"])
def test_deeply_nested_json_is_refused(client, depth, path):
    response = client.post(path, data=_deep(depth), content_type="application/json", headers=ZH)
    assert response.status_code == 400
    assert "嵌套" in response.get_data(as_text=True)


def test_json_nested_as_deep_as_allowed_is_read(client, users):
    response = client.post(
        "/api/v1/tokens", data=_deep(MAX_JSON_DEPTH - 1), content_type="application/json"
    )
    assert response.status_code == 422  # read, and refused by the schema: not a login


def test_a_deeply_nested_notification_is_refused(app, client):
    body = ("[" * 100_000 + "]" * 100_000).encode()
    headers = signed_headers(app.config["PAYMENTS_SANDBOX_SECRET"], body)
    response = client.post(
        "/payments/notify/sandbox", data=body, headers=headers, content_type="text/plain"
    )
    assert response.status_code == 400 and response.json == {"ok": False, "error": "not JSON"}


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
@pytest.mark.parametrize("name", ["from", "to"])
def test_dates_out_of_range_on_the_officials_pages(client, users, day, name):
    login(client, "official", PASSWORD)
    for path in ("/monitor/", "/monitor/deals"):
        response = client.get(f"{path}?{name}={day}", headers=ZH)
        assert response.status_code == 422, (path, response.status_code)
        assert "2000-01-01" in response.get_data(as_text=True)
    response = export_file(client, f"deals.csv?{name}={day}", headers=ZH)  # no job is made
    assert response.status_code == 422 and "2000-01-01" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExportJob)) == 0
    response = client.get(
        f"/api/v1/stats?{name}={day}", headers=token_headers(client, "official", **EN)
    )
    assert response.status_code == 422
    assert "between 2000-01-01 and 2099-12-31" in response.json["error"]["message"]


def test_a_period_inside_the_range_still_works(client, users):
    login(client, "official", PASSWORD)
    assert client.get("/monitor/?from=2026-01-01&to=2026-12-31").status_code == 200
    assert client.get("/monitor/?from=nonsense").status_code == 422


@pytest.mark.parametrize(
    "fields",
    [
        {"available_from": "9999-12-31"},
        {"available_from": "0001-01-01"},
        {"spoil_by": "9999-12-31"},
        {"spoil_by": "0001-01-01"},
    ],
)
def test_lot_dates_out_of_range(client, users, fields):
    body = {"commodity": "黑豆", "quantity": "1", "unit": "t", "price": "5", "price_unit": "kg"}
    response = client.post(
        "/api/v1/lots", json={**body, **fields}, headers=token_headers(client, "coop", **ZH)
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert db.session.query(Lot).count() == 0


def test_lot_search_dates_out_of_range(client):
    for query in ("spoil_before=9999-12-31", "spoil_after=0001-01-01"):
        response = client.get(f"/lots?{query}", headers=EN)
        assert response.status_code == 400
        assert "between 2000-01-01 and 2099-12-31" in response.get_data(as_text=True)


# --- item 16 (input): no C0 control character reaches a column ------------------------------


@pytest.mark.parametrize("char", ["\x01", "\x08", "\x0b", "\x1b", "\x1f"])
def test_a_control_character_in_a_form_is_refused(client, users, char):
    login(client, "coop", PASSWORD)
    response = post_form(
        client,
        "/lots/new",
        {"commodity": "黑豆", "quantity": "1", "unit": "t", "price": "5", "title": f"黑豆{char}"},
        page="/lots/new",
        headers=ZH,
    )
    assert response.status_code == 400
    assert "无法保存" in response.get_data(as_text=True)
    assert db.session.query(Lot).count() == 0


def test_tabs_and_line_breaks_are_kept(client, users):
    login(client, "coop", PASSWORD)
    post_form(
        client,
        "/lots/new",
        {
            "commodity": "黑豆",
            "quantity": "1",
            "unit": "t",
            "price": "5",
            "price_unit": "kg",
            "description": "第一行\r\n第二行\t晒干",
        },
        page="/lots/new",
    )
    lot = db.session.query(Lot).one()
    assert "第二行\t晒干" in lot.description


def test_dates_are_read_in_ascii_digits_after_nfkc(app):
    from produce_match.dates import BadDate, parse_date

    assert parse_date("２０２６年１２月１日").isoformat() == "2026-12-01"
    with pytest.raises(BadDate):
        parse_date("٢٠٢٦-١٢-٠١")  # Arabic-Indic digits are not read as a date


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_reference_price_dates_out_of_range(users, day):
    from datetime import date

    from produce_match.catalog import commodities, regions
    from produce_match.errors import ValidationFailed
    from produce_match.monitor import operations as monitor
    from produce_match.monitor.models import ReferencePrice

    beans, county = commodities.resolve("黑豆"), regions.find_counties("彰武")[0]
    data = monitor.PriceInput(beans, county, "6.40", "kg", date.fromisoformat(day))
    with pytest.raises(ValidationFailed) as info:
        monitor.set_reference_price(users["official"], data)
    assert set(info.value.fields) == {"valid_from"}
    rows = [
        {"commodity": "黑豆", "county": "彰武", "price": "6.4", "unit": "kg", "valid_from": day}
    ]
    with pytest.raises(ValidationFailed):
        monitor.import_reference_prices(users["official"], rows)
    assert db.session.query(ReferencePrice).count() == 0
