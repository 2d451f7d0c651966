"""Measure the page in headless Chromium: click → last point drawn, longest main-thread task, frames per second.

Usage: .venv/bin/python bench/frontend.py [--runs 5] [--sizes 500000,5000000] [--url http://host:port]
       [--write] [--quick]

Without --url it runs its own server, bench.server.Gunicorn (gthread, 2 workers x 8 threads: the
server the figures in frontend/README.md were measured on; `make run` has started uvicorn,
bin/serve, since), on a free port, over a store and database of its own in bench/out/frontend/
(the datasets are generated once and kept). Each run
opens a fresh page, so the figures are a user's first click, not a warmed-up loop.

Two ways to ask for everything, as issue 3 describes: "Show all", and the click that closes a
polygon covering the whole dataset. Time is measured inside the page, from the click event's
timestamp to the moment the last point was put on the canvas (the page's data-finished-at).
Long tasks come from a PerformanceObserver('longtask') (Chrome reports tasks over 50 ms);
frames per second count requestAnimationFrame callbacks over the same span.

Issue 8 adds: both stream formats (the page's `?format=arrow`, its default, and `?format=ndjson`),
links throttled by Chrome (CDP Network.emulateNetworkConditions on the page's session, set
before the page loads; the points are fetched by the page's dedicated worker, and the figures
are checked against wire bytes ÷ throughput to show the throttling reached that fetch too), and
1M points with two properties against 1M plain ones. `--write` puts the tables in
bench/RESULTS.md, between the markers bench/run.py --write leaves for them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_frontend  # noqa: E402
from bench.server import HOST, Gunicorn  # noqa: E402
from points.generators import random_points  # noqa: E402
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

OUT = ROOT / "bench" / "out" / "frontend"
# Issue 3's targets, seconds from click to last point drawn, and the longest task allowed.
TARGET_SECONDS = {500_000: 1.0, 5_000_000: 4.0}
LONG_TASK_LIMIT_MS = 100.0
FORMATS = ("arrow", "ndjson")  # the page's default first


@dataclass(frozen=True)
class Link:
    """A network link Chrome emulates (None: loopback, not throttled)."""

    label: str
    mbit: float
    rtt_ms: float

    @property
    def bytes_per_second(self) -> float:
        return self.mbit * 1e6 / 8

    def conditions(self) -> dict[str, Any]:
        # CDP's throughputs are bytes per second; its latency is added to each request (an RTT).
        rate = self.bytes_per_second
        return {"offline": False, "latency": self.rtt_ms, "downloadThroughput": rate, "uploadThroughput": rate}


LINKS = [Link("50 Mbit/s, 40 ms", 50, 40), Link("10 Mbit/s, 80 ms", 10, 80)]
# A throttled run expected to take longer than this (wire bytes ÷ throughput) is skipped.
MAX_RUN_SECONDS = 60.0
# Issue 8's page targets: (points, link label or "loopback") → seconds, click → done, page's format.
PAGE_TARGETS = [
    (500_000, "50 Mbit/s, 40 ms", 2.5),
    (500_000, "10 Mbit/s, 80 ms", 10.0),
    (5_000_000, "loopback", 1.2),
    (500_000, "loopback", 0.35),
]
PROPS_POINTS = 1_000_000

# Installed in the page before the click: remembers the click's time, collects long tasks and
# counts animation frames, so nothing depends on the round trips of the driver.
INSTRUMENT = """() => {
  const probe = { clickAt: null, longTasks: [], frames: [] };
  window.__bench = probe;
  addEventListener('click', (event) => { if (probe.clickAt === null) probe.clickAt = event.timeStamp; }, { capture: true });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) probe.longTasks.push({ start: entry.startTime, duration: entry.duration });
  }).observe({ type: 'longtask' });
  const frame = (now) => { probe.frames.push(now); if (!probe.stop) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
}"""

COLLECT = """() => {
  const probe = window.__bench;
  probe.stop = true;
  const status = document.querySelector('#status').dataset;
  const end = Number(status.finishedAt);
  const inside = (t) => t >= probe.clickAt && t <= end;
  return {
    state: status.state,
    received: Number(status.received),
    seconds: (end - probe.clickAt) / 1000,
    longestTaskMs: Math.max(0, ...probe.longTasks.filter((t) => inside(t.start)).map((t) => t.duration)),
    frames: probe.frames.filter(inside).length,
    format: status.format || '',
    encoding: status.encoding || '',
    wireBytes: Number(status.wireBytes || 0),
    bodyBytes: Number(status.bodyBytes || 0),
  };
}"""


@dataclass
class Run:
    seconds: float
    longest_task_ms: float
    fps: float
    received: int = 0
    format: str = ""  # what came, by the answer's Content-Type (the status's data-format)
    encoding: str = ""  # its Content-Encoding (data-encoding)
    wire_bytes: int = 0  # 0 when the page did not say
    body_bytes: int = 0


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, check=True)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def write_props_csv(path: Path, n: int) -> None:
    """Write the points of `generate_points --random n --seed 1` with two properties, as CSV:
    the same coordinates as the plain dataset of that size, plus a category and a number."""
    kinds = np.array(["bus", "car", "bike", "walk", "train", "tram", "ferry", "taxi"])
    rng = np.random.default_rng(8)
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "x", "y", "kind", "value"])
        for batch in random_points(n, (0.0, 0.0, 1000.0, 1000.0), seed=1):
            size = len(batch)
            kind = kinds[rng.integers(0, len(kinds), size)].tolist()
            value = np.round(rng.uniform(0, 100, size), 2).tolist()
            ids = np.asarray(batch.ids).tolist()
            writer.writerows(zip(ids, batch.xs.tolist(), batch.ys.tolist(), kind, value, strict=True))


@contextmanager
def own_server(sizes: list[int], *, props: bool = False, out: Path = OUT) -> Iterator[str]:
    """Run bench.server.Gunicorn over `out` (bench/out/frontend/), with a dataset of each size, and yield its URL.

    With `props`, also PROPS_POINTS plain points and the same points with two properties."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "POINTSITE_VAR_DIR": str(out), "POINTS_STORE_URL": f"sqlite:///{out / 'points.sqlite3'}"}
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--noinput", "-v", "0")
    try:
        # Returns once it answers with both workers up (RuntimeError if it does not start).
        server = Gunicorn(env, workers=2, threads=8, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    url = f"http://{HOST}:{server.port}"
    try:
        have = {d["name"]: d for d in get_json(f"{url}/api/datasets")}

        def missing(name: str, size: int) -> bool:
            return have.get(name, {}).get("count") != size or have[name]["status"] != "ready"

        wanted = sorted({*sizes, PROPS_POINTS} if props else set(sizes))
        for size in wanted:
            name = dataset_name(size)
            if missing(name, size):
                print(f"generating {name} (once; kept in {out})…", flush=True)
                manage(env, "generate_points", name, "--random", str(size), "--seed", "1", "--replace", "-v", "0")
            check_stream(f"{url}/api/datasets/{name}/points")
        if props:
            name = props_name(PROPS_POINTS)
            if missing(name, PROPS_POINTS):
                print(f"importing {name} (once; kept in {out})…", flush=True)
                path = out / f"{name}.csv"
                write_props_csv(path, PROPS_POINTS)
                try:
                    manage(env, "import_points", name, str(path), "--replace", "-v", "0")
                finally:
                    path.unlink()
            check_stream(f"{url}/api/datasets/{name}/points")
        yield url
    finally:
        server.stop()


def check_stream(url: str) -> None:
    """Read the first line of a stream, or stop saying how to start over (a store kept from an older version)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            json.loads(response.readline())
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"{url} does not stream ({exc}); delete its data folder (bench/out/frontend/) and run again"
        ) from exc


def dataset_name(size: int) -> str:
    return f"bench-{size}"


def props_name(size: int) -> str:
    return f"bench-{size}-props"


# The worker has loaded the Arrow reader (it imports it at start, and waits for it only when an
# Arrow answer comes): on a slow link the page must be settled before the click, as a user's is.
WORKER_READY = "performance.getEntriesByType('resource').some((e) => e.name.includes('arrow.mjs'))"


def open_page(browser: Browser, url: str, name: str, fmt: str | None = None, link: Link | None = None) -> Page:
    """Open the page on dataset `name`, asking for `fmt` (None: the page's default), over `link`."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    if link is not None:
        # Set on the page's session before anything loads; Chromium applies it to the page's
        # dedicated worker's fetches too (checked against wire bytes ÷ throughput in the tables).
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", link.conditions())
    query = f"?format={fmt}" if fmt else ""
    page.goto(f"{url}/{query}#dataset={name}")
    page.wait_for_function("document.querySelector('#status').dataset.state === 'idle' && window.pointsite")
    if link is not None:
        deadline = time.monotonic() + 30
        while not any(w.evaluate(WORKER_READY) for w in page.workers) and time.monotonic() < deadline:
            time.sleep(0.05)
    return page


def measure(page: Page, act: str) -> Run:
    """Ask for every point by `act` ('show-all' or 'polygon') and return the figures."""
    if act == "polygon":
        # Three corners of the plot area and a fourth, well outside the data (the view pads it).
        box = page.locator("#plot rect.hit").bounding_box()
        assert box
        inset = 6
        corners = [
            (box["x"] + inset, box["y"] + inset),
            (box["x"] + box["width"] - inset, box["y"] + inset),
            (box["x"] + box["width"] - inset, box["y"] + box["height"] - inset),
            (box["x"] + inset, box["y"] + box["height"] - inset),
        ]
        for corner in corners:
            page.mouse.click(*corner)
        page.evaluate(INSTRUMENT)
        page.mouse.click(*corners[0])  # the click that closes the polygon
    else:
        page.evaluate(INSTRUMENT)
        page.click("#show-all")
    page.wait_for_function(
        "['done', 'error', 'cut', 'cancelled'].includes(document.querySelector('#status').dataset.state)"
        " && document.querySelector('#status').dataset.finishedAt",
        timeout=300_000,
        polling=100,
    )
    figures = page.evaluate(COLLECT)
    if figures["state"] != "done":
        raise SystemExit(f"the query ended {figures['state']}: {page.inner_text('#status .message')}")
    return Run(
        figures["seconds"],
        figures["longestTaskMs"],
        figures["frames"] / figures["seconds"],
        figures["received"],
        figures["format"],
        figures["encoding"],
        int(figures["wireBytes"]),
        int(figures["bodyBytes"]),
    )


def runs_of(
    browser: Browser, url: str, name: str, act: str, fmt: str, link: Link | None, n: int, label: str
) -> list[Run]:
    """Measure `n` fresh pages; print each run's seconds."""
    runs = []
    for _ in range(n):
        page = open_page(browser, url, name, fmt, link)
        runs.append(measure(page, act))
        page.close()
    if fmt and runs[0].format and runs[0].format != fmt:
        raise SystemExit(f"{name}: the page asked for {fmt} and got {runs[0].format}")
    print(f"  {label:<44} " + "  ".join(f"{r.seconds:.2f}s" for r in runs), flush=True)
    return runs


def first_picture(browser: Browser, url: str, name: str, link: Link | None, n: int, label: str) -> list[float]:
    """Open `n` fresh pages on dataset `name` over `link`; return the seconds from the page's
    navigation start to its overview of the dataset drawn (issue 11: data in view before any
    query), as the page's own clock says (performance.now() at the draw, from time origin)."""
    seconds = []
    for _ in range(n):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        if link is not None:
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", link.conditions())
        page.goto(f"{url}/#dataset={name}")
        page.wait_for_function("window.pointsite && window.pointsite.overview().drawnAt !== null", timeout=120_000)
        seconds.append(page.evaluate("window.pointsite.overview().drawnAt") / 1000)
        page.close()
    print(f"  {label:<44} " + "  ".join(f"{s:.2f}s" for s in seconds), flush=True)
    return seconds


def med(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def spread(runs: list[Run]) -> str:
    seconds = [r.seconds for r in runs]
    return f"{statistics.median(seconds):.2f} [{min(seconds):.2f}-{max(seconds):.2f}]"


def transport(runs: list[Run]) -> str:
    r = runs[-1]
    return f"{r.format or '?'}/{r.encoding or '?'}"


def wire_per_point(runs: list[Run]) -> str:
    r = runs[-1]
    return f"{r.wire_bytes / r.received:.1f}" if r.wire_bytes and r.received else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the median is printed (default 5)")
    parser.add_argument(
        "--slow-runs", type=int, default=3, help="runs per figure of 5M points on a throttled link (default 3)"
    )
    parser.add_argument("--sizes", default="500000,5000000", help="dataset sizes, comma-separated")
    parser.add_argument("--url", help="an already running pointsite with datasets named bench-<size>")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="the own server's data folder (default bench/out/frontend)"
    )
    parser.add_argument("--write", action="store_true", help="also write the tables into bench/RESULTS.md")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 500k only, 1 run, the 50 Mbit/s link, no --write"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.runs, args.slow_runs, args.write = "500000", 1, 1, False
    sizes = [int(s) for s in args.sizes.split(",")]
    links = LINKS[:1] if args.quick else LINKS
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"no Chromium at {CHROMIUM}: run `make chromium`")

    server = nullcontext(args.url) if args.url else own_server(sizes, props=True, out=args.out)
    loop: dict[tuple[int, str, str], list[Run]] = {}  # (size, act, format) → runs, loopback
    slow: dict[tuple[str, int, str], list[Run] | str] = {}  # (link, size, format) → runs, or why skipped
    props: dict[tuple[str, str], list[Run]] = {}  # (plain | props, format) → runs
    firsts: dict[tuple[str, int], list[float]] = {}  # (link label | loopback, size) → seconds to the overview
    started = time.monotonic()
    with server as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        print("loopback:", flush=True)
        for size in sizes:
            for act in ("show-all", "polygon"):
                for fmt in FORMATS:
                    loop[size, act, fmt] = runs_of(
                        browser, url, dataset_name(size), act, fmt, None, args.runs, f"{size:>9,} {act:<9} {fmt}"
                    )
        for link in links:
            print(f"{link.label}:", flush=True)
            for size in sizes:
                for fmt in FORMATS:
                    wire = loop[size, "show-all", fmt][-1].wire_bytes
                    expected = wire / link.bytes_per_second
                    if expected > MAX_RUN_SECONDS:
                        slow[link.label, size, fmt] = f"skipped (≥ {expected:.0f} s a run)"
                        print(f"  {size:>9,} {fmt:<7} skipped: {wire / 1e6:.0f} MB would take {expected:.0f} s")
                        continue
                    n = args.slow_runs if size > 1_000_000 else args.runs
                    slow[link.label, size, fmt] = runs_of(
                        browser, url, dataset_name(size), "show-all", fmt, link, n, f"{size:>9,} show-all  {fmt}"
                    )
        print("first picture (page load → overview drawn):", flush=True)
        for over in [None, *links]:
            for size in sizes:
                where = over.label if over else "loopback"
                firsts[where, size] = first_picture(
                    browser, url, dataset_name(size), over, args.runs, f"{size:>9,} {where}"
                )
        if not args.url:
            print("properties (loopback):", flush=True)
            for kind, name in (("plain", dataset_name(PROPS_POINTS)), ("props", props_name(PROPS_POINTS))):
                for fmt in FORMATS:
                    props[kind, fmt] = runs_of(
                        browser, url, name, "show-all", fmt, None, args.runs, f"{name:<20} show-all  {fmt}"
                    )
        browser.close()
    minutes = (time.monotonic() - started) / 60

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    failed = False
    say("## Front end in headless Chromium (bench/frontend.py)")
    say("")
    say(
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC, same machine; Chromium {browser_version()}, headless, software "
        f"rendering. Click → last point drawn (the page's own clock), fresh page per run; median [min-max] of "
        f"{args.runs} runs ({args.slow_runs} for 5M on a throttled link). The page asks for `?format=`; what came "
        f"(Content-Type/Content-Encoding) is the page's data-format/data-encoding. {minutes:.0f} min in all."
    )
    say("")
    say("```")
    say(f"Front end in headless Chromium, loopback ({args.runs} runs each, fresh page per run; median [min-max]):")
    say(
        f"{'points':>10}  {'asked by':<9}  {'format':<12}  {'click → last point drawn':<26}  {'target':<7}  "
        f"{'longest task':<13}  fps"
    )
    for (size, act, _), runs in loop.items():
        seconds = [r.seconds for r in runs]
        median = statistics.median(seconds)
        target = TARGET_SECONDS.get(size)
        longest = max(r.longest_task_ms for r in runs)
        ok = (target is None or median <= target) and longest <= LONG_TASK_LIMIT_MS
        failed |= not ok
        task = "none > 50 ms" if longest == 0 else f"{longest:.0f} ms"
        say(
            f"{size:>10,}  {act:<9}  {transport(runs):<12}  {median:5.2f} s [{min(seconds):.2f}-{max(seconds):.2f}]{'':<9}"
            f"  {'≤ ' + str(target) + ' s' if target else '':<7}  {task:<13}  {statistics.median(r.fps for r in runs):.0f}"
            f"{'' if ok else '   << MISSED'}"
        )
    say("(longest task: the worst over all runs, while the points arrived; Chrome reports tasks over 50 ms)")
    say("```")
    say("")

    say("### First picture: page load → the dataset's overview drawn (issue 11), seconds")
    say("")
    say(
        "Fresh page on `#dataset=…`, navigation start to the overview grid (`…/overview`, cells of ~2 px) "
        "on the canvas, by the page's clock; before issue 11 the page showed nothing until Show all "
        "(whose click → done is in the next table). Median [min-max]."
    )
    say("")
    say("| points | loopback | " + " | ".join(link.label for link in links) + " |")
    say("|---:|---:|" + "---:|" * len(links))
    for size in sizes:
        row = [firsts[where, size] for where in ["loopback", *(link.label for link in links)]]
        say(
            f"| {size:,} | " + " | ".join(f"{statistics.median(c):.2f} [{min(c):.2f}-{max(c):.2f}]" for c in row) + " |"
        )
    say("")

    say("### Show all over links throttled by Chrome (CDP Network.emulateNetworkConditions), seconds")
    say("")
    say("| points | format | wire B/point | loopback | " + " | ".join(link.label for link in links) + " |")
    say("|---:|---|---:|---:|" + "---:|" * len(links))
    for size in sizes:
        for fmt in FORMATS:
            base = loop[size, "show-all", fmt]
            cells = []
            for link in links:
                got = slow.get((link.label, size, fmt), "-")
                cells.append(got if isinstance(got, str) else spread(got))
            say(
                f"| {size:,} | {transport(base)} | {wire_per_point(base)} | {spread(base)} | "
                + " | ".join(cells)
                + " |"
            )
    say("")
    say(
        "Throttling check: the worker's fetch is throttled if its time is at least wire bytes ÷ "
        "throughput (+ one RTT); a ratio well under 1 would mean the emulation missed it. The conditions "
        "are set on the page's own CDP session (`context.new_cdp_session(page)`, Network.enable, then "
        "Network.emulateNetworkConditions, before the page loads); no session on the worker's target is "
        "needed while every ratio here is ≥ 0.9. Chrome adds the latency once per request and paces the "
        "bytes; it does not model TCP slow start or loss."
    )
    say("")
    say("| link | points | format | median s | wire MB | wire ÷ throughput + RTT, s | ratio |")
    say("|---|---:|---|---:|---:|---:|---:|")
    for (label, size, fmt), got in slow.items():
        if isinstance(got, str):
            continue
        link = next(link for link in links if link.label == label)
        wire = got[-1].wire_bytes
        floor = wire / link.bytes_per_second + link.rtt_ms / 1000
        ratio = med(got) / floor
        note = "" if ratio >= 0.9 else " **not throttled?**"
        say(f"| {label} | {size:,} | {fmt} | {med(got):.2f} | {wire / 1e6:.1f} | {floor:.2f} | {ratio:.2f}{note} |")
    say("")

    if props:
        say(
            f"### {PROPS_POINTS:,} points with two properties (a category and a number) against the same points "
            "without, Show all, loopback"
        )
        say("")
        say("| points | format | wire B/point | body B/point | click → done s | ÷ plain |")
        say("|---|---|---:|---:|---:|---:|")
        for fmt in FORMATS:
            for kind in ("plain", "props"):
                runs = props[kind, fmt]
                r = runs[-1]
                ratio = med(runs) / med(props["plain", fmt])
                say(
                    f"| {kind} | {transport(runs)} | {wire_per_point(runs)} | {r.body_bytes / max(r.received, 1):.1f} | "
                    f"{spread(runs)} | {ratio:.2f}x |"
                )
        say("")

    say("### Targets (issue 8, the page; its default format, Arrow)")
    say("")
    say("| target | measured | limit | met |")
    say("|---|---:|---:|---|")
    for size, where, limit in PAGE_TARGETS:
        if size not in sizes:
            continue
        runs_or = (
            loop.get((size, "show-all", "arrow"))
            if where == "loopback"
            else slow.get((where, size, "arrow"), "not measured")
        )
        if runs_or is None or isinstance(runs_or, str):
            say(f"| {size:,} points, {where}, click → done | {runs_or or 'not measured'} | ≤ {limit} s | - |")
            continue
        value = med(runs_or)
        say(
            f"| {size:,} points, {where}, click → done | {value:.2f} s | ≤ {limit} s | {'met' if value <= limit else 'MISSED'} |"
        )
    say("")

    if args.write:
        write_frontend(lines)
        print("written to bench/RESULTS.md")
    elif args.quick:
        print("(quick run: bench/RESULTS.md not written)")
    if failed:
        sys.exit(1)


def browser_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "?"
    return next((w for w in out.split() if w[:1].isdigit()), "?")


if __name__ == "__main__":
    main()
