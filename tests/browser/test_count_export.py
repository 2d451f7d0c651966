"""Count first and Export in a real browser: the polygons' counts before their points, progress
against them, and the Export menu's files, streamed to disk by the browser and read back here."""

from __future__ import annotations

import csv
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Download, Page, Route, expect

from points.models import Dataset
from tests.browser.conftest import api_all, api_within, geometry_of, in_thread
from tests.browser.plot_page import STATUS, PlotPage, screenshot

# On the 50x50 grid (points at integers), half-integer corners make counts exact by hand:
# x = 11..20, y = 11..30 (200 points); x = 16..25, y = 21..40 (200), overlapping the first
# in x = 16..20, y = 21..30 (50): together 350. The second starts outside the first (a click
# on a polygon selects it rather than starting a ring).
RECTANGLE = [(10.5, 10.5), (20.5, 10.5), (20.5, 30.5), (10.5, 30.5)]
OVERLAPPING = [(25.5, 40.5), (15.5, 40.5), (15.5, 20.5), (25.5, 20.5)]


def api_count(base_url: str, name: str, geometry: dict[str, Any]) -> int:
    """POST a polygon to points/count ourselves, as a script would."""
    request = urllib.request.Request(
        f"{base_url}/api/datasets/{name}/points/count",
        data=json.dumps(geometry).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        count: int = json.loads(response.read())["count"]
    return count


def labels(page: Page) -> list[str]:
    """Return the count label drawn in each polygon on the plot, in the polygons' order."""
    return page.eval_on_selector_all(
        "g.polygons g.polygon", "gs => gs.map(g => g.querySelector('text.count-label')?.textContent ?? '')"
    )


def wait_counted(page: Page) -> dict[str, str]:
    """Wait until the status says the polygons are counted (or the count failed) and return its data- attributes."""
    page.wait_for_function(
        "['counted', 'failed'].includes(document.querySelector('#status').dataset.countState)", timeout=30_000
    )
    return PlotPage(page).status()


def open_menu(page: Page) -> None:
    page.click("#export summary")
    expect(page.locator("#export")).to_have_attribute("open", "")


def read_csv_points(download: Download) -> list[tuple[float, float]]:
    """Return the points of a CSV file the browser saved, having checked it is complete: its
    last line `# end count=N`, N the rows above it (see points/export.py)."""
    path = download.path()
    assert path is not None, download.failure()
    with Path(path).open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    header, body, trailer = rows[0], rows[1:-1], rows[-1]
    assert header[:3] == ["id", "x", "y"]
    assert trailer == [f"# end count={len(body)}"]
    return [(float(row[1]), float(row[2])) for row in body]


def test_the_count_shows_before_the_points_and_progress_is_measured_against_it(
    page: Page, grid: str, live_server: Any
) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    page.evaluate("window.pointsite.limitDrawing(0)")  # no point is drawn: the query stays open
    plot.draw(RECTANGLE)
    status = wait_counted(page)
    expected = api_count(live_server.url, grid, geometry_of([list(map(list, RECTANGLE))]))
    assert expected == 200
    # Counted while the query still runs (its points held back), and measured against.
    assert status["state"] == "loading"
    assert status["countState"] == "counted"
    assert status["counted"] == status["total"] == "200"
    assert json.loads(status["polygonCounts"]) == [200]
    assert labels(page) == ["200 points"]
    expect(page.locator(f"{STATUS} .count")).to_have_text("200 points")
    assert page.eval_on_selector(f"{STATUS} progress", "p => p.max") == 200
    page.evaluate("window.pointsite.limitDrawing(null)")
    status = plot.wait_over(plot.query_number())
    # The polygon's count, not the dataset's 2,500: a full bar at the end, "200 / 200".
    assert status["state"] == "done" and status["received"] == status["total"] == "200"
    expect(page.locator(f"{STATUS} .counter")).to_have_text("200 / 200 points")
    assert page.eval_on_selector(f"{STATUS} progress", "p => [p.value, p.max]") == [200, 200]


def test_each_polygon_is_counted_and_their_overlap_once_in_all(page: Page, grid: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE)
    plot.wait_over(1)
    plot.draw(OVERLAPPING, close="enter")
    status = wait_counted(page)
    rings = plot.polygons()
    each = [api_count(live_server.url, grid, geometry_of([ring])) for ring in rings]
    union = api_count(live_server.url, grid, geometry_of(rings))
    assert each == [200, 200] and union == 350 < sum(each)
    assert status["countState"] == "counted"
    assert json.loads(status["polygonCounts"]) == each
    assert status["counted"] == status["total"] == str(union)
    assert labels(page) == ["1 · 200 points", "2 · 200 points"]
    expect(page.locator(f"{STATUS} .count-all")).to_have_text("in all 350 points")
    expect(page.locator(f"{STATUS} .polygon-counts li")).to_have_text(["200 points", "200 points"])
    screenshot(page, "count-two-polygons")
    status = plot.wait_over(2)
    # The stream sends the union's points, each once: what was counted.
    assert status["received"] == str(len(api_within(live_server.url, grid, geometry_of(rings)).points)) == "350"
    # The first polygon's count came from the page's cache: only the union and the second were asked.
    assert page.evaluate("window.pointsite.counts().requests") == 3


def test_a_superseded_count_is_aborted_and_never_shown(page: Page, grid: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    # Every answer is late: the first polygon's count is still on its way when the second is drawn.
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 3000, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    # Every count the status ever showed, in order.
    page.evaluate(
        """() => {
          window.shownCounts = [];
          const root = document.querySelector('#status');
          new MutationObserver(() => window.shownCounts.push([root.dataset.counted, root.dataset.polygonCounts]))
            .observe(root, { attributes: true, attributeFilter: ['data-counted', 'data-polygon-counts'] });
        }"""
    )
    plot.draw(RECTANGLE)
    page.wait_for_function("window.pointsite.counts().requests === 1")
    plot.draw(OVERLAPPING, close="enter")
    status = wait_counted(page)
    assert page.evaluate("window.pointsite.counts().aborted") == 1
    assert status["counted"] == "350" and json.loads(status["polygonCounts"]) == [200, 200]
    shown = page.evaluate("window.shownCounts")
    assert ["200", "[200]"] not in shown  # the first polygon's own answer never reached the page
    assert shown[-1] == ["350", "[200,200]"]


def test_a_count_that_fails_says_so_and_progress_falls_back(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")

    def cut(route: Route) -> None:
        route.abort("aborted")  # as a dropped connection: the page cannot reach the server

    page.route("**/points/count", cut)
    page.evaluate("window.pointsite.limitDrawing(0)")  # the query stays open
    plot.draw(RECTANGLE)
    status = wait_counted(page)
    assert status["countState"] == "failed" and status["counted"] == ""
    expect(page.locator(f"{STATUS} .count")).to_have_text(re.compile(r"^count failed: the server could not be reached"))
    assert labels(page) == ["count failed"]
    # The points still come, measured meanwhile against the dataset's count (the stream's header)...
    page.wait_for_function("document.querySelector('#status').dataset.stream === 'ended'")
    status = plot.status()
    assert status["state"] == "loading" and status["total"] == "2500"
    expect(page.locator(f"{STATUS} .counter")).to_have_text("200 / 2,500 points")
    # ...and, the stream complete, against what it sent: the polygon's count after all.
    page.evaluate("window.pointsite.limitDrawing(null)")
    status = plot.wait_over(1)
    assert status["state"] == "done" and status["received"] == status["total"] == "200"
    assert status["countState"] == "failed"


def test_export_is_disabled_with_nothing_selected(page: Page, grid: str) -> None:
    PlotPage(page).open(f"#dataset={grid}")
    summary = page.locator("#export summary")
    expect(summary).to_have_attribute("aria-disabled", "true")
    expect(summary).to_have_attribute("title", "Nothing to export: draw a polygon or press “Show all” first.")
    summary.click()
    expect(page.locator("#export")).not_to_have_attribute("open", "")
    assert page.evaluate("window.pointsite.exportTarget('csv')") is None


def test_export_csv_of_a_polygon_downloads_its_points(page: Page, grid: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    with plot.expect_within_request() as caught:
        plot.draw(RECTANGLE)
    plot.wait_over(1)
    wait_counted(page)
    target = page.evaluate("window.pointsite.exportTarget('csv')")
    assert target["method"] == "POST"
    assert target["url"] == f"/api/datasets/{grid}/points/within?format=csv&download=1"
    assert json.loads(target["body"]) == caught.value.post_data_json
    open_menu(page)
    expect(page.locator("#export .export-holds")).to_have_text("The file will hold 200 points.")
    screenshot(page, "export-menu-polygon")
    with page.expect_download() as caught_download:
        page.click("#export button[data-format='csv']")
    download = caught_download.value
    assert download.suggested_filename == f"{grid}-selection.csv"
    points = read_csv_points(download)
    expected = api_within(live_server.url, grid, caught.value.post_data_json).points
    assert len(points) == len(expected) == 200
    assert sorted(points) == sorted((float(x), float(y)) for x, y in expected)
    # The page stayed where it was, the menu closed, and nothing was said to be wrong.
    assert page.evaluate("window.pointsite.polygons().length") == 1
    expect(page.locator("#export")).not_to_have_attribute("open", "")
    expect(page.locator(f"{STATUS} .notice")).to_be_hidden()


def test_export_of_every_point_is_a_link_to_the_whole_file(page: Page, grid: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    page.click("#show-all")
    plot.wait_over(1)
    assert page.evaluate("window.pointsite.exportTarget('geojson')") == {
        "method": "GET",
        "url": f"/api/datasets/{grid}/points?format=geojson&download=1",
        "body": None,
    }
    open_menu(page)
    expect(page.locator("#export .export-holds")).to_have_text("The file will hold 2,500 points.")
    with page.expect_download() as caught_download, page.expect_request("**/points?*") as caught_request:
        page.click("#export button[data-format='csv']")
    assert caught_request.value.url.endswith(f"/api/datasets/{grid}/points?format=csv&download=1")
    download = caught_download.value
    assert download.suggested_filename == f"{grid}.csv"
    points = read_csv_points(download)
    assert sorted(points) == sorted((float(x), float(y)) for x, y in api_all(live_server.url, grid))
    assert len(points) == 2500


def test_an_export_the_server_refuses_says_why_and_the_page_stays(
    page: Page, grid: str, console_allowed: list[str]
) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE)
    plot.wait_over(1)
    # The dataset goes away behind the page's back: the export's answer is the API's 404 (which
    # the browser logs, and refuses to show in the page's frame: the API is framed by none).
    in_thread(lambda: Dataset.objects.filter(name=grid).delete())
    console_allowed.extend(["status of 404", "X-Frame-Options"])
    open_menu(page)
    page.click("#export button[data-format='csv']")
    notice = page.locator(f"{STATUS} .notice")
    expect(notice).to_have_text("Export failed: no dataset named 'grid'")
    assert page.evaluate("window.pointsite.polygons().length") == 1
    assert plot.status()["state"] == "done"


def test_an_export_of_every_point_the_server_refuses_says_why_too(
    page: Page, grid: str, console_allowed: list[str]
) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    page.click("#show-all")
    plot.wait_over(1)
    in_thread(lambda: Dataset.objects.filter(name=grid).delete())
    console_allowed.extend(["status of 404", "X-Frame-Options"])
    open_menu(page)
    page.click("#export button[data-format='geojson']")
    expect(page.locator(f"{STATUS} .notice")).to_have_text("Export failed: no dataset named 'grid'")
    assert plot.status()["state"] == "done"
