"""Words a native reader expects: Chinese punctuation in Chinese text, one Chinese word per
meaning of an English one, and commodity names in the page's language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import g
from flask_babel import force_locale

from produce_match.extensions import db
from produce_match.matching.models import Answer
from produce_match.orders import operations as orders
from produce_match.orders.models import OrderStatus
from produce_match.web.templating import label
from tests.conftest import login
from tests.factories import PASSWORD, make_lot

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "produce_match/translations/zh/LC_MESSAGES/messages.po"
HAN = r"[\u3400-\u9fff]"
#: ASCII punctuation where Chinese text wants its own: after a Chinese character, or before
#: one (a space between them changes nothing), and parentheses around Chinese text
ASCII_IN_CHINESE = re.compile(
    rf"{HAN}\s?[?:,;!)]|[?:,;!(]\s?{HAN}|{HAN}\.(?!\w)|{HAN}\s?\.\.\.|\s[，。：？！；、）]"
)


@pytest.fixture(autouse=True)
def _index_left_to_its_queue(app):
    yield
    g.pop("search_pending", None)


def chinese_entries() -> list[tuple[str, str]]:
    with CATALOGUE.open("rb") as f:
        catalogue = read_po(f)
    out = []
    for m in catalogue:
        if not m.id:
            continue
        for text in [m.string] if isinstance(m.string, str) else m.string:
            # a placeholder stands for Chinese words: "%(name)s:" is as wrong as "名称:"
            out.append((str(m.id), re.sub(r"%\(\w+\)[-+ #0]*\d*(?:\.\d+)?[sdf]", "某", text)))
    return out


def test_the_chinese_catalogue_is_complete_and_uses_chinese_punctuation():
    entries = chinese_entries()
    assert [mid for mid, text in entries if not text] == []
    wrong = [(mid, text) for mid, text in entries if ASCII_IN_CHINESE.search(text)]
    assert wrong == []


def test_the_rule_sees_ascii_punctuation_in_chinese_text():
    for bad in ("您是不是要找樱桃?", "电话: 139", "某: 某", "向村里结算 (分)", "已保存."):
        assert ASCII_IN_CHINESE.search(bad), bad
    for good in ("例如 2026-11-22T08:30+08:00。", "请上传 .csv、.xlsx 文件。", "hei dou, lv dou"):
        assert not ASCII_IN_CHINESE.search(good), good


#: punctuation written in a template beside translated words or around data never reaches the
#: catalogue, so Chinese pages would show it as written: "撮合建议: …", "您是不是要找 樱桃?",
#: "道亭村合作社 (梁家子镇)", "五常市, 黑龙江". It belongs in the message (or the colon and parens
#: filters).
OUTSIDE = re.compile(r"\)\s*\}\}\s?[:?;!]|</a>\s?[?:]|\(\{\{|\}\}\)|\}\}[,;]\s?\{\{")


def test_templates_leave_punctuation_to_the_catalogue():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert found == []


def test_one_english_word_is_the_chinese_word_its_place_needs(app):
    with app.test_request_context(), force_locale("zh"):
        assert label(OrderStatus.accepted) == "已接单"  # the cooperative took the order
        assert label("accepted") == "已接单"  # an order's history
        assert label(Answer.accepted) == "已同意"  # a party agreed to a proposal
        assert label(Answer.declined) == "已拒绝"
    with app.test_request_context(), force_locale("en"):
        assert label(Answer.accepted) == label(OrderStatus.accepted) == "accepted"


def test_unread_notifications_are_unread_not_new(client, users):
    lot = make_lot(users["coop"], title="道亭村 40吨", quantity="2")
    orders.place_order(users["buyer"], lot, "1", "t")
    db.session.commit()
    login(client, "coop", PASSWORD)
    page = client.get("/notifications").get_data(as_text=True)
    assert '<span class="badge">未读</span>' in page and "新建" not in page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lots_pages_name_commodities_in_the_page_language(client, users, lang):
    from produce_match.search.service import service

    lot = make_lot(users["coop"], title="道亭村 40吨")  # black beans, not named in the title
    service().process_queue()
    wanted, other = ("黑豆", "Black bean") if lang == "zh" else ("Black bean", "黑豆")
    headers = {"Accept-Language": lang}
    results = client.get("/lots", headers=headers).text
    facets = results.split('class="facets"', 1)[1].split("</div>", 1)[0]
    card = results.split('class="lot-card"', 1)[1].split("</li>", 1)[0]
    detail = client.get(f"/lots/{lot.id}", headers=headers).text.split("<main", 1)[1]
    detail = detail.split("</main>", 1)[0]
    for part in (facets, card, detail):
        assert wanted in part and other not in part


def test_did_you_mean_is_one_sentence_with_its_own_question_mark(client, users):
    from produce_match.search.service import service

    make_lot(users["coop"], title="道亭村 40吨")
    service().process_queue()
    page = client.get("/lots", query_string={"q": "hiedou"}, headers={"Accept-Language": "zh"})
    text = re.sub(r"<[^>]+>", "", page.text.split('class="suggestion"', 1)[1].split("</p>")[0])
    assert text.endswith("？") and "黑豆" in text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_forms_offer_commodity_names_in_the_page_language(client, users, lang):
    lot = make_lot(users["coop"], title="道亭村 40吨")
    login(client, "coop", PASSWORD)
    page = client.get(f"/lots/{lot.id}/edit", headers={"Accept-Language": lang}).text
    wanted, other = ("黑豆", "Black bean") if lang == "zh" else ("Black bean", "黑豆")
    assert f'value="{wanted}"' in page  # the commodity of the lot being edited
    options = page.split('<datalist id="commodity-options">', 1)[1].split("</datalist>", 1)[0]
    assert wanted in options and other not in options
