"""The admin in a real browser: log in, upload a small CSV, see the right count and the preview plot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import PREVIEW_RGBA


def make_staff(username: str, password: str) -> None:
    # Django refuses database work in the test's thread while Playwright's event loop is there.
    def work() -> None:
        try:
            get_user_model().objects.create_superuser(username, f"{username}@example.org", password)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work).result()


def overview_urls(page: Page) -> list[str]:
    """Return the list the page's overview requests are appended to, from now on."""
    asked: list[str] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).path.endswith("/overview"):
            asked.append(request.url)

    page.on("request", record)
    return asked


def assert_preview_shows(page: Page, overview_url: str, points: list[tuple[float, float]]) -> None:
    """Assert the preview's canvas paints exactly the cells the points fall in, and nothing else.

    The cells are those of the grid the page asked the overview for (its width, height and bbox),
    counted here with numpy.histogram2d (the overview's rule: points.overview). The points given
    lie a cell apart, so every cell painted holds one point, the most any holds: the densest
    colour, the points' own (PREVIEW_RGBA).
    """
    query = parse_qs(urlsplit(overview_url).query)
    width, height = int(query["width"][0]), int(query["height"][0])
    min_x, min_y, max_x, max_y = (float(v) for v in query["bbox"][0].split(","))
    xs, ys = np.array(points, dtype=np.float64).T
    x_edges, y_edges = np.linspace(min_x, max_x, width + 1), np.linspace(min_y, max_y, height + 1)
    counts, _, _ = np.histogram2d(xs, ys, bins=[x_edges, y_edges])
    assert counts.sum() == len(points) and counts.max() == 1, "each point in a cell of its own"
    # counts[column, row] with row 0 at the lowest y; the canvas's rows run downwards.
    expected = {(int(col), height - 1 - int(row)) for col, row in zip(*np.nonzero(counts), strict=True)}
    canvas = page.evaluate(
        """() => {
            const canvas = document.querySelector('#dataset-preview canvas');
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            const painted = [];
            for (let i = 0; i < data.length; i += 4) {
              if (data[i + 3] !== 0) {
                const at = i / 4;
                painted.push([at % canvas.width, Math.floor(at / canvas.width), ...data.slice(i, i + 4)]);
              }
            }
            return {width: canvas.width, height: canvas.height, painted};
        }"""
    )
    assert (canvas["width"], canvas["height"]) == (width, height)
    painted = {(x, y): rgba for x, y, *rgba in canvas["painted"]}
    assert set(painted) == expected, f"painted {len(painted)} pixels, {len(expected)} expected"
    assert all(rgba == PREVIEW_RGBA for rgba in painted.values())


def test_upload_a_csv_and_see_the_preview(page: Page, live_server: Any, task_worker: None, tmp_path: Path) -> None:
    make_staff("admin", "a-long-admin-password")
    csv_file = tmp_path / "stations.csv"
    rows = [(x, y) for x in range(0, 100, 10) for y in range(0, 60, 10)]
    csv_file.write_text("x,y,name\n" + "".join(f"{x},{y},s{x}-{y}\n" for x, y in rows) + "5,5,bad\nnope,1,x\n")

    asked = overview_urls(page)
    page.goto("/admin/login/?next=/admin/points/dataset/add/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("a-long-admin-password")
    page.get_by_role("button", name="Log in").click()

    page.get_by_label("Name").fill("stations")
    page.get_by_label("File").set_input_files(str(csv_file))
    page.get_by_label("Skip bad rows").check()
    page.get_by_role("button", name="Upload and import").click()

    # The import is a task of the worker; the page follows it and shows the result by itself.
    status = page.locator("#dataset-preview .dataset-preview-status")
    expect(status).to_have_attribute("data-state", "done", timeout=60_000)
    expect(status).to_have_attribute("data-received", str(len(rows) + 1))
    expect(page.locator("#import-summary")).to_contain_text(f"{len(rows) + 1} points imported")
    expect(page.locator("#import-summary")).to_contain_text("1 rows rejected")
    expect(page.locator("#import-errors")).to_contain_text("line 63: column “x” is not a number: 'nope'")

    # The plot shows the points imported (the grid's and the good row 5,5), each where it lies.
    assert_preview_shows(page, asked[-1], [*rows, (5, 5)])
