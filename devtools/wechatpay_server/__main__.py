"""Run the WeChat Pay emulator as its own process:

    python -m devtools.wechatpay_server [--host 127.0.0.1] [--port 5003] [--db PATH] [--keys DIR]

It reads the site's configuration (the same environment variables as the site) for the
merchant it serves (WECHATPAY_MCHID, WECHATPAY_APPID, WECHATPAY_CERT_SERIAL_NO,
WECHATPAY_PUBLIC_KEY_ID), keeps the test key set in the instance folder (`wechatpay_dev/`,
made on the first start; the site's development defaults read the same files) and refuses to
run under a production configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devtools.emulator import serve
from devtools.wechatpay_server import create_server, ensure_keys
from produce_match.config import WECHATPAY_DEV_KEYS


def build(config: dict[str, Any], args: argparse.Namespace, instance: Path) -> tuple[Any, str]:
    keys = ensure_keys(Path(args.keys) if args.keys else instance / WECHATPAY_DEV_KEYS)
    server = create_server(
        keys,
        args.db or str(instance / "wechatpay_emulator.sqlite3"),
        mchid=config["WECHATPAY_MCHID"],
        appid=config["WECHATPAY_APPID"],
        serial_no=config["WECHATPAY_CERT_SERIAL_NO"],
        key_id=config["WECHATPAY_PUBLIC_KEY_ID"],
    )
    return server, f"WeChat Pay emulator on http://{args.host}:{args.port}/ (keys in {keys})"


def main(argv: list[str] | None = None) -> int:
    return serve(
        argv,
        module="devtools.wechatpay_server",
        name="wechatpay emulator",
        description="A WeChat Pay API v3 emulator (development and tests only).",
        port=5003,
        options={"--db": "its own SQLite file", "--keys": "the test key set's folder"},
        build=build,
    )


if __name__ == "__main__":
    sys.exit(main())
