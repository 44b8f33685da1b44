"""Reference prices are recorded per county: a province office may not record one for its
province or one of its prefectures as if it were a county (typed, imported, or as a place)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from produce_match.catalog import commodities
from produce_match.catalog.models import Region
from produce_match.dates import local_today
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.monitor import operations as monitor
from produce_match.monitor.models import ReferencePrice
from tests.conftest import login, post_form
from tests.factories import PASSWORD

LIAONING, FUXIN, ZHANGWU = "210000", "210900", "210922"  # province, prefecture, county


def _count() -> int:
    return db.session.scalar(select(func.count(ReferencePrice.id)))


@pytest.mark.parametrize("code", [LIAONING, FUXIN])
def test_the_operation_takes_only_a_county(app, users, code):
    beans = commodities.resolve("黑豆")
    place = db.session.get(Region, code)
    with pytest.raises(ValidationFailed) as refused:
        monitor.set_reference_price(
            users["province_official"],
            monitor.PriceInput(beans, place, "6.00", "kg", local_today()),
        )
    assert refused.value.fields and "county" in refused.value.fields
    db.session.rollback()
    assert _count() == 0


@pytest.mark.parametrize("code", [LIAONING, FUXIN, "阜新市", "辽宁省"])
def test_a_province_office_cannot_record_a_price_for_a_province_or_a_prefecture(app, users, code):
    client = app.test_client()
    login(client, "provincial", PASSWORD)
    typed = post_form(
        client,
        "/monitor/prices",
        {"county": code, "commodity": "黑豆", "price": "6.00", "unit": "kg",
         "valid_from": "2026-03-01"},
        page="/monitor/prices",
        follow_redirects=True,
    )  # fmt: skip
    assert typed.status_code == 200
    data = f"commodity,county,price,unit,valid_from\n黑豆,{code},6.00,kg,2026-03-01\n"
    imported = post_form(
        client,
        "/monitor/prices",
        {"file": (io.BytesIO(data.encode()), "prices.csv")},
        page="/monitor/prices",
        follow_redirects=True,
    )
    assert imported.status_code == 200
    for response in (typed, imported):
        page = response.get_data(as_text=True)
        assert "条参考价已登记" not in page
        assert "不是县级地区" in page or "无法识别" in page, page[-3000:]
    assert _count() == 0
    # a county of the province is still accepted
    post_form(
        client,
        "/monitor/prices",
        {"county": ZHANGWU, "commodity": "黑豆", "price": "6.00", "unit": "kg",
         "valid_from": "2026-03-01"},
        page="/monitor/prices",
    )  # fmt: skip
    assert _count() == 1


def test_the_message_names_the_place_in_both_languages(app, users):
    client = app.test_client()
    login(client, "provincial", PASSWORD)
    for lang, words in (("zh", "阜新市不是县级地区"), ("en", "阜新市 is not a county")):
        users["province_official"].locale = lang
        db.session.commit()
        response = post_form(
            client,
            "/monitor/prices",
            {"county": FUXIN, "commodity": "黑豆", "price": "6.00", "unit": "kg",
             "valid_from": "2026-03-01"},
            page="/monitor/prices",
            follow_redirects=True,
        )  # fmt: skip
        assert words in response.get_data(as_text=True)


@pytest.mark.parametrize("code", [FUXIN, LIAONING])
def test_a_prefecture_or_province_code_is_not_a_county_to_watch(app, users, code):
    client = app.test_client()
    login(client, "provincial", PASSWORD)
    assert client.get(f"/monitor/?county={code}").status_code == 404
    assert client.get(f"/monitor/prices?county={code}").status_code == 404
