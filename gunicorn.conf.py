"""gunicorn settings for produce_match: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden from the environment (names below) or on the command line.
The app is loaded once in the master (preload) so that the Chinese segmentation dictionaries,
the catalogue's vocabulary, the compiled templates and the translations are loaded once and
shared by the workers; each worker then opens
its own database connections and search index files.
"""

import json
import os

from gunicorn.glogging import Logger, SafeAtoms

bind = os.environ.get("BIND", "127.0.0.1:8000")
#: 2 x CPUs + 1, at most 12 (WEB_CONCURRENCY overrides); SQLite wants 1 (see check-deploy)
workers = int(os.environ.get("WEB_CONCURRENCY", 0)) or min(2 * (os.cpu_count() or 1) + 1, 12)
#: threads per worker (WEB_THREADS; 1: the sync worker). With threads (gthread), a worker serves
#: another request while one waits for the database, and keeps clients' connections alive
#: (`keepalive`) instead of opening one per request; each thread takes its own database
#: connection and session. Measured with bench/orders.py on PostgreSQL (see the README's
#: orders figures): more orders a second than sync workers, and nothing oversold. SQLite stays
#: correct (its writers take the database in turn: BEGIN IMMEDIATE).
threads = int(os.environ.get("WEB_THREADS", 4))
worker_class = "gthread" if threads > 1 else "sync"
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
#: recycle workers now and then (slow leaks never pile up); jitter so they do not all restart
max_requests = 5000
max_requests_jitter = 500
#: request line and headers are small here; refuse anything larger early
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
#: the proxies allowed to set X-Forwarded-* for gunicorn itself (the app uses TRUSTED_PROXIES)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
#: HTTPS directly from gunicorn, without a proxy in front
certfile = os.environ.get("CERTFILE") or None
keyfile = os.environ.get("KEYFILE") or None

#: "-" is standard output; ACCESS_LOG= (empty) turns the access log off
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


class JsonAtoms(SafeAtoms):
    """Every value of the access log as the inside of a JSON string. gunicorn's own wrapper puts
    a backslash before a quote but leaves backslashes and line breaks alone, so a path with %0A
    (decoded into PATH_INFO) or a user agent ending in a backslash could end its field or start
    a line that looks like another request's."""

    def __init__(self, atoms):
        dict.__init__(self)
        for key, value in atoms.items():
            self[key] = (
                json.dumps(value, ensure_ascii=False)[1:-1] if isinstance(value, str) else value
            )


class JsonAccessLogger(Logger):
    """gunicorn's logger, with every access log value escaped as JSON string content."""

    atoms_wrapper_class = JsonAtoms


logger_class = JsonAccessLogger
#: one JSON object per request, with the request id the app put in X-Request-ID
access_log_format = (
    '{"ts": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": "%(B)s", "ms": %(M)s, "request_id": "%({x-request-id}o)s", '
    '"agent": "%(a)s"}'
)


def when_ready(server):
    """In the master, before the workers fork: load what every worker shares read-only."""
    from produce_match.search.service import service
    from produce_match.web.templating import warm
    from wsgi import app

    with app.app_context():
        service().analyzer  # noqa: B018 - loads jieba's dictionary and the vocabulary once
    # the templates compiled and the catalogues loaded once, for every worker to come (a
    # recycled worker's replacement too: with max_requests, one every few minutes under load)
    warm(app)


def post_fork(server, worker):
    """In each new worker: its own database connections and index files, never the master's."""
    from produce_match.extensions import db
    from produce_match.search.service import service
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)
        service().after_fork()
