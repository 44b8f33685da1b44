"""Produce not in the catalogue (榴莲干): posted under its category's "other" entry with the name
as typed, found by that name, and listed for administrators to add to the catalogue."""

from __future__ import annotations

import io
import re

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from produce_match.catalog import commodities
from produce_match.catalog import operations as catalog
from produce_match.dates import local_today
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots import imports
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.search.backend import SearchRequest
from produce_match.search.service import service
from tests.conftest import SEARCH_BACKENDS, login, post_form
from tests.factories import PASSWORD, make_lot

DURIAN = {"commodity": "榴莲干", "quantity": "2", "unit": "t", "price": "38", "price_unit": "kg"}


def only_lot() -> Lot:
    return db.session.scalars(select(Lot)).one()


def test_every_category_has_an_other_entry(app):
    for category in ("fruit", "水果", "Fruits"):
        other = commodities.other_of(category)
        assert other is not None and other.code == "other_fruit" and other.is_other
    assert commodities.other_of("vegetable").name_zh == "其他蔬菜"
    assert commodities.other_of("火星") is None
    assert not commodities.resolve("黑豆").is_other


def test_an_unknown_name_asks_for_its_kind_then_posts_under_other(client, users):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    login(client, "coop", PASSWORD)
    asked = post_form(client, "/lots/new", DURIAN, page="/lots/new")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 422
    assert "目录中没有榴莲干" in html
    assert re.search(r'<select[^>]* id="category"', html)  # now it asks for the kind
    assert "请填写最迟销售日期" not in html  # the name first: its kind gives the shelf life
    assert db.session.scalar(select(Lot.id)) is None

    posted = post_form(client, "/lots/new", {**DURIAN, "category": "fruit"}, page="/lots/new")
    assert posted.status_code == 302
    lot = only_lot()
    assert (lot.commodity.code, lot.commodity_name) == ("other_fruit", "榴莲干")
    assert lot.title == "彰武榴莲干 2 吨"
    page = client.get(f"/lots/{lot.id}").get_data(as_text=True)
    assert "榴莲干（其他水果）" in page

    # editing keeps it, and its kind can be changed
    form = client.get(f"/lots/{lot.id}/edit").get_data(as_text=True)
    assert 'value="榴莲干"' in form and '<option selected value="fruit">' in form
    edit = {**DURIAN, "category": "nut", "title": lot.title, "province": lot.province_code}
    edit |= {"county": "彰武县", "price": "36"}
    assert post_form(client, f"/lots/{lot.id}/edit", edit, page="/lots/new").status_code == 302
    db.session.expire_all()
    assert (only_lot().commodity.code, only_lot().commodity_name) == ("other_nut", "榴莲干")
    # renamed without a kind (as the API may): it keeps its kind
    lots.update_lot(users["coop"], only_lot(), lots.LotInput(commodity="夏威夷果仁"))
    assert (only_lot().commodity.code, only_lot().commodity_name) == ("other_nut", "夏威夷果仁")


def test_a_catalogued_name_is_stored_as_the_catalogue_entry(users):
    lot = lots.create_lot(
        users["coop"], users["coop"].organisation, lots.LotInput(**DURIAN | {"commodity": "黑豆"})
    )
    assert lot.commodity.code == "black_bean" and lot.commodity_name is None
    # a kind given with a catalogued name changes nothing
    lot = lots.create_lot(
        users["coop"],
        users["coop"].organisation,
        lots.LotInput(**DURIAN | {"commodity": "heidou", "category": "fruit"}),
    )
    assert lot.commodity.code == "black_bean" and lot.commodity_name is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"commodity": "其他水果"}, "commodity", "Enter what it is, e.g. 榴莲干"),
        ({"category": "火星"}, "category", "Choose a category."),
        ({"commodity": "榴" * 41, "category": "fruit"}, "commodity", "At most 40 characters."),
    ],
)
def test_what_is_refused(app, users, fields, field, message):
    with force_locale("en"), pytest.raises(ValidationFailed) as refused:
        lots.create_lot(users["coop"], users["coop"].organisation, lots.LotInput(**DURIAN | fields))
    assert message in refused.value.fields[field][0]


def test_the_api_posts_it_and_says_so(client, users):
    token = client.post("/api/v1/tokens", json={"login": "coop", "password": PASSWORD}).json[
        "token"
    ]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    refused = client.post("/api/v1/lots", json=DURIAN, headers=headers)
    assert refused.status_code == 422
    assert "not in our catalogue" in refused.get_data(as_text=True)
    created = client.post("/api/v1/lots", json=DURIAN | {"category": "fruit"}, headers=headers)
    assert created.status_code == 201, created.json
    assert created.json["commodity"] == "other_fruit"
    assert created.json["commodity_typed_name"] == "榴莲干"


def test_a_spreadsheet_row_names_its_kind(users):
    header = ["品类", "类别", "数量", "单位", "价格", "计价单位"]
    rows = [["榴莲干", "水果", "2", "吨", "38", "公斤"], ["芒果干", "", "1", "吨", "30", "公斤"]]
    data = "\n".join(",".join(r) for r in [header, *rows]).encode()
    report = imports.check(imports.read_file("a.csv", data), users["coop"])
    assert [(e.line, e.column) for e in report.errors] == [(3, "品类")]
    assert "芒果干" in report.errors[0].message
    assert imports.apply(report, users["coop"], skip_invalid=True) == 1
    db.session.commit()
    assert (only_lot().commodity.code, only_lot().commodity_name) == ("other_fruit", "榴莲干")


@pytest.mark.parametrize("search_backend", SEARCH_BACKENDS)
def test_search_finds_it_by_the_typed_name(app, users):
    make_lot(users["coop"], **DURIAN, category="fruit", title="泰式果干 2 吨 急售")
    make_lot(users["coop"], title="彰武黑豆 40 吨")
    service().process_queue()
    hits = service().search(SearchRequest(text="榴莲干", today=local_today())).hits
    assert [db.session.get(Lot, h.lot_id).title for h in hits] == ["泰式果干 2 吨 急售"]


def test_administrators_see_the_names_to_add(client, users):
    make_lot(users["coop"], **DURIAN, category="fruit")
    make_lot(users["coop2"], **DURIAN, category="水果")
    make_lot(users["coop2"], **DURIAN | {"commodity": "山野菜"}, category="vegetable")

    other = client.application.test_client()
    login(other, "coop", PASSWORD)
    assert other.get("/admin/catalog/uncatalogued").status_code == 404

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    login(client, "admin", PASSWORD)
    assert "/admin/catalog/uncatalogued" in client.get("/admin/catalog/").get_data(as_text=True)
    html = client.get("/admin/catalog/uncatalogued").get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>(\d+)</td>", html)
    assert rows == [("榴莲干", "其他水果", "2"), ("山野菜", "其他蔬菜", "1")]
    link = re.search(r'href="(/admin/catalog/new\?[^"]+)"', html).group(1).replace("&amp;", "&")
    form = client.get(link).get_data(as_text=True)
    assert 'value="榴莲干"' in form and '<option selected value="fruit">' in form

    # once the catalogue knows the name, it is no longer listed
    catalog.save_commodity(
        users["admin"],
        None,
        catalog.CommodityData(
            code="dried_durian",
            name_zh="榴莲干",
            name_en="Dried durian",
            pinyin="liu lian gan",
            category="fruit",
            shelf_life_days=180,
            unit="kg",
        ),
    )
    db.session.commit()
    html = client.get("/admin/catalog/uncatalogued").get_data(as_text=True)
    assert "榴莲干" not in html and "山野菜" in html


def test_the_post_form_offers_no_other_entry_to_pick(client, users):
    login(client, "coop", PASSWORD)
    html = client.get("/lots/new").get_data(as_text=True)
    assert '<option value="黑豆"' in html and "其他水果" not in html
    assert 'id="category"' not in html  # asked only when the name is not in the catalogue


def test_an_uploaded_photo_field_still_takes_files(client, users):
    """The camera hint changes nothing on the server: a photo still posts with the lot."""
    from tests.factories import jpeg_bytes

    login(client, "coop", PASSWORD)
    data = DURIAN | {"category": "fruit", "photos": [(io.BytesIO(jpeg_bytes()), "a.jpg")]}
    posted = post_form(
        client, "/lots/new", data, page="/lots/new", content_type="multipart/form-data"
    )
    assert posted.status_code == 302 and len(only_lot().photos) == 1


def test_a_demand_cannot_be_for_a_whole_other_entry(users):
    """A demand for 其他水果 would match 榴莲干 and 芒果干 alike: it names the produce."""
    from tests.factories import make_demand

    with force_locale("en"), pytest.raises(ValidationFailed) as refused:
        make_demand(users["buyer"], commodity="其他水果")
    assert "not a category" in refused.value.fields["commodity"][0]
