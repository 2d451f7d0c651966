"""Fixtures for the browser tests: Debian's Chromium driven by Playwright against the live server and store."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

# The renderer's point colour (frontend/src/point-renderer.js), as the canvas reads it back.
# The admin preview's colour (dataset-preview.js); the page colours its points by density (density.js).
PREVIEW_RGBA = [31, 102, 170, 255]
D3_DIST = Path(settings.BASE_DIR) / "frontend" / "node_modules" / "d3" / "dist"
ARROW_BUNDLE = Path(settings.BASE_DIR) / "frontend" / "build" / "arrow.mjs"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `browser`, so `-m "not browser"` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Return Debian's Chromium, or fail saying how to get it (Playwright downloads no browser here)."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    if not D3_DIST.is_dir():
        pytest.fail("frontend/node_modules is missing: run `make node` (npm ci in frontend/) before the tests")
    if not ARROW_BUNDLE.is_file():
        pytest.fail("frontend/build/arrow.mjs is missing: run `make node` (it bundles apache-arrow) before the tests")
    return CHROMIUM


@pytest.fixture
def browser(chromium_path: str, transactional_db: None) -> Iterator[Browser]:
    """Start Chromium for one test.

    Function scope on purpose: Playwright's sync API keeps an event loop in this thread, and
    Django refuses database work in a thread with one, so the browser must be gone before the
    database is flushed after the test (transactional_db, set up first, is torn down last).
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console_allowed() -> list[str]:
    """Return the list of console errors (substrings) a test provokes on purpose: it appends to it; none by default."""
    return []


@pytest.fixture
def page(browser: Browser, live_server: Any, console_allowed: list[str]) -> Iterator[Page]:
    """Return a 1280x800 page on the live server; a JavaScript error anywhere fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    # Generous: the first test of a session also pays for a cold Chromium and a busy 2-core machine.
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        # A request the page aborts on purpose is not an error, nor one the test provokes
        # (console_allowed); anything else logged as one is.
        provoked = any(allowed in message.text for allowed in console_allowed)
        if message.type == "error" and "ERR_ABORTED" not in message.text and not provoked:
            errors.append(message.text)

    page.on("console", console)
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def in_thread(work: Callable[[], Any]) -> Any:
    """Run database work (a management command, the ORM) in a thread of its own and return its result.

    Playwright's sync API keeps an event loop in the test's thread, and Django refuses database
    work in a thread with one.
    """

    def run() -> Any:
        try:
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def generate(name: str, *args: str) -> None:
    """Create a dataset through the real management command."""
    in_thread(lambda: call_command("generate_points", name, *args, "--replace", verbosity=0))


@pytest.fixture
def grid(transactional_db: None) -> str:
    """The 50x50 grid: points at integer [x, y], 0 ≤ x, y ≤ 49."""
    generate("grid", "--grid", "50x50")
    return "grid"


@pytest.fixture
def many(transactional_db: None) -> str:
    """200,000 random points over [0, 1000]²: a stream that takes a while on a slow network."""
    generate("many", "--random", "200000", "--bounds", "0,0,1000,1000", "--seed", "7")
    return "many"


@dataclass
class Answer:
    """What the API answered to a query: the HTTP status, and the points or the error."""

    status: int
    points: list[list[float]]
    last: dict[str, Any]


def api_within(base_url: str, name: str, geometry: dict[str, Any]) -> Answer:
    """POST a polygon to the API ourselves, as a script would, and read the whole answer."""
    request = urllib.request.Request(
        f"{base_url}/api/datasets/{name}/points/within",
        data=json.dumps(geometry).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, [], json.loads(exc.read()))
    return Answer(200, [line["pt"] for line in lines[:-1]], lines[-1])


def api_all(base_url: str, name: str) -> list[list[float]]:
    """Return every point of a dataset, from the API."""
    with urllib.request.urlopen(f"{base_url}/api/datasets/{name}/points", timeout=30) as response:
        lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    assert lines[-1]["end"] is True
    return [line["pt"] for line in lines[:-1]]


def geometry_of(rings: list[list[list[float]]]) -> dict[str, Any]:
    """Return the GeoJSON the page should have sent for its drawn rings (closed, as one Polygon or a MultiPolygon)."""
    closed = [[*ring, ring[0]] for ring in rings]
    if len(closed) == 1:
        return {"type": "Polygon", "coordinates": [closed[0]]}
    return {"type": "MultiPolygon", "coordinates": [[ring] for ring in closed]}


@pytest.fixture
def task_worker(live_server: Any) -> Iterator[None]:
    """Run django-tasks-db's worker loop (what `manage.py db_worker` runs) in a thread beside the
    live server, for the admin's imports and generations, which are its tasks."""
    import threading

    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=0.05,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="browser-tests",
        excluded_queue_names=[],
    )
    thread = threading.Thread(target=worker.run, name="task-worker", daemon=True)
    thread.start()
    yield
    worker.running = False
    thread.join(timeout=30)
    connections.close_all()
