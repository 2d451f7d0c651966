#!/usr/bin/env python
"""`make bench`: stream, query, generate and import figures, side by side in one run, as medians.

Starts gunicorn the way `make run` does (one worker process, so its memory can be watched), on a
throwaway data folder, and reads every response over HTTP on loopback with a streaming client.
Prints Markdown tables; `--write` also saves them to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import math
import os
import platform
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gunicorn import Gunicorn  # noqa: E402
from points.ndjson import encode_points  # noqa: E402

SIZES = {"500k": 500_000, "5M": 5_000_000}


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
    """Time the MongoDB read path on synthetic BSON batches (no server can run here)."""
    import bson
    import msgspec

    docs = [{"id": i, "pt": [i * 0.001, i * 0.002]} for i in range(10_000)]
    raw = b"".join(bson.encode(d) for d in docs)
    encoder = msgspec.json.Encoder()
    ballast = [{"k": i} for i in range(2_000_000)]  # a busy heap, as in a long-running worker

    def run(label: str, fn: Callable[[], object]) -> tuple[str, float]:
        times = []
        for _ in range(7):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return label, len(docs) / median(times)

    out = [run("decode_all + encode_lines, busy heap", lambda: encoder.encode_lines(bson.decode_all(raw)))]
    gc.freeze()
    out.append(run("decode_all + encode_lines, after gc.freeze()", lambda: encoder.encode_lines(bson.decode_all(raw))))
    gc.unfreeze()
    del ballast
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per stream figure (median)")
    parser.add_argument("--sizes", default="500k,5M", help="comma-separated: 500k,5M")
    parser.add_argument("--write", action="store_true", help="also write bench/RESULTS.md")
    args = parser.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    work = Path(tempfile.mkdtemp(prefix="pointsite-bench-"))
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
    say()
    say(
        f"Machine: {os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, embedded store, gunicorn gthread (1 worker, 8 threads), "
        f"loopback HTTP. Medians of {args.runs} runs unless noted."
    )
    say()

    # --- generation and import -------------------------------------------------------------
    say("## Generation and import (points/s, peak RSS of the command)")
    say()
    say("| what | points | points/s | peak RSS MB |")
    say("|---|---:|---:|---:|")
    for size in sizes:
        n = SIZES[size]
        runs = 3 if n <= 500_000 else 1
        rates, rss = [], []
        for i in range(runs):
            out, peak = manage(
                env,
                "generate_points",
                f"gen-{size.lower()}-{i}",
                "--random",
                str(n),
                "--bounds",
                "0,0,1000,1000",
                "--seed",
                "1",
            )
            rates.append(points_per_second(out))
            rss.append(peak)
        say(f"| generate_points --random | {n:,} | {median(rates):,.0f} | {max(rss):.0f} |")
        csv_path, nd_path = write_files(work, n)
        for fmt, path in (("CSV", csv_path), ("NDJSON", nd_path)):
            rates, rss = [], []
            for i in range(runs):
                out, peak = manage(env, "import_points", f"imp-{fmt.lower()}-{size.lower()}-{i}", str(path))
                rates.append(points_per_second(out))
                rss.append(peak)
            say(
                f"| import_points {fmt} ({path.stat().st_size / 2**20:.0f} MB) | {n:,} | {median(rates):,.0f} | "
                f"{max(rss):.0f} |"
            )
        csv_path.unlink()
        nd_path.unlink()
    say()

    # --- streams over HTTP -----------------------------------------------------------------
    server = bench_server(env)
    try:
        say("## Streams over HTTP (embedded store)")
        say()
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
        say()
        if "500k" in sizes:
            say("## Side by side, 500k points, same server, same store")
            say()
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
            say()
    finally:
        server.stop()

    say("## MongoDB read path on synthetic BSON (no server here): 10,000 small documents a batch")
    say()
    say("| path | documents/s |")
    say("|---|---:|")
    for label, rate in mongo_decode_figures():
        say(f"| {label} | {rate:,.0f} |")
    say()
    if args.write:
        (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n")
        print("written to bench/RESULTS.md")


if __name__ == "__main__":
    main()
