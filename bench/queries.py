"""Issue 9's figures: polygon shapes, counts and overviews over HTTP, planar and spherical.

Each shape (bench/shapes.py) encloses about 20% of the points, so the times compare what a shape
costs. Every answer is checked once against an independent oracle (shapely or spherely on the
same points, read back from the store) before it is timed; timed runs only read the bytes.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
import spherely

from bench import shapes

# Issue 9's targets (5M points, warm).
TARGET_STAR_RATIO = 2.0  # star ÷ circle
TARGET_STAR_SECONDS = 0.4
TARGET_SQUARES_SECONDS = 1.0
TARGET_WALK_SECONDS = 0.5
TARGET_COUNT_MS = 30.0  # the 20% circle
TARGET_OVERVIEW_MS = 50.0  # 1024 x 1024, after the first
TARGET_COLD_RATIO = 2.0  # cold full stream ÷ warm


@dataclass
class Timed:
    seconds: float
    body: bytes


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Timed:
    """Send one request and read the whole response; raise unless it is a 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    started = time.perf_counter()
    conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    seconds = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return Timed(seconds, data)


def median_time(runs: int, call: Callable[[], Timed]) -> float:
    return statistics.median(call().seconds for _ in range(runs))


def oracle_count(doc: dict, kind: str, xs: np.ndarray, ys: np.ndarray) -> int:
    """Return how many of the points the shape holds, by shapely (planar) or spherely (S2)."""
    if kind == "planar":
        geometry = shapely.geometry.shape(doc)
        shapely.prepare(geometry)
        return int(shapely.intersects_xy(geometry, xs, ys).sum())
    rings = [p[0] for p in doc["coordinates"]] if doc["type"] == "MultiPolygon" else [doc["coordinates"][0]]
    inside = np.zeros(len(xs), dtype=bool)
    for ring in rings:
        corners = np.array(ring)
        near = np.arange(len(xs))
        if len(rings) > 1:  # small squares away from the antimeridian: S2 for the points near each
            lo, hi = corners.min(axis=0) - 1, corners.max(axis=0) + 1
            near = np.flatnonzero((xs >= lo[0]) & (xs <= hi[0]) & (ys >= lo[1]) & (ys <= hi[1]))
        inside[near] |= spherely.covers(spherely.create_polygon(ring[:-1]), spherely.points(xs[near], ys[near]))
    return int(inside.sum())


def read_points(port: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return every point's coordinates, streamed as Arrow."""
    import pyarrow as pa

    data = request(port, "GET", f"/api/datasets/{name}/points?format=arrow").body
    table = pa.ipc.open_stream(data).read_all()
    return table.column("x").to_numpy(), table.column("y").to_numpy()


def run_queries(
    port: int,
    datasets: list[tuple[str, str, str]],
    runs: int,
    say: Callable[[str], None],
) -> dict[str, float]:
    """Measure every shape, count and overview on `datasets` ((label, name, kind) each); return
    the figures the targets table needs."""
    figures: dict[str, float] = {}
    coordinates = {name: read_points(port, name) for _, name, _ in datasets}
    say("## Polygon queries by shape (issue 9): the same ~20% of the points, different outlines")
    say("")
    say(
        f"Server time over HTTP on loopback, medians of {runs} warm runs. Stream: the default form (NDJSON, "
        "identity) and the page's (Arrow, zstd). Count: `POST …/points/count`, same body. Every answer "
        "was checked once against shapely (planar) or spherely/S2 (spherical) on the same points."
    )
    say("")
    say("| dataset | shape | positions | points | NDJSON s | Arrow+zstd s | count ms | ÷ circle (NDJSON) |")
    say("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, name, kind in datasets:
        xs, ys = coordinates[name]
        circle = 0.0
        for shape in shapes.SHAPES:
            doc = shapes.spherical(shape) if kind == "spherical" else shapes.planar(shape)
            body = json.dumps(doc).encode()
            positions = (
                sum(len(r) for p in doc["coordinates"] for r in p)
                if doc["type"] == "MultiPolygon"
                else sum(len(r) for r in doc["coordinates"])
            )
            counted = json.loads(request(port, "POST", f"/api/datasets/{name}/points/count", body).body)["count"]
            expected = oracle_count(doc, kind, xs, ys)
            if counted != expected:
                raise RuntimeError(f"{name} {shape}: count {counted}, the oracle says {expected}")
            streamed = request(port, "POST", f"/api/datasets/{name}/points/within", body).body
            end = json.loads(streamed.rstrip(b"\n").rsplit(b"\n", 1)[-1])
            if end != {"end": True, "count": expected}:
                raise RuntimeError(f"{name} {shape}: stream ended {end}, the oracle says {expected}")
            within = f"/api/datasets/{name}/points/within"
            count_path = f"/api/datasets/{name}/points/count"

            def plain(within: str = within, body: bytes = body) -> Timed:
                return request(port, "POST", within, body)

            def page(within: str = within, body: bytes = body) -> Timed:
                return request(port, "POST", within + "?format=arrow", body, {"Accept-Encoding": "zstd"})

            def counting(count_path: str = count_path, body: bytes = body) -> Timed:
                return request(port, "POST", count_path, body)

            ndjson = median_time(runs, plain)
            arrow = median_time(runs, page)
            count = median_time(runs, counting)
            if shape == "circle":
                circle = ndjson
            say(
                f"| {label} | {shape} | {positions:,} | {expected:,} | {ndjson:.3f} | {arrow:.3f} | "
                f"{count * 1000:.1f} | {ndjson / circle:.2f}x |"
            )
            figures[f"{name} {shape} ndjson"] = ndjson
            figures[f"{name} {shape} arrow"] = arrow
            figures[f"{name} {shape} count"] = count
    say("")

    say("## Overviews (issue 9): density grids from the grid files")
    say("")
    say(
        "`GET …/overview`, JSON with zstd as the page asks. First: the first request of the worker for that "
        "dataset (it maps the grid file and checks its digests). Counted: medians over grids the worker has "
        "not counted yet (each run's bbox moved by a few millionths). Again: the same request repeated (a "
        "worker keeps the last 32 MB of grids it counted). Every grid was checked once against "
        "numpy.histogram2d on the same points."
    )
    say("")
    say("| dataset | grid | bbox | points in bbox | first ms | counted ms | again ms | body KB |")
    say("|---|---|---|---:|---:|---:|---:|---:|")
    for label, name, _kind in datasets:
        xs, ys = coordinates[name]
        x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
        zoom = (x0 + 0.3 * (x1 - x0), y0 + 0.25 * (y1 - y0), x0 + 0.55 * (x1 - x0), y0 + 0.6 * (y1 - y0))
        first_done = False
        for (w, h), bbox, where in (
            ((1024, 1024), None, "dataset bounds"),
            ((1024, 1024), zoom, "a zoom (9% of the area)"),
            ((256, 256), None, "dataset bounds"),
        ):
            query = f"width={w}&height={h}" + ("" if bbox is None else "&bbox=" + ",".join(f"{v!r}" for v in bbox))
            path = f"/api/datasets/{name}/overview?{query}"
            got = request(port, "GET", path)
            first = got.seconds if not first_done else float("nan")
            first_done = True
            doc = json.loads(got.body)
            bx0, by0, bx1, by1 = doc["bbox"]
            expected, _, _ = np.histogram2d(ys, xs, bins=[np.linspace(by0, by1, h + 1), np.linspace(bx0, bx1, w + 1)])
            if doc["counts"] != expected.astype(np.int64).ravel().tolist():
                raise RuntimeError(f"{name} overview {query}: counts differ from numpy.histogram2d")

            def zstd(path: str = path) -> Timed:
                return request(port, "GET", path, headers={"Accept-Encoding": "zstd"})

            fresh = []
            for run in range(runs):
                moved = (bx0 - (run + 1) * 1e-6 * (bx1 - bx0), by0, bx1, by1)
                fresh.append(
                    zstd(
                        f"/api/datasets/{name}/overview?width={w}&height={h}&bbox={','.join(map(repr, moved))}"
                    ).seconds
                )
            counted = statistics.median(fresh)
            again = median_time(runs, zstd)
            size = len(zstd().body)
            shown_first = "-" if first != first else f"{first * 1000:.0f}"
            say(
                f"| {label} | {w}x{h} | {where} | {int(expected.sum()):,} | {shown_first} | {counted * 1000:.1f} | "
                f"{again * 1000:.1f} | {size / 1024:.0f} |"
            )
            figures[f"{name} overview {w} {where}"] = counted
            figures[f"{name} overview {w} {where} again"] = again
    say("")
    return figures


def targets(
    figures: dict[str, float], planar: str, spherical: str, cold: dict[str, float], say: Callable[[str], None]
) -> None:
    """Print issue 9's targets table (5M datasets)."""
    say("## Targets (issue 9, 5M points, warm)")
    say("")
    say("| target | measured | limit | met |")
    say("|---|---:|---:|---|")

    def row(what: str, value: float, limit: float, unit: str) -> None:
        met = "met" if value <= limit else "MISSED"
        say(f"| {what} | {value:.3f}{unit} | ≤ {limit:g}{unit} | {met} |")

    for name in (planar, spherical):
        for form in ("ndjson", "arrow"):
            circle = figures[f"{name} circle {form}"]
            star = figures[f"{name} star {form}"]
            row(f"{name}: star ÷ circle, {form}", star / circle, TARGET_STAR_RATIO, "x")
            row(f"{name}: star, {form}", star, TARGET_STAR_SECONDS, " s")
            row(
                f"{name}: 2,000-square MultiPolygon, {form}",
                figures[f"{name} squares {form}"],
                TARGET_SQUARES_SECONDS,
                " s",
            )
            row(
                f"{name}: 10,000-position random walk, {form}",
                figures[f"{name} walk {form}"],
                TARGET_WALK_SECONDS,
                " s",
            )
        row(f"{name}: count, 20% circle", figures[f"{name} circle count"] * 1000, TARGET_COUNT_MS, " ms")
        row(
            f"{name}: overview 1024x1024, dataset bounds, a grid not counted before",
            figures[f"{name} overview 1024 dataset bounds"] * 1000,
            TARGET_OVERVIEW_MS,
            " ms",
        )
        row(
            f"{name}: overview 1024x1024, dataset bounds, asked again",
            figures[f"{name} overview 1024 dataset bounds again"] * 1000,
            TARGET_OVERVIEW_MS,
            " ms",
        )
    for label, ratio in cold.items():
        row(label, ratio, TARGET_COLD_RATIO, "x")
    say("")
