"""A local HTTP server that records what it is posted and answers as told (a partner's
endpoint, a WeChat Work or DingTalk robot)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    #: answers in turn, (status, body); the last one repeats
    answers: list[tuple[int, str]] = field(default_factory=lambda: [(200, "ok")])
    received: list[Received] = field(default_factory=list)
    #: called instead of answering from the list, if set
    handler: Callable[[Request], Response] | None = None

    def __post_init__(self) -> None:
        def app(environ: Any, start_response: Any) -> Any:
            request = Request(environ)
            self.received.append(
                Received(
                    request.path, dict(request.args), dict(request.headers), request.get_data()
                )
            )
            if self.handler is not None:
                return self.handler(request)(environ, start_response)
            status, body = self.answers[min(len(self.received), len(self.answers)) - 1]
            response = Response(body, status=status, content_type="application/json")
            return response(environ, start_response)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hooks") -> str:
        return self.base + path

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
