"""The OpenAPI document (points.openapi) is true to the API.

Every case below is a real request through Django's whole stack to real datasets; its answer must
have the case's status, and be what the document says for that path, method and status (its
content type, headers and JSON body: openapi-core, which also checks that the document is valid
OpenAPI 3.1); a request the server answers with a 200 must be one the document takes. Stream
bodies, which no JSON schema describes whole, are read as their documented formats. And the other
way round: every status the document lists for an operation is one some case produces, every
route is documented, and every method a path does not document is its 405.

openapi-core rather than jsonschema alone: it finds the operation, the status and the media type
as a client would, checks headers (required ones too), query parameters and request bodies, and
refuses a document that is not valid OpenAPI; what it cannot read (an NDJSON or Arrow body) is
read below.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import orjson
import pytest
from django.test import Client
from django.urls import URLPattern
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.validators import V31ResponseHeadersValidator
from openapi_schema_validator import OAS31Validator

from points import urls
from points.batches import PointBatch
from points.datasets import dataset_import, dataset_prepare
from points.models import Dataset, DatasetStatus, ImportJob
from points.openapi import openapi_document
from points.rules import NAME_PATTERN, GeometryKind
from tests.conftest import grid_batches, random_batches
from tests.stream_client import decompress, read_arrow

pytestmark = pytest.mark.django_db

DOCUMENT = openapi_document()
SQUARE = json.dumps({"type": "Polygon", "coordinates": [[[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]]})
FEATURE = json.dumps({"type": "Feature", "properties": {}, "geometry": json.loads(SQUARE)})
BOWTIE = json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})
FORM = "application/x-www-form-urlencoded"
STREAM_TYPES = {
    "application/x-ndjson",
    "application/vnd.apache.arrow.stream",
    "text/csv; charset=utf-8; header=present",
    "application/geo+json",
}
TOKEN = "s3cret-openapi-token"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# What a case needs of its surroundings besides the datasets (see `environment`).
WITH_TOKEN = "token"  # POINTS_API_TOKEN is set
STORE_DOWN = "store down"  # the point store is a MongoDB server nothing answers for
SMALL_BODIES = "small bodies"  # POINTS_MAX_BODY_BYTES is 64


@dataclass(frozen=True)
class Case:
    """A request (`path` with its query) and the status it must get."""

    method: str
    path: str
    status: int
    body: str = ""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)  # WSGI names: HTTP_ACCEPT_ENCODING, …
    env: str = ""
    why: str = ""

    def __str__(self) -> str:
        extra = ",".join(f"{k.removeprefix('HTTP_').lower()}={v}" for k, v in self.headers.items())
        return " ".join(p for p in (self.method, self.path, str(self.status), extra, self.env, self.why) if p)


POINTS = "/api/datasets/{}/points"
WITHIN = "/api/datasets/{}/points/within"
COUNT = "/api/datasets/{}/points/count"
OVERVIEW = "/api/datasets/{}/overview"
BEARER = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
NO_IDENTITY = {"HTTP_ACCEPT_ENCODING": "identity;q=0"}
CHUNKED = {"HTTP_TRANSFER_ENCODING": "chunked"}


def both(path: str, status: int, **kwargs: Any) -> list[Case]:
    """The same request as a GET and as a HEAD (which must answer as the GET, without a body)."""
    return [Case("GET", path, status, **kwargs), Case("HEAD", path, status, **kwargs)]


def polygon_errors(template: str) -> list[Case]:
    """The errors the two polygon endpoints share."""
    return [
        Case("POST", template.format("grid"), 400, BOWTIE, why="self-intersecting"),
        Case("POST", template.format("grid"), 400, "geometry=", FORM, why="empty form field"),
        Case("POST", template.format("grid"), 400, "name=x", FORM, why="form without geometry"),
        Case("POST", template.format("grid"), 401, SQUARE, env=WITH_TOKEN),
        Case("POST", template.format("nope"), 404, SQUARE),
        Case("POST", template.format("later"), 409, SQUARE, why="importing"),
        Case("POST", template.format("failed"), 409, SQUARE, why="failed"),
        Case("POST", template.format("ghost"), 404, SQUARE, why="no points in the store"),
        Case("POST", template.format("grid"), 411, "", headers=CHUNKED, why="chunked, no length"),
        Case("POST", template.format("grid"), 413, SQUARE, env=SMALL_BODIES),
        Case("POST", template.format("grid"), 413, "geometry=" + SQUARE, FORM, env=SMALL_BODIES, why="form"),
        Case("POST", template.format("mixed"), 500, SQUARE, why="the store refuses"),
        Case("POST", template.format("grid"), 503, SQUARE, env=STORE_DOWN),
    ]


CASES = [
    # The list: its properties are null with the store out of reach, not an error.
    *both("/api/datasets", 200),
    Case("GET", "/api/datasets", 200, env=STORE_DOWN),
    Case("GET", "/api/datasets", 200, headers=BEARER, env=WITH_TOKEN),
    *both("/api/datasets", 401, env=WITH_TOKEN),
    # One dataset: properties of every type with their statistics, spherical, importing, failed.
    *both("/api/datasets/towns", 200),
    Case("GET", "/api/datasets/globe", 200),
    Case("GET", "/api/datasets/later", 200),
    Case("GET", "/api/datasets/failed", 200),
    Case("GET", "/api/datasets/towns", 200, env=STORE_DOWN),
    *both("/api/datasets/grid", 401, env=WITH_TOKEN),
    *both("/api/datasets/nope", 404),
    Case("GET", "/api/datasets/NOT%20A%20NAME", 404),
    # Every point, in each format and coding.
    *both(POINTS.format("grid"), 200),
    *both(POINTS.format("towns") + "?format=arrow", 200),
    *both(POINTS.format("towns") + "?format=csv&download=1", 200),
    Case("GET", POINTS.format("towns") + "?format=geojson&download=true", 200),
    Case("GET", POINTS.format("globe") + "?format=csv", 200),
    Case("GET", POINTS.format("grid"), 200, headers={"HTTP_ACCEPT": "application/vnd.apache.arrow.stream"}),
    *both(POINTS.format("grid"), 200, headers={"HTTP_ACCEPT_ENCODING": "zstd"}),
    Case("GET", POINTS.format("grid") + "?format=arrow", 200, headers={"HTTP_ACCEPT_ENCODING": "gzip"}),
    *both(POINTS.format("grid") + "?format=xml", 400),
    Case("GET", POINTS.format("grid") + "?download=maybe", 400),
    *both(POINTS.format("grid"), 401, env=WITH_TOKEN),
    *both(POINTS.format("nope"), 404),
    *both(POINTS.format("grid"), 406, headers=NO_IDENTITY),
    *both(POINTS.format("later"), 409),
    Case("GET", POINTS.format("failed"), 409),
    *both(POINTS.format("ghost"), 404),
    *both(POINTS.format("grid"), 503, env=STORE_DOWN),
    # The points inside a polygon: JSON, a feature, curl -d's bare JSON, an HTML form.
    Case("POST", WITHIN.format("grid"), 200, SQUARE),
    Case("POST", WITHIN.format("grid") + "?format=arrow", 200, FEATURE),
    Case("POST", WITHIN.format("grid") + "?format=csv&download=1", 200, SQUARE, FORM, why="curl -d"),
    Case("POST", WITHIN.format("towns") + "?format=geojson", 200, "geometry=" + SQUARE, FORM),
    Case("POST", WITHIN.format("grid"), 200, SQUARE, headers={"HTTP_ACCEPT_ENCODING": "gzip"}),
    Case("POST", WITHIN.format("grid") + "?format=xml", 400, SQUARE),
    Case("POST", WITHIN.format("grid") + "?download=maybe", 400, SQUARE),
    Case("POST", WITHIN.format("grid"), 406, SQUARE, headers=NO_IDENTITY),
    *polygon_errors(WITHIN),
    # Counts: of the dataset, of a polygon.
    *both(COUNT.format("grid"), 200),
    *both(COUNT.format("grid"), 401, env=WITH_TOKEN),
    *both(COUNT.format("nope"), 404),
    *both(COUNT.format("later"), 409),
    *both(COUNT.format("ghost"), 404),
    *both(COUNT.format("grid"), 503, env=STORE_DOWN),
    Case("POST", COUNT.format("grid"), 200, SQUARE),
    Case("POST", COUNT.format("grid"), 200, "geometry=" + SQUARE, FORM),
    *polygon_errors(COUNT),
    # The density grid.
    *both(OVERVIEW.format("grid"), 200),
    Case("GET", OVERVIEW.format("grid") + "?width=7&height=5&bbox=0,0,20,10", 200),
    Case("GET", OVERVIEW.format("grid") + "?width=300&height=300", 200, headers={"HTTP_ACCEPT_ENCODING": "zstd"}),
    *both(OVERVIEW.format("grid") + "?width=0", 400),
    Case("GET", OVERVIEW.format("grid") + "?bbox=5,0,1,1", 400),
    *both(OVERVIEW.format("grid"), 401, env=WITH_TOKEN),
    *both(OVERVIEW.format("nope"), 404),
    *both(OVERVIEW.format("grid"), 406, headers=NO_IDENTITY),
    *both(OVERVIEW.format("later"), 409),
    Case("GET", OVERVIEW.format("ghost"), 404),
    *both(OVERVIEW.format("grid"), 503, env=STORE_DOWN),
    # This document, also where the API needs a token.
    *both("/api/openapi.json", 200),
    Case("GET", "/api/openapi.json", 200, env=WITH_TOKEN),
]

# Statuses the document lists that no case here can produce: none. (Were there one, it would be
# named here as (path, method, status) with a comment saying what environment it needs.)
NOT_PRODUCED: set[tuple[str, str, int]] = set()


@pytest.fixture(scope="module")
def api() -> OpenAPI:
    """The document as openapi-core reads it (it refuses a document that is not valid OpenAPI)."""
    return OpenAPI.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def api_headers(api: OpenAPI) -> OpenAPI:
    """The same, checking a response's status and headers only (for stream bodies, read below)."""
    return OpenAPI(api.spec, config=Config(response_validator_cls=V31ResponseHeadersValidator))


@pytest.fixture
def datasets() -> None:
    """Real datasets in every state the API describes differently."""
    dataset_import(name="grid", batches=grid_batches(), title="Grid", replace=True)
    n = 6
    rows: list[dict[str, Any]] = [
        {"city": "Oslo", "pop": 700_000, "area": 454.0, "capital": True, "tags": {"a": 1}},
        {"city": "Lima", "pop": 10_000_000, "area": 2672.3, "capital": True, "tags": [1, 2]},
        {"city": "Bergen", "pop": 285_000, "capital": False},
        {"city": 'a, "quoted" town', "area": None},
        {},
        {"pop": 1},
    ]
    ids, xs = np.arange(n), np.linspace(10.0, 20.0, n)
    dataset_import(name="towns", batches=[PointBatch(ids, xs, xs, rows)], description="Towns", replace=True)
    dataset_import(
        name="globe",
        batches=random_batches(500, (-20, -20, 20, 20), seed=4, spherical=True),
        geometry=GeometryKind.SPHERICAL,
        replace=True,
    )
    dataset_prepare(name="later", job=ImportJob.QUEUED)
    Dataset.objects.filter(name="later").update(progress=0.25)
    Dataset.objects.create(name="failed", status=DatasetStatus.FAILED, status_message="bad row on line 3")
    # Ready in the database, with no points in the store (they were lost, or another store is named).
    Dataset.objects.create(name="ghost", status=DatasetStatus.READY, count=3)
    # Spherical in the database, planar in the store (its row was edited): the store refuses a polygon.
    dataset_import(name="mixed", batches=grid_batches(5, 5), replace=True)
    Dataset.objects.filter(name="mixed").update(geometry=GeometryKind.SPHERICAL)


def environment(env: str, settings: Any) -> None:
    """Make the surroundings the case needs (pytest-django's `settings` undoes them)."""
    if env == WITH_TOKEN:
        settings.POINTS_API_TOKEN = TOKEN
    elif env == STORE_DOWN:
        # A real MongoDB store whose server is not there: port 9 on loopback refuses at once.
        settings.POINTS_MONGO_SERVER_SELECTION_TIMEOUT_MS = 200
        settings.POINTS_STORE_URL = "mongodb://127.0.0.1:9/pointsite_openapi_down"
    elif env == SMALL_BODIES:
        settings.POINTS_MAX_BODY_BYTES = 64
    else:
        assert not env, env


def template(path: str) -> str:
    """Return the document's path that `path` (no query) is an instance of."""
    found = [t for t in DOCUMENT["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)]
    assert len(found) == 1, (path, found)
    return found[0]


def documented(path: str, method: str, status: int) -> dict[str, Any]:
    """Return the document's response for this path, method and status."""
    return DOCUMENT["paths"][template(path)][method.lower()]["responses"][str(status)]


def validator(component: str) -> OAS31Validator:
    """Return a validator against one of the document's schemas (OpenAPI 3.1's JSON Schema)."""
    return OAS31Validator({"$ref": f"#/components/schemas/{component}", "components": DOCUMENT["components"]})


def check_stream(content_type: str, plain: bytes) -> None:
    """Check a stream's (decoded) body is what the document's description of its format says."""
    if content_type == "application/x-ndjson":
        lines = [orjson.loads(line) for line in plain.splitlines()]
        stream_line = validator("StreamLine")
        for line in lines:
            stream_line.validate(line)
        assert lines[-1] == {"end": True, "count": len(lines) - 1}
    elif content_type == "application/vnd.apache.arrow.stream":
        outcome = read_arrow(plain)
        assert outcome.ended == "end" and outcome.points
    elif content_type.startswith("text/csv"):
        *rows, last = list(csv.reader(io.StringIO(plain.decode())))
        assert rows[0][:3] in (["id", "x", "y"], ["id", "lon", "lat"])
        assert last == [f"# end count={len(rows) - 1}"]
    else:
        collection = json.loads(plain)
        assert collection["type"] == "FeatureCollection"
        assert collection["pointsite"] == {"end": True, "count": len(collection["features"])}
        assert all(f["type"] == "Feature" and f["geometry"]["type"] == "Point" for f in collection["features"])


def request(client: Client, case: Case) -> tuple[Any, bytes]:
    """Send the case's request; return the response and its whole body."""
    data = case.body.encode() if case.body else b""
    extra: dict[str, Any] = dict(case.headers)
    response: Any = client.generic(case.method, case.path, data=data, content_type=case.content_type, **extra)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_answer_is_as_the_document_says(
    case: Case, client: Client, datasets: None, settings: Any, api: OpenAPI, api_headers: OpenAPI
) -> None:
    environment(case.env, settings)
    response, body = request(client, case)
    assert response.status_code == case.status, body[:300]
    path, query = urlsplit(case.path).path, urlsplit(case.path).query
    checked = MockRequest(
        "http://testserver",
        case.method.lower(),
        path,
        args=dict(parse_qsl(query)),
        headers={k.removeprefix("HTTP_").replace("_", "-").title(): v for k, v in case.headers.items()},
        data=case.body.encode() or None,
        content_type=case.content_type,
    )
    if case.status == 200 and case.why != "curl -d":
        # What the server takes, the document takes (curl -d's bare JSON as a form: its description).
        api.validate_request(checked)
    content_type = response.get("Content-Type", "")
    # A client reads the body its Content-Encoding decoded (the document describes that body).
    coding = response.get("Content-Encoding", "identity")
    plain, decoded = decompress(body, coding)
    assert decoded, f"the body does not decode as {coding}"
    answer = MockResponse(plain, case.status, dict(response.items()), content_type)
    if case.method == "HEAD" or content_type in STREAM_TYPES:
        # The status and headers; then the content type, which a HEAD's document (the GET's,
        # less the bodies) and openapi-core's header check leave out.
        (api if case.method == "HEAD" else api_headers).validate_response(checked, answer)
        types = documented(path, "GET" if case.method == "HEAD" else case.method, case.status)["content"]
        assert content_type in types, f"{content_type!r} is not documented: {sorted(types)}"
        if case.method == "HEAD":
            assert body == b""
        else:
            check_stream(content_type, plain)
        # Documented as there exactly when `download` asks for it (its form: the document's pattern).
        asked = re.search(r"[?&]download=(1|true)\b", case.path) is not None
        assert response.has_header("Content-Disposition") == asked
    else:
        api.validate_response(checked, answer)  # its status, content type, headers and JSON body


def test_every_documented_status_is_produced_by_a_case() -> None:
    """Every (path, method, status) the document lists is one a case above gets (or is named in
    NOT_PRODUCED, with the reason); and no case gets a status the document does not list (the
    test above would fail on it too, with openapi-core's reason)."""
    documented_statuses = {
        (path, method.upper(), int(status))
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }
    produced = {(template(urlsplit(c.path).path), c.method, c.status) for c in CASES}
    assert documented_statuses - produced - NOT_PRODUCED == set()
    assert produced - documented_statuses == set()
    assert not NOT_PRODUCED - documented_statuses


def routes(patterns: list[Any], prefix: str = "/api/") -> Iterator[str]:
    """Yield the API's routes as the document writes paths (`<str:name>` as `{name}`)."""
    for pattern in patterns:
        assert isinstance(pattern, URLPattern), pattern
        yield prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))


def test_every_route_is_documented_with_the_name_rule() -> None:
    assert set(routes(urls.urlpatterns)) == set(DOCUMENT["paths"])
    # The exact paths outside clients rely on (points.urls).
    assert set(DOCUMENT["paths"]) == {
        "/api/datasets",
        "/api/datasets/{name}",
        "/api/datasets/{name}/points",
        "/api/datasets/{name}/points/within",
        "/api/datasets/{name}/points/count",
        "/api/datasets/{name}/overview",
        "/api/openapi.json",
    }
    named: set[str] = set()
    for path, operations in DOCUMENT["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert parameter["schema"]["pattern"] == NAME_PATTERN, path
                    named.add(path)
    assert named == {path for path in DOCUMENT["paths"] if "{name}" in path}


@pytest.mark.parametrize("path", sorted(DOCUMENT["paths"]))
def test_every_method_a_path_does_not_document_is_its_405(path: str, client: Client, datasets: None) -> None:
    allowed = [m for m in METHODS if m.lower() in DOCUMENT["paths"][path]]
    concrete = path.replace("{name}", "grid")
    for method in METHODS:
        if method in allowed:
            continue
        response, body = request(client, Case(method, concrete, 405, SQUARE))
        assert response.status_code == 405, (method, path)
        assert response["Allow"] == ", ".join(allowed)
        assert response["Content-Type"] == "application/json"
        if method != "HEAD":
            answer = json.loads(body)
            validator("MethodNotAllowed").validate(answer)
            assert answer["allowed"] == allowed


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/datasets/grid/points/nope", "/api/datasets/"])
def test_a_path_the_document_does_not_list_is_a_json_404(path: str, client: Client) -> None:
    response = client.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    validator("Error").validate(response.json())


def test_the_served_document_is_this_document(client: Client) -> None:
    assert client.get("/api/openapi.json").json() == json.loads(json.dumps(DOCUMENT))
