"""Point details: a click in Select mode, or an Alt+click in any mode, shows the nearest drawn point in the side panel."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page

from tests.browser.conftest import in_thread
from tests.browser.plot_page import PlotPage, screenshot

FORMATS = ["arrow", "ndjson"]


def import_lines(name: str, folder: Path, lines: Iterable[dict[str, Any]], *args: str) -> None:
    """Import NDJSON point lines as dataset `name` through the real management command."""
    path = folder / f"{name}.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    in_thread(lambda: call_command("import_points", name, str(path), "--replace", *args, verbosity=0))


def detail_lines() -> list[dict[str, Any]]:
    """40 points on a 10-unit grid, each with a string, a float, an int, a bool, a JSON value and a
    property named `x` (its Arrow column is `x_`); point 7 has no score."""
    lines = []
    for i in range(40):
        line: dict[str, Any] = {
            "id": 100 + i,
            "pt": [10.0 * (i % 8), 10.0 * (i // 8)],
            "label": f"point {i} ✓",
            "score": i * 1.25 + 0.1,
            "rank": i * 3,
            "even": i % 2 == 0,
            "meta": {"k": i, "tags": ["a", "b"][: i % 3]},
            "x": f"shadow {i}",
        }
        if i == 7:
            del line["score"]
        lines.append(line)
    return lines


@pytest.fixture
def props(transactional_db: None, tmp_path: Path) -> str:
    import_lines("props", tmp_path, detail_lines())
    return "props"


def api_line(base_url: str, name: str, point_id: int) -> dict[str, Any]:
    """Return the API's NDJSON line of point `point_id`."""
    with urllib.request.urlopen(f"{base_url}/api/datasets/{name}/points", timeout=30) as response:
        lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    assert lines[-1]["end"] is True
    return next(line for line in lines[:-1] if line["id"] == point_id)


def show_all(plot: PlotPage) -> None:
    """Press Show all and wait until every point is drawn."""
    before = plot.query_number()
    plot.page.click("#show-all")
    assert plot.wait_over(before + 1)["state"] == "done"
    plot.page.wait_for_function("!window.pointsite.drawing()")


def details_state(page: Page, state: str) -> dict[str, Any]:
    """Wait until the details panel is in `state` (point | none) and return what it shows."""
    page.wait_for_function("s => document.querySelector('#point-details').dataset.state === s", arg=state)
    rows = page.eval_on_selector_all(
        "#point-details dl > div",
        "rows => rows.map(r => [r.querySelector('dt').textContent, r.querySelector('dd').textContent])",
    )
    return {
        "rows": rows,
        "message": page.inner_text("#point-details .details"),
        "point": page.evaluate("window.pointsite.pickedPoint()"),
    }


def alt_click(plot: PlotPage, point: tuple[float, float]) -> None:
    """Click a data point with Alt held, as a user does."""
    plot.page.keyboard.down("Alt")
    plot.click(point)
    plot.page.keyboard.up("Alt")


def assert_matches_api(point: dict[str, Any], line: dict[str, Any]) -> None:
    """The picked point is the API's point: same id, coordinates and property values."""
    assert point["id"] == str(line["id"])
    assert [point["x"], point["y"]] == line["pt"]
    got = {p["name"]: p for p in point["properties"]}
    wanted = {k: v for k, v in line.items() if k not in ("id", "pt")}
    assert set(got) >= set(wanted)
    for name, value in wanted.items():
        shown = got[name]["value"]
        if isinstance(value, (dict, list)):
            assert got[name]["type"] == "json"
            assert json.loads(shown) == value, name
        else:
            assert shown == value, name
    # A property the point lacks shows as no value.
    for name in set(got) - set(wanted):
        assert got[name]["value"] is None, name


@pytest.mark.parametrize("fmt", FORMATS)
def test_select_click_shows_the_point(page: Page, live_server: Any, props: str, fmt: str) -> None:
    plot = PlotPage(page)
    plot.open(f"?format={fmt}#dataset={props}")
    page.wait_for_function("document.querySelector('#status').dataset.state === 'idle'")
    page.click("#tool-select")
    assert page.get_attribute("#tool-select", "aria-pressed") == "true"
    assert page.get_attribute("#tool-polygon", "aria-pressed") == "false"

    # Nothing shown yet: the click says what to do.
    plot.click((30, 20))
    assert details_state(page, "none")["message"] == "No points shown: Show all or draw a polygon"

    show_all(plot)
    assert plot.status()["format"] == fmt
    # Point 13 is at (50, 10); the click lands 2 px off it.
    cx, cy = plot.to_client((50, 10))
    page.mouse.click(cx + 2, cy - 1)
    shown = details_state(page, "point")
    screenshot(page, f"details-{fmt}")
    line = api_line(live_server.url, props, 113)
    assert_matches_api(shown["point"], line)
    assert shown["rows"][:3] == [["id", "113"], ["x", "50"], ["y", "10"]]
    rows = dict(shown["rows"][3:])
    assert rows["label"] == "point 13 ✓"
    assert rows["even"] == "false"
    assert json.loads(rows["meta"]) == {"k": 13, "tags": ["a"]}
    # The property named like a coordinate keeps its own name (its Arrow column is `x_`).
    assert ["x", "shadow 13"] in shown["rows"]
    assert plot.polygons() == [] and page.evaluate("window.pointsite.draft()") == []
    # The ring marks the picked point.
    marker = page.locator("g.pick-marker circle.picked").bounding_box()
    assert marker is not None
    assert abs(marker["x"] + marker["width"] / 2 - cx) < 1.5 and abs(marker["y"] + marker["height"] / 2 - cy) < 1.5

    # Point 7 has no score: it shows as no value.
    plot.click((70, 0))
    shown = details_state(page, "point")
    assert shown["point"]["id"] == "107"
    assert dict(shown["rows"][3:])["score"] == "—"
    assert_matches_api(shown["point"], api_line(live_server.url, props, 107))

    # Far from every point (the grid's points are ~60 px apart here).
    plot.click((45, 15))
    assert details_state(page, "none")["message"] == "No point within 8 px"
    assert page.locator("g.pick-marker circle.picked").count() == 0

    # A new query clears the details.
    plot.click((0, 0))
    details_state(page, "point")
    show_all(plot)
    assert page.is_hidden("#point-details")
    assert page.evaluate("window.pointsite.pickedPoint()") is None


def test_alt_click_in_polygon_mode_adds_no_vertex(page: Page, live_server: Any, props: str) -> None:
    plot = PlotPage(page)
    plot.open(f"#dataset={props}&all")
    plot.wait_over(1)
    page.wait_for_function("!window.pointsite.drawing()")
    assert page.get_attribute("#tool-polygon", "aria-pressed") == "true"
    alt_click(plot, (20, 30))
    shown = details_state(page, "point")
    assert_matches_api(shown["point"], api_line(live_server.url, props, 126))
    assert page.evaluate("window.pointsite.draft()") == []
    assert plot.hint() == ""
    # A plain click still draws, and keeps the details.
    plot.click((5, 5))
    draft = page.evaluate("window.pointsite.draft()")
    assert len(draft) == 1 and draft[0] == pytest.approx([5, 5], abs=0.2)  # snapped to the pixel
    assert page.evaluate("window.pointsite.pickedPoint()")["id"] == "126"
    # Alt+click while drawing: still no vertex.
    alt_click(plot, (10, 0))
    page.wait_for_function("window.pointsite.pickedPoint()?.id === '101'")
    assert page.evaluate("window.pointsite.draft()") == draft


def test_spherical_point_says_lon_and_lat(page: Page, live_server: Any, tmp_path: Path) -> None:
    lines = [{"id": i, "pt": [-120.5 + 30 * i, -40.25 + 15 * i], "city": f"c{i}"} for i in range(6)]
    import_lines("cities", tmp_path, lines, "--spherical")
    plot = PlotPage(page)
    plot.open("#dataset=cities&all")
    plot.wait_over(1)
    page.wait_for_function("!window.pointsite.drawing()")
    page.click("#tool-select")
    plot.click((-60.5, -10.25))
    shown = details_state(page, "point")
    assert shown["rows"][:4] == [["id", "2"], ["lon", "-60.5"], ["lat", "-10.25"], ["city", "c2"]]
