"""Spherical datasets in a real browser: polygons across the antimeridian, and vertices kept on the sphere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import api_all, api_within, generate
from tests.browser.plot_page import PlotPage

FILLED = """([polygon, points]) => {
  const path = document.querySelectorAll('#plot path.outline')[polygon];
  const box = document.querySelector('#plot g.inner rect.hit').getBoundingClientRect();
  return points.map((p) => {
    const [x, y] = window.pointsite.toClient(p);
    return path.isPointInFill(new DOMPoint(x - box.left, y - box.top));
  });
}"""


def filled(page: Page, points: Sequence[tuple[float, float]], polygon: int = 0) -> list[bool]:
    """Return whether the shading of drawn polygon number `polygon` covers each lon/lat point."""
    return page.evaluate(FILLED, [polygon, [list(p) for p in points]])


@pytest.fixture
def world(transactional_db: None) -> str:
    generate("world", "--random", "20000", "--spherical", "--seed", "5")
    return "world"


def test_a_polygon_across_the_antimeridian_is_shaded_and_counted_as_the_server_selects(
    page: Page, world: str, live_server: Any
) -> None:
    # Drawn, an edge from 170 to -170 follows the map the long way (issue 11: test_tools.py); a
    # link (or a file) keeps the API's meaning, the shorter arc across 180°.
    plot = PlotPage(page)
    with plot.expect_within_request() as caught:
        plot.open(f"#dataset={world}&polygon=170,-10;-170,-10;-170,10;170,10")
    status = plot.wait_over(1)
    answer = api_within(live_server.url, world, caught.value.post_data_json)
    assert answer.status == 200 and answer.last["count"] > 50
    assert status["state"] == "done" and status["received"] == str(answer.last["count"])
    # The server selects the 20° strip across 180°, and that is what is shaded on the plot:
    # near ±180, not the 340° between -170 and 170 that a straight join across the map encloses.
    assert all(abs(lon) > 169 for lon, _ in answer.points)  # the clicks land within a pixel
    assert filled(page, [(179, 0), (-179, 5), (175, -8)]) == [True, True, True]
    assert filled(page, [(0, 0), (160, 0), (-160, 0), (179, 20)]) == [False, False, False, False]
    # The canvas holds those points and no others.
    assert all(pixel[3] == 255 for pixel in plot.pixels(answer.points[:300]))
    elsewhere = [p for p in api_all(live_server.url, world) if abs(p[0]) < 150 and abs(p[1]) < 60][:300]
    assert len(elsewhere) == 300
    assert all(pixel[3] == 0 for pixel in plot.pixels(elsewhere))

    # A box from -100 to 100 at ±60°: its geodesic top and bottom edges go round the back,
    # across 180° near the poles, so it bounds the region round the back, not the front.
    # (Drawn, this box is laid along the map and refused as wider than a hemisphere: test_tools.py;
    # from a link it keeps the API's meaning.)
    with plot.expect_within_request() as caught:
        plot.open(f"#dataset={world}&polygon=-100,-60;100,-60;100,60;-100,60")  # the same page: query 2
    status = plot.wait_over(2)
    answer = api_within(live_server.url, world, caught.value.post_data_json)
    assert answer.status == 200 and answer.last["count"] > 50
    assert status["state"] == "done" and status["received"] == str(answer.last["count"])
    assert all(abs(lon) > 99 for lon, _ in answer.points)
    assert filled(page, [(179, 0), (-150, 40), (120, -50)]) == [True, True, True]
    assert filled(page, [(0, 0), (90, 0), (-90, 50)]) == [False, False, False]


def test_clicks_in_the_padding_outside_the_globe_give_vertices_on_it(page: Page, world: str, live_server: Any) -> None:
    plot = PlotPage(page).open(f"#dataset={world}")
    # The view is padded: these clicks land beyond lon -180 and lat 90 and beyond lat -90.
    with plot.expect_within_request() as caught:
        plot.draw([(-186.0, 95.0), (-150.0, 60.0), (-120.0, 60.0)], close="enter")
    status = plot.wait_over(1)
    assert status["state"] == "done", plot.message()
    assert [-180, 90] in plot.polygons()[0]
    sent = caught.value.post_data_json["coordinates"][0]
    assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in sent)
    answer = api_within(live_server.url, world, caught.value.post_data_json)
    assert status["received"] == str(answer.last["count"])
    # Below the south pole too; and the rubber band, following the pointer there, stops at -90°.
    page.click("#clear")
    plot.click((10.0, -50.0))
    page.mouse.move(*plot.to_client((20.0, -97.0)))
    last = page.locator("#plot path.drawn").get_attribute("d").rsplit("L", 1)[1]  # type: ignore[union-attr]
    pole_y = plot.to_client((20.0, -90.0))[1] - page.locator("#plot g.inner rect.hit").bounding_box()["y"]  # type: ignore[index]
    assert abs(float(last.split(",")[1]) - pole_y) < 0.5
    plot.click((20.0, -97.0))
    plot.click((30.0, -50.0))
    page.keyboard.press("Enter")
    assert plot.wait_over(2)["state"] == "done", plot.message()
    assert plot.polygons()[0][1][1] == -90
