"""Posting JSON to other people's servers: partners' webhooks and chat-group robots.

Kernel level: this module is handed a URL, a body and (for webhooks) a secret; it knows no
domain. It signs, posts with a timeout, and says what the answer means (`Outcome`): delivered,
worth trying again later, or refused for good. Who is sent what, and when to try again, is the
caller's business (produce_match/partners).

Signature of a partner webhook (Stripe's scheme): the header
``Produce-Match-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` keyed
with the endpoint's secret; `verify` is what a partner runs on its side.

Robots: WeChat Work (企业微信群机器人) and DingTalk (钉钉群机器人) answer HTTP 200 even when they
refuse a message, with ``{"errcode": n, "errmsg": ...}``; only errcode 0 is delivered. DingTalk's
optional signing (加签) adds ``timestamp`` (ms) and ``sign`` to the URL's query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import requests

SIGNATURE_HEADER = "Produce-Match-Signature"
#: how old a signed timestamp a receiver should accept (seconds): `verify`'s default
TOLERANCE = 300
#: what a partner's server answers is kept this long in the delivery log (characters)
KEEP_ANSWER = 500
USER_AGENT = "produce-match-webhooks/1"

#: the robots' own hosts: production posts nowhere else for a robot
ROBOT_HOSTS = {"wecom": "qyapi.weixin.qq.com", "dingtalk": "oapi.dingtalk.com"}
#: errcodes that mean "too many messages just now": try again later (WeChat Work allows 20 a
#: minute per robot, DingTalk 20 a minute)
ROBOT_RATE_LIMITED = {"wecom": frozenset({45009}), "dingtalk": frozenset({130101, 660026})}
#: HTTP statuses worth trying again: timeouts, conflicts, rate limits, the server's own errors
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


class UnsafeURL(ValueError):
    """A URL the service will not post to; `reason` is one of the keys of `REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


REASONS = ("scheme", "host", "private", "unresolvable", "robot_host")


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    delivered: bool
    #: not delivered, but trying again later may work (timeouts, 5xx, rate limits)
    retryable: bool
    status: int | None = None
    #: a short account for the delivery log: the error, or the start of the answer
    detail: str = ""
    #: the server asked to wait at least this long (seconds) before the next try
    retry_after: int | None = None
    elapsed_ms: int = 0


# --- signatures -----------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh endpoint secret (shown to its owner once)."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The value of the signature header for `body` sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance: int = TOLERANCE, now: float | None = None
) -> bool:
    """A partner's check of a delivery: the header's v1 signature matches `body` under `secret`
    and its timestamp is within `tolerance` seconds of `now`. (Partners may copy this.)"""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int | None = None) -> str:
    """The robot's URL with DingTalk's 加签: ``timestamp`` (ms) and ``sign`` =
    urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")))."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp}&sign={sign}"


# --- where we may post ------------------------------------------------------------------------


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, production: bool, robot: str | None = None) -> str:
    """`url` if the service may post to it, else UnsafeURL.

    Production: HTTPS only, and every address the host resolves to must be public (no
    loopback, private, link-local or reserved address: nobody may aim our worker at our own
    network); a robot's URL must be on its service's host. Development and tests may also post
    over plain HTTP to this machine (the local emulators and test servers)."""
    url = url.strip()
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UnsafeURL("host")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # a port that is not a number, or out of range, raises here
    except ValueError:
        raise UnsafeURL("host") from None
    host = parts.hostname or ""
    if not host or parts.username or parts.password:
        raise UnsafeURL("host")
    local = host in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local and not production):
        raise UnsafeURL("scheme")
    if not production:
        return url
    if robot is not None and host != ROBOT_HOSTS[robot]:
        raise UnsafeURL("robot_host")
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL("unresolvable") from None
    if not infos or not all(_public(str(info[4][0])) for info in infos):
        raise UnsafeURL("private")
    return url


# --- posting ----------------------------------------------------------------------------------


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
    started = time.monotonic()
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=timeout,
            allow_redirects=False,  # a redirect could lead anywhere: it is an answer, not a hop
        )
    except requests.Timeout:
        return Outcome(False, True, detail=f"timeout after {timeout:g} s", elapsed_ms=_ms(started))
    except requests.RequestException as exc:
        return Outcome(False, True, detail=type(exc).__name__, elapsed_ms=_ms(started))
    return response, _ms(started)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def post_webhook(
    url: str, body: bytes, secret: str, *, timeout: float, timestamp: int | None = None
) -> Outcome:
    """Post a signed event to a partner. Only a 2xx answer is delivered; timeouts, network
    errors, 408/409/425/429 and 5xx may be tried again; any other answer is refused for good."""
    stamp = int(time.time()) if timestamp is None else timestamp
    sent = _post(url, body, {SIGNATURE_HEADER: signature(secret, body, stamp)}, timeout)
    if isinstance(sent, Outcome):
        return sent
    response, elapsed = sent
    status = response.status_code
    detail = response.text[:KEEP_ANSWER]
    if 200 <= status < 300:
        return Outcome(True, False, status, detail, elapsed_ms=elapsed)
    retryable = status >= 500 or status in RETRYABLE_STATUS
    return Outcome(False, retryable, status, detail, _retry_after(response), elapsed)


def robot_body(message: dict[str, Any]) -> bytes:
    """A robot message as the bytes posted (UTF-8 JSON, Chinese unescaped)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def post_robot(kind: str, url: str, body: bytes, *, secret: str | None, timeout: float) -> Outcome:
    """Post a message to a WeChat Work ("wecom") or DingTalk ("dingtalk") group robot.

    Delivered only on HTTP 200 with errcode 0; a rate-limit errcode, a 5xx or a network error
    may be tried again; any other errcode (a wrong key, a bad signature, a malformed message)
    is refused for good."""
    if kind == "dingtalk" and secret:
        url = dingtalk_signed_url(url, secret)
    sent = _post(url, body, {"Content-Type": "application/json; charset=utf-8"}, timeout)
    if isinstance(sent, Outcome):
        return sent
    response, elapsed = sent
    status = response.status_code
    detail = response.text[:KEEP_ANSWER]
    if status != 200:
        retryable = status >= 500 or status in RETRYABLE_STATUS
        return Outcome(False, retryable, status, detail, _retry_after(response), elapsed)
    try:
        answer = response.json()
        errcode = int(answer.get("errcode", -1))
    except (ValueError, AttributeError, TypeError):
        return Outcome(False, True, status, detail, elapsed_ms=elapsed)
    if errcode == 0:
        return Outcome(True, False, status, detail, elapsed_ms=elapsed)
    if errcode in ROBOT_RATE_LIMITED.get(kind, ()):
        return Outcome(False, True, status, detail, retry_after=60, elapsed_ms=elapsed)
    return Outcome(False, False, status, detail, elapsed_ms=elapsed)
