"""What `simplenn serve` and `simplenn lab` share as web servers: uvicorn with limits, the
Host check, and every error answered as `{"error": "..."}`.

    Host           loopback names and the --host address (plus serve's --allowed-hosts): a web
                   page cannot reach the server through a DNS name rebound to 127.0.0.1 (421)
    headers        at most `MAX_HEADER_BYTES` (larger -> 400), complete within
                   `HEADER_TIMEOUT_S` of connecting or of the previous answer, else the
                   connection is closed: slow-header clients cannot hold connections
    connections    `MAX_CONNECTIONS` open at once; past it uvicorn answers 503

Nothing here imports TensorFlow: the lab's server process does not load it.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import os
import socket

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from simplenn.errors import SimplennError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")  # the Host names answered by default
MAX_HEADER_BYTES = 16 * 2**10  # a request line and headers; browsers send under 2 KiB
HEADER_TIMEOUT_S = 5.0  # from connecting (or the previous answer) to the last header byte
MAX_CONNECTIONS = 1000  # open at once; the rest are answered 503
KEEP_ALIVE_S = 5.0  # an idle connection is closed after this
BODY_TIMEOUT_S = 10.0  # a client that sends its body slower than this is cut off


class RequestError(Exception):
    """A client's mistake: answered with `status` and `{"error": message}`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def json_app(routes, allowed_hosts, remedy: str, lifespan=None):
    """A Starlette app of `routes` behind `HostCheck`, answering every error as `{"error": ...}`:
    `RequestError` with its status, unknown paths and methods with 404/405, anything else
    with 500 naming it a bug."""

    async def request_error(request: Request, error: RequestError):
        return JSONResponse({"error": str(error)}, status_code=error.status)

    async def not_found(request: Request, error):
        status_code = getattr(error, "status_code", 404)
        return JSONResponse({"error": f"{request.method} {request.url.path}: {getattr(error, 'detail', 'not found')}"},
                            status_code=status_code)

    async def server_error(request: Request, error: Exception):
        return JSONResponse({"error": f"internal error ({type(error).__name__}); this is a bug in simplenn"},
                            status_code=500)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        RequestError: request_error, 404: not_found, 405: not_found, Exception: server_error,
    })
    return HostCheck(app, allowed_hosts, remedy)


class HostCheck:
    """ASGI middleware: a request whose `Host` header names no allowed host gets 421 and `{"error": ...}`.

    A browser sends the name it resolved in `Host`, so a page on evil.example whose DNS
    answer changes to 127.0.0.1 (DNS rebinding) is refused here, as Django's ALLOWED_HOSTS does.
    `remedy` ends the message: what the user can do to have such a name answered.
    """

    def __init__(self, app, allowed_hosts, remedy: str):
        self.app = app
        self.allowed = {host.lower().strip("[]") for host in allowed_hosts}
        self.remedy = remedy

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.allowed and "*" not in self.allowed:
                response = JSONResponse({"error": f"Host {host[:100]!r} is not served here; {self.remedy}"},
                                        status_code=421)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """The name in a `Host` header, without its port: "[::1]:8000" -> "::1", "Example.org:80" -> "example.org"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on each request's headers: `MAX_HEADER_BYTES`
    and `HEADER_TIMEOUT_S`, both answered by closing the connection (after a 400 for size).

    uvicorn times out idle keep-alive connections, but not a client that sends its headers a
    byte at a time, and httptools takes headers of any length; each such connection would
    count against `MAX_CONNECTIONS`, or grow the header list, for as long as it lasted.
    """

    header_deadline = None
    reading_headers = False
    header_bytes = 0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.reading_headers:  # this chunk ended inside the headers: all of it was header bytes
            self.header_bytes += len(data)
            if self.header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self.send_400_response(f"the request line and headers are longer than {MAX_HEADER_BYTES:,} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_headers, self.header_bytes = True, 0

    def on_headers_complete(self) -> None:
        self.reading_headers = False
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A request that cannot be parsed, or whose headers are too long: 400 with a JSON error, then close."""
        if msg == "Invalid HTTP request received.":  # uvicorn's words for httptools' parse error
            msg = "the request line or headers are malformed"
        body = json.dumps({"error": msg}).encode("utf-8")
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        self.transport.close()

    def _arm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        self.header_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        waiting_for_headers = self.cycle is None or self.cycle.response_complete
        if waiting_for_headers and not self.transport.is_closing():
            self.transport.close()


async def read_body(request: Request, max_bytes: int, advice: str) -> bytes:
    """The request's body, refused past `max_bytes` (413, with `advice`) or `BODY_TIMEOUT_S` (408),
    counted as it arrives: a body is never held whole before it is measured."""
    too_large = f"the body is larger than {max_bytes:,} bytes; {advice}"
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise RequestError(too_large, 413)

    async def receive() -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise RequestError(too_large, 413)
        return bytes(body)

    try:
        return await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise RequestError(f"the body took longer than {BODY_TIMEOUT_S:g} s to arrive", 408) from None


def check_host(host: str) -> tuple[str, bool]:
    """`(host, is_loopback)` for a `--host` value, or `SimplennError`: empty, or not an address of this machine."""
    if not host.strip():
        raise SimplennError("--host is empty; give an address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every "
                            "interface)")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise SimplennError(f"--host {host!r} is not an address or a name this machine resolves ({reason}); give an "
                            "address such as 127.0.0.1 or 0.0.0.0") from None
    return host, all(ipaddress.ip_address(address.partition("%")[0]).is_loopback for address in addresses)


def check_port(host: str, port: int) -> None:
    """`SimplennError` in one line unless this process could listen on `host:port` now."""
    if not 0 < port < 2**16:
        raise SimplennError(f"--port must be 1 to 65535, got {port}")
    try:  # a port in use is the user's to fix: say so in one line, before uvicorn starts
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        advice = "choose another --port" if error.errno in (errno.EADDRINUSE, errno.EACCES) else \
            "give an address of this machine as --host"
        reason = os.strerror(error.errno) if error.errno else error  # create_server adds the address to strerror
        raise SimplennError(f"cannot listen on {host}:{port}: {reason}; {advice}") from None


def run_server(app, host: str, port: int, graceful_shutdown_s: float | None = None) -> None:
    """Serve `app` with uvicorn and this module's limits until Ctrl-C or SIGTERM."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="error", http=BoundedHttpProtocol,
                            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE_S,
                            timeout_graceful_shutdown=graceful_shutdown_s)
    # uvicorn.Server, not uvicorn.run: the server re-raises the Ctrl-C (or SIGTERM) it stopped on, and
    # uvicorn.run would swallow it; the CLI then exits 130 (143) as for any other command.
    uvicorn.Server(config).run()
