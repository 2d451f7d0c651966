#!/usr/bin/env python
"""`make bench-load`: concurrent load on the production server, and the server model chosen from it.

Starts each candidate server on 127.0.0.1 only, against a throwaway data folder holding the demo
datasets (`grid`, 50x50, and `random-500k`, 500,000 random points in the 0..1000 square), with
default settings and the access log on: bin/serve, exactly what `make run` starts (uvicorn, 2
workers, pointsite.asgi with its limits), and gunicorn gthread 2 workers x 8 threads, what
`make run` started before. Every phase is bounded in time and checks every response:

1. 16 clients, each streaming the whole of `random-500k` again and again: every stream must end
   with `{"end":true,"count":500000}` after exactly 500,000 point lines;
2. 64 clients, each sending small random polygons (on `random-500k` and on `grid`) to
   `.../points/within`: every stream must end with its end line, whose count must equal the point
   lines received and the count shapely's `Polygon.covers` gives over the points streamed once at
   the start (boundary counts as inside); on every 4th request the ids must be the same set too;
3. 256 slow readers, each streaming `random-500k` at 1 KB/s (reconnecting when cut off), while a
   probe asks `GET /api/datasets` and a small polygon query in turn: every probe must be answered,
   p99 <= 0.5 s, server RSS <= 400 MB during and back within 50 MB of the start after;
4. 64 slowloris connections (headers sent a line every 2 s, never finished; reconnecting when cut
   off), with the same probe and targets.

It prints one Markdown table per phase (a row per server) and a closing recommendation computed
from the figures; `--write` also saves them to bench/LOAD.md. `--phases` picks phases (a quick
look); `make bench-load` runs them all. The client runs on the same machine as the server, in
threads, so the two compete for its cores.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import platform
import random
import re
import selectors
import shutil
import socket
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
from typing import IO, Any

import numpy as np
import orjson
import psutil
import shapely
from shapely.geometry import Polygon

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import HOST, ROOT, Gunicorn, Serve, Server
from points.batches import FloatArray, IntArray

BIG = "random-500k"
BIG_COUNT = 500_000
GRID = "grid"
CLIENT_TIMEOUT = 120.0  # seconds of socket silence before a request counts as failed
ID_CHECK_EVERY = 4  # compare id sets on every 4th polygon request (cheap, but the client is on the server's cores)
PROBE_TIMEOUT = 5.0  # a probe not answered in this time counts as unanswered
PROBE_EVERY = 0.2  # seconds between probes
PROBE_POLYGON = orjson.dumps(
    {"type": "Polygon", "coordinates": [[[500, 500], [510, 500], [510, 510], [500, 510], [500, 500]]]}
)
SLOW_READERS, SLOW_RATE = 256, 1024  # clients, bytes/s each
SLOW_RCVBUF = 16_384  # the slow readers' socket receive buffer (the kernel's default lets each soak up MBs)
SLOWLORIS = 64
TARGET_P99, TARGET_RSS, TARGET_RSS_AFTER = 0.5, 400.0, 50.0


# --- server ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerModel:
    """One server configuration to measure."""

    kind: str  # "serve" (bin/serve, uvicorn) or "gthread" (gunicorn)
    workers: int
    threads: int

    @property
    def label(self) -> str:
        if self.kind == "serve":
            return f"bin/serve: uvicorn {self.workers} workers"
        return f"gunicorn gthread {self.workers} worker{'s' if self.workers > 1 else ''} x {self.threads} threads"

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.workers}x{self.threads}"


# `make run`'s server first, then what it was before.
MODELS = [ServerModel("serve", 2, 8), ServerModel("gthread", 2, 8)]


class LoadServer:
    """A candidate server started as `make run` starts it, with logs kept and its workers' memory and CPU read."""

    def __init__(self, env: dict[str, str], logs: Path, model: ServerModel, suffix: str = "") -> None:
        self.model = model
        self.access_log = logs / f"access-{model.slug}{suffix}.log"
        self.error_log = logs / f"error-{model.slug}{suffix}.log"
        self._error_file = open(self.error_log, "wb")  # noqa: SIM115 (closed in stop())
        self._access_file: IO[Any] | None = None
        try:
            # `make run` logs every request; keep it (to a file) so the figures include that cost.
            if model.kind == "serve":
                self._access_file = open(self.access_log, "wb")  # noqa: SIM115 (closed in stop())
                self.server: Server = Serve(
                    env, workers=model.workers, threads=model.threads, stdout=self._access_file, stderr=self._error_file
                )
            else:
                self.server = Gunicorn(
                    env, workers=model.workers, threads=model.threads,
                    extra=["--graceful-timeout", "10", "--access-logfile", str(self.access_log)],
                    stdout=subprocess.DEVNULL, stderr=self._error_file,
                )  # fmt: skip
        except RuntimeError:
            self._close_files()
            raise RuntimeError(f"{model.label} did not start; see {self.error_log}") from None
        self.port = self.server.port

    def worker_pids(self) -> set[int]:
        return self.server.worker_pids()

    def reset_peak(self) -> None:
        self.server.reset_peak()

    def peak_mb(self) -> float:
        return self.server.peak_mb()

    def rss_mb(self) -> float:
        return self.server.rss_mb()

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by all workers."""
        total = 0.0
        for p in self.server.workers():
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    def _close_files(self) -> None:
        self._error_file.close()
        if self._access_file is not None:
            self._access_file.close()

    def stop(self) -> None:
        self.server.stop()
        self._close_files()

    def log_problems(self) -> list[str]:
        """Lines of the server's error log that speak of a failure (tracebacks, errors, timeouts)."""
        pattern = re.compile(r"Traceback|\bERROR\b|CRITICAL|WORKER TIMEOUT|Exception|Error:")
        text = self.error_log.read_text(errors="replace")
        return [line for line in text.splitlines() if pattern.search(line)]

    def cut_lines(self) -> int:
        """How many exchanges pointsite.asgi_limits cut off (its log lines)."""
        text = self.error_log.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "connection closed" in line or "; answered 4" in line)

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


# --- slow clients ------------------------------------------------------------------------------


@dataclass
class SlowFigures:
    """One slow-client phase on one server configuration."""

    model: ServerModel
    attack: str
    clients: int
    seconds: float
    probes: list[float | None]  # seconds to answer, None when not answered in PROBE_TIMEOUT
    probe_problems: list[str]
    rss_before: float
    rss_peak: float
    rss_after: float
    after_seconds: float  # how long after the attackers left rss_after was read
    reconnects: int  # attacker connections the server closed (each was opened again)
    received_mb: float  # what the attackers received in all
    cut_logged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def answered(self) -> float:
        return sum(p is not None for p in self.probes) / len(self.probes) if self.probes else 0.0

    def probe_percentile(self, q: float) -> float:
        """Percentile of the probes' times, an unanswered probe counting as PROBE_TIMEOUT (a floor, then)."""
        times = [PROBE_TIMEOUT if p is None else p for p in self.probes]
        return float(np.percentile(times, q)) if times else float("nan")

    @property
    def passed(self) -> bool:
        return (
            bool(self.probes)
            and self.answered == 1.0
            and not self.probe_problems
            and self.probe_percentile(99) <= TARGET_P99
            and self.rss_peak <= TARGET_RSS
            and self.rss_after <= self.rss_before + TARGET_RSS_AFTER
        )


class Prober(threading.Thread):
    """Asks GET /api/datasets and a small polygon query in turn, every PROBE_EVERY seconds, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stopping = threading.Event()
        self.times: list[float | None] = []
        self.problems: list[str] = []

    def run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            started = time.perf_counter()
            polygon = i % 2 == 1
            conn = http.client.HTTPConnection(HOST, self.port, timeout=PROBE_TIMEOUT)
            try:
                if polygon:
                    conn.request("POST", f"/api/datasets/{BIG}/points/within", body=PROBE_POLYGON,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
                else:
                    conn.request("GET", "/api/datasets")
                response = conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - started
                if response.status != 200 or (polygon and b'"end":true' not in body[-200:]):
                    self.problems.append(f"probe {'polygon' if polygon else 'datasets'}: HTTP {response.status}")
                self.times.append(elapsed if elapsed <= PROBE_TIMEOUT else None)
            except (OSError, http.client.HTTPException):
                self.times.append(None)
            finally:
                conn.close()
            i += 1
            self.stopping.wait(max(0.0, PROBE_EVERY - (time.perf_counter() - started)))


class Attackers(threading.Thread):
    """`count` connections driven from one thread: slow readers of a stream, or slowloris requests.
    A connection the server closes is counted and opened again at once."""

    def __init__(self, port: int, count: int, kind: str) -> None:
        super().__init__(daemon=True)
        self.port, self.count, self.kind = port, count, kind
        self.stopping = threading.Event()
        self.reconnects = 0
        self.received = 0
        self.refused = 0
        self.selector = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []

    def _open(self) -> socket.socket | None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
        s.settimeout(5)
        try:
            s.connect((HOST, self.port))
            if self.kind == "readers":
                s.sendall(f"GET /api/datasets/{BIG}/points HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            else:
                s.sendall(f"GET /api/datasets HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        except OSError:
            s.close()
            self.refused += 1
            return None
        s.setblocking(False)
        return s

    def run(self) -> None:
        socks: list[socket.socket | None] = [self._open() for _ in range(self.count)]
        tick = 0.1
        per_tick = int(SLOW_RATE * tick)
        n = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            n += 1
            for i, s in enumerate(socks):
                if s is None:
                    socks[i] = self._open()
                    continue
                closed = False
                try:
                    if self.kind == "readers":
                        data = s.recv(per_tick)
                        self.received += len(data)
                        closed = not data
                    else:
                        try:
                            data = s.recv(4096)  # a 408, then the end
                            closed = not data
                        except BlockingIOError:
                            if n % 20 == i % 20:  # a header line every 2 s
                                s.send(f"X-Slow-{n}: 1\r\n".encode())
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
                if closed:
                    s.close()
                    self.reconnects += 1
                    socks[i] = self._open()
            self.stopping.wait(max(0.0, tick - (time.monotonic() - started)))
        for s in socks:
            if s is not None:
                s.close()


def slow_phase(server: LoadServer, attack: str, seconds: float) -> SlowFigures:
    """Run `attack` ("readers" or "slowloris") for `seconds` with the prober; read the server's RSS
    before, during (every 0.5 s; the highest) and after (once within 50 MB of before, or 20 s)."""
    clients = SLOW_READERS if attack == "readers" else SLOWLORIS
    before = settle_rss(server)
    attackers = Attackers(server.port, clients, attack)
    prober = Prober(server.port)
    peak = before
    started = time.monotonic()
    attackers.start()
    prober.start()
    while time.monotonic() - started < seconds:
        time.sleep(0.5)
        peak = max(peak, server.rss_mb())
    prober.stopping.set()
    attackers.stopping.set()
    prober.join()
    attackers.join()
    left = time.monotonic()
    after = server.rss_mb()
    while after > before + TARGET_RSS_AFTER and time.monotonic() - left < 20:
        time.sleep(0.5)
        after = server.rss_mb()
    figures = SlowFigures(
        server.model, attack, clients, seconds, prober.times, prober.problems, before, peak, after,
        time.monotonic() - left, attackers.reconnects, attackers.received / 1e6,
    )  # fmt: skip
    if attackers.refused:
        figures.notes.append(f"{attackers.refused} attacker connections could not be opened")
    return figures


def settle_rss(server: LoadServer) -> float:
    """The server's RSS once it holds still (two readings 0.5 s apart within 1 MB; 10 s at most)."""
    last = server.rss_mb()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.rss_mb()
        if abs(now - last) < 1:
            return now
        last = now
    return last


def slow_table(figures: list[SlowFigures]) -> list[str]:
    rows = [
        "| server | probes | answered | probe p50 s | probe p99 s | probe max s | server RSS MB before "
        "| during (peak) | after | attacker connections cut by the server | received by attackers MB | targets met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in figures:
        unanswered = any(p is None for p in f.probes)
        mark = "≥ " if unanswered else ""
        rows.append(
            f"| {f.model.label} | {len(f.probes)} | {f.answered:.0%} | {f.probe_percentile(50):.3f} "
            f"| {mark if f.probe_percentile(99) >= PROBE_TIMEOUT else ''}{f.probe_percentile(99):.3f} "
            f"| {mark}{f.probe_percentile(100):.3f} | {f.rss_before:.0f} | {f.rss_peak:.0f} "
            f"| {f.rss_after:.0f} ({f.after_seconds:.1f} s after) | {f.reconnects:,} | {f.received_mb:.1f} "
            f"| {'yes' if f.passed else 'NO'} |"
        )
    return rows


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


def recommend(streams: list[Figures], polygons: list[Figures], slow: list[SlowFigures]) -> str:
    """Pick the configuration from the figures: no failures and every slow-client target met, then
    the best geometric mean of throughput and p95 relative to the best of each scenario; within 3%,
    the smaller memory."""
    scores: list[tuple[float, ServerModel, float, str]] = []
    for s, p in zip(streams, polygons, strict=True):
        if s.failures or p.failures or any(not f.passed for f in slow if f.model == s.model):
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
        return "Recommendation: none; every configuration had failures or missed a slow-client target (see above)."
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


PHASES = ("streams", "polygons", "slow-readers", "slowloris")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per fast scenario, 10 s per slow phase: a smoke run")
    parser.add_argument("--write", action="store_true", help="also write the tables to bench/LOAD.md")
    parser.add_argument("--seconds", type=float, help="seconds per fast scenario (default 30, --quick 3)")
    parser.add_argument("--slow-seconds", type=float, help="seconds per slow-client phase (default 40, --quick 10)")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)} (default all)"
    )
    parser.add_argument("--servers", default="serve,gthread", help="comma-separated, of serve, gthread (default both)")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 30.0)
    slow_seconds = args.slow_seconds or (10.0 if args.quick else 40.0)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    models = [m for m in MODELS if m.kind in kinds]
    if not models:
        parser.error("no server picked")
    fast = [p for p in phases if p in ("streams", "polygons")]
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
            "Servers, each started as `make run` starts it (access log on, to a file), default settings, "
            f"embedded store, on {HOST} only: **{MODELS[0].label}** (`bin/serve`, what `make run` starts: "
            "`uvicorn pointsite.asgi:application --workers 2 --loop uvloop --http pointsite.asgi_limits:Protocol "
            "--timeout-keep-alive 5`, 8 threads per worker for the synchronous views) and "
            f"**{MODELS[1].label}** (`pointsite.wsgi:application --worker-class gthread --timeout 120 "
            "--graceful-timeout 10`, what `make run` started before). "
            f"Fast phases: {seconds:g} s per scenario and server, in two rounds of {seconds / 2:g} s "
            "(servers in the order A B, then B A); no request starts after a round's time, "
            "those running finish. Every request opens a new connection. **The client runs on the same "
            f"machine, in Python threads, and competes with the server for its {os.cpu_count()} cores** (its "
            "CPU seconds are in the tables): the figures are a floor for a separate client machine. Latency "
            "= time to last byte. Server peak RSS = sum of the workers' VmHWM during the scenario. Other "
            "CPU = what the rest of the machine used meanwhile (other programs, kernel network work not "
            f"charged to a process), out of {os.cpu_count()} CPU-seconds per second."
        )
        say()
        queries: list[Query] = []
        big_bytes = 0
        rounds: dict[ServerModel, list[tuple[Figures | None, Figures | None]]] = {m: [] for m in models}
        # Two rounds, in the order A B then B A: a background load that drifts during the run
        # (the machine may be shared) then weighs on every configuration about equally.
        order = models + models[::-1] if fast else []
        for round_no, model in enumerate(order):
            print(f"... round {round_no // len(models) + 1}: {model.label}", file=sys.stderr, flush=True)
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
                    (
                        scenario_streams(server, seconds / 2) if "streams" in phases else None,
                        scenario_polygons(server, seconds / 2, queries) if "polygons" in phases else None,
                    )
                )
            finally:
                server.stop()
            log_notes.append(log_note(server, f"{model.label}, round {round_no // len(models) + 1}"))
        streams = [merge([s for s, _ in rounds[m] if s]) for m in models] if "streams" in phases else []
        polygons = [merge([p for _, p in rounds[m] if p]) for m in models] if "polygons" in phases else []

        slow: list[SlowFigures] = []
        for attack, phase in (("readers", "slow-readers"), ("slowloris", "slowloris")):
            if phase not in phases:
                continue
            for model in models:
                print(f"... {phase}: {model.label}", file=sys.stderr, flush=True)
                server = LoadServer(env, work, model, suffix=f"-{phase}")
                try:
                    if not queries:
                        queries = make_queries(
                            load_reference(server.port, BIG, BIG_COUNT), load_reference(server.port, GRID, 2500), 16
                        )
                    warm_up(server, queries)
                    figures = slow_phase(server, attack, slow_seconds)
                finally:
                    server.stop()
                figures.cut_logged = server.cut_lines()
                slow.append(figures)
                log_notes.append(log_note(server, f"{model.label}, {phase}"))

        n = 1
        if streams:
            say(
                f"## {n}. 16 clients, each streaming all of `{BIG}` (500,000 points, {big_bytes / 1e6:.0f} MB) "
                "again and again"
            )
            say()
            for row in table(streams):
                say(row)
            say()
            n += 1
        if polygons:
            sizes = [len(q.expected_ids) for q in queries]
            say(
                f"## {n}. 64 clients, small random polygons on `{BIG}` (3/4) and `{GRID}` (1/4) "
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
            n += 1
        probe_text = (
            f"A probe asks `GET /api/datasets` and a 10x10 polygon query on `{BIG}` (about 100 points) in turn, "
            f"one every {PROBE_EVERY:g} s, each on a new connection, {PROBE_TIMEOUT:g} s at most (an unanswered "
            "probe counts as that long, so p99 and max are then floors). Server RSS = the server's process tree "
            "(supervisor or master and workers), read every 0.5 s; 'after' = once the attackers are gone, at the "
            f"first reading within {TARGET_RSS_AFTER:g} MB of 'before' (20 s at most). "
            f"Targets: every probe answered, p99 <= {TARGET_P99:g} s, RSS <= {TARGET_RSS:g} MB during and within "
            f"{TARGET_RSS_AFTER:g} MB of before after."
        )
        for attack, title in (
            (
                "readers",
                f"{SLOW_READERS} slow readers, each streaming `{BIG}` at {SLOW_RATE // 1024} KB/s "
                f"(socket receive buffer {SLOW_RCVBUF // 1024} KiB), {slow_seconds:g} s",
            ),
            (
                "slowloris",
                f"{SLOWLORIS} slowloris connections (request line and Host, then a header line every 2 s, "
                f"never the blank line), {slow_seconds:g} s",
            ),
        ):
            rows = [f for f in slow if f.attack == attack]
            if not rows:
                continue
            say(f"## {n}. {title}")
            say()
            say(probe_text + " A connection the server closes is opened again at once.")
            say()
            for row in slow_table(rows):
                say(row)
            say()
            for f in rows:
                if f.attack == "readers" and f.clients:
                    say(
                        f"- {f.model.label}: {(f.rss_peak - f.rss_before) * 1024 / f.clients:,.0f} KB of server RSS "
                        f"per slow reader at the peak; {f.cut_logged:,} exchanges cut by pointsite.asgi_limits (its log)."
                    )
                elif f.cut_logged:
                    say(f"- {f.model.label}: {f.cut_logged:,} exchanges cut by pointsite.asgi_limits (its log).")
                for note in f.notes + f.probe_problems[:5]:
                    say(f"- {f.model.label}: {note}")
            say()
            n += 1
        failures = [(f.model, o) for f in streams + polygons for o in f.failures]
        notes = [nt for f in streams + polygons for nt in f.notes]
        say("## Failures and server logs")
        say()
        if failures:
            for model, outcome in failures[:20]:
                say(f"- {model.label}: {outcome.what}: {outcome.problem}")
            if len(failures) > 20:
                say(f"- ... {len(failures) - 20} more")
        elif streams or polygons:
            say("- no failures in the fast phases: every stream ended with its end line and the right count")
        for note in notes + log_notes:
            say(note if note.startswith("- ") else f"- {note}")
        say()
        if streams and polygons:
            say(recommend(streams, polygons, slow))
            say()
        everything = streams + polygons
        if everything:
            other_share = sum(f.other_cpu for f in everything) / (
                sum(f.wall for f in everything) * (os.cpu_count() or 1)
            )
            if other_share > 0.1:
                # Figures taken while other programs share the cores rank the configurations less surely.
                say(
                    f"Caution: the rest of the machine used {other_share:.0%} of its CPU during the measurements; "
                    "close differences between configurations may be noise. Run again on a quiet machine to confirm."
                )
                say()
        if args.write:
            (ROOT / "bench" / "LOAD.md").write_text("\n".join(lines) + "\n")
            print("written to bench/LOAD.md", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def log_note(server: LoadServer, what: str) -> str:
    problems = server.log_problems()
    statuses = server.access_statuses()
    return (
        f"- {what}: access log {sum(statuses.values()):,} requests, statuses "
        f"{', '.join(f'{k}: {v:,}' for k, v in sorted(statuses.items()))}; error log: "
        + (f"{len(problems)} problem lines, first: `{problems[0]}`" if problems else "no errors or tracebacks")
    )


if __name__ == "__main__":
    main()
