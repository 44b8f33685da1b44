"""Run the Alipay gateway emulator as its own process:

    python -m devtools.alipay_gateway [--host 127.0.0.1] [--port 5002] [--dir DIR]

It reads the site's configuration (the same environment variables as the site): the app it
serves (ALIPAY_APP_ID, ALIPAY_SELLER_ID) and its folder (ALIPAY_EMULATOR_DIR, by default
instance/alipay_emulator: the test keys, written on the first start, and its SQLite file). It
refuses to run under a production configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devtools.alipay_gateway import create_gateway
from devtools.emulator import serve


def build(config: dict[str, Any], args: argparse.Namespace, instance: Path) -> tuple[Any, str]:
    folder = Path(args.dir or config["ALIPAY_EMULATOR_DIR"])
    gateway = create_gateway(
        folder,
        str(config["ALIPAY_APP_ID"]),
        str(config["ALIPAY_SELLER_ID"]),
        str(folder / "trades.sqlite3"),
    )
    # this process serves the emulator itself (no fork follows): send what was left over now
    gateway.extensions["alipay_emulator"].deliverer.resume()
    return (
        gateway,
        f"alipay emulator on http://{args.host}:{args.port}/gateway.do (keys in {folder})",
    )


def main(argv: list[str] | None = None) -> int:
    return serve(
        argv,
        module="devtools.alipay_gateway",
        name="alipay emulator",
        description="The Alipay gateway emulator (development and tests only).",
        port=5002,
        options={"--dir": "its keys and SQLite file (ALIPAY_EMULATOR_DIR)"},
        build=build,
    )


if __name__ == "__main__":
    sys.exit(main())
