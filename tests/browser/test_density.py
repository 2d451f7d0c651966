"""The page shows data from the start and keeps it as context: the overview density image, the
points coloured by density with a legend, and the picture kept through errors (issue 11 §1)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.browser.conftest import api_all, api_within, generate, in_thread
from tests.browser.plot_page import PlotPage, screenshot

SELECTION = re.compile(r"\bhas-selection\b")
CELL = 25.0  # the side of the cells the tests count the points in, over [0, 1000]²


@pytest.fixture
def blobs(transactional_db: None) -> str:
    """60,000 points in 3 tight clusters over [0, 1000]², with a few strays: dense and sparse places."""
    generate("blobs", "--random", "60000", "--clusters", "3", "--bounds", "0,0,1000,1000", "--seed", "3")
    return "blobs"


def places(live_server: Any, name: str) -> dict[str, Any]:
    """Return where the dataset is dense, where it is empty, and a lone point, from its points."""
    points = api_all(live_server.url, name)
    cells = Counter((int(x // CELL), int(y // CELL)) for x, y in points)
    (dense_cell, _), *_ = cells.most_common(1)
    empty = next((i, j) for i in range(40) for j in range(40) if (i, j) not in cells and _far(cells, i, j))
    lone = next(p for p in points if cells[(int(p[0] // CELL), int(p[1] // CELL))] == 1)
    centre = lambda cell: ((cell[0] + 0.5) * CELL, (cell[1] + 0.5) * CELL)  # noqa: E731
    densest = max(
        (p for p in points if (int(p[0] // CELL), int(p[1] // CELL)) == dense_cell),
        key=lambda p: -abs(p[0] - centre(dense_cell)[0]) - abs(p[1] - centre(dense_cell)[1]),
    )
    return {"dense": tuple(densest), "empty": centre(empty), "lone": tuple(lone)}


def _far(cells: Counter[tuple[int, int]], i: int, j: int) -> bool:
    """A cell with no points in it nor in any of its neighbours (the overview's cells are coarser)."""
    return all((i + di, j + dj) not in cells for di in (-1, 0, 1) for dj in (-1, 0, 1))


def shown(page: Page, point: tuple[float, float]) -> list[int]:
    """Return the plot canvas's pixel at a data point: a point, or the overview under them."""
    return page.evaluate("p => window.pointsite.canvasPixelAt(p)", list(point))


def show_all(page: Page, plot: PlotPage) -> None:
    """Press Show all and wait until every point is on the canvas."""
    page.click("#show-all")
    assert plot.wait_over(1)["state"] == "done"
    page.wait_for_function("() => !window.pointsite.drawing()")


def wait_overview(page: Page) -> dict[str, Any]:
    page.wait_for_function("() => window.pointsite.overview().whole !== null")
    return page.evaluate("window.pointsite.overview()")


def test_the_overview_is_on_the_canvas_before_any_query(page: Page, blobs: str, live_server: Any) -> None:
    where = places(live_server, blobs)
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if "/points" in request.url else None)
    plot = PlotPage(page).open(f"#dataset={blobs}")
    held = wait_overview(page)
    assert held["whole"]["most"] > 1 and held["requests"] == 1

    # Data in view at once: the dense place is coloured, the empty one blank; no point was streamed.
    assert page.evaluate("p => window.pointsite.overviewPixelAt(p)", list(where["dense"]))[3] == 255
    assert page.evaluate("p => window.pointsite.overviewPixelAt(p)", list(where["empty"]))[3] == 0
    # And it is what the plot's canvas shows, there being no point yet.
    page.wait_for_function("p => window.pointsite.canvasPixelAt(p)[3] === 255", arg=list(where["dense"]))
    assert shown(page, where["empty"])[3] == 0
    assert streams == [] and plot.status()["state"] == "idle"
    screenshot(page, "density-overview")
    legend = page.locator("#density-legend")
    expect(legend).to_be_visible()
    expect(legend).to_have_attribute("data-unit", "cell")
    expect(legend.locator(".caption")).to_have_text("points per cell (log scale)")
    assert legend.get_attribute("data-max") == str(held["whole"]["most"])


def test_zooming_in_fetches_the_overview_of_the_visible_box(page: Page, blobs: str, live_server: Any) -> None:
    where = places(live_server, blobs)
    plot = PlotPage(page).open(f"#dataset={blobs}")
    whole = wait_overview(page)["whole"]
    page.mouse.move(*plot.to_client(where["dense"]))
    page.mouse.wheel(0, -1600)  # one event, one zoom (about 9x): no settling between steps
    page.wait_for_function("() => window.pointsite.overview().detail !== null")
    held = page.evaluate("window.pointsite.overview()")
    detail = held["detail"]
    # Finer: the detail's cells are smaller than the whole grid's, inside the data's bounds.
    assert (detail["bbox"][2] - detail["bbox"][0]) / detail["width"] < (whole["bbox"][2] - whole["bbox"][0]) / whole[
        "width"
    ] / 2
    assert whole["bbox"][0] <= detail["bbox"][0] and detail["bbox"][2] <= whole["bbox"][2]
    assert page.evaluate("p => window.pointsite.overviewPixelAt(p)", list(where["dense"]))[3] == 255
    # Reset view: the whole grid serves again, nothing more is fetched.
    page.click("#reset-view")
    page.wait_for_function("() => window.pointsite.overview().detail === null")
    assert page.evaluate("window.pointsite.overview()")["requests"] == held["requests"]


def test_the_dataset_stays_as_dimmed_context_under_a_selection(page: Page, blobs: str, live_server: Any) -> None:
    where = places(live_server, blobs)
    plot = PlotPage(page).open(f"#dataset={blobs}")
    wait_overview(page)
    lx, ly = where["lone"]
    plot.draw([(lx - 20, ly - 20), (lx + 20, ly - 20), (lx + 20, ly + 20), (lx - 20, ly + 20)], close="enter")
    status = plot.wait_over(1)
    assert status["state"] == "done" and int(status["received"]) >= 1

    # The dense place is outside the polygon: no point of the answer there, but the overview is,
    # on the canvas, grey and faint; a point of the answer is opaque and coloured.
    assert plot.pixel(where["dense"])[3] == 0
    r, g, b, a = shown(page, where["dense"])
    assert r == g == b and 0 < a < 128
    lone = shown(page, where["lone"])
    assert lone[3] == 255 and len(set(lone[:3])) > 1
    expect(page.locator("#plot")).to_have_class(SELECTION)
    # The legend is the points' scale, however few they are.
    expect(page.locator("#density-legend")).to_have_attribute("data-unit", "pixel")
    screenshot(page, "density-context")
    # Clear: the overview is the picture again, in colour and at full strength.
    page.click("#clear")
    expect(page.locator("#plot")).not_to_have_class(SELECTION)
    page.wait_for_function("p => window.pointsite.canvasPixelAt(p)[3] === 255", arg=list(where["dense"]))
    r, g, b, _ = shown(page, where["dense"])
    assert len({r, g, b}) > 1


def test_show_all_colours_dense_and_sparse_places_apart(page: Page, blobs: str, live_server: Any) -> None:
    where = places(live_server, blobs)
    plot = PlotPage(page).open(f"#dataset={blobs}")
    show_all(page, plot)
    scale = page.evaluate("window.pointsite.scaleMax()")
    assert scale > 8  # many points share the pixels of a cluster's core

    lone = plot.pixel(where["lone"])
    dense = plot.pixel(where["dense"])
    assert lone == page.evaluate("s => window.pointsite.densityRgba(1, s)", scale)
    assert dense[3] == 255 and dense != lone
    # The ramp runs from light (sparse) to dark (dense).
    assert sum(dense[:3]) < sum(lone[:3]) - 150
    legend = page.locator("#density-legend")
    expect(legend).to_have_attribute("data-unit", "pixel")
    assert legend.get_attribute("data-max") == str(scale)
    expect(legend.locator(".caption")).to_have_text("points per pixel (log scale)")
    assert legend.locator(".ticks span").first.inner_text() == "1"
    screenshot(page, "density-show-all")


def test_an_error_keeps_the_picture_that_was_there(
    page: Page, blobs: str, live_server: Any, console_allowed: list[str]
) -> None:
    console_allowed.append("status of 404")  # the count of the refused polygon, logged by the browser
    where = places(live_server, blobs)
    plot = PlotPage(page).open(f"#dataset={blobs}")
    show_all(page, plot)
    before = plot.pixel(where["dense"])
    assert before[3] == 255

    in_thread(
        lambda: call_command("delete_dataset", blobs, verbosity=0)
    )  # gone from the server: the next query is refused (404)
    lx, ly = where["lone"]
    ring = [(lx - 20, ly - 20), (lx + 20, ly - 20), (lx + 20, ly + 20)]
    with plot.expect_within_request() as caught:
        plot.draw(ring, close="enter")
    status = plot.wait_over(2)
    refused = api_within(live_server.url, blobs, caught.value.post_data_json)
    assert refused.status == 404 and status["state"] == "error"
    assert refused.last["error"] in plot.message()
    screenshot(page, "density-error-kept")
    # Every point of "Show all" is still drawn, outside the refused polygon too.
    assert plot.pixel(where["dense"]) == before
    assert page.evaluate("p => window.pointsite.overviewPixelAt(p)", list(where["dense"]))[3] > 0


def test_a_dataset_of_one_point_has_its_overview_too(page: Page, transactional_db: None) -> None:
    generate("dot", "--grid", "1x1")  # one point at [0, 0]: flat bounds
    PlotPage(page).open("#dataset=dot")
    held = wait_overview(page)["whole"]
    # The API's extent for flat bounds, and no more cells than the plot has room for.
    assert held["bbox"] == [-0.5, -0.5, 0.5, 0.5] and held["most"] == 1
    assert held["width"] <= 1280 // 2 and held["height"] <= 800 // 2
    assert page.evaluate("window.pointsite.overviewPixelAt([0, 0])")[3] == 255
