"""The Whoosh backend's bulk paths against the rules they replaced, on random indexes: scores
worked out a posting list at a time in numpy against the same sums a posting at a time, the
page's best matches against a full sort, facets against a plain count."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from datetime import date

import pytest
from whoosh import query as Q  # noqa: N812 - Whoosh's own convention
from whoosh.scoring import BM25FScorer, WeightScorer

from produce_match.search.backend import BOOST, FACETS, LotDocument, urgency_factor
from produce_match.search.whoosh_backend import WhooshBackend

WORDS = ["jisou", "heidou", "heidu", "yumi", "tudou", "hd", "ym", "td", "xinxian", "jishou"]
ZH = ["急售", "黑豆", "玉米", "土豆", "新鲜", "大量", "产地"]
COMMODITIES = ["black_bean", "corn", "potato"]


def _document(rng: random.Random, lot_id: int, version: int = 1) -> LotDocument:
    return LotDocument(
        lot_id=lot_id,
        version=version,
        tokens={
            "zh": rng.choices(ZH, k=rng.randint(1, 8)),
            "py": rng.choices(WORDS, k=rng.randint(1, 8)),
            "ini": rng.choices(["hd", "ym", "td"], k=rng.randint(0, 3)),
            "en": rng.choices(["black", "bean", "corn", "potato"], k=rng.randint(0, 3)),
        },
        commodity=rng.choice(COMMODITIES),
        province=rng.choice(["210000", "370000"]),
        county=rng.choice(["210922", "210123", "370102", "370103"]),
        grade=rng.choice(["", "一等", "二等"]),
        status=rng.choice(["open", "open", "open", "sold_out"]),
        spoil_by=date(2026, 1, 1).toordinal() + rng.randint(0, 60),
        price_fen_per_t=rng.randint(1, 9) * 100_000,
        remaining_g=rng.randint(1, 50) * 1_000_000,
        created=1_700_000_000 + lot_id,
        lat=41.0,
        lng=123.0,
    )


def _old_scores(backend, searcher, query, docs, boost=1.0, out=None):
    """The rule replaced: Whoosh's BM25F sums a posting at a time, into a dict."""
    out = {} if out is None else out
    if isinstance(query, Q.Term | Q.MultiTerm):
        for leaf, offset in searcher.leaf_searchers():
            reader = leaf.reader()
            for word, own in backend._words(leaf, query):
                if (query.field(), word) not in reader:
                    continue
                scorer = searcher.weighting.scorer(leaf, query.field(), word)
                matcher = reader.postings(query.field(), word)
                while matcher.is_active():
                    d, tf = matcher.id(), matcher.weight()
                    matcher.next()
                    g = d + offset
                    if g not in docs:
                        continue
                    if isinstance(scorer, WeightScorer):
                        score = tf
                    else:
                        assert isinstance(scorer, BM25FScorer)
                        idf, avgfl, b, k1 = scorer.idf, scorer.avgfl, scorer.B, scorer.K1
                        length = leaf.doc_field_length(d, query.field(), 1)
                        score = idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / avgfl)))
                    out[g] = out.get(g, 0.0) + score * (boost * own)
    elif isinstance(query, Q.Or):
        for sub in query.subqueries:
            _old_scores(backend, searcher, sub, docs, boost * query.boost, out)
    elif isinstance(query, Q.And):
        parts = [_old_scores(backend, searcher, sub, docs) for sub in query.subqueries]
        common = set(parts[0]).intersection(*parts[1:])
        for d in common:
            out[d] = out.get(d, 0.0) + sum(p[d] for p in parts) * (boost * query.boost)
    return out


def _old_best(scores, spoil, today, end):
    scored = {d: s * urgency_factor(spoil[d] - today) for d, s in scores.items()}
    if not scored:
        return []
    floor = heapq.nlargest(end, scored.values())[-1] - 1e-6
    candidates = [d for d, s in scored.items() if s >= floor]
    candidates.sort(key=lambda d: (-round(scored[d], 6), spoil[d], d))
    return [(d, scored[d]) for d in candidates[:end]]


def _random_query(rng: random.Random) -> Q.Query:
    def leaf() -> Q.Query:
        roll = rng.random()
        if roll < 0.2:
            return Q.Term("commodity", rng.choice(COMMODITIES), boost=BOOST["commodity"])
        if roll < 0.45:
            return Q.Term("zh", rng.choice(ZH), boost=BOOST["zh"])
        if roll < 0.7:
            return Q.Term("py", rng.choice(WORDS), boost=BOOST["py"])
        if roll < 0.85:
            word = rng.choice(WORDS)
            return Q.FuzzyTerm("py", word, boost=BOOST["fuzzy"], maxdist=1, prefixlength=1)
        return Q.Term("ini", rng.choice(["hd", "ym", "td"]), boost=BOOST["ini"])

    ors = [Q.Or([leaf() for _ in range(rng.randint(1, 4))]) for _ in range(rng.randint(1, 2))]
    return ors[0] if len(ors) == 1 else Q.And(ors)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_scores_pages_and_facets_equal_the_rules_they_replaced(tmp_path, seed):
    rng = random.Random(seed)
    backend = WhooshBackend(tmp_path / "index", analyzer=None)
    docs = [_document(rng, i) for i in range(1, 801)]
    backend.rebuild(docs, len(docs))
    with backend.writing() as writer:  # a second segment, with deletions in the first
        for lot_id in rng.sample(range(1, 801), 120):
            writer.upsert(_document(rng, lot_id, version=2))
        for lot_id in rng.sample(range(801, 1001), 150):
            writer.upsert(_document(rng, lot_id))
    searcher = backend.searcher()
    table = backend._table_for(searcher)
    assert len(list(searcher.leaf_searchers())) >= 2
    spoil = table.columns["spoil_by"]
    today = date(2026, 1, 20).toordinal()
    for _ in range(60):
        query = _random_query(rng)
        docs_wanted = set(rng.sample(sorted(table.live), rng.randint(1, len(table.live))))
        values, present = backend._scores(searcher, table, query, docs_wanted)
        new = {int(d): float(values[d]) for d in present.nonzero()[0]}
        old = _old_scores(backend, searcher, query, docs_wanted)
        assert new == old  # exactly: the same sums in the same order
        for end in (1, 5, 20, 100):
            page = backend._best(searcher, table, query, docs_wanted, docs_wanted, end, today)
            expected = _old_best(old, spoil, today, end)
            assert [(d, s) for d, s, _km in page[: len(expected)]] == expected
        counted = backend._facets(table, docs_wanted)
        for name in FACETS:
            counts = Counter(table.columns[name][d] for d in docs_wanted)
            counts.pop("-", None)
            assert counted[name] == sorted(counts.items(), key=lambda vn: (-vn[1], vn[0]))[:30]


def test_counted_words_equal_whooshs_own_analysis():
    from produce_match.search.whoosh_backend import _counting_schema, _schema

    rng = random.Random(7)
    whooshs, counting = _schema(), _counting_schema(_schema())
    for name in ("zh", "py", "ini", "en"):
        assert counting[name].index.__func__ is not type(counting[name]).index
        for _ in range(200):
            words = rng.choices([*ZH, *WORDS, "black", "bean"], k=rng.randint(0, 12))
            value = " ".join(words)
            assert sorted(counting[name].index(value)) == sorted(whooshs[name].index(value))
    assert not hasattr(counting["id"].index, "__func__") or (
        counting["id"].index.__func__ is type(counting["id"]).index
    )
