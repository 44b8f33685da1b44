"""produce_match: rescue stranded farm produce.

`create_app(config=None)` builds the Flask app: settings, extensions, blueprints, CLI commands.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from produce_match.config import ConfigError, build_config

__all__ = ["ConfigError", "create_app"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` between 0 and 2**31 - 1 (PostgreSQL's integer), unless a rule says otherwise."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app; `config` overrides environment variables (tests pass their own)."""
    instance_path = (
        (config or {}).get("INSTANCE_PATH")
        or os.environ.get("INSTANCE_PATH")
        or str(PROJECT_ROOT / "instance")
    )
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(build_config(app.instance_path, config))
    app.jinja_env.add_extension("jinja2.ext.do")
    # ids in URLs fit the database's integer columns: a larger number is a 404, never a 500
    app.url_map.converters["int"] = BoundedIntConverter
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable

    # tasks: every domain's tasks and timers, declared for the queue
    from produce_match import (  # noqa: F401
        api,
        backup,
        cache,
        demo,
        deploy,
        i18n,
        models,
        queue,
        setup,
        tasks,
        transaction,
        worker,
    )
    from produce_match.accounts import cli as accounts_cli
    from produce_match.catalog import cli as catalog_cli
    from produce_match.demands import cli as demands_cli
    from produce_match.extensions import csrf, db, login_manager, migrate
    from produce_match.lots import cli as lots_cli
    from produce_match.matching import alerts, proposals  # noqa: F401 (receivers and words)
    from produce_match.matching import cli as match_cli
    from produce_match.messaging import sms as sms_gateway
    from produce_match.monitor import cli as monitor_cli
    from produce_match.monitor import operations as monitor_ops  # noqa: F401 (words)
    from produce_match.orders import cli as orders_cli
    from produce_match.orders import notices  # noqa: F401 (tells the other side of each step)
    from produce_match.partners import receivers  # noqa: F401 (webhooks and robots)
    from produce_match.payments import init_app as payments_init
    from produce_match.search import cli as search_cli
    from produce_match.search import service as search
    from produce_match.web import accounts as accounts_views
    from produce_match.web import catalog as catalog_views
    from produce_match.web import demands as demands_views
    from produce_match.web import (
        errors,
        logs,
        pagecache,  # noqa: F401 (what the kept pages are made of)
        security,
        templating,
    )
    from produce_match.web import lot_imports as import_views
    from produce_match.web import lots as lots_views
    from produce_match.web import market as market_views
    from produce_match.web import matching as matching_views
    from produce_match.web import monitor as monitor_views
    from produce_match.web import notifications as notifications_views
    from produce_match.web import orders as orders_views
    from produce_match.web import partners as partners_views
    from produce_match.web import pass_office as pass_office_views
    from produce_match.web import passes as passes_views
    from produce_match.web import payments as payments_views
    from produce_match.web import ratings as ratings_views
    from produce_match.web import rescue as rescue_views
    from produce_match.web import sharing as sharing_views
    from produce_match.web import shops as shops_views
    from produce_match.web import verification as verification_views
    from produce_match.web import views as web_views
    from produce_match.web import whitelists as whitelist_views

    db.init_app(app)
    cache.init_app(app)  # its generation is read before anything else reads the database
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    logs.init_app(app)
    security.init_app(app)
    queue.init_app(app)  # before anything commits: the tasks enqueued after commits
    search.init_app(app)
    sms_gateway.init_app(app)  # a production configuration must send SMS for real

    app.register_blueprint(web_views.bp)
    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(accounts_views.admin_bp)
    app.register_blueprint(catalog_views.bp)
    app.register_blueprint(lots_views.bp)
    app.register_blueprint(import_views.bp)
    app.register_blueprint(orders_views.bp)
    app.register_blueprint(demands_views.bp)
    app.register_blueprint(whitelist_views.bp)
    matching_views.init_app(app)
    notifications_views.init_app(app)
    monitor_views.init_app(app)
    market_views.init_app(app)  # prices for everyone (行情)
    payments_views.init_app(app)
    sharing_views.init_app(app)
    shops_views.init_app(app)  # county shops, the public feeds, WeChat's share card
    partners_views.init_app(app)
    pass_office_views.init_app(app)  # the office's side of transport passes
    passes_views.init_app(app)  # transport passes: the applicant's pages, the public check
    ratings_views.init_app(app)  # ratings after completion: the order's and organisation's pages
    verification_views.init_app(app)  # 实名认证: an organisation's claims, the review queue
    rescue_views.init_app(app)  # the rescue ladder: answers, donations, the office's page
    payments_init(app)  # commands, hooks, the providers' pages in form-action
    api.init_app(app)
    # last: the request's one commit point runs before the app's other after-request hooks
    transaction.init_app(app)

    accounts_cli.init_app(app)
    lots_cli.init_app(app)
    orders_cli.init_app(app)
    demands_cli.init_app(app)
    match_cli.init_app(app)
    monitor_cli.init_app(app)
    catalog_cli.init_app(app)
    search_cli.init_app(app)
    demo.init_app(app)
    setup.init_app(app)
    deploy.init_app(app)
    backup.init_app(app)
    worker.init_app(app)

    if app.config["AUTO_SETUP"]:
        with app.app_context():
            setup.initialise(demo=app.config["LOAD_DEMO"])
    return app
