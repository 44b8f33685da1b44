"""Normalising what people type for a commodity: simplified characters, pinyin, case, plurals."""

from __future__ import annotations

import functools
import re
import unicodedata

import opencc
from pypinyin import Style, lazy_pinyin

_SPACES = re.compile(r"[\s·・,，、/()（）\-_]+")


@functools.cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional characters to simplified (櫻桃 -> 樱桃); other text unchanged."""
    return _t2s().convert(text)


def normalise(text: str | None) -> str:
    """The lookup key of a name: NFKC, simplified, lower-case, without spaces or separators."""
    text = unicodedata.normalize("NFKC", text or "").strip().lower()
    return _SPACES.sub("", simplified(text))


def pinyin_key(chinese: str) -> str:
    """Toneless pinyin without spaces (黑豆 -> heidou; ü as v)."""
    return "".join(lazy_pinyin(chinese, style=Style.NORMAL, v_to_u=False, errors="ignore"))


def english_singular(key: str) -> str | None:
    """A plural English key in singular ('blackbeans' -> 'blackbean'), or None."""
    if not key.isascii() or len(key) < 4:
        return None
    if key.endswith("ies"):
        return key[:-3] + "y"
    if key.endswith(("oes", "ches", "shes")):
        return key[:-2]
    if key.endswith("s") and not key.endswith("ss"):
        return key[:-1]
    return None
