"""The page's states in a real browser: links it cannot follow, errors on a small screen, the progress
figures, cancelling, switching datasets mid-stream, editing the fragment, and redraws that keep the picture."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import api_all, api_within
from tests.browser.plot_page import PlotPage, streams_all

# On the 50x50 grid: x = 11..20, y = 11..30, 200 points; and x = 31..40, y = 6..15, 100 points.
RECTANGLE = [(10.5, 10.5), (20.5, 10.5), (20.5, 30.5), (10.5, 30.5)]
SQUARE = [(30.5, 5.5), (40.5, 5.5), (40.5, 15.5), (30.5, 15.5)]


def fragment_polygon(ring: list[tuple[float, float]]) -> str:
    return "polygon=" + ";".join(f"{x},{y}" for x, y in ring)


def test_an_unknown_dataset_in_the_link_falls_back_to_the_first_ready_one(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset=nope&{fragment_polygon(RECTANGLE)}")
    notice = page.locator("#status .notice")
    expect(notice).to_have_text(re.compile(r"No dataset “nope”; showing “[^”]+”\."))
    expect(page.locator("#drawing-hint")).to_have_text(notice.inner_text())
    assert page.input_value("#dataset") == grid
    page.wait_for_function("location.hash === '#dataset=grid'")
    # The page works: Show all streams the grid.
    page.click("#show-all")
    status = plot.wait_over(plot.query_number())
    assert status["state"] == "done" and status["received"] == status["total"] == "2500"
    expect(notice).to_be_hidden()


def test_polygons_in_the_link_that_cannot_be_read_are_reported(page: Page, grid: str) -> None:
    unreadable = ["polygon=abc", "polygon=1,1;2,2", "polygon=1e400,1;2,2;3,1"]
    plot = PlotPage(page).open(f"#dataset={grid}&{'&'.join(unreadable)}&{fragment_polygon(RECTANGLE)}")
    status = plot.wait_over(1)
    # The readable one runs; the others are not dropped without a word.
    assert status["state"] == "done" and status["received"] == "200"
    expect(page.locator("#status .notice")).to_have_text("3 polygons in the link could not be read.")
    expect(page.locator("#drawing-hint")).to_have_text("3 polygons in the link could not be read.")
    # A link with only an unreadable polygon says so too (singular), and asks nothing.
    page.goto("/#dataset=grid&polygon=1,1;2,2")
    expect(page.locator("#status .notice")).to_have_text("1 polygon in the link could not be read.")
    assert plot.status()["state"] == "idle" and plot.query_number() == 1


def test_a_refusal_on_a_narrow_window_is_shown_on_the_plot(
    page: Page, grid: str, live_server: Any, console_allowed: list[str]
) -> None:
    page.set_viewport_size({"width": 390, "height": 700})
    # A bow tie from a link reaches the server (drawn, the page refuses it itself: test_tools.py),
    # whose refusal of its count the browser logs.
    console_allowed.append("status of 400")
    plot = PlotPage(page)
    with plot.expect_within_request() as caught:
        plot.open(f"#dataset={grid}&polygon=10.5,10.5;30.5,30.5;30.5,10.5;10.5,30.5")
    status = plot.wait_over(1)
    error = api_within(live_server.url, grid, caught.value.post_data_json).last["error"]
    assert status["state"] == "error" and "self-intersection" in error
    hint = page.locator("#drawing-hint")
    expect(hint).to_have_text(error)
    expect(hint).to_be_in_viewport()
    # Drawing again replaces it with the drawing hint; clearing the polygons removes it.
    plot.click((40.5, 40.5))
    expect(hint).to_contain_text("Drawing: 1 vertex")
    page.keyboard.press("Escape")
    expect(hint).to_have_text(error)
    page.click("#clear")
    expect(hint).to_be_hidden()


def test_progress_speed_and_elapsed_time_during_and_after_a_query(page: Page, grid: str, many: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE, close="enter")
    plot.wait_over(1)
    progress = page.locator("#status progress")
    assert progress.evaluate("p => [p.value, p.max, p.hidden]") == [200, 200, False]
    expect(page.locator("#status .counter")).to_have_text("200 / 200 points")
    expect(page.locator("#status .rate")).to_have_text(re.compile(r"^\d+(\.\d)? (k |M )?points/s$"))
    elapsed = page.locator("#status .elapsed").inner_text()
    assert re.fullmatch(r"\d+\.\d\d s", elapsed)
    assert plot.message() == f"done: 200 points in {elapsed}"

    # Mid-stream: the bar and the counter show how far it is.
    plot.pick(many)
    plot.throttle(2_000_000)
    page.click("#show-all")
    query = plot.query_number()
    plot.wait_receiving(query)
    page.wait_for_function("document.querySelector('#status .counter').textContent.endsWith('/ 200,000 points')")
    value, maximum = progress.evaluate("p => [p.value, p.max]")
    assert maximum == 200_000 and 0 < value < maximum
    expect(page.locator("#status .rate")).to_have_text(re.compile(r"points/s$"))
    expect(page.locator("#status .elapsed")).to_have_text(re.compile(r"^\d+\.\d\d s$"))

    # Esc on the plot cancels the stream: the request is aborted, the bar stops where it was.
    with page.expect_event("requestfailed", streams_all(many)) as failed:
        page.focus("#plot")
        page.keyboard.press("Escape")
    status = plot.wait_over(query)
    assert failed.value.failure == "net::ERR_ABORTED"
    assert status["state"] == "cancelled"
    assert re.fullmatch(r"Cancelled after [\d,]+ points\.", plot.message())
    assert 0 < progress.evaluate("p => p.value") < 200_000
    expect(page.locator("#cancel")).to_be_disabled()


def test_switching_dataset_mid_stream_aborts_it(page: Page, grid: str, many: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={many}")
    plot.throttle(2_000_000)
    page.click("#show-all")
    plot.wait_receiving(1)
    with page.expect_event("requestfailed", streams_all(many)) as failed:
        plot.pick(grid)
    assert failed.value.failure == "net::ERR_ABORTED"
    page.wait_for_function("document.querySelector('#status').dataset.aborted === '1'")
    status = plot.status()
    assert status["state"] == "idle" and status["received"] == "0"
    expect(page.locator("#cancel")).to_be_disabled()
    # Nothing of the first dataset is left, and what comes next belongs to the new one.
    plot.draw(RECTANGLE, close="enter")
    status = plot.wait_over(2)
    assert status["state"] == "done" and status["received"] == "200" and status["total"] == "200"
    grid_points = [(x, y) for x in range(50) for y in range(50)]
    painted = [p for p, pixel in zip(grid_points, plot.pixels(grid_points), strict=True) if pixel[3]]
    assert sorted(painted) == sorted((x, y) for x, y in grid_points if 10.5 < x < 20.5 and 10.5 < y < 30.5)
    assert len(api_all(live_server.url, grid)) == 2500


def test_editing_the_fragment_runs_the_query_it_describes(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}&{fragment_polygon(RECTANGLE)}")
    assert plot.wait_over(1)["received"] == "200"
    page.evaluate("hash => { location.hash = hash; }", f"#dataset={grid}&{fragment_polygon(SQUARE)}")
    status = plot.wait_over(2)
    assert status["state"] == "done" and status["received"] == "100"
    assert plot.polygons() == [[list(p) for p in SQUARE]]
    page.evaluate("hash => { location.hash = hash; }", f"#dataset={grid}&all")
    assert plot.wait_over(3)["received"] == "2500"
    assert plot.polygons() == []


def test_cancel_after_the_stream_ended_but_before_the_last_point_is_drawn(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    page.evaluate("window.pointsite.limitDrawing(0)")  # hold the drawing
    page.click("#show-all")
    page.wait_for_function(
        "() => { const d = document.querySelector('#status').dataset; return d.stream === 'ended' && d.state === 'loading'; }"
    )
    cancel = page.locator("#cancel")
    expect(cancel).to_be_enabled()
    cancel.click()
    status = plot.wait_over(1)
    assert status["state"] == "cancelled"
    expect(cancel).to_be_disabled()
    # The points held are still drawn, and the outcome stays what the user asked for.
    page.evaluate("window.pointsite.limitDrawing(null)")
    page.wait_for_function("() => !window.pointsite.drawing()")
    assert plot.pixel((3, 3)) == plot.lone_point_rgba()
    assert plot.status()["state"] == "cancelled"


def test_a_click_on_another_polygons_vertex_while_drawing_adds_a_vertex(page: Page, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={grid}")
    plot.draw(RECTANGLE, close="enter")
    plot.wait_over(1)
    rectangle = plot.polygons()[0]
    corner = max(rectangle, key=lambda p: p[0] + p[1])  # where (20.5, 30.5) was clicked
    draft = page.locator("#plot .draft-vertex")
    plot.click((35.5, 40.5))
    # The plot took the focus from a mouse click (and Enter was pressed on it): no keyboard ring.
    assert page.evaluate("document.activeElement.id") == "plot"
    assert page.locator("#plot").evaluate("el => getComputedStyle(el).outlineStyle") == "none"
    plot.click((corner[0], corner[1]))  # the rectangle's top-right corner
    expect(draft).to_have_count(2)
    plot.click((35.5, 30.5))
    page.keyboard.press("Enter")
    plot.wait_over(2)
    polygons = plot.polygons()
    assert polygons[0] == rectangle  # not dragged
    assert len(polygons) == 2
    assert any(abs(x - corner[0]) < 0.2 and abs(y - corner[1]) < 0.2 for x, y in polygons[1])
    # Reached with the keyboard, the plot shows its focus ring again.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#plot")).to_be_focused()
    assert page.locator("#plot").evaluate("el => getComputedStyle(el).outlineStyle") != "none"


QUADRANTS = """() => {
  const canvas = document.querySelector('#plot canvas.points');
  const { width, height } = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const seen = [false, false, false, false];
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      if (data[4 * (y * width + x) + 3]) seen[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)] = true;
    }
  }
  return seen;
}"""

SAMPLE_FRAMES = f"""() => {{
  const quadrants = {QUADRANTS};
  window.samples = [];
  const sample = () => {{
    if (window.stopSampling) return;
    window.samples.push({{ drawing: window.pointsite.drawing(), seen: quadrants() }});
    requestAnimationFrame(sample);
  }};
  requestAnimationFrame(sample);
}}"""


def test_a_redraw_keeps_the_whole_picture_on_screen_until_the_new_one_is_complete(page: Page, many: str) -> None:
    plot = PlotPage(page).open(f"#dataset={many}&all")
    assert plot.wait_over(1)["state"] == "done"
    assert page.evaluate(f"({QUADRANTS})()") == [True] * 4
    # Draw one batch (of 13, in Z-order) a frame, so a redraw takes many frames; first hold it.
    page.evaluate("window.pointsite.limitDrawing(0)")
    page.evaluate(SAMPLE_FRAMES)
    box = page.locator("#plot").bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -60)  # zoom in a little
    page.wait_for_function("() => window.samples.filter((s) => s.drawing).length >= 3")
    page.mouse.wheel(0, 40)  # and out again mid-redraw
    page.evaluate("window.pointsite.limitDrawing(1)")
    page.wait_for_function("() => !window.pointsite.drawing()")
    page.evaluate("window.stopSampling = true")
    samples = page.evaluate("window.samples")
    mid_redraw = [s["seen"] for s in samples if s["drawing"]]
    assert len(mid_redraw) >= 8
    # Every frame of the redraw showed points all over, not just the first batches' corner.
    assert all(seen == [True] * 4 for seen in mid_redraw), mid_redraw
    # And the finished picture is the new one, at the new zoom.
    page.evaluate("window.pointsite.limitDrawing(null)")
    assert page.evaluate(f"({QUADRANTS})()") == [True] * 4
