"""Login throttling with django-axes: the backend that refuses locked-out logins, and the client address it counts by."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest


class LoginThrottle(AxesStandaloneBackend):
    """axes' lockout check, first in AUTHENTICATION_BACKENDS, for every login made over HTTP.

    The admin's login form always passes its request. Code that authenticates without one (the
    test client's login(), a shell) has no client to count attempts against; axes would raise,
    so it is passed on to the next backend instead. Nothing reachable over HTTP does that.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address: REMOTE_ADDR, or with POINTSITE_PROXY_COUNT = N proxies in
    front, the address the outermost of them saw (the N-th entry from the right of X-Forwarded-For).

    Behind a proxy REMOTE_ADDR is the proxy's, the same for everyone, and a lockout by username
    and address would lock the username out for all.
    """
    count = settings.POINTSITE_PROXY_COUNT
    if count:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= count:
            return forwarded[-count]
    remote = request.META.get("REMOTE_ADDR")
    return str(remote) if remote else None
