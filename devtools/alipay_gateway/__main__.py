"""Run the Alipay gateway emulator as its own process:

    python -m devtools.alipay_gateway [--host 127.0.0.1] [--port 5002] [--dir DIR]

It reads the site's configuration (the same environment variables as the site): the app it
serves (ALIPAY_APP_ID, ALIPAY_SELLER_ID) and its folder (ALIPAY_EMULATOR_DIR, by default
instance/alipay_emulator: the test keys, written on the first start, and its SQLite file). It
refuses to run under a production configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from werkzeug.serving import run_simple

from devtools.alipay_gateway import PROJECT_ROOT, create_gateway
from produce_match.config import ConfigError, build_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.alipay_gateway",
        description="The Alipay gateway emulator (development and tests only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument(
        "--dir", default=None, help="its keys and SQLite file (ALIPAY_EMULATOR_DIR)"
    )
    args = parser.parse_args(argv)
    instance = os.environ.get("INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    try:
        config = build_config(str(Path(instance).resolve()))
    except ConfigError as exc:
        print(f"alipay emulator: {exc}", file=sys.stderr)
        return 2
    if config.get("PRODUCE_MATCH_ENV") == "production":
        print(
            "alipay emulator: it does not run in production (PRODUCE_MATCH_ENV=production): "
            "it moves no real money and lets anyone mark an order paid.",
            file=sys.stderr,
        )
        return 2
    folder = Path(args.dir or config["ALIPAY_EMULATOR_DIR"])
    gateway = create_gateway(
        folder,
        str(config["ALIPAY_APP_ID"]),
        str(config["ALIPAY_SELLER_ID"]),
        str(folder / "trades.sqlite3"),
    )
    # this process serves the emulator itself (no fork follows): send what was left over now
    gateway.extensions["alipay_emulator"].deliverer.resume()
    print(
        f"alipay emulator on http://{args.host}:{args.port}/gateway.do (keys in {folder})",
        flush=True,
    )
    run_simple(args.host, args.port, gateway, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
