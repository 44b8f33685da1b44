"""The route inventory: every route of the app is public on purpose or protected, and every
state-changing one needs a CSRF token (pages) or a bearer token (API).

A new route fails here until it is classified: add it to PUBLIC (with the reason) if anyone may
use it, or protect it (login_required / the policy / a bearer token).
"""

from __future__ import annotations

import re

import pytest

from produce_match.extensions import csrf
from tests.conftest import login
from tests.factories import PASSWORD

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

#: endpoint -> why anyone, logged in or not, may use it
PUBLIC = {
    "static": "our own CSS, JavaScript and images",
    "web.index": "the home page: what is stranded",
    "web.favicon": "the icon",
    "web.healthz": "liveness for the process manager",
    "web.readyz": "readiness for the proxy",
    "web.set_language": "choosing a language (CSRF-protected; no account needed)",
    "accounts.login": "logging in (CSRF-protected, rate-limited)",
    "accounts.register": "cooperatives and buyers register themselves (CSRF-protected)",
    "accounts.organisation": "an organisation's public profile (contact details by policy)",
    "accounts.reset_password": "忘记密码: a code texted to the number (CSRF-protected, limited)",
    "lots.browse": "lots on offer are public: buyers must find them",
    "lots.detail": "a lot's page (withdrawn lots: owner and oversight only, by policy)",
    "lots.media": "photos of lots (random names; metadata stripped)",
    "sharing.lot_kit": "an open lot's share kit: anyone who sees the lot may pass it on",
    "sharing.lot_poster": "an open lot's poster (also its Open Graph image)",
    "sharing.follow": "short share links: count the visit (by the worker) and redirect",
    "orders.track": "the public tracking page behind an unguessable code: status and times",
    "payments.notify": "the payment provider's notifications: HMAC-signed, checked before anything",
    "api-docs.openapi_json": "the API's description",
    "api_accounts.create_token": "logging in to the API (rate-limited like the login page)",
    "api_accounts.request_code": "an SMS code to register or reset a password (limited)",
    "api_accounts.reset_password": "a new password with the code texted to the account's number",
    "api_catalog.list_commodities": "the public catalogue",
    "api_catalog.list_regions": "the regions of China",
    "api_lots.list_lots": "lots on offer are public",
    "api_lots.get_lot": "a lot (withdrawn: 404 but for owner and oversight)",
    "api_passes.verify": "a pass's QR code verified: the public facts only (masked plate, no "
    "name, no phone), behind an unguessable code",
    "shops.index": "the county shops: offices and their numbers of lots on offer",
    "shops.shop": "a county shop: the open lots of an office's jurisdiction, its hotline",
    "shops.flyer": "a shop's printable flyer: open lots and their QR codes",
    "feeds.lots_json": "the public JSON Feed of open lots, for marketplaces and aggregators",
    "feeds.lots_atom": "the public Atom feed of open lots",
    "wechat.jssdk_config": "wx.config's signature of one of this site's own pages (no data)",
}

#: views exempt from CSRF besides the API (which authenticates with bearer tokens only)
CSRF_EXEMPT_VIEWS: dict[str, str] = {
    "produce_match.web.payments.notify": "server to server from the payment provider; signed",
}


def _url(rule) -> str:
    """The rule's URL with placeholder arguments (ids that do not exist; a word it allows)."""

    def fill(match: re.Match[str]) -> str:
        converter, args = match.group(1) or "string", match.group(2) or ""
        if converter == "int":
            return "999999"
        if converter == "any":
            return args.split(",")[0].strip().strip("'\"")
        return "x"

    return re.sub(r"<(?:(\w+)(?:\(([^)]*)\))?:)?\w+>", fill, rule.rule)


def _rules(app):
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule))


def test_every_route_is_classified_and_closed_without_login(app, client):
    unclassified = []
    for rule in _rules(app):
        if rule.endpoint in PUBLIC:
            continue
        url = _url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if url.startswith("/api/"):
                ok = response.status_code == 401
            elif response.status_code in (301, 302, 303, 307, 308):
                ok = "/login" in response.location
            else:  # 400 (no CSRF token), or 404/403 for areas one may not even know of
                ok = response.status_code in (400, 403, 404)
            if not ok:
                unclassified.append(
                    f"{method} {rule.rule} ({rule.endpoint}): {response.status_code}"
                )
    assert unclassified == [], "public by accident? classify or protect:\n" + "\n".join(
        unclassified
    )


def test_state_changing_pages_need_a_csrf_token(app, users):
    client = app.test_client()
    login(client, "admin", PASSWORD)
    missing = []
    for rule in _rules(app):
        view = app.view_functions[rule.endpoint]
        exempt = f"{view.__module__}.{view.__name__}" in CSRF_EXEMPT_VIEWS
        if rule.rule.startswith("/api/") or exempt:
            continue
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            response = client.open(
                _url(rule), method=method, data={"anything": "1"}, headers={"Accept-Language": "en"}
            )
            text = response.get_data(as_text=True)
            if response.status_code != 400 or "did not come from this site" not in text:
                missing.append(f"{method} {rule.rule}: {response.status_code}")
    assert missing == []


def test_the_api_never_takes_a_cookie_for_a_token(app, users):
    client = app.test_client()
    login(client, "admin", PASSWORD)  # a logged-in browser session, no bearer token
    accepted = []
    for rule in _rules(app):
        if not rule.rule.startswith("/api/") or rule.endpoint in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule), method=method, json={})
            if response.status_code != 401:
                accepted.append(f"{method} {rule.rule}: {response.status_code}")
    assert accepted == []


def test_csrf_exemptions_are_exactly_the_api_and_the_listed_views(app):
    exempt_blueprints = {bp.name for bp in csrf._exempt_blueprints}
    assert exempt_blueprints == {name for name in app.blueprints if name.startswith("api_")}
    assert {v.split(".", 1)[-1] for v in csrf._exempt_views} == {
        v.split(".", 1)[-1] for v in CSRF_EXEMPT_VIEWS
    }


@pytest.mark.parametrize("endpoint", sorted(PUBLIC))
def test_public_endpoints_exist(app, endpoint):
    assert endpoint in {r.endpoint for r in app.url_map.iter_rules()}
