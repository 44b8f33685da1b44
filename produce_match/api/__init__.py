"""The JSON API (v1) and its OpenAPI document, generated from the code by flask-smorest."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api as _SmorestApi

from produce_match.api.schemas import ErrorSchema
from produce_match.extensions import csrf


class Api(_SmorestApi):
    """flask-smorest, with errors left to the app's one handler (produce_match.web.errors).

    flask-smorest's own handler would answer every error of the whole site in its format and
    drop the headers of the exception (a 405 would lose its Allow header).
    """

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


api = Api()

API_DESCRIPTION = (
    "Rescue stranded farm produce. Authenticate with a bearer token from POST /api/v1/tokens. "
    'Every error has the form {"error": {"code", "message", "fields"}}; '
    "messages follow Accept-Language (zh or en)."
)


def init_app(app: Flask) -> None:
    from produce_match.api import (
        accounts,
        catalog,
        demands,
        lots,
        market,
        monitor,
        notifications,
        orders,
        partners,
        passes,
        payments,
        proposals,
        ratings,
        rescue,
        trust,
        verification,
    )

    api.init_app(app, spec_kwargs={"info": {"description": API_DESCRIPTION}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for blueprint in (
        accounts.blp,
        catalog.blp,
        lots.blp,
        orders.blp,
        demands.blp,
        proposals.blp,
        payments.blp,
        monitor.blp,
        market.blp,
        notifications.blp,
        partners.blp,
        passes.blp,
        ratings.blp,
        verification.blp,
        trust.blp,
        rescue.blp,
    ):
        csrf.exempt(blueprint)  # the API authenticates with bearer tokens, never with cookies
        api.register_blueprint(blueprint, url_prefix="/api/v1")
