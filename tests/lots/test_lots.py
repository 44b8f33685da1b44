"""Posting, browsing, editing and withdrawing lots, through the pages and the API."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from produce_match.audit.operations import history
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, LotPhoto, LotStatus
from tests.conftest import login, post_form
from tests.factories import PASSWORD, jpeg_bytes, make_lot


def count_lots() -> int:
    return db.session.scalar(select(func.count()).select_from(Lot))


def token_for(client, who: str) -> dict[str, str]:
    token = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


# --- posting from the page ------------------------------------------------------------


def test_post_a_lot_with_three_fields_and_defaults(client, users):
    login(client, "coop", PASSWORD)
    response = post_form(
        client,
        "/lots/new",
        {"commodity": "heidou", "quantity": "40", "unit": "t", "price": "6.80", "price_unit": "kg"},
        page="/lots/new",
    )
    assert response.status_code == 302
    lot = db.session.scalar(select(Lot))
    assert lot.commodity.code == "black_bean"
    assert (lot.quantity_g, lot.remaining_g, lot.price_fen, lot.price_fen_per_t) == (
        40_000_000,
        40_000_000,
        680,
        680_000,
    )
    assert (lot.province.name, lot.county.name) == ("辽宁省", "彰武县")  # the cooperative's place
    assert lot.available_from == local_today()
    assert lot.spoil_by == local_today() + timedelta(days=lot.commodity.shelf_life_days)
    assert lot.title == "彰武黑豆 40 吨"
    assert lot.status is LotStatus.open
    assert [e.action for e in history(lot)] == ["posted"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "彰武黑豆 40 吨" in page and "6.80 元/公斤" in page


def test_post_with_a_photo_strips_its_location(client, users, app):
    login(client, "coop", PASSWORD)
    data = {
        "commodity": "樱桃",
        "quantity": "8000",
        "unit": "jin",
        "price": "15",
        "price_unit": "jin",
        "photos": [(io.BytesIO(jpeg_bytes(gps=True)), "cherry.jpg")],
    }
    response = post_form(
        client, "/lots/new", data, page="/lots/new", content_type="multipart/form-data"
    )
    assert response.status_code == 302
    photo = db.session.scalar(select(LotPhoto))
    with client.get(f"/media/{photo.key}") as served:
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        image = Image.open(io.BytesIO(served.data))
    assert not image.getexif() and "exif" not in image.info
    with client.get(f"/media/{photo.thumb_key}") as thumb:
        assert thumb.status_code == 200


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_posted(client, users):
    login(client, "coop", PASSWORD)
    data = {
        "commodity": "樱桃",
        "quantity": "100",
        "unit": "jin",
        "price": "15",
        "price_unit": "jin",
        "photos": [(io.BytesIO(b"not an image at all"), "x.jpg")],
    }
    response = post_form(
        client,
        "/lots/new",
        data,
        page="/lots/new",
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "not a photo" in response.get_data(as_text=True)
    assert count_lots() == 0


@pytest.mark.parametrize(
    ("field", "value", "message_en", "message_zh"),
    [
        ("commodity", "不存在的东西", "is not in our catalogue", "目录中没有"),
        ("quantity", "-5", "more than zero", "大于零"),
        ("price", "6.805", "two decimals", "两位小数"),
        ("spoil_by", "2020-01-01", "has passed", "已过"),
    ],
)
def test_bad_input_is_explained_in_both_languages(
    client, users, field, value, message_en, message_zh
):
    login(client, "coop", PASSWORD)
    data = {
        "commodity": "黑豆",
        "quantity": "40",
        "unit": "t",
        "price": "6.80",
        "price_unit": "kg",
        field: value,
    }
    for lang, message in (("en", message_en), ("zh-CN", message_zh)):
        response = post_form(
            client, "/lots/new", data, page="/lots/new", headers={"Accept-Language": lang}
        )
        assert response.status_code == 422
        assert message in response.get_data(as_text=True), lang
    assert count_lots() == 0


@pytest.mark.parametrize("who", ["buyer", "official", "admin"])
def test_only_cooperatives_post(client, users, who):
    login(client, who, PASSWORD)
    assert client.get("/lots/new").status_code == 403


def test_visitors_are_sent_to_log_in(client):
    response = client.get("/lots/new")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- editing is for the owner only ----------------------------------------------------


@pytest.mark.parametrize("who", ["coop2", "buyer", "official", "admin"])
def test_others_cannot_edit_or_withdraw_through_the_pages(client, users, who):
    lot = make_lot(users["coop"])
    login(client, who, PASSWORD)
    assert client.get(f"/lots/{lot.id}/edit").status_code == 403
    edit = post_form(
        client,
        f"/lots/{lot.id}/edit",
        {"commodity": "黑豆", "quantity": "1", "unit": "t", "price": "1", "price_unit": "kg"},
        page="/account",
    )
    assert edit.status_code == 403
    assert post_form(client, f"/lots/{lot.id}/withdraw", {}, page="/account").status_code == 403
    db.session.expire_all()
    assert lot.quantity_g == 40_000_000 and lot.status is LotStatus.open


def test_owner_edits_and_the_change_is_recorded(client, users):
    lot = make_lot(users["coop"])
    login(client, "coop", PASSWORD)
    form = client.get(f"/lots/{lot.id}/edit").get_data(as_text=True)
    assert 'value="40"' in form and 'value="6.80"' in form
    response = post_form(
        client,
        f"/lots/{lot.id}/edit",
        {
            "commodity": "黑豆",
            "quantity": "35",
            "unit": "t",
            "price": "6.20",
            "price_unit": "kg",
            "title": "彰武黑豆 降价",
        },
        page=f"/lots/{lot.id}/edit",
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (lot.quantity_g, lot.price_fen, lot.title) == (35_000_000, 620, "彰武黑豆 降价")
    edit = history(lot)[-1]
    assert edit.action == "edited" and edit.actor_id == users["coop"].id
    assert edit.changes["price_fen"] == [680, 620]
    assert edit.changes["quantity_g"] == [40_000_000, 35_000_000]


def test_owner_withdraws_and_the_public_no_longer_sees_it(client, users):
    lot = make_lot(users["coop"])
    login(client, "coop", PASSWORD)
    assert post_form(client, f"/lots/{lot.id}/withdraw", {}, page="/my/lots").status_code == 302
    assert client.get(f"/lots/{lot.id}").status_code == 200  # the owner still sees it
    visitor = client.application.test_client()
    assert visitor.get(f"/lots/{lot.id}").status_code == 404
    assert visitor.get(f"/api/v1/lots/{lot.id}").status_code == 404
    assert [e.to_state for e in history(lot)] == ["open", "withdrawn"]


# --- reading --------------------------------------------------------------------------


def test_expired_when_read_and_recorded_by_the_command(client, users, runner):
    lot = make_lot(users["coop"])
    lot.spoil_by = local_today() - timedelta(days=1)  # as if time had passed
    db.session.commit()
    assert client.get(f"/api/v1/lots/{lot.id}").json["status"] == "expired"
    assert client.get("/api/v1/lots").json["total"] == 0
    assert client.get("/api/v1/lots", query_string={"status": "expired"}).json["total"] == 1
    result = runner.invoke(args=["lots", "expire"])
    assert "1 lots expired" in result.output
    db.session.expire_all()
    assert lot.status is LotStatus.expired
    assert history(lot)[-1].to_state == "expired"
    assert "1 lots expired" not in runner.invoke(args=["lots", "expire"]).output


def test_contact_details_only_for_logged_in_buyers_and_officials(client, users):
    lot = make_lot(users["coop"])
    users["coop"].organisation.phone = "13904180001"
    db.session.commit()
    assert "13904180001" not in client.get(f"/lots/{lot.id}").get_data(as_text=True)
    for who, sees in (("buyer", True), ("official", True), ("coop2", False)):
        other = client.application.test_client()
        login(other, who, PASSWORD)
        assert ("13904180001" in other.get(f"/lots/{lot.id}").get_data(as_text=True)) is sees, who


def test_price_shown_in_the_visitors_unit(client, users):
    lot = make_lot(users["coop"])
    for unit, text in (("jin", "3.40 元/斤"), ("kg", "6.80 元/公斤"), ("t", "6800.00 元/吨")):
        assert text in client.get(f"/lots/{lot.id}?unit={unit}").get_data(as_text=True)


def test_home_shows_the_most_urgent_and_the_totals(client, users):
    make_lot(users["coop"], spoil_by=(local_today() + timedelta(days=30)).isoformat())
    make_lot(
        users["coop2"],
        commodity="樱桃",
        quantity="3",
        unit="t",
        price="15",
        price_unit="jin",
        title="金州大樱桃",
        spoil_by=(local_today() + timedelta(days=3)).isoformat(),
    )
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert html.index("金州大樱桃") < html.index("彰武黑豆")
    assert "3 days left" in html and "43 t" in html


def test_list_filters(client, users):
    make_lot(users["coop"])
    make_lot(
        users["coop2"], commodity="cherry", quantity="3", unit="t", price="15", price_unit="jin"
    )

    def listed(url: str) -> str:
        html = client.get(url).get_data(as_text=True)
        return html[html.index('class="lot-list"') :]

    by_name = listed("/lots?commodity=车厘子")
    assert "樱桃" in by_name and "彰武黑豆" not in by_name
    by_place = listed("/lots?province=210000&county=彰武")
    assert "彰武黑豆" in by_place and "金州" not in by_place
    assert client.get("/api/v1/lots", query_string={"county": "金州区"}).json["total"] == 1
    assert client.get("/api/v1/lots", query_string={"commodity": "heidou"}).json["total"] == 1


def test_my_lots(client, users):
    make_lot(users["coop"])
    make_lot(users["coop2"], title="别人的货")
    login(client, "coop", PASSWORD)
    html = client.get("/my/lots").get_data(as_text=True)
    assert "彰武黑豆" in html and "别人的货" not in html


# --- the API --------------------------------------------------------------------------


def test_api_post_patch_withdraw(client, users):
    headers = token_for(client, "coop")
    created = client.post(
        "/api/v1/lots",
        headers=headers,
        json={
            "commodity": "乌豆",
            "quantity": 40,
            "unit": "吨",
            "price": "6.80",
            "price_unit": "元/公斤",
        },
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert body["commodity"] == "black_bean" and body["remaining_kg"] == 40000
    assert body["price_yuan_per_kg"] == 6.8 and body["status"] == "open"
    lot_id = body["id"]
    patched = client.patch(
        f"/api/v1/lots/{lot_id}", headers=headers, json={"price": "3.20", "price_unit": "jin"}
    )
    assert patched.status_code == 200 and patched.json["price_yuan_per_kg"] == 6.4
    gone = client.delete(f"/api/v1/lots/{lot_id}", headers=headers)
    assert gone.status_code == 200 and gone.json["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("who", "status"), [("coop2", 403), ("buyer", 403), ("official", 403), ("admin", 403)]
)
def test_api_owner_only(client, users, who, status):
    lot = make_lot(users["coop"])
    headers = token_for(client, who)
    assert (
        client.patch(f"/api/v1/lots/{lot.id}", headers=headers, json={"price": "1"}).status_code
        == status
    )
    assert client.delete(f"/api/v1/lots/{lot.id}", headers=headers).status_code == status
    db.session.expire_all()
    assert lot.price_fen == 680 and lot.status is LotStatus.open


def test_api_only_cooperatives_post(client, users):
    body = {"commodity": "黑豆", "quantity": 1, "unit": "t", "price": 1, "price_unit": "kg"}
    assert client.post("/api/v1/lots", json=body).status_code == 401
    assert (
        client.post("/api/v1/lots", json=body, headers=token_for(client, "buyer")).status_code
        == 403
    )
    assert count_lots() == 0


def test_api_validation_errors_name_the_fields(client, users):
    response = client.post(
        "/api/v1/lots",
        headers={**token_for(client, "coop"), "Accept-Language": "en"},
        json={
            "commodity": "nothing",
            "quantity": "-1",
            "unit": "t",
            "price": "abc",
            "price_unit": "kg",
        },
    )
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert set(fields) >= {"commodity", "quantity", "price"}
    assert count_lots() == 0


def test_api_photo_upload_and_limit(client, users):
    lot = make_lot(users["coop"])
    headers = token_for(client, "coop")
    for _ in range(6):
        response = client.post(
            f"/api/v1/lots/{lot.id}/photos",
            headers=headers,
            data={"photo": (io.BytesIO(jpeg_bytes(64, 64)), "p.jpg")},
        )
        assert response.status_code == 201
    seventh = client.post(
        f"/api/v1/lots/{lot.id}/photos",
        headers=headers,
        data={"photo": (io.BytesIO(jpeg_bytes(64, 64)), "p.jpg")},
    )
    assert seventh.status_code == 422
    assert len(client.get(f"/api/v1/lots/{lot.id}").json["photos"]) == 6


def test_api_list_is_paginated(client, users):
    for i in range(5):
        make_lot(users["coop"], title=f"黑豆 {i}")
    page = client.get("/api/v1/lots", query_string={"per_page": 2, "page": 2}).json
    assert (page["total"], page["pages"], page["page"], len(page["items"])) == (5, 3, 2, 2)
    item = page["items"][0]
    for key in (
        "id",
        "title",
        "commodity",
        "province",
        "county",
        "remaining_kg",
        "price_yuan_per_kg",
        "spoil_by",
        "status",
    ):
        assert key in item


def test_removing_a_photo_deletes_its_files_after_commit(client, users, app):
    from produce_match.lots import operations as lots
    from produce_match.storage import get_storage

    lot = make_lot(users["coop"])
    photo = lots.add_photo(users["coop"], lot, jpeg_bytes(64, 64))
    db.session.commit()
    storage = get_storage()
    keys = (photo.key, photo.thumb_key)
    assert all(storage.exists(k) for k in keys)
    login(client, "coop", PASSWORD)
    post_form(client, f"/lots/{lot.id}/photos/{photo.id}/delete", {}, page="/my/lots")
    assert not any(storage.exists(k) for k in keys)
