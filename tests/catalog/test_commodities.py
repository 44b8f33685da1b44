"""The commodity catalogue: one entry for every name a commodity goes by."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from produce_match.catalog import commodities
from produce_match.catalog import operations as catalog
from produce_match.catalog.models import Commodity
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from tests.conftest import login, post_form
from tests.factories import PASSWORD


def test_the_catalogue_is_loaded_with_at_least_80_commodities(app):
    assert db.session.scalar(select(func.count()).select_from(Commodity)) >= 80


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("黑豆", "black_bean"),
        ("乌豆", "black_bean"),
        ("黑大豆", "black_bean"),
        ("烏豆", "black_bean"),
        ("heidou", "black_bean"),
        ("hei dou", "black_bean"),
        ("Black bean", "black_bean"),
        ("black beans", "black_bean"),
        ("BLACK_BEAN", "black_bean"),
        ("土豆", "potato"),
        ("马铃薯", "potato"),
        ("洋芋", "potato"),
        ("potatoes", "potato"),
        ("tudou", "potato"),
        ("馬鈴薯", "potato"),
        ("西红柿", "tomato"),
        ("番茄", "tomato"),
        ("tomato", "tomato"),
        ("tomatoes", "tomato"),
        ("樱桃", "cherry"),
        ("大樱桃", "cherry"),
        ("车厘子", "cherry"),
        ("櫻桃", "cherry"),
        ("cherries", "cherry"),
        ("yingtao", "cherry"),
        ("樱桃番茄", "cherry_tomato"),
        ("玉米", "corn"),
        ("苞米", "corn"),
        ("包谷", "corn"),
        ("maize", "corn"),
        ("红薯", "sweet_potato"),
        ("地瓜", "sweet_potato"),
        ("番薯", "sweet_potato"),
        ("sweet potato", "sweet_potato"),
        ("长豆角", "yardlong_bean"),
        ("changdoujiao", "yardlong_bean"),
        ("绿豆", "mung_bean"),
        ("lvdou", "mung_bean"),
    ],
)
def test_every_kind_of_name_resolves_to_one_entry(app, name, code):
    found = commodities.resolve(name)
    assert found is not None and found.code == code


@pytest.mark.parametrize("name", ["", "   ", "不是农产品", "xyzzy", "豆"])
def test_unknown_names_resolve_to_nothing(app, name):
    assert commodities.resolve(name) is None


def test_suggest_by_prefix(app):
    codes = [c.code for c in commodities.suggest("hei")]
    assert "black_bean" in codes


def test_admin_edits_a_commodity_and_its_new_synonym_resolves(client, users):
    bean = commodities.resolve("黑豆")
    login(client, "admin", PASSWORD)
    form = {
        "code": "black_bean",
        "name_zh": "黑豆",
        "name_en": "Black bean",
        "pinyin": "hei dou",
        "traditional": "",
        "synonyms_zh": "乌豆、黑大豆、黑小豆",
        "synonyms_en": "black soybean",
        "category": "bean",
        "shelf_life_days": "300",
        "unit": "t",
        "active": "y",
    }
    response = post_form(client, f"/admin/catalog/{bean.id}", form, page="/admin/catalog/")
    assert response.status_code == 302
    db.session.expire_all()
    assert commodities.resolve("黑小豆").code == "black_bean"
    assert commodities.resolve("黑豆").shelf_life_days == 300


def test_a_name_cannot_mean_two_commodities(app, users):
    data = catalog.data_of(commodities.resolve("土豆"))
    data.synonyms_zh.append("乌豆")  # already the black bean
    with pytest.raises(ValidationFailed):
        catalog.save_commodity(users["admin"], commodities.resolve("土豆"), data)


def test_catalogue_pages_are_for_admins_only(client, users):
    login(client, "coop", PASSWORD)
    assert client.get("/admin/catalog/").status_code == 404


def test_api_resolves_names(client):
    rows = client.get("/api/v1/commodities", query_string={"q": "wudou"}).json
    assert rows[0]["code"] == "black_bean" and rows[0]["name_zh"] == "黑豆"
    assert client.get("/api/v1/commodities", query_string={"q": "櫻桃"}).json[0]["code"] == "cherry"
    assert len(client.get("/api/v1/commodities").json) >= 80


def test_catalog_load_command_keeps_admin_edits_unless_asked(runner, users):
    bean = commodities.resolve("黑豆")
    bean.shelf_life_days = 99
    db.session.commit()
    assert "commodities loaded" in runner.invoke(args=["catalog", "load"]).output
    db.session.expire_all()
    assert commodities.resolve("黑豆").shelf_life_days == 99
    runner.invoke(args=["catalog", "load", "--update"])
    db.session.expire_all()
    assert commodities.resolve("黑豆").shelf_life_days == 365
