"""Highlighted snippets: the words a buyer searched for, marked in a lot's title and text."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from produce_match.search.analysis import AnalysedQuery

SNIPPET = 60


def _pattern(query: AnalysedQuery) -> re.Pattern[str] | None:
    words: set[str] = set()
    for term in query.terms:
        words.update(w for w in term.zh if w)
        if term.text.isascii() and len(term.text) >= 3:
            words.add(term.text)
        words.update(w for w in term.en if len(w) >= 3)
    if not words:
        return None
    ordered = sorted(words, key=len, reverse=True)  # the longest name first: 大樱桃 before 樱桃
    return re.compile("|".join(re.escape(w) for w in ordered), re.IGNORECASE)


def mark(text: str | None, query: AnalysedQuery) -> Markup:
    """The whole text, escaped, with every searched word in <mark>."""
    pattern = _pattern(query)
    text = text or ""
    if pattern is None:
        return escape(text)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(Markup("<mark>%s</mark>") % match.group(0))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def snippet(text: str | None, query: AnalysedQuery) -> Markup:
    """A short part of a long text around its first searched word, marked."""
    text = " ".join((text or "").split())
    pattern = _pattern(query)
    match = pattern.search(text) if pattern else None
    if match is None:
        short = text[: SNIPPET * 2]
        return escape(short + ("…" if len(text) > len(short) else ""))
    start = max(0, match.start() - SNIPPET)
    end = min(len(text), match.end() + SNIPPET)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return escape(prefix) + mark(text[start:end], query) + escape(suffix)
