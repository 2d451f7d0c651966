#!/usr/bin/env python
"""`make bench-load`: concurrent load on the production server, and the server model chosen from it.

Starts gunicorn exactly as `make run` does (gthread workers, `--timeout 120`, access log on), on
127.0.0.1 only, against a throwaway data folder holding the demo datasets (`grid`, 50x50, and
`random-500k`, 500,000 random points in the 0..1000 square). For each server configuration it runs
two scenarios, each bounded in time and in requests, and checks every response:

1. 16 clients, each streaming the whole of `random-500k` again and again: every stream must end
   with `{"end":true,"count":500000}` after exactly 500,000 point lines;
2. 64 clients, each sending small random polygons (on `random-500k` and on `grid`) to
   `.../points/within`: every stream must end with its end line, whose count must equal the point
   lines received and the count shapely's `Polygon.covers` gives over the points streamed once at
   the start (boundary counts as inside); on every 4th request the ids must be the same set too.

It prints one Markdown table per scenario (a row per server configuration) and a closing
recommendation computed from the figures; `--write` also saves them to bench/LOAD.md.
The client runs on the same machine as the server, in threads, so the two compete for its cores.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson
import psutil
import shapely
from shapely.geometry import Polygon

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gunicorn import HOST, ROOT, Gunicorn

BIG = "random-500k"
BIG_COUNT = 500_000
GRID = "grid"
CLIENT_TIMEOUT = 120.0  # seconds of socket silence before a request counts as failed
ID_CHECK_EVERY = 4  # compare id sets on every 4th polygon request (cheap, but the client is on the server's cores)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --- server ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerModel:
    """One gunicorn configuration to measure."""

    workers: int
    threads: int

    @property
    def label(self) -> str:
        return f"gthread {self.workers} worker{'s' if self.workers > 1 else ''} x {self.threads} threads"


# `make run`'s default first, then the same 16 request slots spread over more or fewer processes.
MODELS = [ServerModel(2, 8), ServerModel(4, 4), ServerModel(1, 16)]


class LoadServer(Gunicorn):
    """gunicorn started with `make run`'s arguments, with logs kept and its workers' memory and CPU read."""

    def __init__(self, env: dict[str, str], logs: Path, model: ServerModel, suffix: str = "") -> None:
        self.access_log = logs / f"access-{model.workers}x{model.threads}{suffix}.log"
        self.error_log = logs / f"error-{model.workers}x{model.threads}{suffix}.log"
        self._error_file = open(self.error_log, "wb")  # noqa: SIM115 (closed in stop())
        self.model = model
        try:
            # `make run` logs every request; keep it (to a file) so the figures include that cost.
            super().__init__(
                env, workers=model.workers, threads=model.threads,
                extra=["--graceful-timeout", "10", "--access-logfile", str(self.access_log)],
                stdout=subprocess.DEVNULL, stderr=self._error_file,
            )  # fmt: skip
        except RuntimeError:
            raise RuntimeError(f"gunicorn did not start; see {self.error_log}") from None

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by all workers."""
        return sum(t.user + t.system for t in (p.cpu_times() for p in self.workers()))

    def stop(self) -> None:
        super().stop()
        self._error_file.close()

    def log_problems(self) -> list[str]:
        """Lines of the server's error log that speak of a failure (tracebacks, errors, timeouts)."""
        pattern = re.compile(r"Traceback|\bERROR\b|CRITICAL|WORKER TIMEOUT|Exception|Error:")
        text = self.error_log.read_text(errors="replace")
        return [line for line in text.splitlines() if pattern.search(line)]

    def access_statuses(self) -> dict[str, int]:
        """How many requests the access log records with each status."""
        counts: dict[str, int] = {}
        for match in re.finditer(r'" (\d{3}) ', self.access_log.read_text(errors="replace")):
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
        return counts


# --- client ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request as the client saw it."""

    what: str
    seconds: float  # time to last byte
    points: int = 0
    problem: str | None = None


@dataclass
class Raw:
    status: int
    newlines: int
    tail: bytes
    body: bytes | None


def request(port: int, method: str, path: str, body: bytes | None = None, keep: bool = False) -> Raw:
    """Send one request on a fresh connection and read the answer to its end (counting lines, not parsing)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=CLIENT_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            return Raw(response.status, 0, response.read()[:300], None)
        newlines, tail, parts = 0, b"", []
        while data := response.read1(1 << 20):
            newlines += data.count(b"\n")
            tail = (tail + data)[-256:]
            if keep:
                parts.append(data)
        return Raw(200, newlines, tail, b"".join(parts) if keep else None)
    finally:
        conn.close()


def check_stream(raw: Raw, expected: int | None) -> tuple[int, str | None]:
    """Return (points received, problem or None): the end line must be there and agree with the lines."""
    if raw.status != 200:
        return 0, f"HTTP {raw.status}: {raw.tail[:200]!r}"
    if not raw.tail.endswith(b"\n"):
        return raw.newlines, f"stream cut mid-line after {raw.newlines} lines"
    points = raw.newlines - 1
    last = raw.tail[:-1].rsplit(b"\n", 1)[-1]
    try:
        end = orjson.loads(last)
    except orjson.JSONDecodeError:
        return points, f"last line is not JSON: {last[:100]!r}"
    if not isinstance(end, dict) or end.get("end") is not True:
        return points, f"no end line; last line: {last[:200]!r}"
    if end.get("count") != points:
        return points, f"end line says {end.get('count')} but {points} point lines came"
    if expected is not None and points != expected:
        return points, f"{points} points, expected {expected}"
    return points, None


def timed(what: str, call: Callable[[], tuple[int, str | None]]) -> Outcome:
    started = time.perf_counter()
    try:
        points, problem = call()
    except (OSError, http.client.HTTPException) as exc:
        points, problem = 0, f"{type(exc).__name__}: {exc}"
    return Outcome(what, time.perf_counter() - started, points, problem)


def run_clients(
    clients: int, seconds: float, max_each: int, task: Callable[[random.Random, int], Outcome]
) -> tuple[list[Outcome], float]:
    """Run `clients` threads, each calling task until `seconds` have passed or it made `max_each` calls."""
    barrier = threading.Barrier(clients + 1)
    deadline = 0.0

    def client(index: int) -> list[Outcome]:
        rng = random.Random(1000 + index)
        done: list[Outcome] = []
        barrier.wait()
        # A request started before the deadline runs to its end; none starts after it.
        while time.perf_counter() < deadline and len(done) < max_each:
            done.append(task(rng, len(done)))
        return done

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, i) for i in range(clients)]
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        barrier.wait()
        outcomes = [o for f in futures for o in f.result()]
    return outcomes, time.perf_counter() - started


# --- reference data and polygons ---------------------------------------------------------------


@dataclass
class Reference:
    """A dataset's points as streamed once, the oracle for the polygon counts."""

    ids: IntArray
    xs: FloatArray
    ys: FloatArray
    stream_bytes: int


def load_reference(port: int, name: str, expected: int) -> Reference:
    raw = request(port, "GET", f"/api/datasets/{name}/points", keep=True)
    points, problem = check_stream(raw, expected)
    if problem or raw.body is None:
        raise RuntimeError(f"reference stream of {name}: {problem}")
    records = [orjson.loads(line) for line in raw.body.splitlines()[:-1]]
    ref = Reference(
        np.array([r["id"] for r in records], dtype=np.int64),
        np.array([r["pt"][0] for r in records], dtype=np.float64),
        np.array([r["pt"][1] for r in records], dtype=np.float64),
        len(raw.body),
    )
    if len(np.unique(ref.ids)) != points:
        raise RuntimeError(f"reference stream of {name}: ids are not unique")
    return ref


@dataclass
class Query:
    dataset: str
    body: bytes
    expected_ids: frozenset[int]
    on_boundary: int  # expected points lying exactly on the polygon's boundary


def covered_ids(ref: Reference, polygon: Polygon) -> tuple[frozenset[int], int]:
    """The ids of the reference points the polygon covers (its boundary counts as inside), and how many
    of them lie on the boundary."""
    min_x, min_y, max_x, max_y = polygon.bounds
    near = (ref.xs >= min_x) & (ref.xs <= max_x) & (ref.ys >= min_y) & (ref.ys <= max_y)
    points = shapely.points(ref.xs[near], ref.ys[near])
    inside = shapely.covers(polygon, points)
    on_boundary = int(shapely.intersects(polygon.exterior, points).sum())
    return frozenset(ref.ids[near][inside].tolist()), on_boundary


def star(rng: np.random.Generator, cx: float, cy: float, radius: float, step: float | None) -> Polygon:
    """A random star-shaped polygon (simple by construction: vertices in angle order), snapped to `step` if given."""
    n = int(rng.integers(5, 33))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = radius * rng.uniform(0.4, 1.0, n)
    xs, ys = cx + radii * np.cos(angles), cy + radii * np.sin(angles)
    if step:
        xs, ys = np.round(xs / step) * step, np.round(ys / step) * step
    return Polygon(np.column_stack([xs, ys]))


def make_queries(big: Reference, grid: Reference, count: int) -> list[Query]:
    """Small random polygons, 3/4 on random-500k and 1/4 on grid, each with the ids it must select.

    On the grid, polygons have vertices on the 0.5 lattice or are integer rectangles, so many grid
    points fall exactly on edges and corners: the closed-boundary rule is exercised, not avoided.
    """
    rng = np.random.default_rng(7)
    queries: list[Query] = []
    while len(queries) < count:
        on_grid = len(queries) % 4 == 3
        if on_grid and rng.random() < 0.5:
            x0, y0 = (int(v) for v in rng.integers(0, 45, 2))
            w, h = (int(v) for v in rng.integers(1, 6, 2))
            polygon = Polygon([(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)])
        elif on_grid:
            cx, cy = rng.uniform(3, 46, 2)
            polygon = star(rng, float(cx), float(cy), float(rng.uniform(1.5, 5)), step=0.5)
        else:
            cx, cy = rng.uniform(30, 970, 2)
            polygon = star(rng, float(cx), float(cy), float(rng.uniform(4, 25)), step=None)
        # Snapping can fold a star onto itself; the server refuses invalid rings, so draw again.
        if not polygon.is_valid or polygon.area == 0:
            continue
        ring = [list(c) for c in polygon.exterior.coords]
        body = orjson.dumps({"type": "Polygon", "coordinates": [ring]})
        ids, on_boundary = covered_ids(grid if on_grid else big, polygon)
        queries.append(Query(GRID if on_grid else BIG, body, ids, on_boundary))
    return queries


def ids_in(body: bytes) -> frozenset[int]:
    return frozenset(orjson.loads(line)["id"] for line in body.splitlines()[:-1])


# --- scenarios ---------------------------------------------------------------------------------


@dataclass
class Figures:
    """One scenario on one server configuration."""

    model: ServerModel
    outcomes: list[Outcome]
    wall: float
    peak_mb: float
    server_cpu: float
    client_cpu: float
    other_cpu: float  # busy CPU on the machine not charged to the server's workers or to this client
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.problem]

    def percentile(self, q: float) -> float:
        return float(np.percentile([o.seconds for o in self.outcomes], q)) if self.outcomes else float("nan")

    @property
    def points_per_second(self) -> float:
        return sum(o.points for o in self.outcomes if not o.problem) / self.wall


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes, kernel included)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def merge(parts: list[Figures]) -> Figures:
    """One configuration's rounds as one set of figures: requests pooled, times and CPU added, peak the highest."""
    return Figures(
        parts[0].model,
        [o for p in parts for o in p.outcomes],
        sum(p.wall for p in parts),
        max(p.peak_mb for p in parts),
        sum(p.server_cpu for p in parts),
        sum(p.client_cpu for p in parts),
        sum(p.other_cpu for p in parts),
        [n for p in parts for n in p.notes],
    )


def measure(
    server: LoadServer, clients: int, seconds: float, max_each: int, task: Callable[[random.Random, int], Outcome]
) -> Figures:
    pids = server.worker_pids()
    server.reset_peak()
    cpu0, client0, busy0 = server.cpu_seconds(), time.process_time(), busy_cpu_seconds()
    outcomes, wall = run_clients(clients, seconds, max_each, task)
    server_cpu, client_cpu = server.cpu_seconds() - cpu0, time.process_time() - client0
    figures = Figures(
        server.model,
        outcomes,
        wall,
        server.peak_mb(),
        server_cpu,
        client_cpu,
        max(0.0, busy_cpu_seconds() - busy0 - server_cpu - client_cpu),
    )
    if server.worker_pids() != pids:
        # A worker replaced mid-run (crash or WORKER TIMEOUT) also loses its CPU and peak figures.
        figures.notes.append(
            f"worker processes changed during the run: {sorted(pids)} -> {sorted(server.worker_pids())}"
        )
    return figures


def scenario_streams(server: LoadServer, seconds: float) -> Figures:
    path = f"/api/datasets/{BIG}/points"

    def task(rng: random.Random, i: int) -> Outcome:
        return timed(f"GET {path}", lambda: check_stream(request(server.port, "GET", path), BIG_COUNT))

    return measure(server, 16, seconds, 1000, task)


def scenario_polygons(server: LoadServer, seconds: float, queries: list[Query]) -> Figures:
    def task(rng: random.Random, i: int) -> Outcome:
        q = rng.randrange(len(queries))
        query = queries[q]
        keep = i % ID_CHECK_EVERY == 0

        def call() -> tuple[int, str | None]:
            raw = request(server.port, "POST", f"/api/datasets/{query.dataset}/points/within", query.body, keep)
            points, problem = check_stream(raw, len(query.expected_ids))
            if problem is None and raw.body is not None and ids_in(raw.body) != query.expected_ids:
                problem = "the ids differ from shapely's covers"
            return points, problem

        return timed(f"POST within {query.dataset} (polygon #{q})", call)

    return measure(server, 64, seconds, 100_000, task)


def warm_up(server: LoadServer, queries: list[Query]) -> None:
    """Give every worker a few requests first, so imports and first-touch costs stay out of the figures."""

    def one(i: int) -> None:
        request(server.port, "GET", f"/api/datasets/{BIG}/points")
        query = queries[i % len(queries)]
        request(server.port, "POST", f"/api/datasets/{query.dataset}/points/within", query.body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(4 * server.model.workers)))


# --- report ------------------------------------------------------------------------------------


def table(figures: list[Figures]) -> list[str]:
    rows = [
        "| server | requests | failures | all complete, right count | p50 s | p95 s | requests/s | points/s "
        "| server peak RSS MB (workers) | server CPU s | client CPU s | other CPU s | wall s |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        rows.append(
            f"| {f.model.label} | {len(f.outcomes):,} | {len(f.failures)} | {'yes' if not f.failures else 'NO'} "
            f"| {f.percentile(50):.3f} | {f.percentile(95):.3f} | {len(f.outcomes) / f.wall:,.1f} "
            f"| {f.points_per_second:,.0f} | {f.peak_mb:.0f} | {f.server_cpu:.1f} | {f.client_cpu:.1f} "
            f"| {f.other_cpu:.1f} | {f.wall:.1f} |"
        )
    return rows


def recommend(streams: list[Figures], polygons: list[Figures]) -> str:
    """Pick the configuration from the figures: no failures, then the best geometric mean of
    throughput and p95 relative to the best of each scenario; within 3%, the smaller memory."""
    scores: list[tuple[float, ServerModel, float, str]] = []
    for s, p in zip(streams, polygons, strict=True):
        if s.failures or p.failures:
            continue
        ratios = [
            s.points_per_second / max(f.points_per_second for f in streams),
            p.points_per_second / max(f.points_per_second for f in polygons),
            min(f.percentile(95) for f in streams) / s.percentile(95),
            min(f.percentile(95) for f in polygons) / p.percentile(95),
        ]
        score = math.prod(ratios) ** (1 / len(ratios))
        detail = (
            f"{s.points_per_second / 1e6:.1f}M points/s and p95 {s.percentile(95):.2f} s on full streams, "
            f"{len(p.outcomes) / p.wall:,.0f} requests/s and p95 {p.percentile(95) * 1000:.0f} ms on polygons, "
            f"{max(s.peak_mb, p.peak_mb):.0f} MB peak"
        )
        scores.append((score, s.model, max(s.peak_mb, p.peak_mb), detail))
    if not scores:
        return "Recommendation: none; every configuration had failures (see above)."
    best = max(score for score, *_ in scores)
    close = [entry for entry in scores if entry[0] >= best * 0.97]
    score, model, _, detail = min(close, key=lambda entry: entry[2])
    ranking = ", ".join(f"{m.label} {sc:.2f}" for sc, m, _, _ in sorted(scores, key=lambda e: -e[0]))
    return (
        f"Recommendation: **{model.label}** ({detail}). Score (geometric mean of throughput and p95, "
        f"each relative to the best; 1.00 = best at everything): {ranking}"
        + ("; configurations within 3% of the best were decided by the smaller peak RSS." if len(close) > 1 else ".")
    )


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.machine(),
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def server_env(var_dir: Path) -> dict[str, str]:
    """The environment `make run` would see on a fresh machine, pointed at a throwaway data folder."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POINTS_", "POINTSITE_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env["POINTSITE_VAR_DIR"] = str(var_dir)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per scenario: a smoke run")
    parser.add_argument("--write", action="store_true", help="also write the tables to bench/LOAD.md")
    parser.add_argument("--seconds", type=float, help="seconds per scenario (default 30, --quick 3)")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 30.0)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    work = Path(tempfile.mkdtemp(prefix="pointsite-load-"))
    env = server_env(work / "var")
    log_notes: list[str] = []
    try:
        for command in (["migrate", "--noinput", "-v0"], ["ensure_demo_datasets"]):
            subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
            )
        say(f"# pointsite load benchmark, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
        say()
        say(f"Machine: {machine()}.")
        say()
        say(
            "gunicorn started as `make run` starts it (`pointsite.wsgi:application --worker-class gthread "
            "--timeout 120 --graceful-timeout 10`, access log on), default settings, embedded store, on "
            f"{HOST} only. {seconds:g} s per scenario and configuration, in two rounds of {seconds / 2:g} s "
            "(configurations in the order A B C, then C B A); no request starts after a round's time, "
            "those running finish. "
            "Every request opens a new connection. **The client runs on the same machine, in Python "
            f"threads, and competes with the server for its {os.cpu_count()} cores** (its CPU seconds are "
            "in the tables): the figures are a floor for a separate client machine. Latency = time to "
            "last byte. Server peak RSS = sum of the workers' VmHWM during the scenario. Other CPU = what "
            "the rest of the machine used meanwhile (other programs, kernel network work not charged to a "
            f"process), out of {os.cpu_count()} CPU-seconds per second."
        )
        say()
        queries: list[Query] = []
        big_bytes = 0
        rounds: dict[ServerModel, list[tuple[Figures, Figures]]] = {m: [] for m in MODELS}
        # Two rounds, in the order A B C then C B A: a background load that drifts during the run
        # (the machine may be shared) then weighs on every configuration about equally.
        for round_no, model in enumerate(MODELS + MODELS[::-1]):
            print(f"... round {round_no // len(MODELS) + 1}: {model.label}", file=sys.stderr, flush=True)
            server = LoadServer(env, work, model, suffix=str(round_no))
            try:
                if not queries:
                    # The oracle: every point streamed once, then shapely decides what each polygon covers.
                    big = load_reference(server.port, BIG, BIG_COUNT)
                    grid = load_reference(server.port, GRID, 2500)
                    queries = make_queries(big, grid, 256)
                    big_bytes = big.stream_bytes
                warm_up(server, queries)
                rounds[model].append(
                    (scenario_streams(server, seconds / 2), scenario_polygons(server, seconds / 2, queries))
                )
            finally:
                server.stop()
            problems = server.log_problems()
            statuses = server.access_statuses()
            log_notes.append(
                f"- {model.label}, round {round_no // len(MODELS) + 1}: access log {sum(statuses.values()):,} requests, statuses "
                f"{', '.join(f'{k}: {v:,}' for k, v in sorted(statuses.items()))}; error log: "
                + (f"{len(problems)} problem lines, first: `{problems[0]}`" if problems else "no errors or tracebacks")
            )
        streams = [merge([s for s, _ in rounds[m]]) for m in MODELS]
        polygons = [merge([p for _, p in rounds[m]]) for m in MODELS]

        sizes = [len(q.expected_ids) for q in queries]
        say(
            f"## 1. 16 clients, each streaming all of `{BIG}` (500,000 points, {big_bytes / 1e6:.0f} MB) again and again"
        )
        say()
        for row in table(streams):
            say(row)
        say()
        say(
            f"## 2. 64 clients, small random polygons on `{BIG}` (3/4) and `{GRID}` (1/4) "
            f"({len(queries)} polygons, 5 to 32 vertices, {min(sizes)} to {max(sizes)} points, "
            f"median {statistics.median(sizes):.0f})"
        )
        say()
        say(
            "Each count checked against the end line and against shapely `covers` over the points streamed "
            f"once at the start; on every {ID_CHECK_EVERY}th request the set of ids too. "
            f"{sum(1 for q in queries if q.on_boundary)} of the polygons have points exactly on their boundary "
            f"({sum(q.on_boundary for q in queries)} points in all), which must come back."
        )
        say()
        for row in table(polygons):
            say(row)
        say()
        failures = [(f.model, o) for f in streams + polygons for o in f.failures]
        notes = [n for f in streams + polygons for n in f.notes]
        say("## Failures and server logs")
        say()
        if failures:
            for model, outcome in failures[:20]:
                say(f"- {model.label}: {outcome.what}: {outcome.problem}")
            if len(failures) > 20:
                say(f"- ... {len(failures) - 20} more")
        else:
            say("- no failures: every stream ended with its end line and the right count")
        for note in notes + log_notes:
            say(note if note.startswith("- ") else f"- {note}")
        say()
        say(recommend(streams, polygons))
        say()
        everything = streams + polygons
        other_share = sum(f.other_cpu for f in everything) / (sum(f.wall for f in everything) * (os.cpu_count() or 1))
        if other_share > 0.1:
            # Figures taken while other programs share the cores rank the configurations less surely.
            say(
                f"Caution: the rest of the machine used {other_share:.0%} of its CPU during the measurements; "
                "close differences between configurations may be noise. Run again on a quiet machine to confirm."
            )
            say()
        say(
            "Not measured: an ASGI server (no ASGI server is among the pinned requirements); "
            "the views do support ASGI (see the README's operations section)."
        )
        if args.write:
            (ROOT / "bench" / "LOAD.md").write_text("\n".join(lines) + "\n")
            print("written to bench/LOAD.md", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
