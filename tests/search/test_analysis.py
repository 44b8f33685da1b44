"""The analysis shared by indexing and querying: no database, no search engine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from produce_match.search.analysis import CATEGORY_NAMES, Analyzer, Vocabulary

DATA = Path(__file__).resolve().parents[2] / "produce_match" / "catalog" / "data"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    vocab = Vocabulary()
    for c in json.loads((DATA / "commodities.json").read_text(encoding="utf-8")):
        vocab.add_commodity(
            c["code"],
            c["name_zh"],
            c["pinyin"],
            c["synonyms_zh"],
            c["traditional"],
            c["name_en"],
            c["synonyms_en"],
            c["category"],
        )
    for category, names in CATEGORY_NAMES.items():
        vocab.add_category(category, names)
    with (DATA / "regions.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            vocab.add_region(r["code"], r["name"], r["short_name"], r["level"])
    return Analyzer(vocab)


def test_segmentation_keeps_catalogue_and_place_names_whole(analyzer):
    words = analyzer.words("彰武县道亭村黑豆40吨急售")
    assert "彰武县" in words and "黑豆" in words and "40" in words
    assert analyzer.words("长豆角") == ["长豆角"]


def test_search_words_include_the_parts_of_compounds(analyzer):
    words = analyzer.search_words("樱桃番茄")
    assert {"樱桃番茄", "樱桃", "番茄"} <= set(words)


def test_traditional_characters_become_simplified(analyzer):
    assert analyzer.words("櫻桃") == ["樱桃"]
    assert analyzer.query("馬鈴薯").terms[0].commodities == ["potato"]


@pytest.mark.parametrize(
    ("word", "full", "initials"),
    [
        ("黑豆", "heidou", "hd"),
        ("彰武", "zhangwu", "zw"),
        ("长豆角", "changdoujiao", "cdj"),  # a heteronym: chang, not zhang
        ("绿豆", "lvdou", "ld"),
    ],
)
def test_pinyin_full_and_initials(analyzer, word, full, initials):
    assert analyzer.pinyin(word) == full
    assert analyzer.initials(word) == initials


def test_english_is_stemmed(analyzer):
    assert analyzer.english("Black Beans") == ["black", "bean"]
    assert analyzer.english("cherries") == analyzer.english("cherry")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("黑豆", "black_bean"),
        ("乌豆", "black_bean"),
        ("heidou", "black_bean"),
        ("hei dou", "black_bean"),
        ("black beans", "black_bean"),
        ("黑逗", "black_bean"),
        ("洋芋", "potato"),
        ("potatoes", "potato"),
        ("櫻桃", "cherry"),
        ("车厘子", "cherry"),
        ("苞米", "corn"),
        ("地瓜", "sweet_potato"),
        ("番茄", "tomato"),
    ],
)
def test_queries_name_their_commodity_by_any_name(analyzer, text, code):
    query = analyzer.query(text)
    assert code in query.commodities


def test_a_synonym_query_matches_every_chinese_name(analyzer):
    [term] = analyzer.query("乌豆").terms
    assert {"黑豆", "乌豆", "黑大豆"} <= set(term.zh)


def test_place_words_are_recognised(analyzer):
    query = analyzer.query("彰武黑豆")
    assert [p.code for p in query.places] == ["210922"]
    assert query.commodities == ["black_bean"]
    assert [p.code for p in analyzer.query("辽宁 土豆").places] == ["210000"]


def test_documents_carry_every_name_of_their_commodity(analyzer):
    doc = analyzer.document(
        commodity_code="black_bean",
        title="彰武黑豆 40吨 急售",
        texts=["一等"],
        places=["辽宁省", "彰武县"],
    )
    assert {"黑豆", "乌豆", "黑大豆"} <= set(doc["zh"])
    assert {"heidou", "wudou", "zhangwu"} <= set(doc["py"])
    assert "hd" in doc["ini"]
    # no initials of places: "td" is 土豆 (potato) far more often than 田东, a county
    assert "zw" not in doc["ini"]
    assert {"black", "bean"} <= set(doc["en"])
    # a name is kept whole: 黑大豆 must not make the lot a soybean (大豆)
    assert "大豆" not in doc["zh"]


@pytest.mark.parametrize(
    ("text", "code"),
    [("西红是", "tomato"), ("西红事", "tomato"), ("土逗", "potato"), ("玉咪", "corn")],
)
def test_a_homophone_slip_is_read_whole_before_it_is_split(analyzer, text, code):
    # 西红是 is 西红柿 mistyped, not 西红 + 是 (shi -> 柿, the persimmon)
    query = analyzer.query(text)
    assert query.commodities == [code]


def test_one_character_is_never_a_sound_alike(analyzer):
    # 是 and 市 sound like 柿 (a one-character name of the persimmon): they are not one
    assert analyzer.query("是").commodities == []
    assert "persimmon" not in analyzer.query("彰武 市").commodities
    assert analyzer.query("柿").commodities == ["persimmon"]  # the name itself still is


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("水果", "fruit"),
        ("蔬菜", "vegetable"),
        ("粮食", "grain"),
        ("中药材", "herb"),
        ("vegetables", "vegetable"),
        ("shuiguo", "fruit"),
    ],
)
def test_category_words_name_their_category(analyzer, text, category):
    [term] = analyzer.query(text).terms
    assert term.categories == [category] and not term.commodities and not term.places


def test_an_edit_distance_with_a_limit_stops_past_it():
    from produce_match.search.analysis import edit_distance

    assert edit_distance("hiedou", "heidou") == 1  # a swap of neighbours is one slip
    assert edit_distance("hiedou", "heidou", limit=1) == 1
    assert edit_distance("liulian", "lianou") == 5
    assert edit_distance("liulian", "lianou", limit=2) == 3  # past it: the limit + 1
    assert edit_distance("liulian", "li", limit=2) == 3  # the lengths alone tell
    # every pair of short words over four letters: within the limit exact, past it limit + 1
    import itertools

    words = ["".join(w) for n in range(5) for w in itertools.product("abc", repeat=n)]
    for a, b in itertools.product(words[::7], words[::5]):
        full = edit_distance(a, b)
        for limit in range(4):
            assert edit_distance(a, b, limit) == (full if full <= limit else limit + 1), (a, b)
