"""A gunicorn server for the benchmarks, started as `make run` starts it, with its workers' memory read."""

from __future__ import annotations

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


class Gunicorn:
    """gthread workers on a free loopback port; returns once every worker answers."""

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
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port: int = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "pointsite.wsgi:application",
             "--bind", f"{HOST}:{self.port}", "--worker-class", "gthread", "--workers", str(workers),
             "--threads", str(threads), "--timeout", "120", *extra],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/api/datasets")
                conn.getresponse().read()
                conn.close()
                if len(self.workers()) == workers:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def worker_pids(self) -> set[int]:
        return {p.pid for p in self.workers()}

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
