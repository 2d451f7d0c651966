"""Servers for the benchmarks and the slow-client tests, on a free loopback port, with their memory read.

`Serve` starts bin/serve, exactly what `make run` starts (uvicorn, pointsite.asgi, the limits of
pointsite.asgi_limits); `Gunicorn` starts the gthread server `make run` used before, for comparison.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only, always


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """A server process on a free loopback port; returns once it answers with every worker up."""

    name = "server"

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        *,
        workers: int,
        port: int,
        stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None,
    ) -> None:
        self.port = port
        self.expected_workers = workers
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/api/datasets")
                conn.getresponse().read()
                conn.close()
                if len(self.workers()) >= workers:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.1)

    def processes(self) -> list[psutil.Process]:
        """The server's process and all its descendants."""
        try:
            main = psutil.Process(self.proc.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def workers(self) -> list[psutil.Process]:
        """The processes that serve requests (those running pointsite's code)."""
        raise NotImplementedError

    def worker_pids(self) -> set[int]:
        return {p.pid for p in self.workers()}

    def rss_mb(self) -> float:
        """Resident memory of the whole server (main process and workers) now, in MB."""
        total = 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total / 2**20

    def reset_peak(self) -> None:
        # Writing 5 to clear_refs resets the kernel's peak RSS (VmHWM) of a process.
        for pid in self.worker_pids():
            Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_mb(self) -> float:
        """Return the sum of the workers' peak RSS (VmHWM) since the last reset_peak, in MB."""
        total = 0
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Serve(Server):
    """bin/serve (what `make run` starts): uvicorn workers under its supervisor (one process alone if workers=1)."""

    name = "bin/serve"

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 2,
        threads: int = 8,
        extra: Sequence[str] = (),
        stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None,
    ) -> None:
        port = free_port()
        env = {
            **env,
            "POINTSITE_PYTHON": sys.executable,
            "HOST": HOST,
            "PORT": str(port),
            "WORKERS": str(workers),
            "THREADS": str(threads),
        }
        super().__init__(
            [str(ROOT / "bin" / "serve"), *extra], env, workers=workers, port=port, stdout=stdout, stderr=stderr
        )

    def workers(self) -> list[psutil.Process]:
        processes = self.processes()
        if self.expected_workers == 1:
            return processes[:1]  # uvicorn serves in its own process
        # Under the supervisor: the spawned workers (multiprocessing's resource tracker aside).
        return [p for p in processes[1:] if "resource_tracker" not in " ".join(_cmdline(p))]


class Gunicorn(Server):
    """gthread workers, as `make run` started them before bin/serve."""

    name = "gunicorn"

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 1,
        threads: int = 8,
        extra: Sequence[str] = (),
        stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None,
    ) -> None:
        port = free_port()
        super().__init__(
            [str(Path(sys.executable).parent / "gunicorn"), "pointsite.wsgi:application",
             "--bind", f"{HOST}:{port}", "--worker-class", "gthread", "--workers", str(workers),
             "--threads", str(threads), "--timeout", "120", *extra],
            env, workers=workers, port=port, stdout=stdout, stderr=stderr,
        )  # fmt: skip

    def workers(self) -> list[psutil.Process]:
        return self.processes()[1:]


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []
