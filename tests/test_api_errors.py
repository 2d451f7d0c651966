"""The API answers in its own format: JSON errors (405 with Allow; a store's errors with their
class's status and message, mapped once), HEAD on every GET; admin logins throttled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpResponse, HttpResponseBase, HttpResponseForbidden, StreamingHttpResponse
from django.test import AsyncClient, Client, RequestFactory

from points import views
from points.api_errors import api_answer, csrf_failure
from points.datasets import dataset_import
from points.models import Dataset, DatasetStatus
from points.stores.errors import (
    INTERNAL,
    DatasetExists,
    DatasetNotFound,
    Failure,
    StoreDamaged,
    StoreError,
    StoreFull,
    StoreMisconfigured,
    StoreUnavailable,
    failure,
)
from tests.conftest import grid_batches
from tests.test_faults import FailingStore, failing_store  # noqa: F401 - failing_store: a fixture

pytestmark = pytest.mark.django_db
SQUARE = json.dumps({"type": "Polygon", "coordinates": [[[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]]})

# Every API path and the methods it takes.
PATHS = {
    "/api/datasets": ["GET", "HEAD"],
    "/api/datasets/grid/points": ["GET", "HEAD"],
    "/api/datasets/grid/points/within": ["POST"],
    "/api/datasets/grid/points/count": ["GET", "HEAD", "POST"],
    "/api/datasets/grid/overview": ["GET", "HEAD"],
    "/api/openapi.json": ["GET", "HEAD"],
}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
REFUSED = [(path, method) for path, allowed in PATHS.items() for method in METHODS if method not in allowed]
GETS = [path for path, allowed in PATHS.items() if "GET" in allowed]


@pytest.fixture
def grid() -> Dataset:
    return dataset_import(name="grid", batches=grid_batches(), title="Grid", replace=True)


def served(method: str, path: str, **extra: Any) -> tuple[HttpResponseBase, bytes]:
    """Run the whole middleware stack as a server would (the test client drops HEAD bodies itself)."""
    handler = BaseHandler()
    handler.load_middleware()
    request = RequestFactory().generic(method, path, **extra)
    response = handler.get_response(request)
    try:
        streaming = response.streaming
        content = b"".join(response.streaming_content) if streaming else response.content  # type: ignore[attr-defined]
    finally:
        # As the test client does: closing fires request_finished, which must not close the test's database.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
    return response, content


@pytest.mark.parametrize(("path", "method"), REFUSED)
def test_a_refused_method_is_a_json_405_with_allow(path: str, method: str) -> None:
    response, content = served(method, path, content_type="application/json", data=SQUARE)
    allowed = PATHS[path]
    assert response.status_code == 405
    assert response["Allow"] == ", ".join(allowed)
    assert response["Content-Type"] == "application/json"
    if method == "HEAD":
        assert content == b""
    else:
        payload = json.loads(content)
        assert payload["allowed"] == allowed
        assert payload["error"] == f"{method} is not allowed on {path}; use {', '.join(allowed)}"


def test_refused_methods_with_csrf_checks_on_are_405_not_403(grid: Dataset) -> None:
    # A CSRF-checking client, as a browser is: the method is refused for what it is, not for a token.
    client = Client(enforce_csrf_checks=True)
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)("/api/datasets", data=SQUARE, content_type="application/json")
        assert response.status_code == 405 and response.json()["allowed"] == ["GET", "HEAD"]


def test_the_read_only_posts_need_no_csrf_token(grid: Dataset) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/")  # a browser that has the page's CSRF cookie, but sends no token
    response = client.post("/api/datasets/grid/points/count", data=SQUARE, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"count": 121}
    within = client.post("/api/datasets/grid/points/within", data=SQUARE, content_type="application/json")
    assert within.status_code == 200
    within.close()


def test_a_csrf_failure_under_the_api_is_json_elsewhere_django_s_page() -> None:
    factory = RequestFactory()
    api = csrf_failure(factory.post("/api/datasets"), reason="CSRF cookie not set.")
    assert api.status_code == 403 and api["Content-Type"] == "application/json"
    assert json.loads(api.content) == {"error": "CSRF check failed: CSRF cookie not set."}  # type: ignore[attr-defined]
    page = csrf_failure(factory.post("/admin/login/"), reason="CSRF cookie not set.")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/nope", "/api/datasets/", "/api/datasets/grid/points/nope", "/api"])
def test_an_unknown_api_path_is_a_json_404(path: str, debug: bool, settings: Any) -> None:
    settings.DEBUG = debug
    response = Client().get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert "openapi.json" in response.json()["error"]


def test_pages_outside_the_api_keep_django_s_answers() -> None:
    response = Client().put("/")
    assert response.status_code == 405 and response["Allow"] == "GET" and response.content == b""
    assert Client().get("/nope")["Content-Type"].startswith("text/html")


def test_any_other_html_error_under_the_api_becomes_json() -> None:
    factory = RequestFactory()
    answer = api_answer(factory.get("/api/datasets"), HttpResponseForbidden("<h1>Forbidden</h1>"))
    assert answer.status_code == 403 and json.loads(answer.content) == {"error": "this request is refused"}  # type: ignore[attr-defined]
    teapot = api_answer(factory.get("/api/datasets"), HttpResponse("<p>tea</p>", status=418))
    assert json.loads(teapot.content)["error"] == "the request failed (I'm a Teapot)"  # type: ignore[attr-defined]
    page = HttpResponseForbidden("<h1>Forbidden</h1>")
    assert api_answer(factory.get("/admin/"), page) is page


@pytest.mark.parametrize("path", GETS)
def test_head_answers_each_get_with_its_headers_and_no_body(path: str, grid: Dataset) -> None:
    get, get_body = served("GET", path)
    head, head_body = served("HEAD", path)
    assert get.status_code == head.status_code == 200
    assert head_body == b"" and get_body != b""
    for name in ("Content-Type", "Content-Length", "Content-Encoding", "Vary", "X-Dataset-Count", "Cache-Control"):
        assert get.get(name) == head.get(name), name


def test_head_of_a_stream_opens_no_stream(grid: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_stream(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("HEAD opened a stream")

    # It asks the store for the dataset's count (the store's, as a GET's), and opens nothing.
    monkeypatch.setattr(type(views.get_store()), "open_points", no_stream)
    head, content = served("HEAD", "/api/datasets/grid/points", HTTP_ACCEPT_ENCODING="zstd")
    assert head["X-Dataset-Count"] == str(views.get_store().count("grid"))
    assert head.status_code == 200 and content == b"" and isinstance(head, StreamingHttpResponse)
    assert head["Content-Type"] == "application/x-ndjson" and head["Content-Encoding"] == "zstd"
    assert head["X-Dataset-Count"] == "2500" and not head.has_header("Content-Length")
    arrow, _ = served("HEAD", "/api/datasets/grid/points?format=arrow")
    assert arrow["Content-Type"] == "application/vnd.apache.arrow.stream"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/datasets/nope/points", 404),
        ("/api/datasets/nope/overview", 404),
        ("/api/datasets/nope/points/count", 404),
        ("/api/datasets/grid/points?format=xml", 400),
    ],
)
def test_head_of_an_error_has_its_status_and_no_body(path: str, status: int, grid: Dataset) -> None:
    head, content = served("HEAD", path)
    assert head.status_code == status and content == b"" and head["Content-Type"] == "application/json"
    assert int(head["Content-Length"]) == len(served("GET", path)[1]) > 0


def test_head_is_in_the_openapi_document() -> None:
    paths = Client().get("/api/openapi.json").json()["paths"]
    for path, allowed in PATHS.items():
        documented = path.replace("/grid/", "/{name}/")
        assert sorted(paths[documented]) == sorted(m.lower() for m in allowed), path
    assert "content" not in paths["/api/datasets/{name}/points"]["head"]["responses"]["200"]
    assert "X-Dataset-Count" in paths["/api/datasets/{name}/points"]["head"]["responses"]["200"]["headers"]


# --- what a client reads of a failure -----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DatasetNotFound("the point store has no dataset 'd'"), Failure(404, "the point store has no dataset 'd'")),
        (
            DatasetExists("the point store already has a dataset 'd'"),
            Failure(409, "the point store already has a dataset 'd'"),
        ),
        (
            StoreError("MongoDB refused: BadValue"),
            Failure(500, "dataset 'd' cannot be read: MongoDB refused: BadValue"),
        ),
        (
            StoreUnavailable("MongoDB failed: AutoReconnect"),
            Failure(
                503,
                "dataset 'd' cannot be read: the point store cannot be reached now; ask again shortly (the failure is logged for the operators)",
                30,
            ),
        ),
        (StoreDamaged("dataset 'd' is damaged (block 1)"), Failure(503, "dataset 'd' is damaged (block 1)")),
        (
            StoreFull("the disk of the point store (/srv/x) is full"),
            Failure(
                503,
                "dataset 'd' cannot be read: the point store's disk is full; the failure is logged for the operators",
            ),
        ),
        (
            StoreMisconfigured("/srv/x/points.sqlite3 was written by another version"),
            Failure(
                503,
                "dataset 'd' cannot be read: the point store cannot be opened as configured; "
                "the failure is logged for the operators",
            ),
        ),
        (OSError(5, "Input/output error", "/srv/x/blocks"), Failure(500, INTERNAL)),
        (AssertionError("a bug's text"), Failure(500, INTERNAL)),
    ],
    ids=lambda value: type(value).__name__,
)
def test_each_error_maps_to_its_status_and_public_message(error: BaseException, expected: Failure) -> None:
    assert failure(error, "d") == expected
    if isinstance(error, StoreError):  # the class carries it, whoever asks
        assert (error.status, error.retry_after) == (expected.status, expected.retry_after)
        # Without a dataset to name, the message is the error's public one as it is.
        assert failure(error).message == error.public
    assert "/srv/x" not in expected.message


@pytest.mark.parametrize("debug", [False, True])
def test_an_internal_error_before_the_first_byte_is_a_json_500_without_its_text(
    failing_store: FailingStore,  # noqa: F811 - the fixture imported above
    settings: Any,
    debug: bool,
) -> None:
    settings.DEBUG = debug  # Django's debug page is not what an API client reads either
    dataset_import(name="grid", batches=grid_batches(), replace=True)
    failing_store.error, failing_store.fail_after = ZeroDivisionError("/srv/secret/blocks: a bug"), 0
    response, content = served("GET", "/api/datasets/grid/points")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert json.loads(content) == {"error": INTERNAL}
    assert failing_store.open_cursors == 0


def test_a_503_keeps_its_retry_after_for_head_and_get(settings: Any) -> None:
    settings.POINTS_MONGO_SERVER_SELECTION_TIMEOUT_MS = 200
    settings.POINTS_STORE_URL = "mongodb://127.0.0.1:9/pointsite_unreachable"  # refused at once
    Dataset.objects.create(name="remote", status=DatasetStatus.READY, count=10)
    for path in ("/api/datasets/remote/points", "/api/datasets/remote/points/count", "/api/datasets/remote/overview"):
        get, get_body = served("GET", path)
        head, head_body = served("HEAD", path)
        assert get.status_code == head.status_code == 503, path
        assert get["Retry-After"] == head["Retry-After"] == "30"
        assert head_body == b"" and json.loads(get_body)["error"].startswith(
            "dataset 'remote' cannot be read: the point store cannot be reached now; ask again shortly"
        )


# --- failed admin logins ------------------------------------------------------------------------

LOGIN = "/admin/login/"


def log_in(client: Client, username: str, password: str, ip: str = "127.0.0.1", **extra: Any) -> Any:
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip, **extra)


@pytest.fixture
def staff(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; the count is the test
    users = get_user_model().objects
    users.create_superuser("admin", "admin@example.org", "the-right-password")
    users.create_superuser("other", "other@example.org", "another-right-password")


def test_failed_logins_lock_the_username_out_from_that_address(staff: None, settings: Any) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for _ in range(4):
        response = log_in(client, "admin", "wrong")
        assert response.status_code == 200 and "Please enter the correct username" in response.content.decode()
    locked = log_in(client, "admin", "wrong")
    assert locked.status_code == 429
    # The right password is refused now too, saying why and for how long.
    refused = log_in(client, "admin", "the-right-password")
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "5 failed logins" in text and "15 minutes" in text
    assert "_auth_user_id" not in client.session
    # Another user from the same address, and the same user from elsewhere, still log in.
    assert log_in(Client(), "other", "another-right-password").status_code == 302
    assert log_in(Client(), "admin", "the-right-password", ip="10.0.0.9").status_code == 302


def test_a_good_login_resets_the_count(staff: None) -> None:
    for _ in range(4):
        log_in(Client(), "admin", "wrong")
    assert log_in(Client(), "admin", "the-right-password").status_code == 302
    for _ in range(4):
        assert log_in(Client(), "admin", "wrong").status_code == 200
    assert log_in(Client(), "admin", "the-right-password").status_code == 302


def test_behind_a_proxy_the_lockout_counts_by_the_forwarded_address(staff: None, settings: Any) -> None:
    settings.POINTSITE_PROXY_COUNT = 1
    for _ in range(5):
        log_in(Client(), "admin", "wrong", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert log_in(Client(), "admin", "wrong", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    # Another client behind the same proxy is not locked out; a forged extra entry changes nothing.
    good = log_in(Client(), "admin", "the-right-password", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert good.status_code == 302
    forged = log_in(Client(), "admin", "the-right-password", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    assert forged.status_code == 429


def test_under_asgi_too() -> None:
    async def requests() -> tuple[Any, Any, Any]:
        client = AsyncClient()
        return await client.put("/api/openapi.json"), await client.head("/api/openapi.json"), await client.get("/api/x")

    refused, head, unknown = asyncio.run(requests())
    assert (
        refused.status_code == 405 and refused.json()["allowed"] == ["GET", "HEAD"] and refused["Allow"] == "GET, HEAD"
    )
    assert head.status_code == 200 and head.content == b"" and int(head["Content-Length"]) > 1000
    assert unknown.status_code == 404 and unknown.json()["error"].startswith("no such API path")
