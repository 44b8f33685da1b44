"""python -m devtools.mail_server [--host 127.0.0.1] [--port 8025] [--dir instance/mail]
python -m devtools.mail_server list [--dir instance/mail] [--show N]

The first form runs the debugging SMTP server (see __init__.py); `list` prints the kept messages,
newest last, and with --show N the text of the last N."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys

from devtools.mail_server import DEFAULT_DIR, MailKeeper, kept, read


def _list(folder: str, show: int) -> int:
    paths = kept(folder)
    for path in paths:
        message = read(path)
        print(f"{message['Date']}  {message['To']}  {message['Subject']}  ({path.name})")
    for path in paths[-show:] if show else []:
        message = read(path)
        body = message.get_body(preferencelist=("plain",))
        print(f"\n--- {message['Subject']}\n{body.get_content() if body else ''}")
    if not paths:
        print(f"no mail in {folder}")
    return 0


def _serve(host: str, port: int, folder: str) -> int:
    from aiosmtpd.smtp import SMTP

    if os.environ.get("PRODUCE_MATCH_ENV", "").strip().lower() == "production":
        print(
            "devtools.mail_server does not run in production (PRODUCE_MATCH_ENV=production): "
            "it keeps every e-mail on this machine instead of delivering it.",
            file=sys.stderr,
        )
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's every SMTP line
    handler = MailKeeper(folder)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(handler, hostname=host), host, port)
        logging.getLogger("devtools.mail_server").info(
            "debugging SMTP server on %s:%s, keeping mail in %s", host, port, folder
        )
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop quietly
        asyncio.run(serve())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.mail_server")
    parser.add_argument("command", nargs="?", choices=["serve", "list"], default="serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MAIL_PORT") or 8025))
    parser.add_argument("--dir", default=str(DEFAULT_DIR))
    parser.add_argument("--show", type=int, default=0, help="list: print the text of the last N")
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list(args.dir, args.show)
    return _serve(args.host, args.port, args.dir)


if __name__ == "__main__":
    sys.exit(main())
