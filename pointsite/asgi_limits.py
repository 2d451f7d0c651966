"""Time limits on every HTTP exchange, so slow and idle clients never hold the server.

`make run` serves the ASGI application with uvicorn (see bin/serve); two pieces bound each exchange:

- `Protocol`, uvicorn's httptools protocol with two additions: a request's headers must arrive
  whole within `POINTS_STREAM_IDLE_SECONDS` of the connection (or of the first byte of a later
  request on it) and within `MAX_HEADER_BYTES`, else the answer is 408 (431) and the connection is
  closed (uvicorn alone waits for headers forever); and each request's scope carries
  `extensions["pointsite.abort"]`, which drops the connection at once, unsent bytes and all
  (closing it would wait for a client that reads nothing to take them).
- `Limits`, an ASGI wrapper around the Django application: the request body must keep coming (no
  gap over the idle time; 408 otherwise, and 413 over `max_body` bytes); every send of the response
  must complete within the idle time, and the whole response within `POINTS_MAX_STREAM_SECONDS`
  (plus `GRACE_SECONDS`, so a stream that reaches the limit can still send its error line). A send
  that does not is not waited for: the connection is aborted and Django is told the client left,
  which cancels the view's task and closes the response, releasing the store's cursor.

A send waits only while uvicorn's write buffer is over its high-water mark (16 KiB). When a send
has waited the idle time, the connection is cut only if the client took nothing meanwhile: the
bytes not yet taken (the server's buffer plus the kernel's unacknowledged send queue, SIOCOUTQ)
must not have gone down. So a client reading 1 KB/s is slow, not idle, and keeps its stream; one
that reads nothing is cut after the idle time.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import math
import termios
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Any, Any, Any], Awaitable[None]]  # (scope, receive, send), as Django's handler types them

ABORT = "pointsite.abort"
UNSENT = "pointsite.unsent"
MAX_HEADER_BYTES = 65_536  # request line and headers (browsers send a few KB)
WRITE_BUFFER_HIGH = 16_384  # bytes of a response waiting in the server's buffer before sends pause
GRACE_SECONDS = 2.0  # after POINTS_MAX_STREAM_SECONDS, for the stream's own error line to go out
DISCONNECT: Message = {"type": "http.disconnect"}


def idle_seconds() -> float:
    from django.conf import settings

    return float(settings.POINTS_STREAM_IDLE_SECONDS)


def _plain_response(status: int, reason: str) -> bytes:
    body = f"{status} {reason}\n".encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the headers' time and size bounded and an abort for the app."""

    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0  # of the request whose headers are incomplete
    _in_headers = True  # waiting for a request's headers (not in its body or response)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Pause the response's sends once one piece (Django sends 64 KiB at a time) waits unsent,
        # not two (asyncio's default high-water mark is 64 KiB): a slow client holds less.
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self._expect_headers()

    def _expect_headers(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(idle_seconds(), self._refuse, 408, "Request Timeout")

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, reason: str) -> None:
        self._stop_header_timer()
        if not self.transport.is_closing():
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(_plain_response(status, reason))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_headers:
            # Bytes of a request whose headers are not complete yet: their time is bounded from here.
            self._expect_headers()
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():
            self._header_bytes += len(data)  # all of it was headers: they are still not complete
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, "Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._header_bytes = 0
        self._stop_header_timer()
        scope = cast(dict[str, Any], self.scope)
        extensions = scope.setdefault("extensions", {})
        extensions[ABORT] = self.transport.abort
        extensions[UNSENT] = self._unsent
        super().on_headers_complete()

    def _unsent(self) -> int:
        """Return the bytes of the response not yet taken by the client: in the server's buffer, and
        in the kernel's send queue not yet acknowledged (Linux's SIOCOUTQ); fewer than a moment
        ago means the client is reading."""
        waiting = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                queued = array.array("i", [0])
                fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, queued, True)
                waiting += queued[0]
        return waiting

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Until the next request's first byte, waiting is uvicorn's keep-alive timeout (--timeout-keep-alive).
        self._in_headers = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def give_back_memory() -> None:
    """Return the C heap's free pages to the system (glibc's malloc_trim; nothing elsewhere)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class Limits:
    """The ASGI wrapper: bounded request bodies and response sends (see the module's docstring)."""

    def __init__(self, app: App, *, idle: float, max_seconds: float, max_body: int, trim_every: float = 1.0) -> None:
        self.app = app
        self.idle = idle
        self.max_seconds = max_seconds
        self.max_body = max_body
        self.trim_every = trim_every
        self.cut = 0  # exchanges cut by a limit so far
        self._trimmed = 0.0
        self._trim_pending = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self, scope, receive, send)
        try:
            await exchange.run()
        finally:
            if exchange.was_cut:
                self.cut += 1
            if exchange.streamed:
                self._schedule_trim()

    def _schedule_trim(self) -> None:
        # A stream's chunks are freed when it ends, into the C heap, which keeps the pages;
        # malloc_trim hands them back (a few ms), at most once per `trim_every` seconds.
        if self._trim_pending:
            return
        self._trim_pending = True
        delay = max(0.0, self._trimmed + self.trim_every - time.monotonic())
        asyncio.get_running_loop().call_later(delay, self._trim)

    def _trim(self) -> None:
        self._trim_pending = False
        self._trimmed = time.monotonic()
        give_back_memory()


class _Exchange:
    """One request and its response through `Limits`."""

    def __init__(self, limits: Limits, scope: Scope, receive: Receive, send: Send) -> None:
        self.limits = limits
        self.scope = scope
        self._receive = receive
        self._send = send
        self.loop = asyncio.get_running_loop()
        extensions = scope.get("extensions") or {}
        self.abort: Callable[[], None] | None = extensions.get(ABORT)
        self.unsent: Callable[[], int] | None = extensions.get(UNSENT)
        self._unsent_mark: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        started = self.loop.time()
        self.deadline = started + limits.max_seconds + GRACE_SECONDS if limits.max_seconds else math.inf
        self.body_done = False
        self.body_bytes = 0
        self.response_started = False
        self.streamed = False
        self.was_cut = False
        self.gone = asyncio.Event()

    async def run(self) -> None:
        try:
            await self.limits.app(self.scope, self.receive, self.send)
        finally:
            if self.was_cut:
                # Let the server see the connection lost before it looks at the unfinished response.
                await asyncio.sleep(0)

    def _cut(self, why: str) -> None:
        if self.was_cut:
            return
        self.was_cut = True
        logger.info("%s %s: %s; connection closed", self.scope.get("method"), self.scope.get("path"), why)
        self.gone.set()
        if self.abort is not None:
            self.abort()

    # --- the request -------------------------------------------------------------------------

    async def receive(self) -> Message:
        if self.gone.is_set():
            return DISCONNECT
        if self.body_done:
            # What Django waits for during the response: a disconnect, the client's or ours.
            message = await self._until_gone(self._receive(), None)
            return DISCONNECT if message is None else message
        timeout = min(self.limits.idle, self.deadline - self.loop.time())
        message = await self._until_gone(self._receive(), timeout)
        if message is None:
            if not self.gone.is_set():
                await self._refuse(408, "Request Timeout", f"no request body for {self.limits.idle:g} s")
            return DISCONNECT
        if message["type"] == "http.request":
            self.body_bytes += len(message.get("body", b""))
            if self.body_bytes > self.limits.max_body:
                await self._refuse(413, "Content Too Large", f"request body over {self.limits.max_body:,} bytes")
                return DISCONNECT
            if not message.get("more_body", False):
                self.body_done = True
        return message

    async def _until_gone(self, waiting: Awaitable[Message], timeout: float | None) -> Message | None:
        """Return what `waiting` gives, or None once the exchange is cut or `timeout` passed."""
        task = asyncio.ensure_future(waiting)
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            done, _ = await asyncio.wait({task, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not task.done():
                task.cancel()
        return task.result() if task in done else None

    async def _refuse(self, status: int, reason: str, why: str) -> None:
        """Answer a request whose body is too slow or too big (if no answer has started), and end it."""
        self.was_cut = True
        self.gone.set()
        logger.info("%s %s: %s; answered %d", self.scope.get("method"), self.scope.get("path"), why, status)
        if self.response_started:
            if self.abort is not None:
                self.abort()
            return
        self.response_started = True
        body = f"{status} {reason}\n".encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        try:
            await asyncio.wait_for(
                self._send({"type": "http.response.start", "status": status, "headers": headers}), self.limits.idle
            )
            await asyncio.wait_for(self._send({"type": "http.response.body", "body": body}), self.limits.idle)
        except TimeoutError:
            if self.abort is not None:
                self.abort()

    # --- the response ------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        if self.gone.is_set():
            await self._forever()
        if message["type"] == "http.response.start":
            self.response_started = True
        elif message["type"] == "http.response.body" and message.get("more_body"):
            self.streamed = True
        now = self.loop.time()
        if now >= self.deadline:
            self._cut(f"the response ran over POINTS_MAX_STREAM_SECONDS ({self.limits.max_seconds:g} s)")
            await self._forever()
        task = asyncio.current_task()
        self._arm(task)
        try:
            await self._send(message)
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self.gone.is_set():
            await self._forever()

    def _arm(self, task: asyncio.Task[Any] | None, mark: int | None = None) -> None:
        # A timer, not wait_for: most sends return at once (into the server's buffer), and a
        # timer costs far less than the task wait_for would start for each.
        idle_at = self.loop.time() + self.limits.idle
        timer = self.loop.call_at(min(idle_at, self.deadline), self._on_timeout, idle_at > self.deadline, task)
        self._timer, self._unsent_mark = timer, mark
        if mark is None and self.unsent is not None:
            # What is unsent is counted once the send has written its bytes and waits (this runs
            # at the loop's next turn; by then a send that did not wait is done, and nothing is counted).
            self.loop.call_soon(self._mark, timer)

    def _mark(self, timer: asyncio.TimerHandle) -> None:
        if self._timer is timer and self.unsent is not None:
            self._unsent_mark = self.unsent()

    def _on_timeout(self, over_time: bool, task: asyncio.Task[Any] | None) -> None:
        self._timer = None
        if not over_time and self.unsent is not None and self._unsent_mark is not None:
            unsent = self.unsent()
            if unsent < self._unsent_mark:
                # The client took bytes meanwhile (fewer wait unsent or unacknowledged): it is
                # slow, not idle. Another round, from what waits now.
                self._arm(task, mark=unsent)
                return
        self._cut(
            f"the response ran over POINTS_MAX_STREAM_SECONDS ({self.limits.max_seconds:g} s)"
            if over_time
            else f"the client took nothing for {self.limits.idle:g} s (POINTS_STREAM_IDLE_SECONDS)"
        )
        if self.abort is None and task is not None:
            # No way to drop the connection from here: stop waiting on the send at least.
            task.cancel()

    async def _forever(self) -> None:
        """Wait for Django to cancel the response's task (it will: `receive` says the client left)."""
        await asyncio.get_running_loop().create_future()
