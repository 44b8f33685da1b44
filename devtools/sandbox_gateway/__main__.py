"""Run the sandbox payment gateway as its own process:

    python -m devtools.sandbox_gateway [--host 127.0.0.1] [--port 5001] [--db PATH]

It reads the site's configuration (the same environment variables as the site) for the secret
it shares with the site (PAYMENTS_SANDBOX_SECRET) and its database (PAYMENTS_SANDBOX_DB), and
refuses to run under a production configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devtools.emulator import serve
from devtools.sandbox_gateway import create_gateway
from produce_match.config import sandbox_in_production


def build(config: dict[str, Any], args: argparse.Namespace, instance: Path) -> tuple[Any, str]:
    gateway = create_gateway(
        config["PAYMENTS_SANDBOX_SECRET"], args.db or config["PAYMENTS_SANDBOX_DB"]
    )
    # this process serves the gateway itself (no fork follows): send what was left over now
    gateway.extensions["sandbox"]["deliverer"].resume()
    return gateway, f"sandbox gateway on http://{args.host}:{args.port}/"


def main(argv: list[str] | None = None) -> int:
    return serve(
        argv,
        module="devtools.sandbox_gateway",
        name="sandbox gateway",
        description="The sandbox payment gateway (development and tests only).",
        port=5001,
        options={"--db": "its own SQLite file (PAYMENTS_SANDBOX_DB)"},
        build=build,
        refuse=lambda config: sandbox_in_production(config, serving=True),
    )


if __name__ == "__main__":
    sys.exit(main())
