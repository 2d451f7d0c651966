"""The HTTP API through the real Django stack and the embedded store."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from points.batches import PointBatch
from points.datasets import dataset_import, dataset_prepare
from points.models import Dataset, DatasetStatus, ImportJob
from points.ndjson import decode_lines
from tests.conftest import grid_batches

pytestmark = pytest.mark.django_db
SQUARE = {"type": "Polygon", "coordinates": [[[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]]}


@pytest.fixture
def grid() -> Dataset:
    return dataset_import(name="grid", batches=grid_batches(), title="Grid", replace=True)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def post(client: Client, name: str, payload: Any, endpoint: str = "within", **extra: Any) -> Any:
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post(f"/api/datasets/{name}/points/{endpoint}", data=data, content_type="application/json", **extra)


# The polygon endpoints: one stream, one count, with the same body and the same errors.
POLYGON_ENDPOINTS = pytest.mark.parametrize("endpoint", ["within", "count"])


def test_dataset_list(client: Client, grid: Dataset) -> None:
    response = client.get("/api/datasets")
    assert response.status_code == 200
    [item] = response.json()
    assert item["name"] == "grid" and item["title"] == "Grid" and item["geometry"] == "planar"
    assert item["count"] == 2500 and item["bounds"] == [0.0, 0.0, 49.0, 49.0] and item["status"] == "ready"
    assert item["properties"] == [] and item["job"] == "" and item["importing"] is False
    assert item["attached"] is None  # imported, not attached over a collection


def test_dataset_list_names_the_properties_and_their_types(client: Client) -> None:
    batch = PointBatch(
        np.arange(3),
        np.array([0.0, 1.0, 2.0]),
        np.array([0.0, 1.0, 2.0]),
        [{"city": "Oslo", "pop": 700_000}, {"city": "Lima", "pop": 10.5}, {"ok": True}],
    )
    dataset_import(name="towns", batches=[batch])
    dataset_prepare(name="later", job=ImportJob.QUEUED)  # no points served yet: nothing to say
    items = {item["name"]: item for item in client.get("/api/datasets").json()}
    assert items["towns"]["properties"] == [
        {"name": "city", "type": "utf8"},
        {"name": "pop", "type": "float64"},
        {"name": "ok", "type": "bool"},
    ]
    assert items["later"]["properties"] is None
    assert items["later"]["importing"] is True and items["later"]["job"] == "queued"


def test_dataset_detail_has_the_properties_statistics(client: Client) -> None:
    rng = np.random.default_rng(5)
    n = 1000
    kinds = rng.choice(["cafe", "shop", "bank"], n, p=[0.6, 0.3, 0.1])
    sizes = rng.normal(10, 3, n)
    rows = [{"kind": str(k), "size": float(s)} for k, s in zip(kinds, sizes, strict=True)]
    dataset_import(name="towns", batches=[PointBatch(np.arange(n), rng.random(n), rng.random(n), rows)])
    item = client.get("/api/datasets/towns").json()
    listed = {d["name"]: d for d in client.get("/api/datasets").json()}["towns"]
    assert {k: v for k, v in item.items() if k != "properties"} == {
        k: v for k, v in listed.items() if k != "properties"
    }
    kind, size = item["properties"]
    names, counts = np.unique(kinds, return_counts=True)
    order = np.argsort(-counts)
    assert kind == {
        "name": "kind",
        "type": "utf8",
        "values": n,
        "top": [{"value": str(names[i]), "count": int(counts[i])} for i in order],
        "distinct": 3,
    }
    assert size == {"name": "size", "type": "float64", "values": n, "min": sizes.min(), "max": sizes.max()}


def test_dataset_detail_of_an_unknown_or_importing_dataset(client: Client) -> None:
    assert client.get("/api/datasets/nope").status_code == 404
    assert client.get("/api/datasets/NOT%20A%20NAME").json() == {"error": "no dataset named 'NOT A NAME'"}
    dataset_prepare(name="later", job=ImportJob.QUEUED)
    item = client.get("/api/datasets/later").json()
    assert item["status"] == "importing" and item["properties"] is None


def test_stream_all(client: Client, grid: Dataset) -> None:
    response = client.get("/api/datasets/grid/points")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["X-Dataset-Count"] == "2500"
    assert response["X-Accel-Buffering"] == "no"
    assert "Content-Encoding" not in response
    lines = decode_lines(body(response))
    assert lines[-1] == {"end": True, "count": 2500}
    assert sorted(r["id"] for r in lines[:-1]) == list(range(2500))
    assert {"id": 51, "pt": [1.0, 1.0]} in lines


def test_stream_within(client: Client, grid: Dataset) -> None:
    response = post(client, "grid", SQUARE)
    assert response.status_code == 200
    assert response["X-Dataset-Count"] == "2500"
    lines = decode_lines(body(response))
    assert lines[-1] == {"end": True, "count": 121}
    assert sorted(r["id"] for r in lines[:-1]) == sorted(x * 50 + y for x in range(10, 21) for y in range(10, 21))


def test_within_accepts_a_feature_and_form_encoded_curl_bodies(client: Client, grid: Dataset) -> None:
    feature = {"type": "Feature", "properties": {}, "geometry": SQUARE}
    assert decode_lines(body(post(client, "grid", feature)))[-1]["count"] == 121
    # curl -d sends application/x-www-form-urlencoded; the body is still the polygon.
    response = client.post(
        "/api/datasets/grid/points/within", data=json.dumps(SQUARE), content_type="application/x-www-form-urlencoded"
    )
    assert decode_lines(body(response))[-1]["count"] == 121


def test_within_needs_no_csrf_token(grid: Dataset) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, "grid", SQUARE).status_code == 200


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "the request body is empty"),
        (b"{", "not valid JSON"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "got type 'LineString'"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "self-intersection at [0.5, 0.5]",
        ),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "is not closed"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "a ring needs at least 4"),
    ],
)
@POLYGON_ENDPOINTS
def test_bad_polygons_get_a_400_with_the_reason(
    client: Client, grid: Dataset, payload: Any, message: str, endpoint: str
) -> None:
    response = post(client, "grid", payload, endpoint)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["error"]


@POLYGON_ENDPOINTS
def test_vertex_and_body_limits(client: Client, grid: Dataset, settings: Any, endpoint: str) -> None:
    settings.POINTS_MAX_VERTICES = 4
    square = {"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 9], [0, 0]]]}
    response = post(client, "grid", square, endpoint)
    assert response.status_code == 400 and "more than 4 vertices" in response.json()["error"]
    settings.POINTS_MAX_BODY_BYTES = 2048
    response = post(client, "grid", {"type": "Polygon", "coordinates": [[[0, 0]] * 300]}, endpoint)
    assert response.status_code == 413 and "limit is 2,048" in response.json()["error"]


def test_unknown_dataset_is_404(client: Client, grid: Dataset) -> None:
    for path in [
        "/api/datasets/nope/points",
        "/api/datasets/" + "x" * 500 + "/points",
        "/api/datasets/%2e%2e/points",
        "/api/datasets/caf%C3%A9/points",
        "/api/datasets/nope/points/count",
        "/api/datasets/nope/overview",
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "error" in response.json()
    assert post(client, "nope", SQUARE).status_code == 404
    assert post(client, "nope", SQUARE, "count").status_code == 404


@pytest.mark.parametrize("status", [DatasetStatus.IMPORTING, DatasetStatus.FAILED])
def test_a_dataset_that_is_not_ready_is_409(client: Client, grid: Dataset, status: str) -> None:
    Dataset.objects.filter(name="grid").update(status=status, status_message="bad row on line 3")
    for response in (
        client.get("/api/datasets/grid/points"),
        post(client, "grid", SQUARE),
        post(client, "grid", SQUARE, "count"),
        client.get("/api/datasets/grid/points/count"),
        client.get("/api/datasets/grid/overview"),
    ):
        assert response.status_code == 409
        assert status in response.json()["error"] or "failed" in response.json()["error"]


def test_spherical_dataset_uses_spherical_rules(client: Client) -> None:
    call_command("generate_points", "globe", "--random", "20000", "--spherical", "--seed", "3")
    far = {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [200, 10], [0, 0]]]}
    response = post(client, "globe", far)
    assert response.status_code == 400 and "out of range" in response.json()["error"]
    ring = [[170, -10], [-170, -10], [-170, 10], [170, 10], [170, -10]]
    lines = decode_lines(body(post(client, "globe", {"type": "Polygon", "coordinates": [ring]})))
    assert lines[-1]["count"] == len(lines) - 1 > 0
    assert all(abs(r["pt"][0]) >= 170 and abs(r["pt"][1]) <= 10.5 for r in lines[:-1])


def test_unknown_api_path_is_json_404(client: Client) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and "error" in response.json()


def test_wrong_methods(client: Client, grid: Dataset) -> None:
    assert client.post("/api/datasets/grid/points").status_code == 405
    assert client.get("/api/datasets/grid/points/within").status_code == 405
    assert client.put("/api/datasets/grid/points/count").status_code == 405
    assert client.post("/api/datasets/grid/overview").status_code == 405


def test_count_answers_what_the_stream_would_send(client: Client, grid: Dataset) -> None:
    assert client.get("/api/datasets/grid/points/count").json() == {"count": 2500}
    response = post(client, "grid", SQUARE, "count")
    assert response.status_code == 200 and response.json() == {"count": 121}
    streamed = decode_lines(body(post(client, "grid", SQUARE)))[-1]["count"]
    assert streamed == 121
    strict = Client(enforce_csrf_checks=True)  # read-only, like within
    assert post(strict, "grid", SQUARE, "count").json() == {"count": 121}


def test_overview_is_a_density_grid_like_histogram2d(client: Client, grid: Dataset) -> None:
    import numpy as np

    response = client.get("/api/datasets/grid/overview?width=7&height=5")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["bbox"] == [0.0, 0.0, 49.0, 49.0] and doc["width"] == 7 and doc["height"] == 5
    xs, ys = np.repeat(np.arange(50.0), 50), np.tile(np.arange(50.0), 50)
    expected, _, _ = np.histogram2d(ys, xs, bins=[np.linspace(0, 49, 6), np.linspace(0, 49, 8)])
    assert doc["counts"] == expected.astype(int).ravel().tolist() and sum(doc["counts"]) == 2500
    zoomed = client.get("/api/datasets/grid/overview?width=2&height=1&bbox=10,10,20,20").json()
    assert zoomed["bbox"] == [10.0, 10.0, 20.0, 20.0] and sum(zoomed["counts"]) == 121
    default = client.get("/api/datasets/grid/overview").json()
    assert default["width"] == default["height"] == 256 and sum(default["counts"]) == 2500


def test_overview_is_compressed_when_asked(client: Client, grid: Dataset) -> None:
    from points.codings import unzstd

    plain = client.get("/api/datasets/grid/overview?width=300&height=300").content
    response = client.get("/api/datasets/grid/overview?width=300&height=300", HTTP_ACCEPT_ENCODING="zstd")
    assert response["Content-Encoding"] == "zstd" and "Accept-Encoding" in response["Vary"]
    assert unzstd(response.content) == plain and len(response.content) < len(plain) / 5
    refused = client.get("/api/datasets/grid/overview", HTTP_ACCEPT_ENCODING="identity;q=0")
    assert refused.status_code == 406


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("width=0", "width must be a whole number from 1 to 2048"),
        ("height=4096", "height must be a whole number from 1 to 2048"),
        ("width=abc", "width must be a whole number"),
        ("bbox=1,2,3", "bbox must be 4 finite numbers"),
        ("bbox=1,2,x,4", "bbox must be 4 numbers"),
        ("bbox=5,0,1,1", "min_x < max_x"),
        ("bbox=0,0,nan,1", "finite"),
    ],
)
def test_bad_overview_parameters_get_a_400(client: Client, grid: Dataset, query: str, message: str) -> None:
    response = client.get(f"/api/datasets/grid/overview?{query}")
    assert response.status_code == 400 and message in response.json()["error"]


def test_asgi_streams_with_an_async_iterator(grid: Dataset) -> None:
    """Under ASGI the stream must stay a stream (Django would buffer a sync iterator whole)."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def fetch() -> tuple[Any, bytes, bool]:
        response: Any = await AsyncClient().post(
            "/api/datasets/grid/points/within", data=json.dumps(SQUARE), content_type="application/json"
        )
        is_async = response.is_async
        data = b"".join([piece async for piece in response.streaming_content])
        return response, data, is_async

    response, data, is_async = async_to_sync(fetch)()
    assert response.status_code == 200 and is_async
    assert decode_lines(data)[-1] == {"end": True, "count": 121}
