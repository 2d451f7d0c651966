"""Every answer under /api/ in the API's own format, and what a client reads of a failure.

Errors leave as JSON ({"error": "..."}), whoever made them: a 405 from a require_* decorator
(its Allow header kept, the allowed methods named), a 404 (Django's debug page too), a refused
CSRF check, a 400 for a bad Host, a 500 for a crash (Django logs it with its traceback; the client
reads `INTERNAL`). HEAD answers leave without a body. Nothing here touches the database or blocks,
so the middleware runs as it is under WSGI and ASGI.

What a client reads of an error met while serving points, and with which status, is decided once,
by points.stores.errors.failure (the table is there): `failure_response` answers it as JSON before
a stream's first byte, and points.streams writes its message as the error line that ends a stream
midway (whose status went out with the headers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views import csrf

from points.stores.errors import INTERNAL, failure

API_PREFIX = "/api/"

_MESSAGES = {
    400: "the request is malformed",
    403: "this request is refused",
    404: "no such API path; see /api/openapi.json",
    413: "the request is too large",
    500: INTERNAL,
}


def failure_response(
    exc: BaseException, dataset: str | None = None, doing: str = "serve the points of"
) -> JsonResponse:
    """Return the JSON answer to `exc` met before a stream's first byte (or by a count or an
    overview): points.stores.errors.failure's status and message, and its Retry-After if any."""
    answer = failure(exc, dataset, doing)
    response = JsonResponse({"error": answer.message}, status=answer.status)
    if answer.retry_after is not None:
        response["Retry-After"] = str(answer.retry_after)
    return response


def is_api(request: HttpRequest) -> bool:
    """Whether the request is for the API (under /api/)."""
    path = request.path_info
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def not_allowed(request: HttpRequest, allowed: list[str]) -> JsonResponse:
    """Return the 405 for a method the path does not take, naming (and Allow-ing) those it does."""
    response = JsonResponse(
        {
            "error": f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}",
            "allowed": allowed,
        },
        status=405,
    )
    response["Allow"] = ", ".join(allowed)
    return response


def _is_json(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


def api_answer(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """Return the response as the API gives it: errors in JSON, no body for HEAD."""
    if not is_api(request):
        return response
    if response.status_code >= 400 and not _is_json(response):
        replaced: HttpResponseBase
        if response.status_code == 405:
            allowed = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
            replaced = not_allowed(request, allowed)
        else:
            message = _MESSAGES.get(response.status_code, f"the request failed ({response.reason_phrase})")
            replaced = JsonResponse({"error": message}, status=response.status_code)
        for header in ("WWW-Authenticate", "Retry-After", "Vary"):
            if response.has_header(header):
                replaced[header] = response[header]
        response.close()
        response = replaced
    if request.method == "HEAD":
        if response.streaming:
            response.streaming_content = []  # type: ignore[attr-defined]
        else:
            # CommonMiddleware, inside this one, has set the Content-Length a GET would carry.
            response.content = b""  # type: ignore[attr-defined]
    return response


class ApiErrorsMiddleware:
    """Apply api_answer to every response (see the module's description)."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return api_answer(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        return api_answer(request, response)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseBase:
    """CSRF_FAILURE_VIEW: a JSON 403 under /api/, Django's page elsewhere.

    The API's views are all exempt (it changes nothing, so there is nothing to forge); this
    answers only if a view under /api/ ever is not.
    """
    if is_api(request):
        return JsonResponse({"error": f"CSRF check failed: {reason}"}, status=403)
    return csrf.csrf_failure(request, reason)
