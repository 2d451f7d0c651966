"""What a user reads when MongoDB (or pymongo, or bson) refuses: MongoDB's own reason, kept short.

Every error the store meets becomes a StoreError whose message says what the store was doing and
why it failed in MongoDB's words (its error's code name and message), never a bare class name; so
the message is fit for an API client (points.stores.errors says what each class answers). Only what
asking again may cure is StoreUnavailable (the API's 503 with Retry-After): a server out of reach, a
lost connection, a timeout, a primary stepping down or shutting down (the codes pymongo itself
retries), a cursor the server dropped meanwhile. A full disk is StoreFull. Anything else MongoDB
refuses, or sends undecodable, is a plain StoreError (the API's 500 with the message): asking
again gets the same answer, so the client is not told to.
"""

from __future__ import annotations

from typing import Any

from points.stores.errors import StoreError, StoreFull, StoreUnavailable

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
        CursorNotFound,
        DocumentTooLarge,
        ExecutionTimeout,
        OperationFailure,
        WTimeoutError,
    )

    message = f"MongoDB failed to {what}: {reason(exc)}"
    # (NetworkTimeout and ServerSelectionTimeoutError are ConnectionFailures)
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout, WTimeoutError, CursorNotFound)):
        return StoreUnavailable(message)
    if isinstance(exc, OperationFailure):
        if exc.code in _TRANSIENT or exc.has_error_label("RetryableWriteError"):
            return StoreUnavailable(message)
        if exc.code == _OUT_OF_DISK_SPACE:
            return StoreFull(message)
        return StoreError(message)
    if isinstance(exc, DocumentTooLarge):
        return StoreError(f"MongoDB cannot {what}: a document is over its 16 MiB limit ({reason(exc)})")
    if isinstance(exc, bson.errors.InvalidDocument):
        return StoreError(f"MongoDB cannot {what}: a document cannot be written as BSON ({reason(exc)})")
    if isinstance(exc, bson.errors.BSONError):
        return StoreError(f"MongoDB sent what cannot be decoded while trying to {what}: {reason(exc)}")
    return StoreError(message)  # the driver refusing a call (InvalidOperation, ConfigurationError, …)


# Server states that pass (a failover, a shutdown, a host out of reach): the codes pymongo itself
# retries a read or write on (pymongo.helpers_shared._RETRYABLE_ERROR_CODES, private, so copied).
_TRANSIENT = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        134,  # ReadConcernMajorityNotAvailableYet
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10058,  # LegacyNotPrimary
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)
_OUT_OF_DISK_SPACE = 14031  # OutOfDiskSpace


def handled() -> tuple[type[BaseException], ...]:
    """Return the exception classes the store turns into StoreErrors (pymongo's and bson's)."""
    import bson.errors
    from pymongo.errors import PyMongoError

    return (PyMongoError, bson.errors.BSONError)
