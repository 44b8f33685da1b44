"""The analysis shared by indexing and querying: no database, no search engine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from produce_match.search.analysis import Analyzer, Vocabulary

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
        )
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
    assert {"hd", "zw"} <= set(doc["ini"])
    assert {"black", "bean"} <= set(doc["en"])
    # a name is kept whole: 黑大豆 must not make the lot a soybean (大豆)
    assert "大豆" not in doc["zh"]
