"""The page follows the data: imports in progress and their end, the link after a cancel, the dataset panel."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Page, Request, Response, expect

from points import tasks
from points.batches import PointBatch
from points.datasets import dataset_import, dataset_prepare
from points.models import Dataset, GeometryKind, ImportJob
from tests.browser.conftest import in_thread
from tests.browser.plot_page import PlotPage, is_within, streams_all, url_path

HINT = "Click on the plot to draw a polygon, or press “Show all”."
OPTION = "#dataset option[value='{}']"
PANEL = "#dataset-panel"
DASH = "\N{EN DASH}"  # between the two ends of a range, as the panel writes it


class GatedImport:
    """A real import (points.datasets.dataset_import, as the commands run it) in a thread, whose
    batches of points come one by one as the test lets them: its progress is then known."""

    def __init__(self, name: str, steps: list[int], *, title: str = "", replace: bool = False) -> None:
        self.name = name
        self.title = title
        self.steps = steps
        self.replace = replace
        self.started = threading.Event()
        self.gates = [threading.Event() for _ in steps[1:]]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"import-{name}", daemon=True)

    def __enter__(self) -> GatedImport:
        self.thread.start()
        assert self.started.wait(30), "the import did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        for gate in self.gates:  # never leave the thread waiting
            gate.set()
        self.thread.join(30)
        if exc[0] is None:
            assert self.error is None, f"the import failed: {self.error}"

    def release(self, step: int) -> None:
        """Let batch `step` (1-based after the first, which goes at once) into the import."""
        self.gates[step - 1].set()

    def _batches(self) -> Iterator[PointBatch]:
        self.started.set()  # the dataset exists now, its import running
        offset = 0
        for i, n in enumerate(self.steps):
            if i > 0:
                self.gates[i - 1].wait(60)
            ids = np.arange(offset, offset + n)
            yield PointBatch(ids, (ids % 100).astype(float), (ids // 100).astype(float))
            offset += n

    def _run(self) -> None:
        try:
            dataset_import(
                name=self.name, batches=self._batches(), total=sum(self.steps), title=self.title, replace=self.replace
            )
        except BaseException as exc:
            self.error = exc
        finally:
            connections.close_all()


def next_listing(page: Page) -> Any:
    """Return a context manager catching the page's next answer of GET /api/datasets (a poll)."""
    return page.expect_response(lambda response: url_path(response.url) == "/api/datasets")


def fact(page: Page, name: str) -> str:
    """Return the text of one of the panel's facts (count, bounds, geometry, properties, status…)."""
    return page.inner_text(f"{PANEL} .fact-{name} dd")


def test_an_importing_dataset_shows_its_progress_and_opens_by_itself(page: Page, transactional_db: None) -> None:
    listings: list[Response] = []
    page.on("response", lambda r: listings.append(r) if url_path(r.url) == "/api/datasets" else None)
    with GatedImport("growing", [1000, 1000, 2000], title="Growing") as job:
        plot = PlotPage(page).open("#dataset=growing")
        option = page.locator(OPTION.format("growing"))
        expect(option).to_have_text("Growing (importing 0%)")
        expect(page.locator("#status .message")).to_have_text(
            "This dataset is importing 0%; it opens by itself when ready."
        )
        expect(page.locator(PANEL)).to_have_attribute("data-status", "importing")
        # One poll later (1.5 s), the import's next batch takes it past its first progress write.
        with next_listing(page):
            pass
        job.release(1)
        expect(option).to_have_text("Growing (importing 50%)")
        expect(page.locator("#status .message")).to_have_text(
            "This dataset is importing 50%; it opens by itself when ready."
        )
        expect(page.locator(f"{PANEL} .fact-status dd")).to_have_text("importing 50%")
        expect(page.locator(f"{PANEL} progress")).to_be_visible()
        job.release(2)
        # Ready: the page opens it, without a reload, and stops polling.
        expect(option).to_have_text("Growing")
        expect(page.locator("#status .message")).to_have_text(HINT)
        expect(page.locator(f"{PANEL} .fact-count dd")).to_have_text("4,000")
        expect(page.locator(f"{PANEL} progress")).to_be_hidden()
        page.wait_for_function("() => !window.pointsite.watching()")
    polls = len(listings)
    page.click("#show-all")  # usable: it streams its points
    assert plot.wait_over(1)["state"] == "done" and plot.status()["received"] == "4000"
    assert len(listings) == polls  # nothing importing: no more polls


def test_a_reimport_shows_its_progress_without_disturbing_the_query(page: Page, grid: str) -> None:
    with GatedImport(grid, [1000, 1000, 2000], replace=True) as job:
        plot = PlotPage(page).open(f"#dataset={grid}&all")
        # Still ready, serving its previous points meanwhile: the query runs and ends.
        assert plot.wait_over(1)["state"] == "done" and plot.status()["received"] == "2500"
        option = page.locator(OPTION.format(grid))
        expect(option).to_have_text("50x50 grid (re-importing 0%)")
        with next_listing(page):
            pass
        job.release(1)
        expect(option).to_have_text("50x50 grid (re-importing 50%)")
        expect(page.locator(f"{PANEL} .fact-status dd")).to_have_text("ready · re-importing 50%")
        assert plot.status()["state"] == "done" and plot.query_number() == 1
        assert page.evaluate("location.hash") == f"#dataset={grid}&all"
        job.release(2)
        expect(page.locator(f"{PANEL} .fact-count dd")).to_have_text("4,000")
    # The picture is of the previous points: the page says so, and leaves it as it is.
    expect(page.locator("#status .notice")).to_contain_text("was imported again")
    assert plot.status()["state"] == "done" and plot.query_number() == 1 and plot.status()["received"] == "2500"


def test_a_queued_generation_is_picked_up_when_the_worker_has_made_it(
    page: Page, live_server: Any, task_worker: None
) -> None:
    spec = {"kind": "clusters", "points": 30_000, "clusters": 3, "seed": 4}
    dataset = in_thread(lambda: dataset_prepare(name="queued", geometry=GeometryKind.PLANAR, job=ImportJob.QUEUED))
    PlotPage(page).open("#dataset=queued")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    expect(page.locator(OPTION.format("queued"))).to_have_text("queued (queued)")
    expect(page.locator("#status .message")).to_have_text("This dataset is queued; it opens by itself when ready.")

    def enqueue() -> None:
        result = tasks.generate.enqueue(dataset_id=dataset.pk, token=dataset.import_token, spec=spec)
        Dataset.objects.filter(pk=dataset.pk).update(task_id=str(result.id))

    in_thread(enqueue)  # the worker beside the live server takes it
    expect(page.locator(f"{PANEL} .fact-count dd")).to_have_text("30,000")
    expect(page.locator("#status .message")).to_have_text(HINT)
    expect(page.locator(OPTION.format("queued"))).to_have_text("queued")
    assert page.evaluate("window.loadedOnce") is True


def test_cancelling_show_all_takes_all_out_of_the_link_and_a_reload_runs_nothing(page: Page, many: str) -> None:
    plot = PlotPage(page).open(f"#dataset={many}")
    plot.throttle(2_000_000)
    page.click("#show-all")
    plot.wait_receiving(1)
    assert page.evaluate("location.hash") == f"#dataset={many}&all"
    page.click("#cancel")
    assert plot.wait_over(1)["state"] == "cancelled"
    assert page.evaluate("location.hash") == f"#dataset={many}"
    streams: list[Request] = []
    page.on("request", lambda r: streams.append(r) if streams_all(many)(r) or is_within(r) else None)
    page.reload()
    page.wait_for_function("document.querySelector('#dataset').options.length > 0")
    expect(page.locator("#status .message")).to_have_text(HINT)
    assert plot.status()["state"] == "idle" and plot.query_number() == 0
    expect(page.locator("#cancel")).to_be_disabled()
    assert streams == []


def test_cancelling_a_polygon_query_keeps_the_polygons_and_a_reload_only_draws_them(page: Page, many: str) -> None:
    plot = PlotPage(page).open(f"#dataset={many}")
    plot.throttle(500_000)
    ring = [(100.5, 100.5), (900.5, 100.5), (900.5, 900.5), (100.5, 900.5)]
    plot.draw(ring, close="enter")
    plot.wait_receiving(1)
    page.click("#cancel")
    assert plot.wait_over(1)["state"] == "cancelled"
    drawn = plot.polygons()
    assert re.fullmatch(rf"#dataset={many}&polygon=[-\d.,;e]+&cancelled", page.evaluate("location.hash"))
    within: list[Request] = []
    page.on("request", lambda r: within.append(r) if is_within(r) or streams_all(many)(r) else None)
    page.reload()
    page.wait_for_function("document.querySelector('#dataset').options.length > 0")
    # What was on screen: the polygons, nothing running, and words on how to run it again.
    expect(page.locator("#status .message")).to_contain_text("cancelled")
    assert plot.polygons() == drawn and within == [] and plot.query_number() == 0
    expect(page.locator("#cancel")).to_be_disabled()
    # Drawing another polygon runs the query of both; the link is a plain polygon query again.
    with plot.expect_within_request():
        plot.draw([(10.5, 10.5), (60.5, 10.5), (60.5, 60.5)], close="enter")
    assert plot.wait_over(1)["state"] == "done"
    assert not page.evaluate("location.hash").endswith("&cancelled")


def test_the_panel_describes_a_dataset_with_properties(
    page: Page, live_server: Any, transactional_db: None, tmp_path: Path
) -> None:
    path = tmp_path / "towns.csv"
    path.write_text(
        "lon,lat,name,population,capital\n"
        "10.75,59.91,Oslo,709000,true\n"
        "-77.04,-12.05,Lima,10000000,true\n"
        "151.21,-33.87,Sydney,5300000,false\n"
    )

    def make() -> None:
        call_command("import_points", "towns", str(path), "--spherical", "--title", "Towns", verbosity=0)
        Dataset.objects.filter(name="towns").update(description="Three towns.")  # as the admin sets it

    in_thread(make)

    with urllib.request.urlopen(f"{live_server.url}/api/datasets", timeout=30) as response:
        [listed] = json.loads(response.read())
    assert [p["name"] for p in listed["properties"]] == ["name", "population", "capital"]
    PlotPage(page).open("#dataset=towns")
    expect(page.locator("#dataset-title")).to_have_text("Towns")
    expect(page.locator("#dataset-description")).to_have_text("Three towns.")
    assert fact(page, "count") == "3"
    assert fact(page, "bounds") == f"lon 77°W {DASH} 151.2°E · lat 33.87°S {DASH} 59.91°N"
    assert "geodesic" in fact(page, "geometry")
    shown = page.eval_on_selector_all(
        f"{PANEL} .property-list li",
        "items => items.map(li => [li.querySelector('.property-name').textContent, li.querySelector('.property-type').textContent])",
    )
    assert shown == [[p["name"], p["type"]] for p in listed["properties"]]
    assert fact(page, "status") == "ready"
    assert re.search(r"\d{4}", fact(page, "created")) and re.search(r"\d{4}", fact(page, "updated"))


def test_the_panel_of_a_planar_dataset_without_properties(page: Page, grid: str) -> None:
    PlotPage(page).open(f"#dataset={grid}")
    expect(page.locator(f"{PANEL} .fact-count dd")).to_have_text("2,500")
    assert fact(page, "bounds") == f"x 0 {DASH} 49 · y 0 {DASH} 49"

    assert "planar" in fact(page, "geometry")
    assert fact(page, "properties") == "none (only id, x and y)"
