"""Faults: dropped clients, a store failing before or mid-stream (each error class: its status, its
message), MongoDB out of reach, per-request limits, the API token."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from points import stores
from points.batches import Chunk, StreamForm
from points.datasets import dataset_import
from points.geometry import Area
from points.models import Dataset, DatasetStatus
from points.ndjson import decode_lines
from points.stores import get_store
from points.stores.base import (
    PLAIN_NDJSON,
    DatasetNotFound,
    PointStream,
    StoreDamaged,
    StoreError,
    StoreFull,
    StoreMisconfigured,
    StoreUnavailable,
)
from points.stores.embedded.store import EmbeddedStore
from points.stores.errors import INTERNAL
from tests.conftest import grid_batches, random_batches

SQUARE = '{"type":"Polygon","coordinates":[[[10,10],[20,10],[20,20],[10,20],[10,10]]]}'


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def wait_until(condition: Any, timeout: float = 15.0) -> bool:
    """Wait for a condition another thread makes true (not a fixed sleep: it returns as soon as it holds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("fmt", "coding"), [("ndjson", "identity"), ("ndjson", "zstd"), ("arrow", "gzip")])
def test_a_client_that_disconnects_mid_stream_frees_the_cursor_and_the_worker(
    live_server: Any, caplog: pytest.LogCaptureFixture, fmt: str, coding: str
) -> None:
    call_command("generate_points", "big", "--random", "300000", "--seed", "2")
    store = get_store()
    before = store.open_cursors
    address = urlsplit(live_server.url)
    caplog.set_level(logging.INFO)
    request = (
        f"GET /api/datasets/big/points?format={fmt} HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: {coding}\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        assert b"200 OK" in received
        if coding != "identity":
            assert f"Content-Encoding: {coding}".encode() in received
        assert wait_until(lambda: store.open_cursors == before + 1)
        # Leave with most of the stream unread: the close resets the connection.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert wait_until(lambda: store.open_cursors == before), "the store's cursor was not closed"
    # The server answers the next request in full.
    response = Client().get("/api/datasets/big/points")
    assert decode_lines(body(response))[-1] == {"end": True, "count": 300_000}
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashes == []


class FailingStore(EmbeddedStore):
    """A real store whose reads fail after K chunks, as a store whose server went away would
    (or with another error: `error`, raised anew each time)."""

    fail_after = 8  # chunks of a block (4,096 points) each: past 30,000 points
    error: BaseException = StoreUnavailable("MongoDB failed to read points: AutoReconnect")

    def open_points(
        self, dataset: str, area: Area | None, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> PointStream:
        opened = super().open_points(dataset, area, form=form, batch_size=batch_size)
        return PointStream(opened.schema, self._failing(opened.chunks))

    def _failing(self, chunks: Generator[Chunk, None, None]) -> Generator[Chunk, None, None]:
        try:
            for n, chunk in enumerate(chunks):
                if n == self.fail_after:
                    raise type(self.error)(*self.error.args)
                yield chunk
        finally:
            chunks.close()


@pytest.fixture
def failing_store(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FailingStore:
    store = FailingStore(tmp_path / "failing.sqlite3")
    monkeypatch.setitem(stores.STORES, "failing", lambda url: store)
    settings.POINTS_STORE_URL = f"failing://{tmp_path}"
    return store


@pytest.mark.django_db
def test_a_store_failing_mid_stream_ends_with_the_error_line(client: Client, failing_store: FailingStore) -> None:
    dataset_import(name="many", batches=random_batches(60_000, (0, 0, 1, 1), seed=3), replace=True)
    lines = decode_lines(body(client.get("/api/datasets/many/points")))
    assert lines[-1] == {
        "error": "dataset 'many' cannot be read: the point store cannot be reached now; ask again shortly (the failure is logged for the operators)",
        "count": len(lines) - 1,
    }
    assert 30_000 <= len(lines) - 1 < 60_000
    assert not any("end" in line for line in lines)
    assert failing_store.open_cursors == 0


@pytest.mark.django_db
def test_a_store_failing_before_the_first_byte_is_a_503(client: Client, failing_store: FailingStore) -> None:
    dataset_import(name="grid", batches=grid_batches(), replace=True)
    failing_store.fail_after = 0
    response = client.get("/api/datasets/grid/points")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json() == {
        "error": "dataset 'grid' cannot be read: the point store cannot be reached now; ask again shortly (the failure is logged for the operators)"
    }


AROUND = '{"type":"Polygon","coordinates":[[[-1,-1],[2,-1],[2,2],[-1,2],[-1,-1]]]}'  # all of `many`
SECRET = "/srv/secret"  # a full path in an error's text: for the log, never for a client
# Each error a store may raise as its points are read: the status before the first byte, what the
# client reads (the JSON error then, the stream's error line midway: the same), the Retry-After.
ERRORS = [
    pytest.param(DatasetNotFound("the point store has no dataset 'many'"), 404, None, id="DatasetNotFound"),
    pytest.param(StoreError("MongoDB cannot read points: a document is over its 16 MiB limit"), 500, None, id="plain"),
    pytest.param(StoreUnavailable("MongoDB failed to read points: AutoReconnect"), 503, "30", id="StoreUnavailable"),
    pytest.param(
        StoreDamaged("dataset 'many' is damaged (block 3 does not match its checksum)"), 503, None, id="Damaged"
    ),
    pytest.param(StoreFull(f"the disk of the point store ({SECRET}/points.blocks) is full"), 503, None, id="StoreFull"),
    pytest.param(StoreMisconfigured(f"{SECRET}/points.sqlite3 was written by another version"), 503, None, id="config"),
    pytest.param(KeyError(f"{SECRET}/internal"), 500, None, id="internal"),
]
SHOWN: dict[type[BaseException], str] = {
    DatasetNotFound: "the point store has no dataset 'many'",
    StoreError: "dataset 'many' cannot be read: MongoDB cannot read points: a document is over its 16 MiB limit",
    StoreUnavailable: "dataset 'many' cannot be read: the point store cannot be reached now; ask again shortly (the failure is logged for the operators)",
    StoreDamaged: "dataset 'many' is damaged (block 3 does not match its checksum)",
    StoreFull: "dataset 'many' cannot be read: the point store's disk is full; the failure is logged for the operators",
    StoreMisconfigured: (
        "dataset 'many' cannot be read: the point store cannot be opened as configured; "
        "the failure is logged for the operators"
    ),
    KeyError: INTERNAL,
}


@pytest.fixture
def many(failing_store: FailingStore) -> Dataset:
    return dataset_import(name="many", batches=random_batches(60_000, (0, 0, 1, 1), seed=3), replace=True)


@pytest.mark.django_db
@pytest.mark.parametrize(("error", "status", "retry_after"), ERRORS)
def test_each_error_before_the_first_byte_has_its_status_and_message(
    failing_store: FailingStore,
    many: Dataset,
    caplog: pytest.LogCaptureFixture,
    error: BaseException,
    status: int,
    retry_after: str | None,
) -> None:
    failing_store.error, failing_store.fail_after = error, 0
    client = Client(raise_request_exception=False)  # as a server answers an internal error: a 500
    for response in (
        client.get("/api/datasets/many/points"),
        client.get("/api/datasets/many/points?format=csv"),
        client.post("/api/datasets/many/points/within", data=AROUND, content_type="application/json"),
    ):
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"error": SHOWN[type(error)]}
        assert response.get("Retry-After") == retry_after
        assert SECRET not in response.content.decode()
    assert failing_store.open_cursors == 0
    assert_logged_and_recorded(caplog, error, status, many)


def assert_logged_and_recorded(
    caplog: pytest.LogCaptureFixture, error: BaseException, status: int, dataset: Dataset
) -> None:
    """What the client was not shown is in the log, with its traceback (a 404 is no failure of
    ours); damage is recorded on the dataset for the admin, before the first byte as midway."""
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert bool(logged) == (status >= 500)
    assert any(SECRET in (r.exc_text or "") for r in logged) == (SECRET in str(error))
    dataset.refresh_from_db()
    assert dataset.damage == (str(error) if isinstance(error, StoreDamaged) else "")


@pytest.mark.django_db
@pytest.mark.parametrize(("error", "status", "retry_after"), ERRORS)
def test_each_error_mid_stream_ends_it_with_the_same_message(
    client: Client,
    failing_store: FailingStore,
    many: Dataset,
    caplog: pytest.LogCaptureFixture,
    error: BaseException,
    status: int,
    retry_after: str | None,
) -> None:
    failing_store.error = error
    response = client.get("/api/datasets/many/points")
    assert response.status_code == 200  # sent with the headers, before the failure
    lines = decode_lines(body(response))
    assert lines[-1] == {"error": SHOWN[type(error)], "count": len(lines) - 1}
    assert 30_000 <= len(lines) - 1 < 60_000
    assert failing_store.open_cursors == 0
    assert_logged_and_recorded(caplog, error, status, many)


@pytest.mark.django_db
def test_mongodb_out_of_reach_is_a_clear_503(client: Client, settings: Any) -> None:
    settings.POINTS_MONGO_SERVER_SELECTION_TIMEOUT_MS = 200
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    settings.POINTS_STORE_URL = "mongodb://127.0.0.1:9/pointsite_unreachable"
    Dataset.objects.create(name="remote", status=DatasetStatus.READY, count=10)
    started = time.monotonic()
    for response in (
        client.get("/api/datasets/remote/points"),
        client.post("/api/datasets/remote/points/within", data=SQUARE, content_type="application/json"),
    ):
        assert response.status_code == 503 and response["Retry-After"] == "30"
        # Which server, and why it could not be reached, is for the operators: a client reads that it is out of reach.
        assert response.json()["error"] == (
            "dataset 'remote' cannot be read: the point store cannot be reached now; ask again shortly "
            "(the failure is logged for the operators)"
        )
        assert "127.0.0.1" not in response.content.decode()
    assert time.monotonic() - started < 5
    # The command, run by an operator, says it: MongoDB's reason, in one line.
    with pytest.raises(CommandError, match=r"no server could be reached \(127\.0\.0\.1:9"):
        call_command("generate_points", "remote2", "--grid", "2x2")
    assert Dataset.objects.get(name="remote2").status == DatasetStatus.FAILED


def test_only_what_asking_again_may_cure_is_a_mongodb_503() -> None:
    from pymongo.errors import CursorNotFound, InvalidOperation, NetworkTimeout, OperationFailure

    from points.stores.errors import failure
    from points.stores.mongo.errors import store_error

    def refused(code: int, name: str, labels: list[str] | None = None) -> OperationFailure:
        details: dict[str, Any] = {"code": code, "codeName": name, "errmsg": "it says why"}
        if labels:
            details["errorLabels"] = labels
        return OperationFailure("it says why", code=code, details=details)

    cases: list[tuple[BaseException, type[StoreError], int]] = [
        (NetworkTimeout("db1:27017: timed out"), StoreUnavailable, 503),
        (refused(189, "PrimarySteppedDown"), StoreUnavailable, 503),
        (refused(91, "ShutdownInProgress"), StoreUnavailable, 503),
        (refused(999_999, "SomethingNew", ["RetryableWriteError"]), StoreUnavailable, 503),
        (CursorNotFound("cursor id 7 not found", code=43), StoreUnavailable, 503),
        (refused(14031, "OutOfDiskSpace"), StoreFull, 503),
        (refused(2, "BadValue"), StoreError, 500),  # asking again gets the same refusal
        (refused(999_999, "SomethingNew"), StoreError, 500),
        (InvalidOperation("cannot use a closed cursor"), StoreError, 500),  # not "unavailable"
    ]
    for exc, kind, status in cases:
        error = store_error("read points", exc)
        assert type(error) is kind, exc
        answer = failure(error, "d")
        assert answer.status == status and (answer.retry_after is not None) == (kind is StoreUnavailable)
        assert str(error).startswith("MongoDB failed to read points: ")  # MongoDB's reason, for the log
        if kind is StoreError:  # a refusal's reason reaches the client; where the servers are does not
            assert answer.message == f"dataset 'd' cannot be read: {error}"
        else:
            assert (
                answer.message
                == f"dataset 'd' cannot be read: {error.public}"
                != f"dataset 'd' cannot be read: {error}"
            )


@pytest.mark.django_db
def test_result_limit_cuts_the_stream_with_an_error_line(client: Client, settings: Any) -> None:
    dataset_import(name="grid", batches=grid_batches(), replace=True)
    settings.POINTS_MAX_RESULTS = 100
    lines = decode_lines(body(client.get("/api/datasets/grid/points")))
    assert len(lines) == 101
    assert lines[-1]["count"] == 100 and "limit of 100 points" in lines[-1]["error"]
    lines = decode_lines(
        body(client.post("/api/datasets/grid/points/within", data=SQUARE, content_type="application/json"))
    )
    assert lines[-1]["count"] == 100 and len(lines) == 101
    settings.POINTS_MAX_RESULTS = 121  # exactly the answer: complete
    lines = decode_lines(
        body(client.post("/api/datasets/grid/points/within", data=SQUARE, content_type="application/json"))
    )
    assert lines[-1] == {"end": True, "count": 121}


@pytest.mark.django_db
def test_time_limit_cuts_a_slow_stream(
    client: Client, failing_store: FailingStore, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    dataset_import(name="many", batches=random_batches(60_000, (0, 0, 1, 1), seed=3), replace=True)
    failing_store.fail_after = 10**9
    settings.POINTS_MAX_STREAM_SECONDS = 1
    clock = iter(range(0, 10**6, 2))  # a clock where every reading is two seconds after the last
    monkeypatch.setattr("points.streams.time.monotonic", lambda: float(next(clock)))
    lines = decode_lines(body(client.get("/api/datasets/many/points")))
    assert "ran longer than 1 s" in lines[-1]["error"] and lines[-1]["count"] == len(lines) - 1 < 60_000


@pytest.mark.django_db
def test_api_token(client: Client, settings: Any, django_user_model: Any) -> None:
    dataset_import(name="grid", batches=grid_batches(), replace=True)
    settings.POINTS_API_TOKEN = "s3cret-token"
    for response in (
        client.get("/api/datasets"),
        client.get("/api/datasets/grid/points"),
        client.get("/api/datasets", HTTP_AUTHORIZATION="Bearer wrong"),
        client.post("/api/datasets/grid/points/within", data=SQUARE, content_type="application/json"),
    ):
        assert response.status_code == 401
        assert "Authorization: Bearer" in response.json()["error"]
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/datasets", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200
    django_user_model.objects.create_user("viewer", password="pw-12345-long")
    client.login(username="viewer", password="pw-12345-long")
    assert client.get("/api/datasets").status_code == 200
    settings.POINTS_API_TOKEN = ""
    assert Client().get("/api/datasets").status_code == 200


@pytest.mark.django_db
def test_a_store_that_cannot_open_is_a_503_without_internals(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(url: str) -> Any:
        raise StoreMisconfigured("/srv/secret/points.sqlite3 was written by another version of pointsite")

    monkeypatch.setitem(stores.STORES, "broken", broken)
    settings.POINTS_STORE_URL = "broken://x"
    Dataset.objects.create(name="d", status=DatasetStatus.READY, count=1)
    for response in (
        client.get("/api/datasets/d/points"),
        client.head("/api/datasets/d/points"),
        client.get("/api/datasets/d/points/count"),
        client.get("/api/datasets/d/overview"),
    ):
        assert response.status_code == 503, response.request
        assert "secret" not in response.content.decode()
    error = client.get("/api/datasets/d/points").json()["error"]
    assert error == (
        "dataset 'd' cannot be read: the point store cannot be opened as configured; "
        "the failure is logged for the operators"
    )


@pytest.mark.django_db
def test_the_real_stores_wrong_layout_is_for_the_operators(
    client: Client, settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # an index written by another layout version
        conn.execute("CREATE TABLE datasets (name TEXT)")
        conn.execute("PRAGMA user_version = 1")
    settings.POINTS_STORE_URL = f"sqlite:///{path}"
    Dataset.objects.create(name="d", status=DatasetStatus.READY, count=1)
    response = client.get("/api/datasets/d/points")
    assert response.status_code == 503 and str(tmp_path) not in response.content.decode()
    assert "cannot be opened as configured" in response.json()["error"]
    # The operators read the whole reason, path and all.
    assert any(str(path) in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
