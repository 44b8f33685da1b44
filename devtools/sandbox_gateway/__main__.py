"""Run the sandbox payment gateway as its own process:

    python -m devtools.sandbox_gateway [--host 127.0.0.1] [--port 5001] [--db PATH]

It reads the site's configuration (the same environment variables as the site) for the secret
it shares with the site (PAYMENTS_SANDBOX_SECRET) and its database (PAYMENTS_SANDBOX_DB), and
refuses to run under a production configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from werkzeug.serving import run_simple

from devtools.sandbox_gateway import PROJECT_ROOT, create_gateway
from produce_match.config import ConfigError, build_config, sandbox_in_production


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.sandbox_gateway",
        description="The sandbox payment gateway (development and tests only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--db", default=None, help="its own SQLite file (PAYMENTS_SANDBOX_DB)")
    args = parser.parse_args(argv)
    instance = os.environ.get("INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    try:
        config = build_config(str(Path(instance).resolve()))
    except ConfigError as exc:
        print(f"sandbox gateway: {exc}", file=sys.stderr)
        return 2
    refused = sandbox_in_production(config, serving=True)
    if refused:
        print("sandbox gateway: " + " ".join(refused), file=sys.stderr)
        return 2
    gateway = create_gateway(
        config["PAYMENTS_SANDBOX_SECRET"], args.db or config["PAYMENTS_SANDBOX_DB"]
    )
    # this process serves the gateway itself (no fork follows): send what was left over now
    gateway.extensions["sandbox"]["deliverer"].resume()
    print(f"sandbox gateway on http://{args.host}:{args.port}/", flush=True)
    run_simple(args.host, args.port, gateway, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
