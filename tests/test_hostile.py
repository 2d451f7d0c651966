"""Hostile and broken requests: each gets its exact status and message, never a 500 or a trace."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from points.datasets import dataset_import
from points.ndjson import decode_lines
from tests.conftest import grid_batches

pytestmark = pytest.mark.django_db
URL = "/api/datasets/grid/points/within"
RING = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]


@pytest.fixture(autouse=True)
def grid() -> None:
    dataset_import(name="grid", batches=grid_batches(), replace=True)


def streamed(response: Any) -> bytes:
    """Return a streaming response's body (the test client's type says HttpResponse)."""
    return b"".join(response.streaming_content)


def nested(depth: int) -> bytes:
    return b'{"type":"Polygon","coordinates":' + b"[" * depth + b"]" * depth + b"}"


CORPUS: list[tuple[str, bytes, int, str]] = [
    ("empty body", b"", 400, "the request body is empty"),
    ("not JSON", b"polygon please", 400, "not valid JSON"),
    ("JSON array", b"[[0,0],[1,1]]", 400, "expected a GeoJSON object"),
    ("JSON number", b"42", 400, "expected a GeoJSON object (Polygon, MultiPolygon or Feature), got the number 42"),
    ("wrong type", b'{"type":"Circle","coordinates":[0,0]}', 400, "got type 'Circle'"),
    ("no type", b'{"coordinates":[]}', 400, 'the object has no "type"'),
    (
        "missing nesting",
        json.dumps({"type": "Polygon", "coordinates": RING}).encode(),
        400,
        "coordinates[0] must be a list of [x, y] positions, got the number 0 as its first item (is a level of brackets missing?)",
    ),
    (
        "extra nesting",
        json.dumps({"type": "Polygon", "coordinates": [[RING]]}).encode(),
        400,
        "coordinates[0][0] must be a position [x, y] of 2 numbers, got a list of lists (is there a level of brackets too many?)",
    ),
    (
        "string coordinate",
        b'{"type":"Polygon","coordinates":[[[0,0],["10",0],[10,10],[0,0]]]}',
        400,
        "coordinates[0][1][0] must be a number, got the string '10'",
    ),
    (
        "boolean coordinate",
        b'{"type":"Polygon","coordinates":[[[0,0],[10,false],[10,10],[0,0]]]}',
        400,
        "coordinates[0][1][1] must be a number, got false",
    ),
    (
        "null coordinate",
        b'{"type":"Polygon","coordinates":[[[0,0],[10,0],[null,10],[0,0]]]}',
        400,
        "coordinates[0][2][0] must be a number, got null",
    ),
    ("NaN", b'{"type":"Polygon","coordinates":[[[0,0],[NaN,0],[10,10],[0,0]]]}', 400, "not valid JSON"),
    ("Infinity", b'{"type":"Polygon","coordinates":[[[0,0],[Infinity,0],[10,10],[0,0]]]}', 400, "not valid JSON"),
    ("1e999", b'{"type":"Polygon","coordinates":[[[0,0],[1e999,0],[10,10],[0,0]]]}', 400, "number is infinity"),
    (
        "3-D",
        b'{"type":"Polygon","coordinates":[[[0,0,1],[10,0,1],[10,10,1],[0,0,1]]]}',
        400,
        "coordinates[0][0] must be a position [x, y] of exactly 2 numbers, got 3 numbers",
    ),
    (
        "short ring",
        b'{"type":"Polygon","coordinates":[[[0,0],[10,0],[0,0]]]}',
        400,
        "coordinates[0] has 3 position(s); a ring needs at least 4",
    ),
    (
        "unclosed ring",
        b'{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10]]]}',
        400,
        "coordinates[0] is not closed: its last position [0, 10] must repeat its first [0, 0]",
    ),
    (
        "bow-tie",
        b'{"type":"Polygon","coordinates":[[[0,0],[10,10],[10,0],[0,10],[0,0]]]}',
        400,
        "coordinates is not a valid polygon: self-intersection at [5, 5]",
    ),
    (
        "hole outside shell",
        json.dumps({"type": "Polygon", "coordinates": [RING, [[20, 20], [30, 20], [30, 30], [20, 20]]]}).encode(),
        400,
        "coordinates is not a valid polygon: hole lies outside shell at [20, 20]",
    ),
    (
        "100k vertices",
        b'{"type":"Polygon","coordinates":[[' + b",".join([b"[0,0]"] * 100_000) + b"]]}",
        400,
        "the area has more than 10,000 vertices",
    ),
    ("10,000 levels deep", nested(10_000), 400, "not valid JSON"),
    ("$where", b'{"$where":"sleep(10000)","type":"Polygon"}', 400, "coordinates must be a non-empty list of rings"),
    (
        "$gt as a coordinate",
        b'{"type":"Polygon","coordinates":[[[0,0],[{"$gt":0},0],[10,10],[0,0]]]}',
        400,
        "coordinates[0][1][0] must be a number, got an object",
    ),
    (
        "$-keys as the area",
        b'{"type":"Polygon","coordinates":{"$ne":null}}',
        400,
        "coordinates must be a non-empty list of rings, got an object",
    ),
    (
        "geometry not an area",
        b'{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]}}',
        400,
        "got type 'Point'",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_bodies(client: Client, body: bytes, status: int, message: str) -> None:
    response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["error"], response.json()["error"]


def test_a_50_mb_body_is_refused_unread(client: Client) -> None:
    body = b'{"type":"Polygon","coordinates":[[' + b"[0,0]," * 9_000_000 + b"[0,0]]]}"
    assert len(body) > 50_000_000
    response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"].startswith(f"the polygon body is {len(body):,} bytes; the limit is 1,048,576")


@pytest.mark.parametrize(
    "path",
    [
        "/api/datasets/../points",
        "/api/datasets/%2e%2e/points",
        "/api/datasets/..%2fgrid/points",
        "/api/datasets/" + "a" * 5000 + "/points",
        "/api/datasets/caf%C3%A9/points",
        "/api/datasets/%00/points",
        "/api/datasets/GRID/points",
        "/api/datasets/grid%20/points",
        "/api/datasets/$where/points",
    ],
)
def test_unknown_dataset_names_with_path_tricks(client: Client, path: str) -> None:
    for response in (
        client.get(path),
        client.post(
            path + "/within",
            data=json.dumps({"type": "Polygon", "coordinates": [RING]}),
            content_type="application/json",
        ),
    ):
        assert response.status_code == 404
        message = response.json()["error"]
        assert message.startswith("no dataset named") or message.startswith("no such API path")
        assert len(message) < 200


def test_no_response_carries_a_stack_trace_or_an_internal_path(client: Client) -> None:
    bodies: list[Any] = [c[1] for c in CORPUS] + [
        b"\xff\xfe\x00",
        b'{"type":"Polygon","coordinates":[[[' + b"9" * 5000 + b",0]]]}",
    ]
    responses = [client.post(URL, data=b, content_type="application/json") for b in bodies]
    responses += [client.get(p) for p in ("/api/datasets/nope/points", "/api/nothing", "/api/datasets/grid/points/x")]
    responses.append(client.put(URL, data=b"{}"))
    for response in responses:
        assert response.status_code < 500
        text = response.content.decode(errors="replace")
        for leak in ("Traceback", 'File "', ".py", "/work/", "site-packages", "Exception"):
            assert leak not in text, (leak, text[:300])


def test_good_requests_still_work_after_the_corpus(client: Client) -> None:
    for _, body, _, _ in CORPUS[:5]:
        client.post(URL, data=body, content_type="application/json")
    response = client.post(
        URL, data=json.dumps({"type": "Polygon", "coordinates": [RING]}), content_type="application/json"
    )
    assert decode_lines(streamed(response))[-1] == {"end": True, "count": 121}


def test_a_chunked_body_is_asked_for_a_length(client: Client) -> None:
    response = client.post(URL, data=b"", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert "Content-Length" in response.json()["error"]


def test_huge_coordinates_are_fine_on_a_plane(client: Client) -> None:
    big = 1e100
    square = [[-big, -big], [big, -big], [big, big], [-big, big], [-big, -big]]
    response = client.post(
        URL, data=json.dumps({"type": "Polygon", "coordinates": [square]}), content_type="application/json"
    )
    assert response.status_code == 200
    assert decode_lines(streamed(response))[-1] == {"end": True, "count": 2500}
