"""Pick the point store from POINTS_STORE_URL: `sqlite:///path` (default) or `mongodb://…/db`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from points.stores.base import PointStore, StoreDamaged

logger = logging.getLogger(__name__)


class UnknownStoreScheme(ImproperlyConfigured):
    """POINTS_STORE_URL names a scheme no store answers to."""


def _sqlite(url: str) -> PointStore:
    from points.stores.embedded.store import EmbeddedStore

    return EmbeddedStore.from_url(url)


def _mongo(url: str) -> PointStore:
    from points.stores.mongo import MongoStore

    return MongoStore.from_url(url)


#: the registry of stores: a URL scheme, and what opens a store for such a URL
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


def boot_store() -> None:
    """Open the process's store as the server starts (asgi.py, wsgi.py): a wrong POINTS_STORE_URL
    stops the server, with its reason; a store whose files are damaged does not (its index cannot
    be read: it is logged, and every stream and count answers 503 with a message until it is
    restored, as get_store tries to open it again on each request)."""
    try:
        get_store()
    except StoreDamaged as exc:
        logger.error("the point store cannot be opened: %s", exc)
