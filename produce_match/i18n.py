"""Two languages: the user's choice, then the browser's Accept-Language, then Chinese.

Catalogues live in produce_match/translations/<locale>/LC_MESSAGES. Chinese is stored as "zh":
Babel parses "zh_CN" as zh_Hans_CN, and a catalogue kept under zh_CN would never be found.
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

from produce_match.extensions import babel

LANG_COOKIE = "pm_lang"
#: the language of each locale as HTML's lang attribute wants it
HTML_LANG = {"zh": "zh-CN", "en": "en"}
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # command line: the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    user = current_user
    if getattr(user, "is_authenticated", False) and user.locale in languages:
        return user.locale
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in languages:
        return chosen
    # Werkzeug matches "zh-CN", "zh-Hans-CN" and "zh-TW" against the primary tag "zh".
    return (
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def current_language() -> str:
    return str(get_locale() or "zh").split("_")[0]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def _language_context() -> dict[str, object]:
        lang = current_language()
        return {
            "current_language": lang,
            "html_lang": HTML_LANG.get(lang, lang),
            "language_names": LANGUAGE_NAMES,
        }
