"""What a user reads when MongoDB (or pymongo, or bson) refuses: MongoDB's own reason, kept short.

Every error the store meets becomes a StoreError whose message says what the store was doing and
why it failed in MongoDB's words (its error's code name and message), never a bare class name. A
server out of reach, a lost connection or a timeout is StoreUnavailable (the API's 503: asking
again later may work); what MongoDB refuses to keep or sends undecodable is a plain StoreError.
"""

from __future__ import annotations

from typing import Any

from points.stores.base import StoreError, StoreUnavailable

# MongoDB's messages (a topology description, a document's dump) can run long: a line is enough.
MAX_REASON = 300


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def reason(exc: BaseException) -> str:
    """Return MongoDB's reason for `exc` in one short line: its code name and message when the
    server sent them, else what the driver says."""
    from pymongo.errors import BulkWriteError, OperationFailure, ServerSelectionTimeoutError

    if isinstance(exc, BulkWriteError):
        errors = (exc.details or {}).get("writeErrors") or []
        if errors:
            first: dict[str, Any] = errors[0]
            more = f" (and {len(errors) - 1:,} more)" if len(errors) > 1 else ""
            return _short(f"{first.get('errmsg', '')} [code {first.get('code')}]{more}")
        concern = (exc.details or {}).get("writeConcernErrors") or []
        if concern:
            return _short(f"write concern: {concern[0].get('errmsg', '')}")
    if isinstance(exc, OperationFailure):
        details = exc.details or {}
        name = details.get("codeName")
        message = details.get("errmsg") or str(exc)
        return _short(f"{name}: {message}" if name else f"{message} [code {exc.code}]")
    if isinstance(exc, ServerSelectionTimeoutError):
        # "host:port: [Errno 111] Connection refused (…), Timeout: 30s, Topology Description: <…>"
        head = str(exc).split(", Timeout:", 1)[0].split(" (configured timeouts", 1)[0]
        return _short(f"no server could be reached ({head})")
    return _short(str(exc) or exc.__class__.__name__)


def store_error(what: str, exc: BaseException) -> StoreError:
    """Return the StoreError for `exc`, raised while the store tried to `what`."""
    import bson.errors
    from pymongo.errors import (
        ConnectionFailure,
        DocumentTooLarge,
        ExecutionTimeout,
        NetworkTimeout,
        OperationFailure,
        PyMongoError,
        WTimeoutError,
    )

    message = f"MongoDB failed to {what}: {reason(exc)}"
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout, NetworkTimeout, WTimeoutError)):
        return StoreUnavailable(message)
    if isinstance(exc, DocumentTooLarge):
        return StoreError(f"MongoDB cannot {what}: a document is over its 16 MiB limit ({reason(exc)})")
    if isinstance(exc, bson.errors.InvalidDocument):
        return StoreError(f"MongoDB cannot {what}: a document cannot be written as BSON ({reason(exc)})")
    if isinstance(exc, bson.errors.BSONError):
        return StoreError(f"MongoDB sent what cannot be decoded while trying to {what}: {reason(exc)}")
    if isinstance(exc, OperationFailure) and exc.code in _REFUSALS:
        return StoreError(message)
    if isinstance(exc, PyMongoError):
        return StoreUnavailable(message)
    return StoreError(message)


# Refusals that asking again will not change (the request, not the server's state, is wrong).
_REFUSALS = frozenset(
    {
        2,  # BadValue
        13,  # Unauthorized
        18,  # AuthenticationFailed
        67,  # CannotCreateIndex
        85,  # IndexOptionsConflict
        86,  # IndexKeySpecsConflict
        121,  # DocumentValidationFailure
        11000,  # DuplicateKey
        13026,  # a 2d location whose values are not numbers
        13027,  # a 2d location outside the index's min/max
        16755,  # Location16755: can't extract geo keys (a 2dsphere location that is not one)
    }
)


def handled() -> tuple[type[BaseException], ...]:
    """Return the exception classes the store turns into StoreErrors (pymongo's and bson's)."""
    import bson.errors
    from pymongo.errors import PyMongoError

    return (PyMongoError, bson.errors.BSONError)
