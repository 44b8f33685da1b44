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
import os
import sys
from pathlib import Path

from werkzeug.serving import run_simple

from devtools.wechatpay_server import PROJECT_ROOT, create_server, ensure_keys
from produce_match.config import WECHATPAY_DEV_KEYS, ConfigError, build_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.wechatpay_server",
        description="A WeChat Pay API v3 emulator (development and tests only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5003)
    parser.add_argument("--db", default=None, help="its own SQLite file")
    parser.add_argument("--keys", default=None, help="the test key set's folder")
    args = parser.parse_args(argv)
    instance = Path(os.environ.get("INSTANCE_PATH") or str(PROJECT_ROOT / "instance")).resolve()
    try:
        config = build_config(str(instance))
    except ConfigError as exc:
        print(f"wechatpay emulator: {exc}", file=sys.stderr)
        return 2
    if config.get("PRODUCE_MATCH_ENV") == "production":
        print(
            "wechatpay emulator: it does not run in production (PRODUCE_MATCH_ENV=production): "
            "it moves no real money and lets anyone mark an order paid.",
            file=sys.stderr,
        )
        return 2
    keys = ensure_keys(Path(args.keys) if args.keys else instance / WECHATPAY_DEV_KEYS)
    server = create_server(
        keys,
        args.db or str(instance / "wechatpay_emulator.sqlite3"),
        mchid=config["WECHATPAY_MCHID"],
        appid=config["WECHATPAY_APPID"],
        serial_no=config["WECHATPAY_CERT_SERIAL_NO"],
        key_id=config["WECHATPAY_PUBLIC_KEY_ID"],
    )
    print(f"WeChat Pay emulator on http://{args.host}:{args.port}/ (keys in {keys})", flush=True)
    run_simple(args.host, args.port, server, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
