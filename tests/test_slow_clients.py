"""Slow and idle clients against the real server `make run` starts (bin/serve: uvicorn and
pointsite.asgi_limits), over raw sockets: they are cut off in bounded time and never stop others.

Two servers (one worker each, so one process holds all the memory), over a throwaway data folder
with one 200,000-point dataset: `quick` (POINTS_STREAM_IDLE_SECONDS=2) for the idle and slow-request
cuts, `patient` (idle 30 s, POINTS_MAX_STREAM_SECONDS=6) for the stream time limit, the probes and
memory. Every wait polls against a deadline.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from bench.server import HOST, ROOT, Serve
from points.stores.embedded.blockfile import Section

SECTIONS = {s.value for s in Section}

DATASET = "slow"
POINTS = 200_000  # about 12 MB of NDJSON: no slow client here ever gets to its end
QUICK_IDLE = 2
PATIENT_MAX = 6
GRACE = 2  # pointsite.asgi_limits.GRACE_SECONDS
MARGIN = 3.0  # seconds allowed beyond a limit for timers, scheduling and a loaded CI machine
POLYGON = b'{"type":"Polygon","coordinates":[[[500,500],[510,500],[510,510],[500,510],[500,500]]]}'
STREAM_REQUEST = f"GET /api/datasets/{DATASET}/points HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads server memory and sockets from /proc")


def _env(var: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POINTS_", "POINTSITE_", "DJANGO_")) and k != "DATABASE_URL"
    }
    return {**env, "POINTSITE_VAR_DIR": str(var), "DJANGO_LOG_LEVEL": "WARNING", **settings}


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("slow-clients")
    env = _env(folder)
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["generate_points", DATASET, "--random", str(POINTS), "--bounds", "0,0,1000,1000", "--seed", "1"],
    ):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
        )
    return folder


@pytest.fixture(scope="module")
def quick(var: Path) -> Iterator[Serve]:
    server = Serve(_env(var, POINTS_STREAM_IDLE_SECONDS=str(QUICK_IDLE)), workers=1, stdout=subprocess.DEVNULL)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def patient(var: Path) -> Iterator[Serve]:
    server = Serve(
        _env(var, POINTS_STREAM_IDLE_SECONDS="30", POINTS_MAX_STREAM_SECONDS=str(PATIENT_MAX)),
        workers=1,
        stdout=subprocess.DEVNULL,
    )
    yield server
    server.stop()


# --- helpers -----------------------------------------------------------------------------------


def wait_for(check: Callable[[], bool], seconds: float, what: str, every: float = 0.05) -> float:
    """Poll `check` until it is true; return the seconds it took; fail after `seconds`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds:g} s: {what}")
        time.sleep(every)
    return time.monotonic() - started


def slow_socket(server: Serve, request: bytes = STREAM_REQUEST, rcvbuf: int = 4096) -> socket.socket:
    """A connection with a small receive buffer (so the server, not the kernel, holds what it does
    not take), its request sent."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((HOST, server.port))
    if request:
        s.sendall(request)
    return s


def read_head(s: socket.socket) -> bytes:
    """Read until the end of the response's headers; return them."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = s.recv(1024)
        assert piece, f"connection closed before the headers: {data!r}"
        data += piece
    return data.split(b"\r\n\r\n", 1)[0]


def server_has(server: Serve, client: socket.socket) -> bool:
    """Whether the server still holds the TCP connection of `client` (any state but closed)."""
    local = client.getsockname()
    for p in server.workers():
        for c in p.net_connections(kind="tcp"):
            if c.raddr and (c.raddr.ip, c.raddr.port) == local and c.status != psutil.CONN_CLOSE:
                return True
    return False


def open_block_files(server: Serve) -> int:
    """Block files of the store the server has open: a stream's cursor holds its section's (the grid
    file a polygon query maps stays open, and is not counted)."""
    return sum(
        1 for p in server.workers() for f in p.open_files() if ".blocks" in f.path and Path(f.path).name in SECTIONS
    )


def reads_to_end(s: socket.socket, seconds: float) -> bytes:
    """Read until the server closes (EOF or reset); fail if it does not within `seconds`."""
    s.settimeout(seconds)
    data = b""
    try:
        while piece := s.recv(65536):
            data += piece
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server did not close the connection within {seconds:g} s")
    return data


def probe(server: Serve, polygon: bool) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        if polygon:
            conn.request("POST", f"/api/datasets/{DATASET}/points/within", body=POLYGON)
        else:
            conn.request("GET", "/api/datasets")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, body[:200]
    if polygon:
        assert b'"end":true' in body[-100:]
    return time.perf_counter() - started


# --- the table's rows --------------------------------------------------------------------------


def test_many_slow_readers_do_not_stop_a_probe(patient: Serve) -> None:
    readers = [slow_socket(patient) for _ in range(128)]
    try:
        for s in readers:
            read_head(s)  # every stream has started, and now reads at most a trickle
        stop = threading.Event()

        def trickle() -> None:  # 128 readers at about 1 KB/s each
            while not stop.wait(0.1):
                for s in readers:
                    s.setblocking(False)
                    with contextlib.suppress(OSError):
                        s.recv(100)

        reader = threading.Thread(target=trickle, daemon=True)
        reader.start()
        try:
            times = [probe(patient, polygon=i % 2 == 1) for i in range(10)]
        finally:
            stop.set()
            reader.join()
        assert max(times) < 1.0, times
    finally:
        for s in readers:
            s.close()


def test_a_client_that_stops_reading_is_disconnected_and_its_cursor_released(quick: Serve) -> None:
    wait_for(lambda: open_block_files(quick) == 0, 10, "no stream open before the test")
    s = slow_socket(quick)
    try:
        assert b" 200 " in read_head(s)
        assert open_block_files(quick) > 0  # the stream's cursor holds the version's files
        started = time.monotonic()
        wait_for(lambda: not server_has(quick, s), QUICK_IDLE + MARGIN + 5, "the server dropped the idle client")
        elapsed = time.monotonic() - started
        # The kernel's buffers fill first (a fraction of a second here), then a send waits the idle time.
        assert QUICK_IDLE - 0.5 <= elapsed <= QUICK_IDLE + MARGIN, elapsed
        wait_for(lambda: open_block_files(quick) == 0, MARGIN, "the stream's cursor released")
        probe(quick, polygon=False)  # and the server is fine
    finally:
        s.close()


def test_a_client_reading_slowly_is_not_taken_for_an_idle_one(quick: Serve) -> None:
    """About 4 KB/s, for three times the idle time: each wait of the server's send outlasts the
    idle time, but the client took bytes meanwhile, so its stream goes on."""
    s = slow_socket(quick)
    try:
        assert b" 200 " in read_head(s)
        received = 0
        started = time.monotonic()
        while time.monotonic() - started < 3 * QUICK_IDLE + MARGIN:
            piece = s.recv(1024)
            assert piece, f"the server cut a client that was reading, after {time.monotonic() - started:.1f} s"
            received += len(piece)
            time.sleep(0.25)
        assert server_has(quick, s) and received > 0
    finally:
        s.close()


def test_max_stream_seconds_holds_while_a_send_is_blocked(patient: Serve) -> None:
    started = time.monotonic()
    s = slow_socket(patient)
    try:
        assert b" 200 " in read_head(s)
        # The client reads nothing more, so the server's send blocks; idle is 30 s here, far beyond.
        wait_for(lambda: not server_has(patient, s), PATIENT_MAX + GRACE + MARGIN, "the stream's time limit")
        elapsed = time.monotonic() - started
        assert PATIENT_MAX <= elapsed <= PATIENT_MAX + GRACE + MARGIN, elapsed
        wait_for(lambda: open_block_files(patient) == 0, MARGIN, "the stream's cursor released")
    finally:
        s.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(f"GET /api/datasets HTTP/1.1\r\nHost: {HOST}\r\n".encode(), id="partial-headers"),
        pytest.param(b"", id="nothing-sent"),
        pytest.param(
            f"POST /api/datasets/{DATASET}/points/within HTTP/1.1\r\nHost: {HOST}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
            + POLYGON[:40],
            id="partial-body",
        ),
    ],
)
def test_a_slow_request_is_cut_off(quick: Serve, request_bytes: bytes) -> None:
    started = time.monotonic()
    s = slow_socket(quick, request_bytes)
    try:
        answer = reads_to_end(s, QUICK_IDLE + MARGIN)
        elapsed = time.monotonic() - started
        assert QUICK_IDLE - 0.5 <= elapsed <= QUICK_IDLE + MARGIN, elapsed
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    finally:
        s.close()


def test_headers_trickled_a_line_at_a_time_are_cut_off_too(quick: Serve) -> None:
    # Each line comes within the idle time, but the headers as a whole must come within it too.
    started = time.monotonic()
    s = slow_socket(quick, f"GET /api/datasets HTTP/1.1\r\nHost: {HOST}\r\n".encode())
    try:
        s.setblocking(False)
        answer = b""
        closed = False
        n = 0
        while not closed and time.monotonic() - started < QUICK_IDLE + MARGIN:
            try:
                piece = s.recv(4096)
                answer += piece
                closed = not piece
            except BlockingIOError:
                try:
                    s.send(f"X-Slow-{n}: 1\r\n".encode())
                except OSError:
                    closed = True
                n += 1
            except ConnectionResetError:
                closed = True
            time.sleep(0.2)
        assert closed, "headers trickled for longer than the idle time were not cut off"
        assert time.monotonic() - started >= QUICK_IDLE - 0.5
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    finally:
        s.close()


def test_server_memory_per_slow_stream_is_bounded_and_given_back(patient: Serve) -> None:
    def batch(n: int) -> list[socket.socket]:
        socks = [slow_socket(patient) for _ in range(n)]
        for s in socks:
            read_head(s)
        return socks

    def settled() -> float:
        # Two readings 0.3 s apart within 1 MB (the streams have filled their buffers, or gone).
        readings = [patient.rss_mb()]

        def steady() -> bool:
            readings.append(patient.rss_mb())
            return abs(readings[-1] - readings[-2]) < 1

        wait_for(steady, 5, "RSS still", every=0.3)
        return readings[-1]

    for s in batch(32):  # first-time costs (threads, imports, the store's caches) out of the figures
        s.close()
    wait_for(lambda: open_block_files(patient) == 0, 10, "the warm-up streams closed")
    before = settled()
    streams = 64
    socks = batch(streams)
    try:
        during = settled()
    finally:
        for s in socks:
            s.close()
    per_stream_kb = (during - before) * 1024 / streams
    # One chunk (a block of 4,096 points, ~240 KB as NDJSON) and the server's buffers: ~400 KB is
    # typical; a thread per request (Django's default under ASGI) made it over 1 MB.
    assert per_stream_kb < 800, f"{per_stream_kb:.0f} KB of server RSS per slow stream"
    wait_for(lambda: open_block_files(patient) == 0, 10, "the streams closed")
    wait_for(lambda: patient.rss_mb() < before + 20, 10, f"RSS back within 20 MB of {before:.0f} MB", every=0.3)
