"""Pick the point store from POINTS_STORE_URL: `sqlite:///path` (default) or `mongodb://…/db`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from points.stores.base import PointStore


class UnknownStoreScheme(ImproperlyConfigured):
    """POINTS_STORE_URL names a scheme no store answers to."""


def _sqlite(url: str) -> PointStore:
    from points.stores.embedded.store import EmbeddedStore

    return EmbeddedStore.from_url(url)


def _mongo(url: str) -> PointStore:
    from points.stores.mongo import MongoStore

    return MongoStore.from_url(url)


STORES: dict[str, Callable[[str], PointStore]] = {
    "sqlite": _sqlite,
    "mongodb": _mongo,
    "mongodb+srv": _mongo,
}

_lock = threading.Lock()
_stores: dict[str, PointStore] = {}


def open_store(url: str) -> PointStore:
    """Return a new store for `url`; raise UnknownStoreScheme for a scheme we do not know."""
    scheme = urlsplit(url).scheme
    factory = STORES.get(scheme)
    if factory is None:
        known = ", ".join(f"{s}://" for s in STORES)
        raise UnknownStoreScheme(
            f"POINTS_STORE_URL scheme {scheme + '://' if scheme else url!r} is unknown; use one of: {known}"
        )
    return factory(url)


def get_store() -> PointStore:
    """Return the process's store for settings.POINTS_STORE_URL, opening it on first use."""
    from django.conf import settings

    url: str = settings.POINTS_STORE_URL
    store = _stores.get(url)
    if store is None:
        with _lock:
            store = _stores.get(url)
            if store is None:
                store = _stores[url] = open_store(url)
    return store
