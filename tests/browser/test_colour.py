"""Colour by a property: numbers on a ramp, strings as their ten most common values plus "other", a legend, and the link keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.plot_page import PlotPage, screenshot
from tests.browser.test_details import import_lines

# d3's viridis at its two ends, and Tableau 10's first colour, as the canvas reads them back.
VIRIDIS_LOW = [68, 1, 84, 255]
VIRIDIS_HIGH = [253, 231, 37, 255]
TABLEAU_FIRST = [78, 121, 167, 255]
# How many points have each kind: the top ten, then two rare ones ("other"), and one point without.
KINDS = {"common": 20, **{name: 14 - k for k, name in enumerate("abcdefghi")}, "rare": 2, "rarest": 1}
FORMATS = ["arrow", "ndjson"]


def colour_lines() -> list[dict[str, Any]]:
    """A point per kind occurrence on a 10-unit grid, with `value` = its number (0 … n - 1) and its
    kind, then one point with neither."""
    kinds = [kind for kind, n in KINDS.items() for _ in range(n)]
    lines: list[dict[str, Any]] = [
        {"id": i, "pt": [10.0 * (i % 12), 10.0 * (i // 12)], "value": i * 0.5, "kind": kind}
        for i, kind in enumerate(kinds)
    ]
    n = len(lines)
    lines.append({"id": n, "pt": [10.0 * (n % 12), 10.0 * (n // 12)]})
    return lines


LINES = colour_lines()


def at(point_id: int) -> tuple[float, float]:
    x, y = LINES[point_id]["pt"]
    return x, y


def first_of(kind: str) -> int:
    return next(line["id"] for line in LINES if line.get("kind") == kind)


@pytest.fixture
def kinds(transactional_db: None, tmp_path: Path) -> str:
    import_lines("kinds", tmp_path, LINES)
    return "kinds"


def wait_coloured(page: Page, prop: str | None) -> None:
    """Wait until the picture is coloured by `prop` (None: by density) and fully drawn."""
    page.wait_for_function(
        "p => (p === null ? window.pointsite.colouring() === null : window.pointsite.colouring()?.property === p)"
        " && !window.pointsite.drawing()",
        arg=prop,
    )


def pixel(page: Page, point_id: int) -> list[int]:
    return page.evaluate("p => window.pointsite.pixelAt(p)", list(at(point_id)))


def class_rgba(page: Page, cls: int) -> list[int]:
    return page.evaluate("c => window.pointsite.classRgba(c)", cls)


@pytest.mark.parametrize("fmt", FORMATS)
def test_colour_by_a_number(page: Page, live_server: Any, kinds: str, fmt: str) -> None:
    plot = PlotPage(page)
    plot.open(f"?format={fmt}#dataset={kinds}&all")
    plot.wait_over(1)
    page.wait_for_function("document.querySelector('#colour-by').options.length > 1")
    options = page.eval_on_selector_all("#colour-by option", "os => os.map(o => o.value)")
    assert options == ["", "value", "kind"]
    density = pixel(page, 0)
    assert density == plot.lone_point_rgba()
    page.select_option("#colour-by", "value")
    wait_coloured(page, "value")
    screenshot(page, f"colour-number-{fmt}")
    low, high = 0, len(LINES) - 2  # the smallest and the greatest value
    assert class_rgba(page, 0) == VIRIDIS_LOW and class_rgba(page, 253) == VIRIDIS_HIGH
    assert pixel(page, low) == VIRIDIS_LOW
    assert pixel(page, high) == VIRIDIS_HIGH
    assert page.evaluate("p => window.pointsite.classAt(p)", list(at(low))) == 0
    assert page.evaluate("p => window.pointsite.classAt(p)", list(at(high))) == 253
    # The middle value is in the middle of the ramp, neither end.
    middle = page.evaluate("p => window.pointsite.classAt(p)", list(at(high // 2)))
    assert 120 <= middle <= 133
    # The point without a value is "no value"'s colour.
    assert pixel(page, len(LINES) - 1) == class_rgba(page, 255)
    legend = page.locator("#colour-legend")
    assert legend.is_visible() and page.is_hidden("#density-legend")
    assert legend.locator(".min").inner_text() == "0"
    assert legend.locator(".max").inner_text() == "56"  # 112 * 0.5
    assert "colour=value" in page.url

    # Back to density: the same pixels as before.
    page.select_option("#colour-by", "")
    wait_coloured(page, None)
    assert pixel(page, 0) == density
    assert page.is_hidden("#colour-legend") and page.is_visible("#density-legend")
    assert "colour=" not in page.url


@pytest.mark.parametrize("fmt", FORMATS)
def test_colour_by_a_string_and_reload(page: Page, live_server: Any, kinds: str, fmt: str) -> None:
    plot = PlotPage(page)
    plot.open(f"?format={fmt}#dataset={kinds}")
    page.wait_for_function("document.querySelector('#colour-by').options.length > 1")
    # Chosen before any point is shown: the points come coloured.
    page.select_option("#colour-by", "kind")
    page.click("#show-all")
    plot.wait_over(1)
    wait_coloured(page, "kind")

    def check() -> None:
        assert class_rgba(page, 0) == TABLEAU_FIRST
        assert pixel(page, first_of("common")) == TABLEAU_FIRST
        assert pixel(page, first_of("a")) == class_rgba(page, 1)
        assert pixel(page, first_of("i")) == class_rgba(page, 9)
        other = class_rgba(page, 254)
        assert other not in [class_rgba(page, k) for k in range(10)]
        assert pixel(page, first_of("rare")) == other
        assert pixel(page, first_of("rarest")) == other
        assert pixel(page, len(LINES) - 1) == class_rgba(page, 255) != other
        labels = page.eval_on_selector_all(
            "#colour-legend li", "items => items.map(i => [i.dataset.role, i.textContent])"
        )
        assert labels == [
            ["value", "common"],
            *[["value", k] for k in "abcdefghi"],
            ["other", "other"],
            ["null", "no value"],
        ]

    check()
    screenshot(page, f"colour-string-{fmt}")
    assert "colour=kind" in page.url
    page.reload()
    page.wait_for_function("document.querySelector('#colour-by').value === 'kind'")
    plot.wait_over(1)
    wait_coloured(page, "kind")
    check()


def test_a_link_to_a_missing_property_says_so(page: Page, live_server: Any, kinds: str) -> None:
    plot = PlotPage(page)
    plot.open(f"#dataset={kinds}&all&colour=nope")
    plot.wait_over(1)
    page.wait_for_function("document.querySelector('#colour-by').options.length > 1")
    page.wait_for_function("document.querySelector('#status .notice').textContent.includes('nope')")
    assert "No property “nope” to colour by" in page.inner_text("#status .notice")
    assert page.eval_on_selector("#colour-by", "s => s.value") == ""
    wait_coloured(page, None)
