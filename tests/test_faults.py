"""Faults: dropped clients, a store failing mid-stream, MongoDB out of reach, per-request limits, the API token."""

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
from points.stores.base import PLAIN_NDJSON, PointStream, StoreUnavailable
from points.stores.embedded.store import EmbeddedStore
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
    """A real store whose reads fail after K chunks, as a store whose server went away would."""

    fail_after = 8  # chunks of a block (4,096 points) each: past 30,000 points

    def open_points(
        self, dataset: str, area: Area | None, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> PointStream:
        opened = super().open_points(dataset, area, form=form, batch_size=batch_size)
        return PointStream(opened.schema, self._failing(opened.chunks))

    def _failing(self, chunks: Generator[Chunk, None, None]) -> Generator[Chunk, None, None]:
        try:
            for n, chunk in enumerate(chunks):
                if n == self.fail_after:
                    raise StoreUnavailable("MongoDB failed to read points: AutoReconnect")
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
    assert lines[-1] == {"error": "MongoDB failed to read points: AutoReconnect", "count": len(lines) - 1}
    assert 30_000 <= len(lines) - 1 < 60_000
    assert not any("end" in line for line in lines)
    assert failing_store.open_cursors == 0


@pytest.mark.django_db
def test_a_store_failing_before_the_first_byte_is_a_503(client: Client, failing_store: FailingStore) -> None:
    dataset_import(name="grid", batches=grid_batches(), replace=True)
    failing_store.fail_after = 0
    response = client.get("/api/datasets/grid/points")
    assert response.status_code == 503
    assert response.json() == {"error": "the point store is unavailable: MongoDB failed to read points: AutoReconnect"}


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
        assert response.status_code == 503
        # MongoDB's reason, in one line: which server, and why it could not be reached.
        assert response.json()["error"] == (
            "the point store is unavailable: MongoDB failed to read dataset metadata: "
            "no server could be reached (127.0.0.1:9: [Errno 111] Connection refused)"
        )
    assert time.monotonic() - started < 5
    with pytest.raises(CommandError, match=r"no server could be reached \(127\.0\.0\.1:9"):
        call_command("generate_points", "remote2", "--grid", "2x2")
    assert Dataset.objects.get(name="remote2").status == DatasetStatus.FAILED


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
    from points.stores.base import StoreError

    def broken(url: str) -> Any:
        raise StoreError("/srv/secret/points.sqlite3 was written by another version of pointsite")

    monkeypatch.setitem(stores.STORES, "broken", broken)
    settings.POINTS_STORE_URL = "broken://x"
    Dataset.objects.create(name="d", status=DatasetStatus.READY, count=1)
    response = client.get("/api/datasets/d/points")
    assert response.status_code == 503
    assert "secret" not in response.json()["error"] and "logged" in response.json()["error"]
