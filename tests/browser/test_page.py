"""The page in a real browser: draw polygons by mouse, watch the stream, abort, errors, the URL, zoom, keyboard."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import api_all, api_within, generate
from tests.browser.plot_page import PlotPage, streams_all, url_path

# On the 50x50 grid (points at integers), half-integer corners make counts exact by hand:
# this rectangle holds x = 11..20 and y = 11..30, 10 x 20 points.
RECTANGLE = [(10.5, 10.5), (20.5, 10.5), (20.5, 30.5), (10.5, 30.5)]
RECTANGLE_COUNT = 200
# x = 31..40, y = 6..15: 100 points.
SQUARE = [(30.5, 5.5), (40.5, 5.5), (40.5, 15.5), (30.5, 15.5)]
SQUARE_COUNT = 100


def inside_rectangle(x: float, y: float) -> bool:
    return 10.5 < x < 20.5 and 10.5 < y < 30.5


def grid_points() -> list[tuple[int, int]]:
    return [(x, y) for x in range(50) for y in range(50)]


def test_polygon_on_the_grid_matches_the_api_and_the_canvas(page: Page, grid: str, live_server: Any) -> None:
    plot = PlotPage(page).open()
    plot.pick(grid)
    query = plot.query_number() + 1
    with plot.expect_within_request() as caught:
        plot.draw(RECTANGLE, close="first-vertex")
    status = plot.wait_over(query)

    assert status["state"] == "done"
    assert status["received"] == str(RECTANGLE_COUNT)
    assert status["total"] == str(RECTANGLE_COUNT)  # measured against the polygon's count, not the dataset's
    assert re.fullmatch(r"done: 200 points in \d+\.\d\d s", plot.message())
    # The same polygon, sent by us as a script would: the same points.
    sent = caught.value.post_data_json
    assert sent["type"] == "Polygon"
    answer = api_within(live_server.url, grid, sent)
    assert answer.last == {"end": True, "count": RECTANGLE_COUNT}
    assert sorted(map(tuple, answer.points)) == sorted((x, y) for x, y in grid_points() if inside_rectangle(x, y))
    # And the canvas shows exactly those: every grid point inside painted, every one outside blank.
    points = grid_points()
    lone = plot.lone_point_rgba()
    for (x, y), pixel in zip(points, plot.pixels(points), strict=True):
        if inside_rectangle(x, y):
            assert pixel == lone, (x, y)
        else:
            assert pixel[3] == 0, (x, y)


def test_a_new_polygon_mid_stream_aborts_the_running_stream(page: Page, many: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={many}")
    # A slow network keeps the first stream (~10 MB) running for seconds, so the second
    # polygon surely lands in the middle of it; no sleep, no race.
    plot.throttle(4_000_000)
    first = plot.query_number() + 1
    page.click("#show-all")
    plot.wait_receiving(first)

    ring = [(200, 200), (400, 200), (400, 400), (200, 400)]
    with (
        page.expect_event("requestfailed", streams_all(many)) as failed,
        plot.expect_within_request() as caught,
    ):
        plot.draw(ring, close="enter")
    status = plot.wait_over(first + 1)

    assert failed.value.failure == "net::ERR_ABORTED"
    # The worker confirms it aborted the fetch (not just stopped listening to it).
    page.wait_for_function("document.querySelector('#status').dataset.aborted === '1'")
    answer = api_within(live_server.url, many, caught.value.post_data_json)
    assert status["state"] == "done"
    assert status["received"] == str(len(answer.points)) == str(answer.last["count"])
    assert 0 < len(answer.points) < 200_000 // 10
    # Only the second polygon's points are on the canvas: the first stream's are gone.
    far_outside = [p for p in api_all(live_server.url, many) if p[0] > 600 or p[1] > 600][:500]
    assert len(far_outside) == 500
    assert all(pixel[3] == 0 for pixel in plot.pixels(far_outside))
    assert all(pixel[3] == 255 for pixel in plot.pixels(answer.points[:500]))


def test_a_self_intersecting_polygon_shows_the_servers_message(
    page: Page, grid: str, live_server: Any, console_allowed: list[str]
) -> None:
    # Drawn, a bow tie is refused in the page (test_tools.py); from a link it goes to the server,
    # whose refusal of its count the browser logs.
    console_allowed.append("status of 400")
    plot = PlotPage(page)
    with plot.expect_within_request() as caught:
        plot.open(f"#dataset={grid}&polygon=10.5,10.5;30.5,30.5;30.5,10.5;10.5,30.5")
    status = plot.wait_over(1)

    answer = api_within(live_server.url, grid, caught.value.post_data_json)
    assert answer.status == 400
    assert status["state"] == "error"
    assert plot.message() == answer.last["error"]
    assert "self-intersection" in plot.message()
    # Shown in words beside the drawing, and the polygon stays so it can be fixed.
    message = page.locator("#status .message")
    expect(message).to_be_visible()
    plot_box = page.locator("#plot").bounding_box()
    message_box = message.bounding_box()
    assert plot_box and message_box and message_box["x"] >= plot_box["x"] + plot_box["width"]
    assert len(plot.polygons()) == 1


def test_reloading_the_link_reproduces_the_query(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE, close="enter")
    plot.draw(SQUARE, close="enter")
    before = plot.wait_over(2)
    drawn = plot.polygons()
    assert before["state"] == "done" and before["received"] == str(RECTANGLE_COUNT + SQUARE_COUNT)
    assert re.search(r"#dataset=grid&polygon=[-\d.,;e]+&polygon=[-\d.,;e]+$", page.url)

    page.reload()
    after = plot.wait_over(1)
    assert after["state"] == "done"
    assert after["received"] == before["received"]
    assert plot.polygons() == drawn


def test_several_polygons_go_as_one_multipolygon_and_a_dragged_vertex_requeries(
    page: Page, grid: str, live_server: Any
) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE, close="first-vertex")
    plot.wait_over(1)
    with plot.expect_within_request() as caught:
        plot.draw(SQUARE, close="double-click")
    status = plot.wait_over(2)
    sent = caught.value.post_data_json
    assert sent["type"] == "MultiPolygon" and len(sent["coordinates"]) == 2
    assert status["received"] == str(RECTANGLE_COUNT + SQUARE_COUNT)
    assert api_within(live_server.url, grid, sent).last["count"] == RECTANGLE_COUNT + SQUARE_COUNT

    # Drag the rectangle's top-right corner from (20.5, 30.5) to (25.5, 30.5).
    page.mouse.move(*plot.to_client((20.5, 30.5)))
    page.mouse.down()
    with plot.expect_within_request() as caught:
        page.mouse.move(*plot.to_client((25.5, 30.5)), steps=5)
        page.mouse.up()
    status = plot.wait_over(3)
    moved = caught.value.post_data_json["coordinates"][0][0]
    assert any(abs(x - 25.5) < 0.1 and abs(y - 30.5) < 0.1 for x, y in moved)
    answer = api_within(live_server.url, grid, caught.value.post_data_json)
    assert status["state"] == "done"
    assert status["received"] == str(answer.last["count"])
    assert answer.last["count"] > RECTANGLE_COUNT + SQUARE_COUNT


def test_drawing_keys_backspace_escape_and_the_rubber_band(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    draft_vertices = page.locator("#plot .draft-vertex")
    for point in [(5.5, 5.5), (15.5, 5.5), (15.5, 15.5)]:
        plot.click(point)
    expect(draft_vertices).to_have_count(3)
    # The rubber band follows the pointer: the drawn path ends where the mouse is.
    page.mouse.move(*plot.to_client((5.5, 25.5)))
    end_x, end_y = plot.to_client((5.5, 25.5))
    path = page.locator("#plot path.drawn")
    expect(path).to_have_attribute("d", re.compile(r"L[\d.]+,[\d.]+$"))
    box = page.locator("#plot g.inner rect.hit").bounding_box()
    assert box
    last = path.get_attribute("d").rsplit("L", 1)[1]  # type: ignore[union-attr]
    x, y = (float(v) for v in last.split(","))
    assert abs(box["x"] + x - end_x) < 2 and abs(box["y"] + y - end_y) < 2

    page.keyboard.press("Backspace")
    expect(draft_vertices).to_have_count(2)
    page.keyboard.press("Escape")
    expect(draft_vertices).to_have_count(0)
    assert plot.polygons() == []
    assert plot.query_number() == 0  # nothing was asked of the server


def test_cancel_is_reachable_by_keyboard_and_stops_the_stream(page: Page, many: str) -> None:
    plot = PlotPage(page).open(f"#dataset={many}")
    plot.throttle(2_000_000)
    page.click("#show-all")
    plot.wait_receiving(1)
    cancel = page.locator("#cancel")
    expect(cancel).to_be_enabled()
    with page.expect_event("requestfailed", streams_all(many)):
        cancel.focus()
        page.keyboard.press("Enter")
    status = plot.wait_over(1)
    assert status["state"] == "cancelled"
    assert re.fullmatch(r"Cancelled after [\d,]+ points\.", plot.message())
    expect(cancel).to_be_disabled()


def test_zoom_and_pan_redraw_without_fetching_points_again(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE, close="enter")
    plot.wait_over(1)
    requests: list[str] = []
    # No point is fetched again (the overview under them is: test_density.py).
    page.on("request", lambda request: requests.append(request.url) if "/points" in request.url else None)
    x0, y0 = plot.to_client((15, 20))
    spacing = plot.to_client((16, 20))[0] - x0
    page.mouse.move(x0, y0)
    page.mouse.wheel(0, -800)
    page.wait_for_function(
        f"() => window.pointsite.toClient([16, 20])[0] - window.pointsite.toClient([15, 20])[0] > {2 * spacing}"
    )
    # Zoomed in around (15, 20): its neighbours move apart, and all are still drawn.
    page.wait_for_function("() => window.pointsite.pixelAt([16, 21])[3] === 255")
    assert plot.pixels([(15, 20), (16, 21), (13, 18)]) == [plot.lone_point_rgba()] * 3
    assert plot.pixel((5, 5))[3] == 0
    # Pan by dragging the plot: the point moves with the pointer.
    x1, y1 = plot.to_client((15, 20))
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(x1 + 60, y1 + 40, steps=4)
    page.mouse.up()
    page.wait_for_function(f"() => Math.abs(window.pointsite.toClient([15, 20])[0] - {x1 + 60}) < 1")
    page.wait_for_function("() => window.pointsite.pixelAt([15, 20])[3] === 255")
    assert plot.polygons() and len(plot.polygons()) == 1  # a drag pans, it adds no vertex
    assert requests == []


def test_a_spherical_dataset_draws_geodesic_edges(page: Page, live_server: Any, transactional_db: None) -> None:
    generate("world", "--random", "20000", "--spherical", "--seed", "3")
    plot = PlotPage(page).open("#dataset=world")
    ring = [(-60.0, 40.0), (60.0, 40.0), (60.0, 60.0), (-60.0, 60.0)]
    with plot.expect_within_request() as caught:
        plot.draw(ring, close="enter")
    status = plot.wait_over(1)
    answer = api_within(live_server.url, "world", caught.value.post_data_json)
    assert status["state"] == "done" and status["received"] == str(answer.last["count"])
    # The 120° edge along 60°N is drawn as the great circle the server uses: it bulges poleward.
    outline = page.locator("#plot path.outline").get_attribute("d") or ""
    assert outline.count("L") > 100
    top = min(float(pair.split(",")[1]) for pair in re.findall(r"[\d.]+,[\d.]+", outline))
    # The arc from (-60, 60) to (60, 60) peaks at atan(tan 60° / cos 60°) ≈ 73.9°N.
    hit = page.locator("#plot g.inner rect.hit").bounding_box()
    assert hit
    assert top < plot.to_client((0.0, 72.0))[1] - hit["y"]


def test_narrow_window_and_visible_focus(page: Page, grid: str) -> None:
    page.set_viewport_size({"width": 420, "height": 800})
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE, close="enter")
    assert plot.wait_over(1)["received"] == str(RECTANGLE_COUNT)
    # Nothing sticks out sideways, and the status sits under the plot.
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    plot_box = page.locator("#plot").bounding_box()
    status_box = page.locator("#status").bounding_box()
    assert plot_box and status_box and status_box["y"] >= plot_box["y"] + plot_box["height"]
    # Every control is reached by Tab, in order, and shows where the focus is.
    page.locator("#dataset").focus()
    tools = ["#tool-polygon", "#tool-rectangle", "#tool-select", "#load-file", "#copy-geojson", "#copy-curl"]
    # (Colour by is disabled for a dataset without properties: Tab passes it.)
    for selector in ["#show-all", "#clear", "#reset-view", *tools, "#export summary", "#plot"]:
        page.keyboard.press("Tab")
        focused = page.locator(selector)
        expect(focused).to_be_focused()
        assert focused.evaluate("el => getComputedStyle(el).outlineStyle") != "none", selector
    # With the plot focused, + zooms in: the grid's width on screen grows.
    width = "window.pointsite.toClient([49, 0])[0] - window.pointsite.toClient([0, 0])[0]"
    before = page.evaluate(width)
    page.keyboard.press("+")
    page.wait_for_function(f"() => {width} > {before * 1.4}")


@pytest.mark.parametrize(
    ("last_line", "state", "message"),
    [
        (b"", "cut", r"Cut: the stream was cut after 200 points \(no end line\)\. The picture is incomplete\."),
        (
            b'{"error":"the store went away","count":200}\n',
            "error",
            r"The server failed after 200 points: the store went away",
        ),
    ],
    ids=["cut", "error-line"],
)
def test_a_stream_that_breaks_after_its_headers_is_reported(
    page: Page, grid: str, last_line: bytes, state: str, message: str
) -> None:
    # The real server's NDJSON answer, with its end line dropped or turned into an error line
    # on the way, as a dying proxy or a failing server would leave it. (Asked for uncoded, so
    # the body can be changed; the Arrow stream's cases are in test_formats.py.)
    def break_stream(route: Route) -> None:
        response = route.fetch(headers={**route.request.headers, "accept-encoding": "identity"})
        lines = response.body().splitlines(keepends=True)
        assert lines[-1] == b'{"end":true,"count":200}\n'
        route.fulfill(response=response, body=b"".join(lines[:-1]) + last_line)

    page.route(lambda url: url_path(url).endswith("/points/within"), break_stream)
    plot = PlotPage(page).open(f"?format=ndjson#dataset={grid}")
    plot.draw(RECTANGLE, close="enter")
    status = plot.wait_over(1)
    assert status["state"] == state
    assert status["received"] == str(RECTANGLE_COUNT)
    assert re.fullmatch(message, plot.message())
