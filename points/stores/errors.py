"""The errors a point store raises on purpose, each with what an API client gets when it meets one.

Every StoreError is raised by our code, with text we wrote: the dataset's name, MongoDB's reason
kept short (points.stores.mongo.errors), what to do next; never a traceback or a full path. So its
message is fit for a user by construction, and an API client reads it (`public`), except for the three
classes whose messages are for the operators (StoreFull names the store's directory,
StoreMisconfigured the setting or the file, StoreUnavailable the servers): a client reads a generic
message of theirs. Anything a
store raises that is not a StoreError is an internal error (a bug, an OSError naming a path):
logged with its traceback, and shown only as `INTERNAL`. `failure` maps all of them, once, for the
JSON error answered before a stream's first byte and for the error line that ends a stream midway
(whose status, 200, went out with the headers).

| class               | status | Retry-After | a client reads                                     |
|---------------------|--------|-------------|----------------------------------------------------|
| DatasetNotFound     | 404    |             | its message                                        |
| StoreError (plain)  | 500    |             | its message                                        |
| StoreUnavailable    | 503    | 30 s        | a generic message (its message names the servers)  |
| StoreDamaged        | 503    |             | its message                                        |
| StoreFull           | 503    |             | a generic message (its message names the disk)     |
| StoreMisconfigured  | 503    |             | a generic message (its message names the setting)  |
| anything else       | 500    |             | a generic message                                  |

DatasetExists is raised by imports only, never by a request of the read-only API (409 if ever).
The API names the dataset in a message that does not (`dataset 'd' cannot be read: …`).

This module is a leaf: it imports nothing of ours (nor Django), so every module may import it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "INTERNAL",
    "DatasetExists",
    "DatasetNotFound",
    "Failure",
    "StoreDamaged",
    "StoreError",
    "StoreFull",
    "StoreMisconfigured",
    "StoreUnavailable",
    "failure",
]

logger = logging.getLogger(__name__)
#: what a client reads of an internal error (anything not raised on purpose: not a StoreError)
INTERNAL = "the server failed; the failure is logged for the operators"


class StoreError(Exception):
    """Base of every error a point store raises on purpose; raised as it is, a refusal that
    asking again will not change (MongoDB refusing a document, a dataset of the other geometry
    kind, a version replaced under a stream): the API's 500, with the message, which is written
    for users (see the module's description)."""

    #: the HTTP status of a request that meets this error before its stream's first byte
    status: ClassVar[int] = 500
    #: seconds a client should wait before asking again (the Retry-After header); None: no advice
    retry_after: ClassVar[int | None] = None

    @property
    def public(self) -> str:
        """Return what an API client reads of this error: its message, unless the class says
        that is for the operators."""
        return str(self)


class DatasetNotFound(StoreError):
    """The store holds no points for this dataset. The API checks the dataset's row first, so a
    client meets this when the dataset was deleted meanwhile, or its points were lost (its files
    gone): a 404 either way, as there are no points to send, with the message naming the dataset."""

    status = 404


class DatasetExists(StoreError):
    """The dataset was created already (imports only: the API creates nothing; 409 if ever met)."""

    status = 409


class StoreFull(StoreError):
    """The store's disk (or its server's) has no room for what is being written. Its message,
    for whoever runs the import, may name the store's directory; an API client reads only that the
    disk is full (503: the server cannot serve until space is freed; not 507, which says the
    request's own representation could not be stored, and the API stores nothing of a client's)."""

    status = 503

    @property
    def public(self) -> str:
        return "the point store's disk is full; the failure is logged for the operators"


class StoreUnavailable(StoreError):
    """The store's server cannot be reached, or answered with an error asking again may cure (a
    failover, a timeout): 503 with a Retry-After of about a failover's length. Its message,
    MongoDB's reason, names the servers and the deployment's topology: it is for the operators
    (the log, the commands, the admin); an API client reads only that the store is out of reach."""

    status = 503
    retry_after = 30

    @property
    def public(self) -> str:
        return "the point store cannot be reached now; ask again shortly (the failure is logged for the operators)"


class StoreDamaged(StoreError):
    """What the store keeps on disk is not as it wrote it (its index, or a dataset's files): a
    stream meeting it ends with an error, a request before the first byte gets a 503 (asking again
    will not help before an operator restores or imports it: no Retry-After). The message is fit
    for a user: it names the dataset or the file, never a full path."""

    status = 503


class StoreMisconfigured(StoreError):
    """The store cannot be opened as configured: POINTS_STORE_URL is unusable, or its files were
    written by another version of pointsite. Its message is for the operators (it names the
    setting's value or the file's full path); an API client reads only that the store cannot be
    opened (503: nothing a client does changes it; the failure is logged)."""

    status = 503

    @property
    def public(self) -> str:
        return "the point store cannot be opened as configured; the failure is logged for the operators"


@dataclass(frozen=True, slots=True)
class Failure:
    """What a client gets of an error: the status of the JSON answer before a stream's first
    byte, the message (also the error line of a stream it ends), and the seconds to wait before
    asking again (the Retry-After header; None: no advice)."""

    status: int
    message: str
    retry_after: int | None = None


def failure(exc: BaseException, dataset: str | None = None, doing: str = "serve the points of") -> Failure:
    """Return what a client gets of `exc`, met while trying to `doing` dataset `dataset`, and log
    what the operators need (every 5xx, with its traceback): the one mapping, used for the JSON
    answer before a stream's first byte (points.api_errors.failure_response) and for the error
    line that ends a stream midway (points.streams).

    A StoreError answers its class's status and `public` message (see the table above), naming the
    dataset when it does not; anything else is an internal error: a 500 whose message is
    `INTERNAL`, its own text (a path, a bug's repr) kept for the log.
    """
    where = f"{doing} {dataset!r}" if dataset is not None else doing
    if not isinstance(exc, StoreError):
        logger.error("internal error while trying to %s", where, exc_info=exc)
        return Failure(500, INTERNAL)
    if exc.status >= 500:
        logger.error("the point store failed to %s: %s", where, exc, exc_info=exc)
    message = exc.public
    if dataset is not None and repr(dataset) not in message:
        message = f"dataset {dataset!r} cannot be read: {message}"
    return Failure(exc.status, message, exc.retry_after)
