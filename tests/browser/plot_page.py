"""The page as the browser tests see it: open a dataset, click polygons in data coordinates, read the status."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request

STATUS = "#status"
# A folder to keep screenshots of the states the tests reach, for looking at them (unset: none taken).
SCREENSHOTS = os.environ.get("POINTSITE_SCREENSHOTS", "")


def screenshot(page: Page, name: str) -> None:
    """Save the page as `name`.png in $POINTSITE_SCREENSHOTS, when it is set."""
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"))


class PlotPage:
    """Drives the real page with real mouse and keyboard events; waits on its state, never on the clock."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, fragment: str = "") -> PlotPage:
        """Load the page (with a URL fragment) and wait until it has listed the datasets."""
        self.page.goto(f"/{fragment}")
        self.page.wait_for_function("document.querySelector('#dataset').options.length > 0")
        return self

    def pick(self, name: str) -> None:
        """Choose a dataset in the picker, as a user does."""
        self.page.select_option("#dataset", name)
        self.page.wait_for_function(
            "name => window.pointsite && document.querySelector('#dataset').value === name", arg=name
        )

    def status(self) -> dict[str, str]:
        """Return the status box's data- attributes (state, received, total, query, aborted...)."""
        return self.page.eval_on_selector(STATUS, "el => ({...el.dataset})")

    def message(self) -> str:
        return self.page.inner_text(f"{STATUS} .message")

    def query_number(self) -> int:
        return int(self.status().get("query") or 0)

    def wait_over(self, query: int) -> dict[str, str]:
        """Wait until query number `query` is over (done, error, cut or cancelled) and return the status."""
        self.page.wait_for_function(
            """n => { const d = document.querySelector('#status').dataset;
                      return Number(d.query) === n && d.state !== 'loading'; }""",
            arg=query,
            timeout=30_000,
        )
        return self.status()

    def wait_receiving(self, query: int) -> None:
        """Wait until query number `query` has points on the page and is still streaming."""
        self.page.wait_for_function(
            """n => { const d = document.querySelector('#status').dataset;
                      return Number(d.query) === n && d.state === 'loading' && Number(d.received) > 0; }""",
            arg=query,
        )

    def to_client(self, point: tuple[float, float]) -> tuple[float, float]:
        """Return where a data point is in the window."""
        x, y = self.page.evaluate("p => window.pointsite.toClient(p)", list(point))
        return x, y

    def click(self, point: tuple[float, float], **options: Any) -> None:
        self.page.mouse.click(*self.to_client(point), **options)

    def draw(self, ring: Sequence[tuple[float, float]], close: str = "first-vertex") -> None:
        """Click the vertices of `ring`, then close it by `first-vertex`, `double-click` or `enter`."""
        if close not in {"first-vertex", "enter", "double-click"}:
            raise ValueError(close)
        for point in ring[:-1]:
            self.click(point)
        if close == "double-click":
            # A user double-clicks the last vertex: the first click places it, the second
            # lands on the same spot (ignored), the dblclick closes the ring.
            self.page.mouse.dblclick(*self.to_client(ring[-1]))
            return
        self.click(ring[-1])
        if close == "first-vertex":
            self.click(ring[0])
        else:
            self.page.keyboard.press("Enter")

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Press at data point `start`, move to `end` in steps and release (a box, with the rectangle tool)."""
        self.page.mouse.move(*self.to_client(start))
        self.page.mouse.down()
        self.page.mouse.move(*self.to_client(end), steps=8)
        self.page.mouse.up()

    def hint(self) -> str:
        """Return the text shown on the plot itself ('' when the hint is hidden)."""
        return self.page.eval_on_selector("#drawing-hint", "el => (el.hidden ? '' : el.textContent)")

    def polygons(self) -> list[list[list[float]]]:
        """Return the closed rings the page holds, in data coordinates."""
        return self.page.evaluate("window.pointsite.polygons()")

    def pixel(self, point: Sequence[float]) -> list[int]:
        """Return the RGBA of the points canvas at a data point."""
        return self.page.evaluate("p => window.pointsite.pixelAt(p)", list(point))

    def lone_point_rgba(self) -> list[int]:
        """Return the colour of a pixel holding one point, at the page's density scale now."""
        return self.page.evaluate("window.pointsite.densityRgba(1, window.pointsite.scaleMax())")

    def pixels(self, points: Sequence[Sequence[float]]) -> list[list[int]]:
        """Return the RGBA of the points canvas at each data point (one round trip)."""
        return self.page.evaluate("ps => ps.map(p => window.pointsite.pixelAt(p))", [list(p) for p in points])

    def throttle(self, bytes_per_second: int) -> None:
        """Make the network slow (Chrome's own throttling, which the page's worker obeys too)."""
        session = self.page.context.new_cdp_session(self.page)
        session.send("Network.enable")
        session.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": bytes_per_second, "uploadThroughput": -1},
        )

    def expect_within_request(self) -> Any:
        """Return a context manager catching the page's next points/within request (from its worker)."""
        return self.page.expect_request(lambda request: is_within(request))


def url_path(url: str) -> str:
    """Return a URL's path: the page's requests carry a query (`?format=arrow`) after it."""
    return urlsplit(url).path


def is_within(request: Request) -> bool:
    return request.method == "POST" and url_path(request.url).endswith("/points/within")


def streams_all(name: str) -> Callable[[Request], bool]:
    """Return a predicate for the page's request of every point of dataset `name`."""
    return lambda request: url_path(request.url) == f"/api/datasets/{name}/points"
