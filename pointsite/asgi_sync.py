"""Django's request handling, synchronous, served over ASGI: one thread hop a request.

Django's own ASGI handler runs a project of synchronous middleware and views by hopping to a
thread and back for every middleware hook, signal and view (about 30 hops for `GET /api/datasets`,
each a wake-up of the event loop), in a new thread per request: measured in one process, 6.0 ms a
request against 0.76 ms for the same request through the WSGI handler (`bench/load.py`'s
polygon phase served at less than half gunicorn's rate). Here the middleware is loaded in
synchronous mode, as under WSGI, and a request's whole synchronous part (request_started, the
middleware and the view, as `BaseHandler.get_response` runs them) goes to a thread of a fixed
pool in one step; its response is then sent from the event loop, where a stream waits for a slow
client without holding a thread (the point streams pull their pieces from threads one at a time:
points.views._async_chunks), and closing the response (request_finished, the store's cursor) is a
second step. What Django's handler does around that (reading the body, building the request,
sending the response in pieces, watching for a disconnect) is its own code, inherited.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix


class SyncStackHandler(ASGIHandler):
    """An ASGI application running Django's synchronous handler stack in `threads` threads."""

    def __init__(self, threads: int) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pointsite-request")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.pool, self._respond, scope, body_file)
        except BaseException:
            body_file.close()
            raise
        try:
            await self._send_unless_gone(response, receive, send)
        finally:
            # Also when cancelled: the response's resources (a stream's cursor) are released.
            await asyncio.shield(loop.run_in_executor(self.pool, self._close, response, body_file))

    def _respond(self, scope: Any, body_file: IO[bytes]) -> HttpResponseBase:
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # (Django's create_request returns one or the other)
            return error_response
        response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # (as Django's handlers do)
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response

    @staticmethod
    def _close(response: HttpResponseBase, body_file: IO[bytes]) -> None:
        try:
            response.close()  # sends request_finished
        finally:
            body_file.close()

    async def _send_unless_gone(self, response: HttpResponseBase, receive: Any, send: Any) -> None:
        """Send the response; stop as soon as the client is gone (as Django's handler does)."""
        sending = asyncio.create_task(self.send_response(response, send))
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait([sending, listening], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listening, sending):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await task
