"""A buyer on a phone finds lots in the demo world by typing what people type."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import fits_the_screen, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_world(live_server):
    from produce_match import demo
    from produce_match.extensions import db
    from produce_match.search.service import service

    with live_server.app.app_context():
        demo.load()
        db.session.commit()
        service().process_queue()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("黑豆", "彰武道亭村黑豆"),
        ("彰武黑豆", "彰武道亭村黑豆"),
        ("heidou", "彰武道亭村黑豆"),
        ("hd", "彰武道亭村黑豆"),
        ("乌豆", "彰武道亭村黑豆"),
        ("black beans", "彰武道亭村黑豆"),
        ("黑逗", "彰武道亭村黑豆"),
        ("櫻桃", "樱桃"),
    ],
)
def test_every_way_of_typing_finds_the_lot(phone_page, demo_world, query, expected):
    page = phone_page
    page.goto("/")
    page.locator("#site-q").fill(query)
    page.locator(".site-search button").click()
    page.wait_for_url("**/lots?q=*")
    first = page.locator(".lot-list .lot-title").first.inner_text()
    assert expected in first, (query, first)
    assert fits_the_screen(page)
    if query == "彰武黑豆":
        screenshot(page, "search-01-results")


def test_filters_and_facets_without_javascript(browser, live_server, demo_world):
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="zh-CN",
        base_url=live_server.url,
        java_script_enabled=False,
    )
    page = context.new_page()
    page.goto("/lots?q=土豆")
    total_before = page.locator(".lot-card").count()
    assert total_before >= 2
    page.locator(".facet").first.locator("a").first.click()  # narrow by the first facet value
    assert page.locator(".lot-card").count() <= total_before
    page.goto("/lots?q=hiedou")
    assert "黑豆" in page.locator(".suggestion").inner_text()
    screenshot(page, "search-02-did-you-mean")
    context.close()


def test_cards_compare_prices_in_one_unit_and_suggestions_keep_the_language(phone_page, demo_world):
    page = phone_page
    page.goto("/lots?q=豆")
    page.get_by_role("link", name="斤", exact=True).click()
    page.wait_for_url("**price_in=jin*")
    prices = page.locator(".lot-card .lot-facts").all_inner_texts()
    assert prices and all(p.endswith("元/斤") for p in prices), prices
    assert fits_the_screen(page)
    screenshot(page, "search-03-prices-per-jin")
    page.goto("/lots?q=chery")
    suggestion = page.locator(".suggestion").inner_text()
    assert "cherry" in suggestion and "橙子" not in suggestion and suggestion.endswith("？")
    screenshot(page, "search-04-did-you-mean-english")
