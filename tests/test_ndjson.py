"""NDJSON encoding, line selection and stream framing (points.ndjson)."""

from __future__ import annotations

import json
from collections.abc import Generator

import numpy as np
import pytest

from points.batches import Chunk
from points.ndjson import decode_lines, encode_points, end_line, error_line, select_lines
from points.stores.base import StoreError, StoreUnavailable
from points.streams import frame_stream


def test_plain_points_encode_like_json_dumps() -> None:
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-1e6, 1e6, 500), [0.0, -0.0, 1e-300, 5e-324, 1.5e300, 3.0]])
    ys = np.concatenate([rng.normal(0, 1e-9, 500), [1.0, 2.0, -1e-7, 7.0, -8.0, 0.1]])
    ids = np.arange(-3, len(xs) - 3, dtype=np.int64)
    text, offsets = encode_points(ids, xs, ys)
    lines = text.split(b"\n")[:-1]
    assert len(lines) == len(xs) == len(offsets) - 1
    for line, i, x, y in zip(lines, ids.tolist(), xs.tolist(), ys.tolist(), strict=True):
        assert json.loads(line) == {"id": i, "pt": [x, y]}
    assert all(text[offsets[k] : offsets[k + 1]] == lines[k] + b"\n" for k in range(len(lines)))


def test_points_with_properties_and_string_ids() -> None:
    text, offsets = encode_points(["a\nb", "c"], np.array([1.0, 2.0]), np.array([3.0, 4.0]), [{"name": 'é ☃ "q"'}, {}])
    assert decode_lines(text) == [{"id": "a\nb", "pt": [1.0, 3.0], "name": 'é ☃ "q"'}, {"id": "c", "pt": [2.0, 4.0]}]
    assert offsets.tolist() == [0, text.index(b"\n") + 1, len(text)]


def test_select_lines_keeps_order_and_only_the_masked_lines() -> None:
    text, offsets = encode_points(np.arange(100, dtype=np.int64), np.arange(100.0), np.arange(100.0))
    mask = np.arange(100) % 7 == 3
    assert [r["id"] for r in decode_lines(select_lines(text, offsets, mask))] == list(range(3, 100, 7))
    assert select_lines(text, offsets, np.zeros(100, bool)) == b""
    assert select_lines(text, offsets, np.ones(100, bool)) == text


def chunks(n: int, size: int) -> Generator[Chunk, None, None]:
    for start in range(0, n, size):
        ids = np.arange(start, min(start + size, n), dtype=np.int64)
        yield Chunk(len(ids), encode_points(ids, ids.astype(float), ids.astype(float))[0])


def test_frame_stream_gathers_chunks_and_ends_with_the_count() -> None:
    pieces = list(frame_stream(chunks(10_000, 100), chunk_bytes=16_384))
    body = b"".join(pieces)
    assert body.endswith(end_line(10_000))
    lines = decode_lines(body)
    assert [r["id"] for r in lines[:-1]] == list(range(10_000))
    assert lines[-1] == {"end": True, "count": 10_000}
    # Pieces are tens of KiB, not one per chunk of the store.
    assert len(pieces) < 30
    assert all(len(p) >= 16_384 for p in pieces[:-1])


def test_frame_stream_of_nothing_is_just_the_end_line() -> None:
    assert b"".join(frame_stream(chunks(0, 1))) == b'{"end":true,"count":0}\n'


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        # A refusal's message is the client's; where the servers are is not (StoreUnavailable.public).
        (StoreError("MongoDB failed to read points: Unauthorized"), "MongoDB failed to read points: Unauthorized"),
        (StoreUnavailable("MongoDB failed to read points: AutoReconnect"), StoreUnavailable("").public),
    ],
)
def test_a_failure_midway_ends_with_an_error_line_not_an_end_line(error: StoreError, shown: str) -> None:
    def failing() -> Generator[Chunk, None, None]:
        yield from chunks(300, 100)
        raise error

    body = b"".join(frame_stream(failing(), chunk_bytes=1 << 20))
    lines = decode_lines(body)
    assert lines[-1] == {"error": shown, "count": 300}
    assert len(lines) == 301
    assert b'"end"' not in body


def test_an_unexpected_failure_hides_its_details() -> None:
    def failing() -> Generator[Chunk, None, None]:
        yield from chunks(10, 10)
        raise KeyError("/secret/path/internal")

    body = b"".join(frame_stream(failing()))
    assert body.endswith(error_line("the server failed; the failure is logged for the operators", 10))
    assert b"secret" not in body


def test_closing_the_stream_closes_the_store_iterator() -> None:
    closed = []

    def source() -> Generator[Chunk, None, None]:
        try:
            yield from chunks(100_000, 1000)
        finally:
            closed.append(True)

    stream = frame_stream(source(), chunk_bytes=1024)
    next(stream)
    stream.close()
    assert closed == [True]


@pytest.mark.parametrize("n", [1, 2, 1000])
def test_encode_counts(n: int) -> None:
    text, offsets = encode_points(np.arange(n, dtype=np.int64), np.zeros(n), np.zeros(n))
    assert text.count(b"\n") == n and offsets[-1] == len(text)
