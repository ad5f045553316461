"""A small base for stateful fake services on 127.0.0.1.

Each fake subclasses FakeService, declares routes with `@route("GET", r"/v1/documents/(?P<id>[^/:]+)")` and keeps
its state in plain attributes. The base records every request, injects failures on request (`fail_next`) and serves
over a real socket, so the real client libraries (httplib2, requests, urllib) exercise their real code paths.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes / str sent as is
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        if self.body is None and self.status == 204:
            return b"", "application/json"
        return json.dumps(self.body).encode(), "application/json; charset=UTF-8"


Handler = Callable[..., Response]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def mark(fn: Handler) -> Handler:
        fn.__dict__.setdefault("_routes", []).append((method, re.compile(pattern + r"$")))
        return fn

    return mark


@dataclass
class Fault:
    status: int
    method: str | None
    path: str | None
    headers: dict[str, str]
    body: Any
    times: int
    after: bool  # apply the request first, then fail (a commit followed by a lost response)


class FakeService:
    """Subclass, add @route methods taking (self, request, **groups) and returning a Response."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for name in dir(type(self)):
            fn = getattr(type(self), name)
            for method, pattern in getattr(fn, "_routes", []):
                self._routes.append((method, pattern, getattr(self, name)))

    def fail_next(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        after: bool = False,
    ) -> None:
        """The next `times` matching requests answer `status` (path is a regex searched in the path)."""
        self.faults.append(Fault(status, method, path, headers or {}, body, times, after))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [
            r for r in self.requests
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        ]

    def _fault_for(self, request: Request) -> Fault | None:
        for fault in self.faults:
            if fault.times <= 0:
                continue
            if fault.method and fault.method != request.method:
                continue
            if fault.path and not re.search(fault.path, request.path):
                continue
            fault.times -= 1
            return fault
        return None

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            fault = self._fault_for(request)
            if fault is not None and not fault.after:
                return Response(fault.status, fault.body if fault.body is not None else self.error_body(fault.status),
                                fault.headers)
            for method, pattern, handler in self._routes:
                match = pattern.match(request.path)
                if match and method == request.method:
                    response = handler(request, **match.groupdict())
                    break
            else:
                response = self.not_found(request)
            if fault is not None:
                return Response(fault.status, fault.body if fault.body is not None else self.error_body(fault.status),
                                fault.headers)
            return response

    def error_body(self, status: int) -> Any:
        """The service's own error body for an injected failure; override per service."""
        return {"error": {"code": status, "message": f"injected {status}"}}

    def not_found(self, request: Request) -> Response:
        return Response(404, self.error_body(404))


def _handler_class(service: FakeService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, a kept-alive connection waits ~40 ms for
        # the delayed ACK on every request.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            response = service.dispatch(request)
            payload, content_type = response.encode()
            self.send_response(response.status)
            headers = {"Content-Type": content_type, **response.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def serve(service: FakeService, *, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Run `service` on 127.0.0.1 on a free port; yields its base URL without a trailing slash.

    With `tls` (a server context) it speaks HTTPS, for clients that insist on https URLs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(service))
    server.daemon_threads = True
    server.block_on_close = False  # kept-alive client connections must not hold up a test's teardown
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
