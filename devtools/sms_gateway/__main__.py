"""Run the SMS gateway emulator (Aliyun's SMS API) as its own process:

    python -m devtools.sms_gateway [--host 127.0.0.1] [--port 5004] [--db FILE]

It reads the site's configuration (the same environment variables as the site): the AccessKey
it accepts (SMS_ACCESS_KEY_ID, SMS_ACCESS_KEY_SECRET: the development key by default) and the
sign name (SMS_SIGN_NAME); it keeps the messages in instance/sms_gateway.sqlite3. It refuses to
run under a production configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devtools.emulator import serve
from devtools.sms_gateway import create_gateway


def build(config: dict[str, Any], args: argparse.Namespace, instance: Path) -> tuple[Any, str]:
    keys = {str(config["SMS_ACCESS_KEY_ID"]): str(config["SMS_ACCESS_KEY_SECRET"])}
    db_path = args.db or str(instance / "sms_gateway.sqlite3")
    gateway = create_gateway(keys, str(config["SMS_SIGN_NAME"]), db_path)
    return gateway, f"sms emulator on http://{args.host}:{args.port}/ (messages in {db_path})"


def refuse(config: dict[str, Any]) -> list[str]:
    if config.get("PRODUCE_MATCH_ENV") == "production":
        return [
            "it does not run in production (PRODUCE_MATCH_ENV=production): it sends no real "
            "SMS and shows every code to whoever asks."
        ]
    return []


def main(argv: list[str] | None = None) -> int:
    return serve(
        argv,
        module="devtools.sms_gateway",
        name="sms emulator",
        description="The Aliyun SMS API emulator (development and tests only).",
        port=5004,
        options={"--db": "its SQLite file (default: instance/sms_gateway.sqlite3)"},
        build=build,
        refuse=refuse,
    )


if __name__ == "__main__":
    sys.exit(main())
