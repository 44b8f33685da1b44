"""WeChat's JS-SDK (微信 JS-SDK) for the share card of pages opened in WeChat's browser: the
`access_token` and `jsapi_ticket` from WeChat's API, kept in the cache, and the signature of
`wx.config`, as WeChat documents it (公众号 › 网页开发 › JS-SDK 说明 › 附录 1).

The ticket lives 7200 s. It is kept in the cache shared by every process of the site (files on
one node, Redis on several: produce_match/cache.py), outside the data's generations (a commit
does not change it), and fetched again 20 minutes before it runs out. One process fetches it
at a time (a lock: a file lock on one node, Redis' SET NX on several); the others go on with
the ticket they have, or without a share card, and never wait. When WeChat cannot be reached or
refuses, nobody asks again for a minute. Nothing here is called while a page is rendered: the
pages ask for their `wx.config` from their own script (web/wechat.py), so that a WeChat outage
costs a share card, never a page.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from flask import current_app

from produce_match import cache

log = logging.getLogger(__name__)

TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a path, not a secret
TICKET_PATH = "/cgi-bin/ticket/getticket"
#: the JS-SDK itself, and WeChat's second copy of it (used when the first does not load)
SDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
SDK_FALLBACK_URL = "https://res2.wx.qq.com/open/js/jweixin-1.6.0.js"
SCRIPT_ORIGINS = ("https://res.wx.qq.com", "https://res2.wx.qq.com")
#: fetch a new ticket when the one kept has less than this left (seconds)
REFRESH_BEFORE = 20 * 60
#: a ticket with less than this left is not handed out any more (a page signed with it
#: must still configure the SDK when its script runs)
HAND_OUT_MARGIN = 60
#: after a failure, seconds before anyone asks WeChat again
FAILURE_PAUSE = 60
#: the longest one fetch may hold the lock (then another process may try)
LOCK_SECONDS = 30
#: WeChat's answers meaning the access_token is no longer valid (another client of the same
#: account fetched a new one, or it ran out): fetch a token again, once
_STALE_TOKEN = (40001, 40014, 42001)

_TICKET_KEY = "wechat:jsapi_ticket"
_TOKEN_KEY = "wechat:access_token"  # noqa: S105 - a cache key
_PAUSE_KEY = "wechat:paused"
_LOCK_KEY = "wechat:lock"


class WeChatUnavailable(Exception):
    """WeChat could not be reached, or refused (its errcode and errmsg are in the message)."""


def configured() -> bool:
    """Are the account's AppID and AppSecret set (the share card is on)?"""
    config = current_app.config
    return bool(config.get("WECHAT_APP_ID") and config.get("WECHAT_APP_SECRET"))


def signature(jsapi_ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The signature of `wx.config`: SHA-1 of the four fields in this order, the page's URL
    without its fragment (everything from `#` on)."""
    url = url.split("#", 1)[0]
    text = f"jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - WeChat's scheme, not ours


def _get(path: str, params: dict[str, str]) -> dict[str, Any]:
    base = current_app.config["WECHAT_API_URL"].rstrip("/")
    try:
        response = requests.get(
            base + path, params=params, timeout=current_app.config["WECHAT_HTTP_TIMEOUT"]
        )
        response.raise_for_status()
        answer = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise WeChatUnavailable(f"{path}: {type(exc).__name__}") from None
    if not isinstance(answer, dict):
        raise WeChatUnavailable(f"{path}: not a JSON object")
    return answer


def _refused(path: str, answer: dict[str, Any]) -> WeChatUnavailable:
    return WeChatUnavailable(f"{path}: errcode {answer.get('errcode')} {answer.get('errmsg', '')}")


def _access_token(*, fresh: bool = False) -> str:
    held = None if fresh else cache.cache.get(_TOKEN_KEY)
    if held and held["expires_at"] - time.time() > HAND_OUT_MARGIN:
        return str(held["token"])
    answer = _get(
        TOKEN_PATH,
        {
            "grant_type": "client_credential",
            "appid": current_app.config["WECHAT_APP_ID"],
            "secret": current_app.config["WECHAT_APP_SECRET"],
        },
    )
    token = answer.get("access_token")
    if not token:
        raise _refused(TOKEN_PATH, answer)
    expires_in = int(answer.get("expires_in") or 7200)
    cache.cache.set(
        _TOKEN_KEY, {"token": token, "expires_at": time.time() + expires_in}, timeout=expires_in
    )
    return str(token)


def _fetch_ticket() -> tuple[str, int]:
    """A new jsapi_ticket and its lifetime (seconds) from WeChat."""
    for attempt in (1, 2):
        token = _access_token(fresh=attempt == 2)
        answer = _get(TICKET_PATH, {"access_token": token, "type": "jsapi"})
        if answer.get("errcode") in _STALE_TOKEN and attempt == 1:
            continue
        if answer.get("errcode") not in (0, None) or not answer.get("ticket"):
            raise _refused(TICKET_PATH, answer)
        return str(answer["ticket"]), int(answer.get("expires_in") or 7200)
    raise WeChatUnavailable(TICKET_PATH)  # pragma: no cover - the loop returns or raises


@contextlib.contextmanager
def _lock() -> Iterator[bool]:
    """Whether this process may fetch now: one at a time across the site's processes."""
    if current_app.config.get("CACHE_TYPE") == "RedisCache":
        got = bool(cache.cache.add(_LOCK_KEY, os.getpid(), timeout=LOCK_SECONDS))
        try:
            yield got
        finally:
            if got:
                cache.cache.delete(_LOCK_KEY)
        return
    path = Path(current_app.instance_path) / "wechat.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _usable(held: Any, margin: int) -> str | None:
    if held and held["expires_at"] - time.time() > margin:
        return str(held["ticket"])
    return None


def jsapi_ticket() -> str | None:
    """The current jsapi_ticket, fetched when the kept one is missing or about to run out;
    None when there is none to hand out (WeChat unreachable, or another process fetching)."""
    held = cache.cache.get(_TICKET_KEY)
    fresh = _usable(held, REFRESH_BEFORE)
    if fresh:
        return fresh
    still = _usable(held, HAND_OUT_MARGIN)
    if cache.cache.get(_PAUSE_KEY):
        return still
    with _lock() as mine:
        if not mine:
            return still
        held = cache.cache.get(_TICKET_KEY)  # another process may have just fetched it
        fresh = _usable(held, REFRESH_BEFORE)
        if fresh:
            return fresh
        try:
            ticket, expires_in = _fetch_ticket()
        except WeChatUnavailable as exc:
            log.warning("wechat: no jsapi_ticket (%s); asking again in %d s", exc, FAILURE_PAUSE)
            cache.cache.set(_PAUSE_KEY, 1, timeout=FAILURE_PAUSE)
            return still
        cache.cache.set(
            _TICKET_KEY,
            {"ticket": ticket, "expires_at": time.time() + expires_in},
            timeout=expires_in,
        )
        return ticket


def share_config(url: str) -> dict[str, Any] | None:
    """What `wx.config` needs for the page at `url`, or None without a ticket."""
    ticket = jsapi_ticket()
    if ticket is None:
        return None
    nonce = secrets.token_urlsafe(12)
    timestamp = int(time.time())
    return {
        "appId": current_app.config["WECHAT_APP_ID"],
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": signature(ticket, nonce, timestamp, url),
    }
