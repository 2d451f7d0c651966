"""The page's two stream formats in a real browser: Arrow (the default) and NDJSON (`?format=ndjson`)
give the same points, the status says which came, in which coding and how many bytes; a broken
Arrow stream is reported as the NDJSON one is."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from playwright.sync_api import Page, Response, Route, expect

from tests.browser.conftest import api_within
from tests.browser.plot_page import PlotPage, url_path

FORMATS = ["arrow", "ndjson"]
CONTENT_TYPES = {"arrow": "application/vnd.apache.arrow.stream", "ndjson": "application/x-ndjson"}
NAMES = {"arrow": "Arrow", "ndjson": "NDJSON"}
# On the 50x50 grid: x = 11..20, y = 11..30, 200 points.
RECTANGLE = [(10.5, 10.5), (20.5, 10.5), (20.5, 30.5), (10.5, 30.5)]
GRID = sorted((float(x), float(y)) for x in range(50) for y in range(50))


def raw_body(url: str, *, fmt: str, encoding: str, body: dict[str, Any] | None = None) -> bytes:
    """Return the API's answer as it crosses the wire (urllib decodes no coding) in a format and coding."""
    query = "?format=arrow" if fmt == "arrow" else ""
    request = urllib.request.Request(
        url + query,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Accept-Encoding": encoding, **({} if body is None else {"Content-Type": "application/json"})},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers.get("Content-Encoding", "identity") == encoding
        data: bytes = response.read()
        return data


def arrow_points(body: bytes) -> list[tuple[float, float]]:
    """Return the [x, y] of every point in an Arrow stream body, in order."""
    table = pa.ipc.open_stream(body).read_all()
    return list(zip(table.column("x").to_pylist(), table.column("y").to_pylist(), strict=True))


def held_points(page: Page) -> list[tuple[float, float]]:
    """Return the points the page holds, in the order they arrived."""
    return [(x, y) for x, y in page.evaluate("window.pointsite.points()")]


def check_transport(
    page: Page, status: dict[str, str], response: Response, fmt: str, wire: bytes, plain: bytes
) -> None:
    """Check what the page says of the answer against the answer itself and the API's bytes."""
    assert response.headers["content-type"] == CONTENT_TYPES[fmt]
    assert response.headers["content-encoding"] == "zstd"  # Chromium offers zstd; the server prefers it
    asked = parse_qs(urlsplit(response.url).query)
    assert asked.get("format") == (["arrow"] if fmt == "arrow" else None)
    assert status["format"] == fmt
    assert status["encoding"] == "zstd"
    # The decoded bytes the worker counted, and the wire bytes resource timing gave it: the
    # same as the API sends us uncoded, and in zstd.
    assert int(status["bodyBytes"]) == len(plain)
    assert int(status["wireBytes"]) == len(wire) < len(plain)
    expect(page.locator("#status .transfer-figure dt")).to_have_text(f"Transfer · {NAMES[fmt]}, zstd")
    per_point = len(wire) / int(status["received"])
    transfer = page.locator("#status .transfer").inner_text()
    assert re.fullmatch(rf"{per_point:.1f} B/point · \d+\.\d MB/s", transfer), transfer


def test_show_all_gives_the_same_points_in_either_format(page: Page, grid: str, live_server: Any) -> None:
    url = f"{live_server.url}/api/datasets/{grid}/points"
    seen: dict[str, list[tuple[float, float]]] = {}
    for fmt in FORMATS:
        with page.expect_response(lambda r: url_path(r.url) == f"/api/datasets/{grid}/points") as caught:
            plot = PlotPage(page).open(f"?format={fmt}#dataset={grid}&all")
        status = plot.wait_over(1)
        assert status["state"] == "done"
        assert status["received"] == status["total"] == "2500"
        assert re.fullmatch(r"done: 2,500 points in \d+\.\d\d s", plot.message())
        check_transport(
            page,
            status,
            caught.value,
            fmt,
            raw_body(url, fmt=fmt, encoding="zstd"),
            raw_body(url, fmt=fmt, encoding="identity"),
        )
        # The query keeps the format, the fragment the query.
        assert page.url.endswith(f"/?format={fmt}#dataset={grid}&all")
        seen[fmt] = held_points(page)
        assert sorted(seen[fmt]) == GRID
    assert seen["arrow"] == seen["ndjson"]
    assert arrow_points(raw_body(url, fmt="arrow", encoding="identity")) == seen["arrow"]


def test_a_polygon_gives_the_same_points_in_either_format(page: Page, grid: str, live_server: Any) -> None:
    url = f"{live_server.url}/api/datasets/{grid}/points/within"
    seen: dict[str, list[tuple[float, float]]] = {}
    for fmt in FORMATS:
        plot = PlotPage(page).open(f"?format={fmt}#dataset={grid}")
        with (
            page.expect_response(lambda r: url_path(r.url).endswith("/points/within")) as caught,
            plot.expect_within_request() as request,
        ):
            plot.draw(RECTANGLE, close="enter")
        status = plot.wait_over(1)
        sent = request.value.post_data_json
        assert status["state"] == "done" and status["received"] == "200"
        check_transport(
            page,
            status,
            caught.value,
            fmt,
            raw_body(url, fmt=fmt, encoding="zstd", body=sent),
            raw_body(url, fmt=fmt, encoding="identity", body=sent),
        )
        seen[fmt] = held_points(page)
        expected = sorted((float(x), float(y)) for x, y in api_within(live_server.url, grid, sent).points)
        assert sorted(seen[fmt]) == expected
    assert seen["arrow"] == seen["ndjson"]


def test_random_doubles_arrive_exactly_in_arrow(page: Page, many: str, live_server: Any) -> None:
    # NDJSON's fast path may be an ulp off on 17-digit doubles; Arrow sends the doubles themselves.
    ring = [(100.0, 100.0), (300.0, 100.0), (300.0, 250.0), (100.0, 250.0)]
    plot = PlotPage(page).open(f"#dataset={many}")
    with plot.expect_within_request() as request:
        plot.draw(ring, close="enter")
    status = plot.wait_over(1)
    assert status["state"] == "done" and status["format"] == "arrow"
    body = raw_body(
        f"{live_server.url}/api/datasets/{many}/points/within",
        fmt="arrow",
        encoding="identity",
        body=request.value.post_data_json,
    )
    expected = arrow_points(body)
    assert 4000 < len(expected) < 10_000
    assert held_points(page) == expected


def test_the_transfer_figure_uses_decoded_bytes_until_the_wire_size_is_known(page: Page, many: str) -> None:
    plot = PlotPage(page).open(f"#dataset={many}")
    plot.throttle(2_000_000)
    page.click("#show-all")
    plot.wait_receiving(1)
    transfer = page.locator("#status .transfer")
    expect(transfer).to_have_text(re.compile(r"^\d+\.\d B/point · \d+\.\d MB/s \(decoded\)$"))
    during = plot.status()
    assert during["format"] == "arrow" and during["encoding"] == "zstd"
    assert during["wireBytes"] == "" and int(during["bodyBytes"]) > 0
    status = plot.wait_over(1)
    assert status["state"] == "done" and status["received"] == "200000"
    assert 0 < int(status["wireBytes"]) < int(status["bodyBytes"])
    expect(transfer).to_have_text(re.compile(r"^\d+\.\d B/point · \d+\.\d MB/s$"))


def rewrite(body: bytes, last: str) -> tuple[bytes, int]:
    """Return the Arrow stream `body` broken as `last` says, and how many points still arrive.

    `cut`: the end batch and end-of-stream marker dropped (it stops between messages); `torn`:
    also the last point batch's final bytes; `error`: the end batch replaced by an error batch.
    """
    reader = pa.ipc.open_stream(body)
    batches = []
    while True:
        try:
            batch, metadata = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            break
        batches.append((batch, metadata))
    end_batch, end_metadata = batches.pop()
    assert end_batch.num_rows == 0 and end_metadata[b"end"] == b"true"
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, reader.schema)
    for batch, _ in batches:
        writer.write_batch(batch)
    points = sum(batch.num_rows for batch, _ in batches)
    if last == "error":
        writer.write_batch(end_batch, custom_metadata={"error": "the store went away", "count": str(points)})
    writer.close()
    data = sink.getvalue().to_pybytes()
    if last == "error":
        return data, points
    data = data[:-8]  # the end-of-stream marker
    if last == "cut":
        return data, points
    return data[:-9], points - batches[-1][0].num_rows


@pytest.mark.parametrize(
    ("last", "state", "message"),
    [
        ("cut", "cut", r"Cut: the stream was cut after 200 points \(no end batch\)\. The picture is incomplete\."),
        (
            "torn",
            "cut",
            r"Cut: the stream was cut after \d+ points \(in the middle of a message: .+\)\. The picture is incomplete\.",
        ),
        ("error", "error", r"The server failed after 200 points: the store went away"),
    ],
)
def test_an_arrow_stream_that_breaks_after_its_headers_is_reported(
    page: Page, grid: str, last: str, state: str, message: str
) -> None:
    # The real server's Arrow answer (asked for uncoded, so it can be changed), broken on the way.
    arrived: list[int] = []

    def break_stream(route: Route) -> None:
        response = route.fetch(headers={**route.request.headers, "accept-encoding": "identity"})
        assert response.headers["content-type"] == CONTENT_TYPES["arrow"]
        body, points = rewrite(response.body(), last)
        arrived.append(points)
        route.fulfill(response=response, body=body)

    page.route(lambda url: url_path(url).endswith("/points/within"), break_stream)
    plot = PlotPage(page).open(f"?format=arrow#dataset={grid}")
    plot.draw(RECTANGLE, close="enter")
    status = plot.wait_over(1)
    assert status["state"] == state
    assert status["format"] == "arrow"
    assert status["received"] == str(arrived[0])
    assert re.fullmatch(message, plot.message()), plot.message()
