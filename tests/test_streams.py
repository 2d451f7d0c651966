"""Stream formats and codings through the real Django stack and the embedded store: every
format x coding gives the plain NDJSON stream's points, streams stay progressive, a cut
anywhere reads as cut, and a failure midway ends each with the message a JSON error would carry."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import zstandard
from django.test import Client

from points.batches import PointBatch
from points.datasets import dataset_import
from points.models import Dataset
from points.stores import get_store
from points.stores.base import StoreError
from points.stores.errors import INTERNAL
from tests.conftest import random_batches
from tests.stream_client import Outcome, decompress, read_body, read_ndjson
from tests.test_faults import FailingStore, failing_store, wait_until  # noqa: F401 - failing_store: a fixture

pytestmark = pytest.mark.django_db
FORMATS = ("ndjson", "arrow")
CODINGS = ("identity", "gzip", "zstd")
TRIANGLE = {"type": "Polygon", "coordinates": [[[10, 10], [80, 15], [40, 90], [10, 10]]]}


@pytest.fixture
def rand() -> Dataset:
    # Several blocks (4,096 points each), some inside the triangle, some on its edges.
    return dataset_import(name="rand", batches=random_batches(30_000, (0, 0, 100, 100), seed=11), replace=True)


def _props_batch() -> PointBatch:
    rng = np.random.default_rng(5)
    n = 3000
    props: list[dict[str, Any]] = []
    for i in range(n):
        p: dict[str, Any] = {"k": i % 7, "ratio": 0.5 * i if i % 2 else i, "name": f"n{i % 3}", "flag": i % 2 == 0}
        if i % 5 == 0:
            p["mixed"] = "text" if i % 10 else [1, {"a": None}]
        if i % 11 == 0:
            p["big"] = 2**62 + i
        props.append(p)
    ids: list[int | str] = [f"s{i}" if i % 3 else i for i in range(n)]
    return PointBatch(ids, rng.uniform(0, 100, n), rng.uniform(0, 100, n), props)


@pytest.fixture
def props() -> Dataset:
    return dataset_import(name="props", batches=[_props_batch()], replace=True)


def fetch(client: Client, name: str, fmt: str, coding: str, polygon: Any = None) -> Any:
    headers: dict[str, Any] = {"HTTP_ACCEPT_ENCODING": coding}
    if polygon is None:
        return client.get(f"/api/datasets/{name}/points?format={fmt}", **headers)
    return client.post(
        f"/api/datasets/{name}/points/within?format={fmt}",
        data=json.dumps(polygon),
        content_type="application/json",
        **headers,
    )


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def reference(client: Client, name: str, polygon: Any) -> Outcome:
    outcome = read_ndjson(body(fetch(client, name, "ndjson", "identity", polygon)))
    assert outcome.ended == "end" and outcome.points
    return outcome


def canonical(points: list[tuple[Any, float, float, dict[str, Any]]], fmt: str) -> list[tuple[Any, ...]]:
    """Return points in a comparable form: ids as text, properties by the Arrow type rule
    (an integer in a float64 column reads back as a float)."""
    out = []
    for i, x, y, p in points:
        typed = {k: (float(v) if k == "ratio" else v) for k, v in p.items()} if fmt == "arrow" else p
        out.append((str(i), x, y, json.dumps(typed, sort_keys=True)))
    return sorted(out)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("dataset", ["rand", "props"])
@pytest.mark.parametrize("query", ["all", "within"])
def test_every_format_and_coding_gives_the_plain_streams_points(
    client: Client, rand: Dataset, props: Dataset, fmt: str, coding: str, dataset: str, query: str
) -> None:
    polygon = TRIANGLE if query == "within" else None
    expected = reference(client, dataset, polygon)
    response = fetch(client, dataset, fmt, coding, polygon)
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.apache.arrow.stream" if fmt == "arrow" else "application/x-ndjson"
    )
    assert response.get("Content-Encoding") == (None if coding == "identity" else coding)
    assert "Accept-Encoding" in response["Vary"]
    got = read_body(body(response), fmt, coding)
    assert got.ended == "end"
    assert canonical(got.points, fmt) == canonical(expected.points, "ndjson" if fmt == "ndjson" else "arrow")
    assert len(got.points) == len(expected.points)


def test_arrow_columns_follow_the_recorded_schema(client: Client, props: Dataset) -> None:
    import pyarrow as pa

    data = body(fetch(client, "props", "arrow", "identity"))
    schema = pa.ipc.open_stream(data).schema
    types = {f.name: str(f.type) for f in schema}
    assert types == {
        "id": "string",  # some ids are text
        "x": "double",
        "y": "double",
        "k": "int64",
        "ratio": "double",  # integers and floats
        "name": "string",
        "flag": "bool",
        "mixed": "string",  # text and a list: JSON text
        "big": "int64",
    }
    assert schema.field("mixed").metadata == {b"pointsite:json": b"true"}
    assert schema.metadata == {b"dataset": b"props", b"geometry": b"planar"}
    # Exactly the coordinates of the NDJSON stream: float64 is lossless.
    arrow_points = read_body(data, "arrow", "identity").points
    ndjson_points = read_ndjson(body(fetch(client, "props", "ndjson", "identity"))).points
    assert sorted((str(i), x, y) for i, x, y, _ in arrow_points) == sorted(
        (str(i), x, y) for i, x, y, _ in ndjson_points
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("zstd", "zstd"),
        ("gzip, deflate, br, zstd", "zstd"),  # what Chromium sends: zstd wins ties
        ("gzip;q=0.9, zstd;q=0.5", "gzip"),
        ("zstd;q=0, gzip;q=0", None),
        ("br, deflate", None),  # nothing we have: identity
        ("*", "zstd"),
        ("*;q=0.5, identity", None),
        ("identity;q=0, gzip;q=0.1", "gzip"),
        ("GZIP;Q=1", "gzip"),
        ("gzip;q=abc, zstd;q=0.2", "zstd"),  # an unreadable weight accepts nothing
    ],
)
def test_accept_encoding_negotiation(client: Client, rand: Dataset, header: str | None, expected: str | None) -> None:
    extra: dict[str, Any] = {} if header is None else {"HTTP_ACCEPT_ENCODING": header}
    response = client.get("/api/datasets/rand/points", **extra)
    assert response.status_code == 200
    assert response.get("Content-Encoding") == expected
    assert read_body(body(response), "ndjson", expected or "identity").ended == "end"


@pytest.mark.parametrize("header", ["identity;q=0", "*;q=0", "br, identity;q=0"])
def test_excluding_every_coding_is_406_in_json(client: Client, rand: Dataset, header: str) -> None:
    response = client.get("/api/datasets/rand/points", HTTP_ACCEPT_ENCODING=header)
    assert response.status_code == 406
    assert "Content-Encoding" not in response
    assert response.json()["error"].startswith("Accept-Encoding excludes every coding")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/x-ndjson"),
        ("*/*", "application/x-ndjson"),
        ("application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.stream"),
        ("application/vnd.apache.arrow.stream, */*;q=0.1", "application/vnd.apache.arrow.stream"),
        ("application/x-ndjson, application/vnd.apache.arrow.stream;q=0.5", "application/x-ndjson"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "application/x-ndjson"),
    ],
)
def test_accept_picks_the_format(client: Client, rand: Dataset, accept: str | None, expected: str) -> None:
    extra: dict[str, Any] = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client.get("/api/datasets/rand/points", **extra)
    assert response["Content-Type"] == expected
    assert "Accept" in response["Vary"]


def test_format_parameter_wins_and_unknown_formats_are_refused(client: Client, rand: Dataset) -> None:
    response = client.get("/api/datasets/rand/points?format=ndjson", HTTP_ACCEPT="application/vnd.apache.arrow.stream")
    assert response["Content-Type"] == "application/x-ndjson"
    response = client.get("/api/datasets/rand/points?format=parquet")
    assert response.status_code == 400
    assert response.json() == {"error": "unknown format 'parquet'; use one of: ndjson, arrow, csv, geojson"}
    response = client.post(
        "/api/datasets/rand/points/within?format=xml", data=json.dumps(TRIANGLE), content_type="application/json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("query", ["all", "within"])
def test_a_stream_cut_anywhere_never_reads_as_complete(
    client: Client, rand: Dataset, fmt: str, coding: str, query: str
) -> None:
    data = body(fetch(client, "rand", fmt, coding, TRIANGLE if query == "within" else None))
    whole = read_body(data, fmt, coding)
    assert whole.ended == "end"
    rng = random.Random(f"{fmt}-{coding}-{query}")
    offsets = sorted({rng.randrange(1, len(data)) for _ in range(60)} | {1, len(data) - 1})
    for offset in offsets:
        cut = read_body(data[:offset], fmt, coding)
        # All the points, or it says cut: a prefix never claims to be the whole answer.
        if cut.ended == "end":
            assert cut.points == whole.points, f"cut at {offset} of {len(data)} read as complete"
        else:
            assert cut.ended == "cut"
            assert len(cut.points) <= len(whole.points)
    # Damaged bytes in the middle do not pass either.
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    result = read_body(bytes(damaged), fmt, coding)
    assert result.ended != "end" or result.points != whole.points or coding == "identity"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("coding", ["gzip", "zstd"])
def test_compressed_streams_are_progressive(client: Client, settings: Any, fmt: str, coding: str) -> None:
    settings.POINTS_STREAM_CHUNK_BYTES = 4096
    dataset_import(name="prog", batches=random_batches(40_000, (0, 0, 1, 1), seed=2), replace=True)
    response = fetch(client, "prog", fmt, coding)
    pieces = iter(response.streaming_content)
    received = b""
    decoded = 0
    # The first pieces decode to points before the rest of the stream is even produced.
    for _ in range(3):
        received += next(pieces)
        partial = read_body(received, fmt, coding)
        assert partial.ended == "cut"
        assert len(partial.points) > decoded
        decoded = len(partial.points)
    assert decoded < 40_000
    response.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_point_limit_holds_in_compressed_streams(client: Client, settings: Any, rand: Dataset, fmt: str) -> None:
    settings.POINTS_MAX_RESULTS = 5000
    outcome = read_body(body(fetch(client, "rand", fmt, "zstd")), fmt, "zstd")
    assert outcome.ended == "error" and "limit of 5,000 points" in outcome.message
    assert len(outcome.points) == 5000


def test_gzip_streams_are_one_member_curl_and_browsers_read_whole(client: Client, rand: Dataset) -> None:
    data = body(fetch(client, "rand", "ndjson", "gzip"))
    member = zlib.decompressobj(31)
    text = member.decompress(data)
    assert member.eof and member.unused_data == b""  # one member, CRC and size checked by zlib
    assert text.endswith(b'{"end":true,"count":30000}\n')


def test_zstd_frames_decode_as_one_stream(client: Client, rand: Dataset) -> None:
    data = body(fetch(client, "rand", "ndjson", "zstd"))
    text = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
    assert text.endswith(b'{"end":true,"count":30000}\n')


def test_properties_named_like_the_coordinates_do_not_shadow_them(client: Client) -> None:
    import pyarrow as pa

    batch = PointBatch(np.array([1, 2]), np.array([1.5, 2.5]), np.array([3.5, 4.5]), [{"x": "px", "y": 7}, {"x_": 1}])
    dataset_import(name="xy", batches=[batch], replace=True)
    data = body(fetch(client, "xy", "arrow", "zstd"))
    table = pa.ipc.open_stream(
        zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
    ).read_all()
    assert table.column_names == ["id", "x", "y", "x_", "y_", "x__"]
    assert table.column("x").to_pylist() == [1.5, 2.5] and table.column("y").to_pylist() == [3.5, 4.5]
    assert table.column("x_").to_pylist() == ["px", None] and table.column("x__").to_pylist() == [None, 1]
    assert table.schema.field("x_").metadata == {b"pointsite:property": b"x"}
    assert table.schema.field("x__").metadata == {b"pointsite:property": b"x_"}
    # NDJSON keeps every name as imported.
    assert read_ndjson(body(fetch(client, "xy", "ndjson", "identity"))).points[0][3] == {"x": "px", "y": 7}


@pytest.mark.django_db(transaction=True)
def test_asgi_clients_that_leave_mid_stream_release_the_cursor_and_files() -> None:
    import asyncio
    import os

    from django.core.asgi import get_asgi_application

    dataset_import(name="leave", batches=random_batches(60_000, (0, 0, 1, 1), seed=4), replace=True)
    store = get_store()
    app = get_asgi_application()
    blocks = str(store.data_dir)  # type: ignore[attr-defined]

    def open_block_files() -> int:
        # The section files a stream reads (grid files stay mapped for overviews, by design).
        listed = os.listdir("/proc/self/fd")
        targets = []
        for fd in listed:
            try:
                targets.append(os.readlink(f"/proc/self/fd/{fd}"))
            except FileNotFoundError:
                continue  # closed since it was listed: listdir's own descriptor, or another thread's
        assert len(targets) >= len(listed) - 2, "the open files could not be read: nothing would be tested"
        return sum(t.startswith(blocks) and not t.endswith("/grid") for t in targets)

    during: list[int] = []  # the block files open while each stream was being sent

    async def leave_after_first_piece(coding: str) -> None:
        sent: list[Mapping[str, Any]] = []
        first = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await first.wait()
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body") and not first.is_set():
                during.append(open_block_files())
                first.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/datasets/leave/points",
            "raw_path": b"/api/datasets/leave/points",
            "query_string": b"format=arrow",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"accept-encoding", coding.encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)  # raises if an error escapes the app
        assert sent[0]["status"] == 200

    async def many() -> None:
        for coding in ("zstd", "gzip", "identity") * 5:
            await leave_after_first_piece(coding)

    asyncio.run(many())
    # No garbage collection: the stream's files and cursor go back as the client leaves.
    assert wait_until(lambda: store.open_cursors == 0)
    # The count sees the files a stream holds (each stream had its section open), so the 0 means closed.
    assert len(during) == 15 and min(during) >= 1
    assert open_block_files() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize(
    ("error", "status", "shown"),
    [
        # Raised on purpose: its message, before the first byte and midway.
        (StoreError("MongoDB cannot read points: a document is over its 16 MiB limit"), 500, None),
        # Not a StoreError (a file gone under the store): its text, a full path, stays in the log.
        (FileNotFoundError(2, "No such file or directory", "/srv/secret/many/arrow"), 500, INTERNAL),
    ],
    ids=["on-purpose", "internal"],
)
def test_a_failure_reads_the_same_before_the_first_byte_and_in_every_stream(
    failing_store: FailingStore,  # noqa: F811 - the fixture imported above
    fmt: str,
    coding: str,
    error: BaseException,
    status: int,
    shown: str | None,
) -> None:
    expected = shown or f"dataset 'many' cannot be read: {error}"
    dataset_import(name="many", batches=random_batches(60_000, (0, 0, 1, 1), seed=3), replace=True)
    client = Client(raise_request_exception=False)  # an internal error is answered, as a server does
    failing_store.error, failing_store.fail_after = error, 0
    before = fetch(client, "many", fmt, coding)
    assert before.status_code == status and before.json() == {"error": expected}
    assert "Content-Encoding" not in before  # a JSON error is never compressed as the stream would be
    failing_store.fail_after = 8
    midway = fetch(client, "many", fmt, coding)
    assert midway.status_code == 200
    data = body(midway)
    outcome = read_body(data, fmt, coding)
    assert outcome.ended == "error" and outcome.message == expected
    assert 30_000 <= len(outcome.points) < 60_000
    assert b"secret" not in decompress(data, coding)[0]
    assert failing_store.open_cursors == 0
