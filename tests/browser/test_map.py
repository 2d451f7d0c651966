"""Lon/lat datasets drawn over a world map, with degree axes kept within the globe (issue 11 §2)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import generate
from tests.browser.plot_page import PlotPage, screenshot

LAT_LABEL = re.compile(r"^(\d+(\.\d+)?°[NS]|0°)$")
LON_LABEL = re.compile(r"^(\d+(\.\d+)?°[EW]|0°|180°)$")
# Whether each lon/lat point lies in the land's fill, through whatever zoom transform the map has.
ON_LAND = """points => {
  const land = document.querySelector('#plot svg.basemap path.land');
  const inverse = land.getScreenCTM().inverse();
  return points.map((p) => {
    const [x, y] = window.pointsite.toClient(p);
    return land.isPointInFill(new DOMPoint(x, y).matrixTransform(inverse));
  });
}"""
CITIES = [(-0.13, 51.5), (2.35, 48.86), (-3.7, 40.4), (13.4, 52.52)]  # London, Paris, Madrid, Berlin
SEAS = [(-30.0, 30.0), (-140.0, 0.0), (70.0, -20.0), (-5.0, 47.0)]  # Atlantic, Pacific, Indian, Biscay


@pytest.fixture
def world(transactional_db: None) -> str:
    generate("world", "--random", "20000", "--spherical", "--seed", "5")
    return "world"


def degrees(label: str) -> float:
    """Return a tick label's value, north and east positive."""
    value = float(label.rstrip("°NSEW").rstrip("°"))
    return -value if label.endswith(("S", "W")) else value


def labels(page: Page, axis: str) -> list[str]:
    return page.locator(f"#plot g.axis-{axis} .tick text").all_text_contents()


def on_land(page: Page, points: Sequence[tuple[float, float]]) -> list[bool]:
    return page.evaluate(ON_LAND, [list(p) for p in points])


def test_a_spherical_dataset_is_drawn_over_the_world_and_a_planar_one_is_not(page: Page, world: str, grid: str) -> None:
    plot = PlotPage(page).open(f"#dataset={world}")
    for name in ("sphere", "graticule", "land", "borders"):
        expect(page.locator(f"#plot svg.basemap path.{name}")).to_have_attribute("d", re.compile(r"^M"))
    # The map lies under the points: it comes before the canvas in the plot.
    assert page.evaluate(
        "() => { const plot = document.querySelector('#plot'); const kids = [...plot.children];"
        " return kids.indexOf(plot.querySelector('svg.basemap')) < kids.indexOf(plot.querySelector('canvas.points')); }"
    )
    # Land where the points' lon/lat says there is land, sea where there is sea.
    assert on_land(page, CITIES) == [True] * len(CITIES)
    assert on_land(page, SEAS) == [False] * len(SEAS)
    screenshot(page, "map-world")

    plot.pick(grid)
    expect(page.locator("#plot svg.basemap path")).to_have_count(0)
    assert all(re.fullmatch(r"[-\u2212]?\d+", label) for label in labels(page, "x") + labels(page, "y"))
    plot.pick(world)
    expect(page.locator("#plot svg.basemap path.land")).to_have_attribute("d", re.compile(r"^M"))


def test_the_map_follows_the_zoom_and_stays_in_step_with_the_points(page: Page, world: str) -> None:
    PlotPage(page).open(f"#dataset={world}")
    expect(page.locator("#plot svg.basemap path.land")).to_have_attribute("d", re.compile(r"^M"))
    # Zoom in on Europe with the wheel: the cities stay on land, the sea off it.
    x, y = page.evaluate("() => window.pointsite.toClient([5, 48])")
    page.mouse.move(x, y)
    page.mouse.wheel(0, -1500)
    page.wait_for_function("() => window.pointsite.toClient([10, 0])[0] - window.pointsite.toClient([0, 0])[0] > 80")
    assert on_land(page, CITIES) == [True] * len(CITIES)
    assert on_land(page, [(-5.0, 47.0), (4.0, 54.0)]) == [False, False]  # Biscay, the North Sea
    screenshot(page, "map-europe")
    # Zoomed in, the ticks have decimals or whole degrees, and degree signs all the same.
    lon, lat = labels(page, "x"), labels(page, "y")
    assert lon and all(LON_LABEL.match(label) for label in lon), lon
    assert lat and all(LAT_LABEL.match(label) for label in lat), lat


def test_the_axes_read_in_degrees_within_the_globe(page: Page, world: str) -> None:
    PlotPage(page).open(f"#dataset={world}")
    expect(page.locator("#plot g.axis-y .tick text").first).to_have_text(LAT_LABEL)
    lat = labels(page, "y")
    lon = labels(page, "x")
    assert lat and all(LAT_LABEL.match(label) for label in lat), lat
    assert lon and all(LON_LABEL.match(label) for label in lon), lon
    assert all(abs(degrees(label)) <= 90 for label in lat)
    assert all(abs(degrees(label)) <= 180 for label in lon)
    assert "0°" in lat and "0°" in lon


def test_zooming_out_and_panning_never_leave_the_globe(page: Page, world: str) -> None:
    PlotPage(page).open(f"#dataset={world}")
    expect(page.locator("#plot g.axis-y .tick text").first).to_have_text(LAT_LABEL)
    spacing = "() => window.pointsite.toClient([90, 0])[0] - window.pointsite.toClient([0, 0])[0]"
    before = page.evaluate(spacing)
    page.locator("#plot").focus()
    # Each press zooms out 1.5x (a press during the last one's transition would compound less).
    for _ in range(3):
        target = max(before * 0.5, page.evaluate(spacing) / 1.5)
        page.keyboard.press("-")
        page.wait_for_function(f"() => Math.abs(({spacing})() - {target}) < 0.5")
    for _ in range(10):
        page.keyboard.press("ArrowUp")
    # The world, smaller than the view, is held in its middle however far one pans.
    page.wait_for_function(
        """() => { const box = document.querySelector('#plot rect.hit').getBoundingClientRect();
                   return Math.abs(window.pointsite.toClient([0, 0])[1] - (box.top + box.height / 2)) < 1; }"""
    )
    lat = labels(page, "y")
    assert lat and all(LAT_LABEL.match(label) and abs(degrees(label)) <= 90 for label in lat), lat
    lon = labels(page, "x")
    assert lon and all(abs(degrees(label)) <= 180 for label in lon), lon

    # Zoomed in near the north pole and dragged far down: the view stops at 90°N.
    page.keyboard.press("0")
    page.wait_for_function(f"() => Math.abs(({spacing})() - {before}) < 0.5")
    x, y = page.evaluate("() => window.pointsite.toClient([0, 80])")
    page.mouse.move(x, y)
    page.mouse.wheel(0, -600)
    page.wait_for_function(f"() => ({spacing})() > {before * 2}")
    page.mouse.down()
    page.mouse.move(x, y + 600, steps=10)
    page.mouse.up()
    top = page.evaluate("() => document.querySelector('#plot rect.hit').getBoundingClientRect().top")
    assert page.evaluate("() => window.pointsite.toClient([0, 90])[1]") <= top + 0.5
    lat = labels(page, "y")
    assert lat and all(abs(degrees(label)) <= 90 for label in lat), lat
