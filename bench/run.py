#!/usr/bin/env python
"""`make bench`: stream, query, generate and import figures, side by side in one run, as medians.

Starts gunicorn the way `make run` does (one worker process, so its memory can be watched), on a
throwaway data folder, and reads every response over HTTP on loopback with a streaming client.
Prints Markdown tables; `--write` also saves them to bench/RESULTS.md (bench/frontend.py
--write then fills in its own section there). `--quick` is a smoke run: 500k only, fewer runs.
With MONGODB_URI set, bench/mongo.py adds MongoDB rows beside the embedded store's (else a
placeholder saying they were not measured).

Streams are measured in every format (NDJSON, Arrow) and content coding (identity, gzip, zstd)
the server negotiates: wire bytes are the body as it crosses the wire (Content-Encoding applied,
HTTP chunk framing and headers not counted); each body is decoded and checked to the end marker
once, untimed, and the timed runs only count bytes, as fast as the client can read. Cold runs
first drop the dataset's section files from the page cache (posix_fadvise DONTNEED).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import http.client
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mongo import section as mongo_section  # noqa: E402
from bench.queries import run_queries, targets  # noqa: E402
from bench.results import write_server  # noqa: E402
from bench.server import Gunicorn  # noqa: E402
from points.codings import unzstd  # noqa: E402
from points.ndjson import encode_points  # noqa: E402
from points.stores.embedded.blockfile import Section  # noqa: E402

SIZES = {"500k": 500_000, "5M": 5_000_000}
FORMATS = ("ndjson", "arrow")
EXPORTS = ("csv", "geojson")  # measured for the full streams (the downloads a user asks for)
CODINGS = ("identity", "gzip", "zstd")
# Issue 8's server-side targets.
TARGET_ZSTD_RATIO = 1.5  # zstd 5M full stream on loopback, at most this many times the identity one
TARGET_WIRE_BYTES = 25.0  # bytes per point on the wire, random doubles, as the page asks (arrow + zstd)


def circle(cx: float, cy: float, area: float, vertices: int = 1000) -> dict[str, object]:
    """Return a GeoJSON polygon of `vertices` vertices enclosing about `area`."""
    r = math.sqrt(area / math.pi)
    t = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
    ring = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)]).tolist()
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


# 20% of the 1000 x 1000 square the benchmark datasets cover.
POLYGON = json.dumps(circle(500, 500, 0.2 * 1000 * 1000)).encode()


@dataclass
class Fetch:
    ttfb: float
    total: float
    points: int
    complete: bool


def fetch(port: int, method: str, path: str, body: bytes | None = None) -> Fetch:
    """Read one response to the end; count its lines and check its end line."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {response.read()[:200]!r}")
    first = response.read1(1 << 20)
    ttfb = time.perf_counter() - started
    lines = first.count(b"\n")
    tail = first[-200:]
    while True:
        data = response.read1(1 << 20)
        if not data:
            break
        lines += data.count(b"\n")
        tail = (tail + data)[-200:]
    total = time.perf_counter() - started
    conn.close()
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    complete = last.startswith(b'{"end":true')
    return Fetch(ttfb, total, lines - 1 if complete else lines, complete)


def fetch_pages(port: int, name: str) -> Fetch:
    """Fetch the paginated alternative page after page, as a client of it would."""
    started = time.perf_counter()
    ttfb, points, page = 0.0, 0, 0
    while page is not None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request("GET", f"/bench/paged/{name}?page={page}")
        doc = json.loads(conn.getresponse().read())
        conn.close()
        if not ttfb:
            ttfb = time.perf_counter() - started
        points += len(doc["points"])
        page = doc["next"]
    return Fetch(ttfb, time.perf_counter() - started, points, True)


@dataclass
class Wire:
    """One response read to the end as it came (its coding not undone)."""

    ttfb: float
    total: float
    wire_bytes: int
    body: bytes | None  # the bytes themselves, when asked to keep them


def fetch_form(
    port: int, method: str, path: str, body: bytes | None, fmt: str, coding: str, *, keep: bool = False
) -> Wire:
    """Read one stream in `fmt` and `coding` as fast as possible, counting the bytes on the wire."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Accept-Encoding": coding}
    if body is not None:
        headers["Content-Type"] = "application/json"
    url = f"{path}?format={fmt}"
    started = time.perf_counter()
    conn.request(method, url, body=body, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{method} {url}: {response.status} {response.read()[:200]!r}")
    sent = response.getheader("Content-Encoding", "identity")
    if sent != coding:
        raise RuntimeError(f"{method} {url}: asked for {coding}, got Content-Encoding {sent}")
    parts: list[bytes] = []
    first = response.read1(1 << 20)
    ttfb = time.perf_counter() - started
    size = len(first)
    if keep:
        parts.append(first)
    while True:
        data = response.read1(1 << 20)
        if not data:
            break
        size += len(data)
        if keep:
            parts.append(data)
    total = time.perf_counter() - started
    conn.close()
    return Wire(ttfb, total, size, b"".join(parts) if keep else None)


def checked_points(data: bytes, fmt: str, coding: str) -> int:
    """Decode a whole body and return its point count; raise unless it ends with its end marker."""
    plain = unzstd(data) if coding == "zstd" else gzip.decompress(data) if coding == "gzip" else data
    if fmt == "ndjson":
        text = plain.rstrip(b"\n")
        points = text.count(b"\n")  # every line but the end line
        last = text[text.rfind(b"\n") + 1 :]
        end = json.loads(last)
        if end.get("end") is not True or end.get("count") != points:
            raise RuntimeError(f"ndjson/{coding}: the stream does not end with its end line: {last[:200]!r}")
        return points
    if fmt == "csv":  # the rule in points/export.py: a last line `# end count=N`, N = the rows above
        text = plain.rstrip(b"\n")
        last = text[text.rfind(b"\n") + 1 :]
        points = text.count(b"\n") - 1  # every line but the header and the trailer (no quoted newlines here)
        if last != b"# end count=%d" % points:
            raise RuntimeError(f"csv/{coding}: the export does not end with its end line: {last[:200]!r}")
        return points
    if fmt == "geojson":
        document = json.loads(plain)  # a cut or failed export is invalid JSON
        points = len(document["features"])
        if document.get("pointsite") != {"end": True, "count": points}:
            raise RuntimeError(f"geojson/{coding}: the export does not end with its end member")
        return points
    reader = pa.ipc.open_stream(plain)
    count, metadata = 0, None
    while True:
        try:
            batch, metadata = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            break
        count += batch.num_rows
    if metadata is None or metadata.get(b"end") != b"true" or int(metadata[b"count"]) != count:
        raise RuntimeError(f"arrow/{coding}: the stream does not end with its end batch ({metadata})")
    return count


def version_dir(work: Path, name: str) -> Path:
    """Return the folder of the dataset's current version in the embedded store."""
    with sqlite3.connect(f"file:{work / 'points.sqlite3'}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT version FROM datasets WHERE name = ?", (name,)).fetchone()
    if not row or not row[0]:
        raise RuntimeError(f"dataset {name!r} has no version in the store")
    return work / "points.sqlite3.blocks" / row[0]


def evict(folder: Path) -> None:
    """Drop every file of a dataset version from the page cache (they are fsynced: clean pages)."""
    for path in folder.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def write_csv6(folder: Path, n: int) -> Path:
    """Write n random points in [0, 1000)² whose coordinates have 6 decimals, as CSV (not timed)."""
    rng = np.random.default_rng(6)
    path = folder / f"points6-{n}.csv"
    with open(path, "w") as out:
        out.write("id,x,y\n")
        for start in range(0, n, 500_000):
            size = min(500_000, n - start)
            xs, ys = rng.uniform(0, 1000, size), rng.uniform(0, 1000, size)
            out.write("".join(f"{start + i},{x:.6f},{y:.6f}\n" for i, (x, y) in enumerate(zip(xs, ys, strict=True))))
    return path


def bench_server(env: dict[str, str]) -> Gunicorn:
    """Return the app's server plus the comparison endpoints, one worker (its memory is read)."""
    return Gunicorn({**env, "DJANGO_SETTINGS_MODULE": "bench.settings"}, extra=["--log-level", "warning"])


def manage(env: dict[str, str], *args: str) -> tuple[str, float]:
    """Run a manage.py command; return its output and its peak RSS in MB."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "peak_rss.py"), sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    peak = int(result.stderr.strip().rsplit("peak_rss_kib=", 1)[1])
    return result.stdout, peak / 1024


def points_per_second(output: str) -> float:
    # The commands print "(1,234,567 points/s)" measured around the import itself.
    return float(output.rsplit("(", 1)[1].split()[0].replace(",", ""))


def median(values: list[float]) -> float:
    return statistics.median(values)


def write_files(folder: Path, n: int) -> tuple[Path, Path]:
    """Write n random points as CSV and NDJSON files (not timed)."""
    rng = np.random.default_rng(42)
    csv_path, nd_path = folder / f"points-{n}.csv", folder / f"points-{n}.ndjson"
    with open(csv_path, "w") as csv_file, open(nd_path, "wb") as nd_file:
        csv_file.write("id,x,y\n")
        for start in range(0, n, 500_000):
            size = min(500_000, n - start)
            ids = np.arange(start, start + size)
            xs, ys = rng.uniform(0, 1000, size), rng.uniform(0, 1000, size)
            csv_file.write(
                "".join(f"{i},{x!r},{y!r}\n" for i, x, y in zip(ids.tolist(), xs.tolist(), ys.tolist(), strict=True))
            )
            nd_file.write(encode_points(ids, xs, ys)[0])
    return csv_path, nd_path


def mongo_decode_figures() -> list[tuple[str, float]]:
    """Time the MongoDB read path on synthetic BSON batches (no server can run here): the store's
    (points.stores.mongo.values: CODEC_OPTIONS, the encoder with its BSON hook) beside plain
    bson + msgspec, which it replaced (and which refuses Int64 values: epoch ms, OSM ids)."""
    import bson
    import msgspec

    from points.stores.mongo.values import CODEC_OPTIONS, ENCODER

    docs = [{"id": i, "pt": [i * 0.001, i * 0.002]} for i in range(10_000)]
    raw = b"".join(bson.encode(d) for d in docs)
    # As a server sends epoch milliseconds: integers beyond 32 bits come back as bson.Int64.
    big = b"".join(bson.encode({**d, "t": 1_733_270_400_000 + i}) for i, d in enumerate(docs))
    plain = msgspec.json.Encoder()
    ballast = [{"k": i} for i in range(2_000_000)]  # a busy heap, as in a long-running worker

    def interleaved(paths: list[tuple[str, Callable[[], object]]]) -> list[tuple[str, float]]:
        """Time each path 7 times, in turn (so the heap's collections fall on all alike)."""
        times: list[list[float]] = [[] for _ in paths]
        for _ in range(7):
            for spent, (_label, fn) in zip(times, paths, strict=True):
                t = time.perf_counter()
                fn()
                spent.append(time.perf_counter() - t)
        return [(label, len(docs) / median(spent)) for (label, _fn), spent in zip(paths, times, strict=True)]

    out = interleaved(
        [
            ("store's decode + encode, busy heap", lambda: ENCODER.encode_lines(bson.decode_all(raw, CODEC_OPTIONS))),
            ("plain bson + msgspec (before), busy heap", lambda: plain.encode_lines(bson.decode_all(raw))),
            (
                "store's, with an Int64 property (plain msgspec refuses it)",
                lambda: ENCODER.encode_lines(bson.decode_all(big, CODEC_OPTIONS)),
            ),
        ]
    )
    gc.freeze()
    out += interleaved(
        [
            (
                "store's decode + encode, after gc.freeze()",
                lambda: ENCODER.encode_lines(bson.decode_all(raw, CODEC_OPTIONS)),
            )
        ]
    )
    gc.unfreeze()
    del ballast
    return out


@dataclass
class FormFigures:
    """One request in one format and coding: medians over the runs."""

    points: int
    wire_bytes: int
    ttfb: float
    warm: float
    cold: float | None
    peak_mb: float


def measure_forms(
    server: Gunicorn,
    folder: Path,
    method: str,
    path: str,
    body: bytes | None,
    fmt: str,
    *,
    runs: int,
    cold_runs: int,
) -> dict[str, FormFigures]:
    """Measure one request in `fmt` in every coding, the codings' runs interleaved (side by side)."""
    checked: dict[str, tuple[int, int, float]] = {}
    for coding in CODINGS:
        # Untimed: decode the body and check it to its end marker, then one run for the peak RSS.
        whole = fetch_form(server.port, method, path, body, fmt, coding, keep=True)
        assert whole.body is not None
        points = checked_points(whole.body, fmt, coding)
        del whole
        server.reset_peak()
        fetched = fetch_form(server.port, method, path, body, fmt, coding)
        checked[coding] = (points, fetched.wire_bytes, server.peak_mb())
    warm: dict[str, list[Wire]] = {c: [] for c in CODINGS}
    for _ in range(runs):
        for coding in CODINGS:
            warm[coding].append(fetch_form(server.port, method, path, body, fmt, coding))
    cold: dict[str, list[float]] = {c: [] for c in CODINGS}
    for _ in range(cold_runs):
        for coding in CODINGS:
            evict(folder)
            cold[coding].append(fetch_form(server.port, method, path, body, fmt, coding).total)
    out = {}
    for coding in CODINGS:
        points, wire_bytes, peak = checked[coding]
        assert all(w.wire_bytes == wire_bytes for w in warm[coding]), "a stream's size changed between runs"
        out[coding] = FormFigures(
            points,
            wire_bytes,
            median([w.ttfb for w in warm[coding]]),
            median([w.total for w in warm[coding]]),
            median(cold[coding]) if cold[coding] else None,
            peak,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per stream figure (median)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold-cache runs per format and coding (median)")
    parser.add_argument("--sizes", default="500k,5M", help="comma-separated: 500k,5M")
    parser.add_argument("--write", action="store_true", help="also write bench/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="smoke run: 500k only, 2 runs, 1 cold run, no --write")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (its path is printed)")
    parser.add_argument(
        "--only", choices=["queries"], help="only issue 9's query, count and overview figures (printed, not written)"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.runs, args.cold_runs, args.write = "500k", 2, 1, False
    sizes = [s for s in args.sizes.split(",") if s]
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    work = Path(tempfile.mkdtemp(prefix="pointsite-bench-"))
    try:
        if args.only == "queries":
            args.write = False
            run_queries_only(args, sizes, work, say)
        else:
            run_all(args, sizes, work, say)
    finally:
        if args.keep:
            print(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.write:
        write_server(lines)
        print("written to bench/RESULTS.md")
    elif args.quick:
        print("(quick run: bench/RESULTS.md not written)")


def generate_query_datasets(env: dict[str, str], sizes: list[str], *, planar: bool) -> list[tuple[str, str, str]]:
    """Generate the datasets of the query figures (the planar ones only with `planar`); return
    (label, name, kind) of each."""
    datasets = []
    for size in sizes:
        n = SIZES[size]
        if planar:
            manage(
                env,
                "generate_points",
                f"gen-{size.lower()}-0",
                "--random",
                str(n),
                "--bounds",
                "0,0,1000,1000",
                "--seed",
                "1",
            )
        manage(env, "generate_points", f"sph-{size.lower()}-q", "--random", str(n), "--spherical", "--seed", "2")
        datasets += [
            (f"planar {size}", f"gen-{size.lower()}-0", "planar"),
            (f"lon/lat {size}", f"sph-{size.lower()}-q", "spherical"),
        ]
    return datasets


def cold_ratios(server: Gunicorn, work: Path, size: str, runs: int) -> dict[str, float]:
    """Return cold ÷ warm of the full stream of the planar dataset, in the default and the page's form."""
    name = f"gen-{size.lower()}-0"
    folder = version_dir(work, name)
    ratios = {}
    for fmt, coding in (("ndjson", "identity"), ("arrow", "zstd")):
        path = f"/api/datasets/{name}/points"
        warm = median([fetch_form(server.port, "GET", path, None, fmt, coding).total for _ in range(runs)])
        cold = []
        for _ in range(runs):
            evict(folder)
            cold.append(fetch_form(server.port, "GET", path, None, fmt, coding).total)
        ratios[f"{size} full stream, {fmt} {coding}: cold ÷ warm"] = median(cold) / warm
    return ratios


def run_queries_only(args: argparse.Namespace, sizes: list[str], work: Path, say: Callable[[str], None]) -> None:
    env = {**os.environ, "POINTSITE_VAR_DIR": str(work), "DJANGO_LOG_LEVEL": "WARNING"}
    env.pop("POINTS_STORE_URL", None)
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--noinput", "-v0")
    datasets = generate_query_datasets(env, sizes, planar=True)
    server = bench_server(env)
    try:
        figures = run_queries(server.port, datasets, args.runs, say)
        if "5M" in sizes:
            targets(figures, "gen-5m-0", "sph-5m-q", cold_ratios(server, work, "5M", args.cold_runs), say)
    finally:
        server.stop()


def run_all(args: argparse.Namespace, sizes: list[str], work: Path, say: Callable[[str], None]) -> None:
    env = {**os.environ, "POINTSITE_VAR_DIR": str(work), "DJANGO_LOG_LEVEL": "WARNING"}
    env.pop("POINTS_STORE_URL", None)
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--noinput", "-v0")
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.machine(),
    )
    say(f"# pointsite benchmark, {time.strftime('%Y-%m-%d %H:%M')} UTC")
    say("")
    say(
        f"Machine: {os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, embedded store, gunicorn gthread (1 worker, 8 threads), "
        f"loopback HTTP. Medians of {args.runs} runs unless noted; the machine is shared and noisy, so "
        "compare figures within one table (measured side by side), not across days."
    )
    say("")

    # --- generation and import -------------------------------------------------------------
    say("## Generation and import (points/s, peak RSS of the command)")
    say("")
    say("| what | points | points/s | peak RSS MB |")
    say("|---|---:|---:|---:|")

    def imports(label: str, n: int, runs: int, command: Callable[[int], list[str]]) -> None:
        rates, rss = [], []
        for i in range(runs):
            out, peak = manage(env, *command(i))
            rates.append(points_per_second(out))
            rss.append(peak)
        say(f"| {label} | {n:,} | {median(rates):,.0f} | {max(rss):.0f} |")

    for size in sizes:
        n = SIZES[size]
        runs = 3 if n <= 500_000 else 1
        imports(
            "generate_points --random",
            n,
            runs,
            lambda i, size=size, n=n: [  # type: ignore[misc]
                *("generate_points", f"gen-{size.lower()}-{i}", "--random", str(n)),
                *("--bounds", "0,0,1000,1000", "--seed", "1"),
            ],
        )
        csv_path, nd_path = write_files(work, n)
        for fmt, path in (("CSV", csv_path), ("NDJSON", nd_path)):
            imports(
                f"import_points {fmt} ({path.stat().st_size / 2**20:.0f} MB)",
                n,
                runs,
                lambda i, fmt=fmt, path=path, size=size: [  # type: ignore[misc]
                    *("import_points", f"imp-{fmt.lower()}-{size.lower()}-{i}", str(path))
                ],
            )
        csv_path.unlink()
        nd_path.unlink()
    # The other two datasets of the wire-bytes table: lon/lat points, and a CSV of 6 decimals.
    n6 = 500_000
    imports(
        "generate_points --random --spherical",
        n6,
        3,
        lambda i: ["generate_points", f"sph-500k-{i}", "--random", str(n6), "--spherical", "--seed", "1"],
    )
    csv6 = write_csv6(work, n6)
    imports(
        f"import_points CSV, 6 decimals ({csv6.stat().st_size / 2**20:.0f} MB)",
        n6,
        3,
        lambda i: ["import_points", f"csv6-500k-{i}", str(csv6)],
    )
    csv6.unlink()
    say("")

    query_datasets = generate_query_datasets(env, sizes, planar=False)

    # --- streams over HTTP -----------------------------------------------------------------
    server = bench_server(env)
    try:
        say("## Streams over HTTP (embedded store, NDJSON, no Content-Encoding asked for)")
        say("")
        say("| request | points | TTFB ms | total s | points/s | server peak RSS MB |")
        say("|---|---:|---:|---:|---:|---:|")
        results: dict[str, Fetch] = {}
        for size in sizes:
            name = f"gen-{size.lower()}-0"
            for label, method, url, body in (
                ("all points", "GET", f"/api/datasets/{name}/points", None),
                ("within polygon (20%, 1000 vertices)", "POST", f"/api/datasets/{name}/points/within", POLYGON),
            ):
                fetch(server.port, method, url, body)  # warm the page cache and the worker
                server.reset_peak()
                fetched = [fetch(server.port, method, url, body) for _ in range(args.runs)]
                assert all(r.complete for r in fetched), "a stream ended without its end line"
                best = Fetch(
                    median([r.ttfb for r in fetched]), median([r.total for r in fetched]), fetched[0].points, True
                )
                results[f"{label} {size}"] = best
                say(
                    f"| {label}, {size} | {best.points:,} | {best.ttfb * 1000:.1f} | {best.total:.3f} | "
                    f"{best.points / best.total:,.0f} | {server.peak_mb():.0f} |"
                )
        say("")
        if "500k" in sizes and not args.quick:
            say("## Side by side, 500k points, same server, same store")
            say("")
            say("| method | total s | points/s | (a) is faster by |")
            say("|---|---:|---:|---:|")
            ours = results["all points 500k"]
            paged = [fetch_pages(server.port, "gen-500k-0") for _ in range(3)]
            naive = [fetch(server.port, "GET", "/bench/per-point/gen-500k-0") for _ in range(3)]
            assert all(p.points == 500_000 for p in paged) and all(n.points == 500_000 for n in naive)
            t_b, t_c = median([p.total for p in paged]), median([n.total for n in naive])
            say(f"| (a) our NDJSON stream | {ours.total:.3f} | {500_000 / ours.total:,.0f} | 1x |")
            say(
                f"| (b) paginated JSON, 10,000 per page (3 runs) | {t_b:.3f} | {500_000 / t_b:,.0f} | "
                f"{t_b / ours.total:,.1f}x |"
            )
            say(
                f"| (c) one json.dumps per point per yield (3 runs) | {t_c:.3f} | {500_000 / t_c:,.0f} | "
                f"{t_c / ours.total:,.1f}x |"
            )
            say("")

        # --- every format and coding ---------------------------------------------------------
        say("## Streams per format and coding (server time: request to last byte, loopback)")
        say("")
        say(
            f"Warm: medians of {args.runs} runs with the files in the page cache; cold: medians of "
            f"{args.cold_runs} runs, each after dropping the dataset's section files from the page cache "
            "(the VM's host may still cache them). The three codings of a row group run interleaved. "
            "÷ identity: warm time over the same request's identity time in the same format. Peak RSS: "
            "the worker's VmHWM over one run (its ~70 MB at rest included). csv and geojson are the "
            "exports (points/export.py), transcoded from the store's Arrow batches."
        )
        say("")
        say(
            "| request | format | coding | points | wire B/point | TTFB ms | warm s | cold s | points/s (warm) "
            "| ÷ identity | server peak RSS MB |"
        )
        say("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        forms: dict[tuple[str, str, str], FormFigures] = {}
        for size in sizes:
            name = f"gen-{size.lower()}-0"
            folder = version_dir(work, name)
            for label, method, url, body in (
                ("all", "GET", f"/api/datasets/{name}/points", None),
                ("20% polygon", "POST", f"/api/datasets/{name}/points/within", POLYGON),
            ):
                for fmt in (*FORMATS, *EXPORTS) if label == "all" else FORMATS:
                    figures = measure_forms(
                        server, folder, method, url, body, fmt, runs=args.runs, cold_runs=args.cold_runs
                    )
                    for coding, f in figures.items():
                        forms[f"{label} {size}", fmt, coding] = f
                        cold = f"{f.cold:.3f}" if f.cold is not None else "-"
                        say(
                            f"| {label}, {size} | {fmt} | {coding} | {f.points:,} | {f.wire_bytes / f.points:.1f} | "
                            f"{f.ttfb * 1000:.1f} | {f.warm:.3f} | {cold} | {f.points / f.warm:,.0f} | "
                            f"{f.warm / figures['identity'].warm:.2f}x | {f.peak_mb:.0f} |"
                        )
        say("")

        # --- issue 9: shapes, counts, overviews ----------------------------------------------
        query_figures = run_queries(server.port, query_datasets, args.runs, say)

        # --- wire bytes per point --------------------------------------------------------------
        say("## Wire bytes per point, full stream (body as sent: Content-Encoding applied)")
        say("")
        say("| dataset | points | " + " | ".join(f"{f} {c}" for f in FORMATS for c in CODINGS) + " |")
        say("|---|---:|" + "---:|" * (len(FORMATS) * len(CODINGS)))
        wire: dict[str, dict[tuple[str, str], float]] = {}
        datasets = [(f"random planar doubles, {size}", f"gen-{size.lower()}-0", size) for size in sizes]
        datasets += [
            ("random lon/lat doubles (spherical), 500k", "sph-500k-0", ""),
            ("CSV import, 6-decimal x/y in [0, 1000), 500k", "csv6-500k-0", ""),
        ]
        for label, name, size in datasets:
            row: dict[tuple[str, str], float] = {}
            points = 0
            for fmt in FORMATS:
                for coding in CODINGS:
                    if size:
                        f = forms[f"all {size}", fmt, coding]
                        points, row[fmt, coding] = f.points, f.wire_bytes / f.points
                        continue
                    got = fetch_form(server.port, "GET", f"/api/datasets/{name}/points", None, fmt, coding, keep=True)
                    assert got.body is not None
                    points = checked_points(got.body, fmt, coding)
                    row[fmt, coding] = got.wire_bytes / points
            wire[name] = row
            say(f"| {label} | {points:,} | " + " | ".join(f"{row[f, c]:.1f}" for f in FORMATS for c in CODINGS) + " |")
        say("")
    finally:
        server.stop()

    # --- disk ------------------------------------------------------------------------------
    say("## Disk: bytes per point of a dataset version (every section kept; the SQLite index aside)")
    say("")
    sections = [s.value for s in Section] + ["grid"]
    say("| dataset | points | total B/point | " + " | ".join(sections) + " |")
    say("|---|---:|---:|" + "---:|" * len(sections))
    for label, name, _ in datasets:
        folder = version_dir(work, name)
        with sqlite3.connect(f"file:{work / 'points.sqlite3'}?mode=ro", uri=True) as conn:
            (count,) = conn.execute("SELECT count FROM datasets WHERE name = ?", (name,)).fetchone()
        per = {s: (folder / s).stat().st_size / count for s in sections}
        total = sum(f.stat().st_size for f in folder.iterdir()) / count
        say(f"| {label} | {count:,} | {total:.1f} | " + " | ".join(f"{per[s]:.1f}" for s in sections) + " |")
    index_bytes = sum(p.stat().st_size for p in work.glob("points.sqlite3*") if p.is_file())
    say("")
    say(
        f"The index (points.sqlite3, every dataset of this run) is {index_bytes / 2**20:.1f} MB: one row "
        "per block of 4,096 points."
    )
    say("")

    # --- targets ---------------------------------------------------------------------------
    say("## Targets (issue 8, server side)")
    say("")
    say("| target | measured | limit | met |")
    say("|---|---:|---:|---|")
    if "5M" in sizes:
        for fmt in FORMATS:
            ratio = forms["all 5M", fmt, "zstd"].warm / forms["all 5M", fmt, "identity"].warm
            met = "met" if ratio <= TARGET_ZSTD_RATIO else "MISSED"
            say(
                f"| 5M full stream, {fmt} zstd ÷ {fmt} identity, loopback | {ratio:.2f}x | ≤ {TARGET_ZSTD_RATIO}x | {met} |"
            )
    for size in sizes:
        per_point = wire[f"gen-{size.lower()}-0"]["arrow", "zstd"]
        met = "met" if per_point <= TARGET_WIRE_BYTES else "MISSED"
        say(
            f"| wire bytes, random doubles, {size}, arrow + zstd (the page's choice) | {per_point:.1f} B/point | "
            f"≤ {TARGET_WIRE_BYTES:.0f} | {met} |"
        )
    say("")

    if "5M" in sizes:
        ratios: dict[str, float] = {}
        for fmt, coding in (("ndjson", "identity"), ("arrow", "zstd")):
            full = forms["all 5M", fmt, coding]
            if full.cold is not None:
                ratios[f"5M full stream, {fmt} {coding}: cold ÷ warm"] = full.cold / full.warm
        targets(query_figures, "gen-5m-0", "sph-5m-q", ratios, say)

    say("## MongoDB read path on synthetic BSON (no server here): 10,000 small documents a batch")
    say("")
    say("| path | documents/s |")
    say("|---|---:|")
    for label, rate in mongo_decode_figures():
        say(f"| {label} | {rate:,.0f} |")
    say("")

    # --- MongoDB beside the embedded store, when MONGODB_URI names a server (bench/mongo.py) ----
    mongo_section(args.quick, args.runs, json.loads(POLYGON), say)


if __name__ == "__main__":
    main()
