"""The WSGI entry point: `flask` finds `app` here with no --app; gunicorn runs `wsgi:app`."""

import sys

from produce_match import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"produce_match will not start: {exc}")
