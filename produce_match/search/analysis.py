"""Text analysis shared by indexing and querying, and by every search backend.

What a Chinese buyer types: 黑豆, 彰武黑豆, heidou, hd, 乌豆, 櫻桃, black beans, 黑逗. One analysis
turns a lot into tokens per field and a query into terms that can match them:

- ``zh``: Chinese words, segmented by jieba (rjieba) with the catalogue's names and the region
  names as a user dictionary, traditional characters made simplified. A lot also carries every
  Chinese name of its commodity, so 乌豆 finds lots posted as 黑豆.
- ``py``: the toneless pinyin of each Chinese word (heidou), so pinyin and homophone slips
  (黑逗 -> heidou) find it; one wrong letter is forgiven by a fuzzy match in the backend.
- ``ini``: pinyin initials of the commodity's names and the title's words (hd), not of place
  names: "td" is 土豆 (potato) far more often than 田东, a county.
- ``en``: English words, stemmed (black beans -> black, bean), with the commodity's English names.

A homophone slip is read whole before it is split (西红是 -> xihongshi -> 西红柿, not 西红 + 是),
and one character is never taken for a sound-alike (是 -> shi is not 柿, the persimmon). A
category word (水果, vegetables) names its category (`QueryTerm.categories`).

Heteronyms follow the catalogue: its pinyin for 长豆角 is "chang dou jiao", and that is what the
analysis uses for that word; other words get pypinyin's phrase-aware reading.

Pure Python: no database, no search engine. A `Vocabulary` is built from the catalogue and the
regions (from the database, or from any rows in tests) and an `Analyzer` is built on it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import rjieba
import snowballstemmer
from pypinyin import Style, lazy_pinyin

from produce_match.catalog.names import english_singular, normalise, pinyin_key, simplified

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:\.[0-9]+)?")
_ASCII_WORD = re.compile(r"[a-z]+")
#: a frequency that makes jieba keep our dictionary words whole
_USER_WORD_FREQ = 200_000
#: English words that carry no meaning in a query or a title
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "for",
        "in",
        "on",
        "to",
        "with",
        "from",
        "at",
        "by",
        "per",
        "or",
    ]
)


#: the catalogue's categories by the names a buyer may type (Chinese, English, pinyin)
CATEGORY_NAMES: dict[str, tuple[str, ...]] = {
    "grain": ("粮食", "谷物", "grain", "grains", "cereal", "cereals"),
    "bean": ("豆类", "杂豆", "beans", "pulses", "legumes"),
    "vegetable": ("蔬菜", "青菜", "vegetable", "vegetables", "veg"),
    "fruit": ("水果", "鲜果", "果品", "fruit", "fruits"),
    "nut": ("坚果", "干果", "nut", "nuts"),
    "mushroom": ("食用菌", "菌菇", "mushroom", "mushrooms", "fungi"),
    "egg": ("禽蛋", "蛋类", "egg", "eggs"),
    "honey": ("蜂产品",),
    "tea": ("茶叶",),
    "herb": ("中药材", "药材", "herb", "herbs", "herbal"),
    "oilseed": ("油料", "oilseed", "oilseeds"),
    "spice": ("调味品", "香料", "spice", "spices"),
}


def is_cjk(token: str) -> bool:
    return bool(_CJK.fullmatch(token))


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Letters to insert, delete or change from `a` to `b`, a swap of two neighbours counting
    as one (hiedou -> heidou: 1): the slips people make typing. Given a `limit`, any distance
    above it comes back as limit + 1 (worked out no further than needed to know)."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            best = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, previous2[j - 2] + 1)
            row.append(best)
        # every later cell grows from these two rows (a swap reaches back two): past the limit
        # in both, the distance is too
        if limit is not None and min(row) > limit and min(previous) >= limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[-1] if limit is None else min(previous[-1], limit + 1)


def _slips_allowed(length: int) -> int:
    """How many slips a word of `length` letters may have and still be taken for a name."""
    return 1 if length <= 4 else 2 if length <= 8 else 3


@dataclass(frozen=True)
class Place:
    """A region a place word names."""

    code: str
    level: str  # province | prefecture | county
    province_code: str


@dataclass
class Vocabulary:
    """The words the analysis must know: commodity names and place names."""

    #: Chinese word -> its pinyin syllables from the catalogue ("hei dou"), or "" if unknown
    words: dict[str, str] = field(default_factory=dict)
    #: any normalised name of a commodity (zh, synonym, English, pinyin) -> commodity code
    commodity_of: dict[str, str] = field(default_factory=dict)
    #: commodity code -> its Chinese names (simplified) and its English names
    zh_names: dict[str, list[str]] = field(default_factory=dict)
    en_names: dict[str, list[str]] = field(default_factory=dict)
    #: commodity code -> its main Chinese name, for "did you mean"
    display: dict[str, str] = field(default_factory=dict)
    #: place name (full or short) -> the regions it names
    places: dict[str, list[Place]] = field(default_factory=dict)
    #: commodity code -> its category code (fruit, vegetable ...)
    category_of: dict[str, str] = field(default_factory=dict)
    #: any normalised name of a category (水果, fruits, shuiguo) -> category code
    categories: dict[str, str] = field(default_factory=dict)

    def add_commodity(
        self,
        code: str,
        name_zh: str,
        pinyin: str,
        synonyms_zh: Iterable[str],
        traditional: str | None,
        name_en: str,
        synonyms_en: Iterable[str],
        category: str | None = None,
    ) -> None:
        if category:
            self.category_of[code] = category
        zh = [simplified(name_zh)] + [simplified(s) for s in synonyms_zh]
        en = [name_en, *synonyms_en]
        self.zh_names[code] = zh
        self.en_names[code] = en
        self.display[code] = name_zh
        self.words[zh[0]] = pinyin
        for word in zh[1:]:
            self.words.setdefault(word, "")
        keys = [normalise(n) for n in [*zh, *en, code]]
        keys += [normalise(pinyin)] + [pinyin_key(w) for w in zh[1:]]
        if traditional:
            keys.append(normalise(traditional))
        for key in keys:
            if key:
                self.commodity_of.setdefault(key, code)
                if singular := english_singular(key):
                    self.commodity_of.setdefault(singular, code)

    def add_region(self, code: str, name: str, short_name: str, level: str) -> None:
        place = Place(code=code, level=level, province_code=code[:2] + "0000")
        for word in {name, short_name}:
            if len(word) >= 2:
                self.places.setdefault(word, []).append(place)
                self.words.setdefault(word, "")

    def add_category(self, code: str, names: Iterable[str]) -> None:
        """A category's names (水果, fruit): a query of one finds every lot of the category."""
        for name in names:
            key = normalise(name)
            if not key:
                continue
            self.categories.setdefault(key, code)
            if is_cjk(key):
                self.words.setdefault(key, "")
                self.categories.setdefault(pinyin_key(key), code)

    @classmethod
    def from_database(cls) -> Vocabulary:
        """The catalogue and the regions as they are in the database now."""
        from produce_match.catalog.models import Commodity, Region
        from produce_match.extensions import db

        vocab = cls()
        for c in db.session.scalars(db.select(Commodity)):
            vocab.add_commodity(
                c.code,
                c.name_zh,
                c.pinyin,
                c.synonyms_zh or [],
                c.traditional,
                c.name_en,
                c.synonyms_en or [],
                c.category.value,
            )
        for category, names in CATEGORY_NAMES.items():
            vocab.add_category(category, names)
        for r in db.session.scalars(db.select(Region)):
            vocab.add_region(r.code, r.name, r.short_name, r.level.value)
        return vocab


@functools.cache
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


@dataclass
class QueryTerm:
    """One thing a buyer typed, with every form in which it may match a lot."""

    text: str
    zh: list[str] = field(default_factory=list)
    py: list[str] = field(default_factory=list)
    ini: list[str] = field(default_factory=list)
    en: list[str] = field(default_factory=list)
    #: commodity codes this term names (黑豆 -> black_bean)
    commodities: list[str] = field(default_factory=list)
    #: set when the term is a place word (彰武, 辽宁)
    places: list[Place] = field(default_factory=list)
    #: category codes this term names (水果 -> fruit)
    categories: list[str] = field(default_factory=list)

    @property
    def is_place(self) -> bool:
        return bool(self.places) and not self.commodities


@dataclass
class AnalysedQuery:
    text: str
    terms: list[QueryTerm]

    @property
    def places(self) -> list[Place]:
        return [p for t in self.terms if t.is_place for p in t.places]

    @property
    def content_terms(self) -> list[QueryTerm]:
        return [t for t in self.terms if not t.is_place]

    @property
    def commodities(self) -> list[str]:
        return [c for t in self.terms for c in t.commodities]


class Analyzer:
    """Turns lots and queries into tokens, the same way for both."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.jieba = rjieba.Jieba()
        for word in vocabulary.words:
            if is_cjk(word):
                self.jieba.add_word(word, _USER_WORD_FREQ, None)
        # words repeat endlessly across lots: each is converted once per process
        self._pinyin = functools.lru_cache(maxsize=200_000)(self._pinyin_uncached)
        self._initials = functools.lru_cache(maxsize=200_000)(self._initials_uncached)
        # and so do texts (place names above all: every lot names its province and county)
        self._chinese_words = functools.lru_cache(maxsize=100_000)(self._chinese_words_uncached)
        self._english = functools.lru_cache(maxsize=100_000)(self._english_uncached)

    # --- words ------------------------------------------------------------------------

    @staticmethod
    def clean(text: str | None) -> str:
        """NFKC, simplified characters, lower case."""
        return simplified(unicodedata.normalize("NFKC", text or "").lower())

    def words(self, text: str | None) -> list[str]:
        """Chinese words and English/number words, in order ('彰武黑豆40吨' -> 彰武 黑豆 40 吨)."""
        out: list[str] = []
        for chunk in _WORD.findall(self.clean(text)):
            if is_cjk(chunk):
                out.extend(w for w in self.jieba.cut(chunk, True) if w.strip())
            else:
                out.append(chunk)
        return out

    def search_words(self, text: str | None) -> list[str]:
        """Words for the index: every word, and the shorter words inside long ones
        (樱桃番茄 -> 樱桃 番茄 樱桃番茄), so that a lot is found by any part of a compound."""
        out: list[str] = []
        for chunk in _WORD.findall(self.clean(text)):
            if is_cjk(chunk):
                out.extend(w for w in self.jieba.cut_for_search(chunk, True) if w.strip())
            else:
                out.append(chunk)
        return out

    def _chinese_words_uncached(self, text: str) -> tuple[str, ...]:
        return tuple(w for w in self.search_words(text) if is_cjk(w))

    def chinese_words(self, text: str | None) -> tuple[str, ...]:
        """The Chinese words of `search_words` (each text analysed once per process)."""
        return self._chinese_words(text) if text else ()

    def _pinyin_uncached(self, word: str) -> str:
        known = self.vocabulary.words.get(word)
        if known:
            return known.replace(" ", "")
        return "".join(lazy_pinyin(word, style=Style.NORMAL, errors="ignore"))

    def _syllables(self, word: str) -> list[str]:
        known = self.vocabulary.words.get(word)
        if known:
            return known.split()
        return lazy_pinyin(word, style=Style.NORMAL, errors="ignore")

    def pinyin(self, word: str) -> str:
        """Toneless pinyin of a Chinese word, catalogue readings first (长豆角 -> changdoujiao)."""
        return self._pinyin(word)

    def initials(self, word: str) -> str:
        """First letters of the syllables (黑豆 -> hd; 长豆角 -> cdj)."""
        return self._initials(word)

    def _initials_uncached(self, word: str) -> str:
        return "".join(s[0] for s in self._syllables(word) if s)

    def english(self, text: str | None) -> list[str]:
        """Stemmed English words (Black beans -> black bean)."""
        return list(self._english(text)) if text else []

    def _english_uncached(self, text: str) -> tuple[str, ...]:
        return tuple(stem(w) for w in _ASCII_WORD.findall(self.clean(text)) if w not in _STOP)

    # --- documents --------------------------------------------------------------------

    def document(
        self,
        *,
        commodity_code: str,
        title: str,
        texts: Iterable[str | None],
        places: Iterable[str | None],
        typed_name: str | None = None,
    ) -> dict[str, list[str]]:
        """The tokens of a lot, per field.

        `title` and the place names also give pinyin and initials; `texts` (variety, grade,
        description, storage, the cooperative's name) give Chinese and English words only.
        `typed_name` is the name of produce not in the catalogue (榴莲干 under 其他水果): kept
        whole like a catalogue name, and in its words like a title.
        """
        vocab = self.vocabulary
        # the commodity's names are kept whole (黑大豆 is not 大豆, which is the soybean)
        names = list(vocab.zh_names.get(commodity_code, []))
        if typed_name and is_cjk(typed_name):
            names.append(typed_name)
        titled = list(self.chinese_words(title))
        if typed_name:
            titled += self.chinese_words(typed_name)
        placed = [w for text in places if text for w in self.chinese_words(text)]
        zh = [*names, *titled, *placed]
        for text in texts:
            zh.extend(self.chinese_words(text))
        py = [self.pinyin(w) for w in [*names, *titled, *placed]]
        # no initials of place names: "td" is 土豆 far more often than 田东, "hd" 黑豆 than 衡东
        ini = [self.initials(w) for w in [*names, *titled] if w not in vocab.places]
        en: list[str] = []
        for text in [title, typed_name, *vocab.en_names.get(commodity_code, []), *texts]:
            en.extend(self.english(text))
        return {"zh": zh, "py": py, "ini": ini, "en": en}

    # --- "did you mean" -------------------------------------------------------------------

    def suggestions(self, text: str | None, limit: int = 3) -> list[str]:
        """Catalogue names nearest to what was typed, nearest first, in its language: English
        for English (chery -> cherry, never 橙子 through the pinyin "cheng"), Chinese for Chinese
        and for pinyin (hiedou -> 黑豆). Place words and known names are kept as typed; an
        unknown Chinese name gets the catalogue's names nearest in sound or sharing a character
        (榴莲 -> 莲藕, 石榴). Empty when every word is known."""
        analysed = self.query(text)
        cleaned = analysed.text.strip()
        if not cleaned or not analysed.terms:
            return []
        if not _CJK.search(cleaned) and not any(t.is_place for t in analysed.terms):
            # the whole query may be a misspelt name of several words (blak bean)
            key = normalise(cleaned)
            if not self._known(key):
                whole = self._nearest_latin(key, cleaned.islower())
                if whole:
                    return whole[:limit]
        options: list[list[str]] = []
        changed = False
        for term in analysed.terms:
            known = term.is_place or term.commodities or term.categories
            # numbers and single characters (40吨) are never taken for a misspelt name
            unlike = not term.text.isalpha() or (is_cjk(term.text) and len(term.text) < 2)
            near = [] if known or unlike else self._nearest(term.text)
            options.append(near or [term.text])
            changed = changed or bool(near)
        if not changed:
            return []
        # the first word with several candidates gives the variants, the others their nearest
        first = next((i for i, o in enumerate(options) if len(o) > 1), 0)
        out = []
        for choice in options[first][:limit]:
            words = [o[0] for o in options]
            words[first] = choice
            out.append(" ".join(words))
        return out

    def _known(self, key: str) -> bool:
        vocab = self.vocabulary
        singular = english_singular(key) or ""
        return any(k in vocab.commodity_of or k in vocab.categories for k in (key, singular) if k)

    def _nearest(self, word: str) -> list[str]:
        if is_cjk(word):
            return self._nearest_chinese(word)
        return self._nearest_latin(normalise(word), word.islower())

    def _nearest_latin(self, key: str, lower: bool) -> list[str]:
        """The English names, else the Chinese names by their pinyin, fewest slips away."""
        vocab = self.vocabulary
        allowed = _slips_allowed(len(key))
        keys = [key] + ([s] if (s := english_singular(key)) else [])
        # (slips, 0 English / 1 pinyin, another first letter, a synonym, name, code): the same
        # slips, the same first letter (rarely the one mistyped), then the main name first
        found: list[tuple[int, int, bool, bool, str, str]] = []
        for code, names in vocab.en_names.items():
            for i, name in enumerate(names):
                near = self._near(keys, normalise(name), allowed)
                if near is not None:
                    found.append((near, 0, name[:1].lower() != key[:1], i > 0, name, code))
        for code, names in vocab.zh_names.items():
            for i, name in enumerate(names):
                reading = normalise(vocab.words.get(name) or "") or pinyin_key(name)
                near = self._near(keys, reading, allowed)
                if near is not None:
                    first = reading[:1] != key[:1]
                    found.append((near, 1, first, i > 0, vocab.display[code], code))
        if not found:
            return []
        fewest = min(f[0] for f in found)
        closest = sorted(f for f in found if f[0] == fewest)
        # a word as near an English name as a pinyin one was typed in English
        language = closest[0][1]
        out: dict[str, str] = {}
        for _slips, kind, _first, _synonym, name, code in closest:
            if kind == language and code not in out:
                out[code] = name.lower() if lower and kind == 0 else name
        return list(out.values())

    @staticmethod
    def _near(keys: list[str], name_key: str, allowed: int) -> int | None:
        """The slips from the nearest of `keys` to a name, if few enough."""
        if not name_key or abs(len(name_key) - len(keys[0])) > allowed + 1:
            return None
        slips = min(edit_distance(k, name_key) for k in keys)
        return slips if slips <= allowed else None

    def _nearest_chinese(self, word: str) -> list[str]:
        """Catalogue names that sound near the word or share one of its characters, the
        nearest in sound first."""
        vocab = self.vocabulary
        reading = self.pinyin(word)
        allowed = _slips_allowed(len(reading))
        found: list[tuple[int, int, str]] = []  # slips, -shared characters, code
        for code, names in vocab.zh_names.items():
            for name in names:
                shared = len(set(word) & set(name))
                # (a name sharing no character only counts within the slips allowed)
                slips = edit_distance(reading, self.pinyin(name), None if shared else allowed)
                if shared or slips <= allowed:
                    found.append((slips, -shared, code))
        out: dict[str, str] = {}
        for _slips, _shared, code in sorted(found):
            out.setdefault(code, vocab.display[code])
        return list(out.values())

    # --- queries ----------------------------------------------------------------------

    def query(self, text: str | None) -> AnalysedQuery:
        """The terms of a query; each must match (place words narrow instead)."""
        cleaned = self.clean(text)[:200]
        vocab = self.vocabulary
        whole = normalise(cleaned)
        # the whole query may be one name: "hei dou", "black beans", "sweet potato"
        code = vocab.commodity_of.get(whole) or vocab.commodity_of.get(
            english_singular(whole) or ""
        )
        if whole and code and not is_cjk(whole):
            term = self._ascii_term(cleaned.strip(), joined=whole)
            term.commodities = [code]
            return AnalysedQuery(cleaned, [term])
        terms = []
        for chunk in _WORD.findall(cleaned):
            if is_cjk(chunk):
                terms.extend(self._cjk_terms(chunk))
            elif chunk not in _STOP:
                terms.append(self._ascii_term(chunk))
        return AnalysedQuery(cleaned, terms)

    def _cjk_terms(self, chunk: str) -> list[QueryTerm]:
        vocab = self.vocabulary
        terms: list[QueryTerm] = []

        def add(word: str) -> None:
            term = QueryTerm(text=word, zh=[word], py=[self.pinyin(word)])
            places = vocab.places.get(word, [])
            # a name of the catalogue, or a homophone slip of one (黑逗 -> heidou -> black bean);
            # never a one-character sound-alike (是 -> shi is not 柿, the persimmon)
            code = vocab.commodity_of.get(word) or (
                None if places or len(word) < 2 else vocab.commodity_of.get(term.py[0])
            )
            category = vocab.categories.get(word)
            if code:
                term.commodities = [code]
                term.zh = list(dict.fromkeys([word, *vocab.zh_names.get(code, [])]))
            elif places:
                term.places = places
            elif category:
                term.categories = [category]
            terms.append(term)

        known = (
            vocab.commodity_of.get(chunk) or vocab.places.get(chunk) or vocab.categories.get(chunk)
        )
        if not known and len(chunk) >= 2 and vocab.commodity_of.get(self.pinyin(chunk)):
            # the whole run sounds like a name: 西红是 is 西红柿, not 西红 + 是
            add(chunk)
            return terms
        words = [w for w in self.jieba.cut(chunk, True) if w.strip()]
        pending: list[str] = []  # words jieba split off an unknown run: 黑逗 -> 黑, 逗
        for word in words:
            if vocab.commodity_of.get(word) or vocab.places.get(word) or len(word) >= 2:
                if pending:
                    add("".join(pending))
                    pending.clear()
                add(word)
            else:
                pending.append(word)
        if pending:
            add("".join(pending))
        return terms

    def _ascii_term(self, word: str, joined: str | None = None) -> QueryTerm:
        vocab = self.vocabulary
        key = joined or word
        term = QueryTerm(text=word, py=[key], en=self.english(word) or [word])
        if key.isalpha() and len(key) <= 5:
            term.ini = [key]
        code = vocab.commodity_of.get(key)
        if code:
            term.commodities = [code]
        elif category := vocab.categories.get(key) or vocab.categories.get(
            english_singular(key) or ""
        ):
            term.categories = [category]
        return term
