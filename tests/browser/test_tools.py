"""The drawing tools in a real browser: rectangles (planar and lon/lat), long edges, select and
delete, polygons from GeoJSON files, copying the query (as curl, run for real), and the checks
the page makes before sending, in the server's words."""

from __future__ import annotations

import json
import random
import shlex
import shutil
import subprocess
from typing import Any

import pytest
from playwright.sync_api import Page, Request

from tests.browser.conftest import api_all, api_within, generate, geometry_of
from tests.browser.plot_page import PlotPage, is_within, screenshot


@pytest.fixture
def world(transactional_db: None) -> str:
    generate("w", "--random", "20000", "--spherical", "--seed", "3")
    return "w"


def within_requests(page: Page) -> list[Request]:
    """Return a list that fills with every points/within request the page (or its worker) makes."""
    sent: list[Request] = []
    page.context.on("request", lambda request: sent.append(request) if is_within(request) else None)
    return sent


def page_points(page: Page) -> list[tuple[float, float]]:
    return sorted((x, y) for x, y in page.evaluate("window.pointsite.points()"))


def degrees_per_pixel(plot: PlotPage) -> float:
    (x0, _), (x1, _) = plot.to_client((0.0, 0.0)), plot.to_client((1.0, 0.0))
    return 1.0 / (x1 - x0)


def box_of(ring: list[list[float]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return min(xs), min(ys), max(xs), max(ys)


def test_a_lonlat_rectangle_selects_what_the_api_selects_for_the_polygon_shown(
    page: Page, world: str, live_server: Any
) -> None:
    plot = PlotPage(page).open(f"#dataset={world}")
    page.click("#tool-rectangle")
    assert page.get_attribute("#tool-rectangle", "aria-pressed") == "true"
    with plot.expect_within_request() as caught:
        plot.drag((-60.0, -20.0), (40.0, 50.0))
    status = plot.wait_over(1)
    assert status["state"] == "done", plot.message()
    # The page shows the ring it sent: its vertices, as great-circle edges.
    sent = caught.value.post_data_json
    shown = plot.polygons()
    assert sent == geometry_of(shown)
    ring = shown[0]
    assert len(ring) > 100  # the sides are densified (a vertex a degree or closer)
    west, south, east, north = box_of(ring)
    assert west == pytest.approx(-60, abs=0.5) and east == pytest.approx(40, abs=0.5)
    assert south == pytest.approx(-20, abs=0.5) and north == pytest.approx(50, abs=0.5)
    # Exactly what the API gives for that polygon is on the page...
    answer = api_within(live_server.url, world, sent)
    assert answer.status == 200 and answer.last["count"] > 500
    assert page_points(page) == sorted(map(tuple, answer.points))
    # ...and that is the drawn box, to within a pixel (the parallels are not great circles).
    pixel = degrees_per_pixel(plot)
    everything = api_all(live_server.url, world)
    inner = {
        tuple(p) for p in everything if west + pixel < p[0] < east - pixel and south + pixel < p[1] < north - pixel
    }
    outer = {
        tuple(p) for p in everything if west - pixel <= p[0] <= east + pixel and south - pixel <= p[1] <= north + pixel
    }
    got = set(map(tuple, answer.points))
    assert inner <= got <= outer
    screenshot(page, "tools-rectangle-lonlat")


def test_a_rectangle_wider_than_180_degrees_is_the_box_drawn_or_refused_in_words(
    page: Page, world: str, live_server: Any
) -> None:
    plot = PlotPage(page).open(f"#dataset={world}")
    page.click("#tool-rectangle")
    # Near the pole a box 300° wide fits in a hemisphere: it is sent, and it is the box drawn
    # (lon -150 to 150 through 0), not the 60° strip across 180° its corners alone would bound.
    with plot.expect_within_request() as caught:
        plot.drag((-150.0, 60.0), (150.0, 85.0))
    assert plot.wait_over(1)["state"] == "done", plot.message()
    answer = api_within(live_server.url, world, caught.value.post_data_json)
    lons = [lon for lon, _ in answer.points]
    assert answer.last["count"] > 20 and all(abs(lon) <= 150.5 for lon in lons) and min(map(abs, lons)) < 60
    assert page_points(page) == sorted(map(tuple, answer.points))
    before = page_points(page)
    # At the equator a box from -120 to 120 does not fit in one: refused, in the server's words,
    # with no request, and the picture stays.
    sent = within_requests(page)
    plot.drag((-120.0, -30.0), (120.0, 30.0))
    refusal = (
        "Not sent: invalid polygon: a spherical polygon must fit in a hemisphere (every vertex within 89 degrees of the "
        "polygon's centre); split a larger area into a MultiPolygon of smaller parts"
    )
    page.wait_for_function("text => document.querySelector('#drawing-hint').textContent === text", arg=refusal)
    screenshot(page, "tools-rectangle-refused")
    assert plot.hint() == refusal and refusal in page.inner_text("#status .notice")
    assert len(plot.polygons()) == 1 and page_points(page) == before and plot.query_number() == 1
    assert sent == []


def test_a_free_edge_over_180_degrees_follows_the_map(page: Page, world: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={world}")
    # Each edge from -150 to 150 would be the 60° arc across 180° on the server: the page lays it
    # along the parallel drawn, so the polygon is the band through 0°.
    with plot.expect_within_request() as caught:
        plot.draw([(-150.0, 60.0), (150.0, 60.0), (150.0, 80.0), (-150.0, 80.0)], close="enter")
    assert plot.wait_over(1)["state"] == "done", plot.message()
    sent = caught.value.post_data_json
    assert len(sent["coordinates"][0]) > 300
    assert all(
        abs(b[0] - a[0]) <= 1.0 + 1e-9 for a, b in zip(sent["coordinates"][0], sent["coordinates"][0][1:], strict=False)
    )
    answer = api_within(live_server.url, world, sent)
    lons = [lon for lon, _ in answer.points]
    assert answer.last["count"] > 20 and all(abs(lon) <= 150.5 for lon in lons) and min(map(abs, lons)) < 60
    assert page_points(page) == sorted(map(tuple, answer.points))
    screenshot(page, "tools-long-edge")
    # The same across the equator cannot fit in a hemisphere: refused in words, not sent.
    sent_later = within_requests(page)
    plot.draw([(-100.0, -40.0), (100.0, -40.0), (100.0, 40.0), (-100.0, 40.0)], close="enter")
    page.wait_for_function("() => document.querySelector('#drawing-hint').textContent.includes('hemisphere')")
    assert sent_later == [] and len(plot.polygons()) == 1


def test_select_a_polygon_and_delete_it(page: Page, grid: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw([(2.5, 2.5), (12.5, 2.5), (12.5, 12.5), (2.5, 12.5)])
    plot.wait_over(1)
    page.click("#tool-rectangle")
    plot.drag((20.5, 20.5), (30.5, 40.5))
    plot.wait_over(2)
    page.click("#tool-polygon")
    assert len(plot.polygons()) == 2
    # A click inside the first selects it (no vertex is placed); Delete removes it and the query
    # runs again with the other.
    plot.click((7.0, 7.0))
    page.wait_for_selector("#plot g.polygon.selected")
    screenshot(page, "tools-selected")
    page.keyboard.press("Delete")
    status = plot.wait_over(3)
    [box] = plot.polygons()
    assert len(box) == 4 and box_of(box) == pytest.approx((20.5, 20.5, 30.5, 40.5), abs=degrees_per_pixel(plot))
    answer = api_within(live_server.url, grid, geometry_of(plot.polygons()))
    assert status["received"] == str(answer.last["count"]) == str(10 * 20)
    assert page_points(page) == sorted(map(tuple, answer.points))
    # The ✕ of a selected polygon deletes it too; with none left nothing is shown.
    plot.click((25.0, 30.0))
    page.click("#plot g.delete-polygon")
    page.wait_for_function("() => window.pointsite.polygons().length === 0 && window.pointsite.points().length === 0")
    assert "#" not in page.url or "polygon=" not in page.url


POLYGONS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "a"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0.5, 0.5], [4.5, 0.5], [4.5, 4.5], [0.5, 4.5], [0.5, 0.5]]],
            },
        },
        {
            "type": "Feature",
            "properties": {},
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[10.5, 10.5], [12.5, 10.5], [12.5, 12.5], [10.5, 10.5]]],
                    [[[20.5, 20.5], [22.5, 20.5], [22.5, 22.5], [20.5, 22.5], [20.5, 20.5]]],
                ],
            },
        },
    ],
}


def drop_file(page: Page, name: str, text: str) -> None:
    """Drop a file on the plot, as a drag from the desktop does (dragover, then drop)."""
    transfer = page.evaluate_handle(
        """([name, text]) => { const t = new DataTransfer();
             t.items.add(new File([text], name, { type: 'application/geo+json' })); return t; }""",
        [name, text],
    )
    page.dispatch_event("#plot", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#plot", "drop", {"dataTransfer": transfer})


def test_load_polygons_from_a_file_and_by_a_drop(page: Page, grid: str, live_server: Any, tmp_path: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(POLYGONS))
    with plot.expect_within_request() as caught:
        page.set_input_files("#polygon-file", str(path))
    status = plot.wait_over(1)
    assert len(plot.polygons()) == 3
    answer = api_within(live_server.url, grid, caught.value.post_data_json)
    # 16 + 3 (the triangle's points on or under its diagonal: 11,11 12,11 12,12) + 4.
    assert status["received"] == str(answer.last["count"]) == "23"
    assert page_points(page) == sorted(map(tuple, answer.points))
    assert "Loaded 3 polygons from areas.geojson." in page.inner_text("#tools-message")
    # A file with a hole, or a ring not closed, is refused in words; nothing changes.
    sent = within_requests(page)
    holed = {
        "type": "Polygon",
        "coordinates": [[[30, 30], [40, 30], [40, 40], [30, 30]], [[33, 32], [36, 32], [36, 34], [33, 32]]],
    }
    drop_file(page, "holed.geojson", json.dumps(holed))
    page.wait_for_function("() => document.querySelector('#drawing-hint').textContent.includes('hole')")
    assert plot.hint().startswith("holed.geojson not loaded: coordinates has 1 hole;")
    unclosed = {"type": "Polygon", "coordinates": [[[30, 30], [40, 30], [40, 40], [30, 40]]]}
    drop_file(page, "open.geojson", json.dumps(unclosed))
    expected = api_within(live_server.url, grid, unclosed).last["error"]
    page.wait_for_function("() => document.querySelector('#drawing-hint').textContent.includes('open.geojson')")
    assert plot.hint() == f"open.geojson not loaded: {expected}"
    assert (
        expected
        == "invalid polygon: coordinates[0] is not closed: its last position [30, 40] must repeat its first [30, 30]"
    )
    assert len(plot.polygons()) == 3 and sent == [] and page_points(page) == sorted(map(tuple, answer.points))
    # A dropped file that is fine is added to the others.
    square = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[30.5, 30.5], [31.5, 30.5], [31.5, 31.5], [30.5, 31.5], [30.5, 30.5]]],
        },
    }
    drop_file(page, "square.geojson", json.dumps(square))
    assert plot.wait_over(2)["received"] == "24"
    screenshot(page, "tools-loaded")


def test_the_vertex_limit_is_checked_in_the_page(page: Page, grid: str, settings: Any) -> None:
    settings.POINTS_MAX_VERTICES = 8
    plot = PlotPage(page).open(f"#dataset={grid}")
    sent = within_requests(page)
    ring = [[1, 0], *[[5, float(i)] for i in range(8)], [1, 7], [1, 0]]
    drop_file(page, "big.geojson", json.dumps({"type": "Polygon", "coordinates": [ring]}))
    page.wait_for_function("() => !document.querySelector('#drawing-hint').hidden")
    assert (
        plot.hint()
        == "big.geojson not loaded: invalid polygon: the area has more than 8 vertices, the most a query may have"
    )
    assert sent == [] and plot.polygons() == []


def test_copy_the_query_as_curl_and_run_it(page: Page, grid: str, live_server: Any) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw([(2.5, 2.5), (20.5, 2.5), (20.5, 9.5), (2.5, 9.5)])
    status = plot.wait_over(1)
    page.click("#copy-curl")
    page.wait_for_function("() => document.querySelector('#tools-message').textContent.startsWith('Copied')")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command == page.evaluate("window.pointsite.copied()")
    assert command.startswith(
        f"curl '{live_server.url}/api/datasets/{grid}/points/within' -H 'Content-Type: application/json' --data '"
    )
    if shutil.which("curl"):
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, check=True)
        count = json.loads(done.stdout.splitlines()[-1])["count"]
    else:  # no curl: read the command as a shell would and make its request ourselves
        words = shlex.split(command)
        count = api_within(live_server.url, grid, json.loads(words[words.index("--data") + 1])).last["count"]
    assert count == int(status["received"]) == 18 * 7
    page.click("#copy-geojson")
    page.wait_for_function(
        "() => document.querySelector('#tools-message').textContent === 'Copied the query as GeoJSON.'"
    )
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == geometry_of(plot.polygons())


def test_a_self_intersecting_polygon_is_refused_in_the_page(page: Page, grid: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw([(30.5, 30.5), (40.5, 30.5), (40.5, 40.5)])
    status = plot.wait_over(1)
    before = page_points(page)
    sent = within_requests(page)
    bowtie = [(2.0, 2.0), (12.0, 12.0), (12.0, 2.0), (2.0, 12.0)]
    plot.draw(bowtie, close="enter")
    page.wait_for_function("() => document.querySelector('#drawing-hint').textContent.startsWith('Not sent')")
    # The server's words for the polygon the page would have sent (two polygons, the new one second).
    drawn = page.evaluate("window.pointsite.draft()")
    expected = api_within(live_server.url, grid, geometry_of([*plot.polygons(), drawn])).last["error"]
    assert expected.startswith("invalid polygon: coordinates[1] is not a valid polygon: self-intersection at [")
    assert plot.hint() == f"Not sent: {expected}"
    screenshot(page, "tools-self-intersection")
    # Nothing was sent; the picture and the ring being drawn stay (Backspace can mend it).
    assert sent == [] and plot.status() == status and page_points(page) == before
    assert page.evaluate("document.querySelectorAll('#plot circle.draft-vertex').length") == 4
    page.keyboard.press("Escape")
    assert plot.hint() == "" and len(plot.polygons()) == 1


def test_the_page_refuses_no_polygon_the_server_takes(page: Page, world: str, grid: str, live_server: Any) -> None:
    """The page's checks (polygon-check.js) against the server's, on random polygons of both kinds."""
    PlotPage(page).open(f"#dataset={grid}")
    rng = random.Random(11)
    cases: list[tuple[str, str, dict[str, Any]]] = []
    for n in range(150):
        k = rng.choice([3, 4, 5, 6, 9])
        if n % 2:
            ring = [[round(rng.uniform(0, 10), 2), round(rng.uniform(0, 10), 2)] for _ in range(k)]
            cases.append(("planar", grid, {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}))
        else:
            lon, lat, r = rng.uniform(-170, 170), rng.uniform(-70, 70), rng.choice([2, 15, 40])
            ring = [[round(lon + rng.uniform(-r, r), 2), round(lat + rng.uniform(-r, r) / 2, 2)] for _ in range(k)]
            ring = [[max(-180, min(180, x)), y] for x, y in ring]
            cases.append(("spherical", world, {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}))
    verdicts = page.evaluate(
        """async (cases) => { const { checkArea } = await import('/static/app/polygon-check.js');
             return cases.map(([kind, , body]) => checkArea(body, { kind, maxVertices: 10000 })); }""",
        cases,
    )
    refused = 0
    for (kind, name, body), verdict in zip(cases, verdicts, strict=True):
        answer = api_within(live_server.url, name, body)
        server = answer.last.get("error") if answer.status == 400 else None
        assert (verdict is None) == (server is None), (kind, body, verdict, server)
        refused += server is not None
    assert refused > 20  # the shapes are random enough to cross themselves often
