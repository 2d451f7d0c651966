"""Lock files whose lock dies with its process (`fcntl.flock`): the one test of them, shared by
the imports' liveness (points.jobs) and the embedded store's files being written."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def lock_held(path: Path) -> bool | None:
    """Return True while some process holds the lock on `path`, False once none does, None when
    there is no such file. (The test takes the lock for an instant when it is free.)"""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (also releases the lock if this test took it)
    return False
