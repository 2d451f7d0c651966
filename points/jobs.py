"""Imports in progress: whether each is still alive, and what a dead one leaves behind.

An import (a task in `manage.py db_worker`, or an import command) holds an exclusive lock on a
file named after its token for as long as it runs (`fcntl.flock`, which the kernel releases when
the process dies, however it dies: kill -9 included). Anyone may test that lock without waiting:
held, the import is alive; free, its process is gone, and the dataset is settled at once: a new
dataset becomes `failed` with the reason, a replaced one keeps serving its previous points. Where
the lock file cannot tell (no file: the import runs on another machine, as a worker beside a
shared MongoDB may), its heartbeat decides, after `STALL_AFTER`.

`sweep` removes what dead imports left: the store's unpublished versions (remove_orphans),
uploads no live import will read, and stale lock files; and the scratch datasets (`name~token`)
that imports before single-step loads left in the store. It runs when a worker starts and
when an import starts, so nothing waits for a timer.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from points.locks import lock_held
from points.models import STALL_AFTER, Dataset, DatasetStatus, ImportJob
from points.rules import NAME_PATTERN
from points.stores.base import PointStore, StoreError

logger = logging.getLogger(__name__)
# A task the worker claimed but whose import never took its lock this long after is dead.
CLAIM_GRACE = timedelta(seconds=60)
# Upload files are kept as <import token>.<format>.
_UPLOAD = re.compile(r"^([0-9a-f]{32})\.(csv|geojson|ndjson)$")
# Files Django was still receiving when its web worker died (no import owns them yet).
_INCOMING_AGE = timedelta(hours=1)


class ImportBusy(RuntimeError):
    """Another process holds this import's lock."""


def lock_path(token: str) -> Path:
    return Path(settings.POINTS_IMPORT_LOCK_DIR) / f"{token}.lock"


@contextlib.contextmanager
def holding_lock(token: str) -> Iterator[None]:
    """Hold the import's lock while the block runs (the import is alive exactly as long)."""
    path = lock_path(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        # lock_alive takes the lock for an instant to test it: only a lock held on is another run's.
        for attempt in range(50):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 49:
                    raise ImportBusy(f"import {token} is run by another process already") from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def lock_alive(token: str) -> bool | None:
    """Return True while some process holds the import's lock, False once none does, None when
    this machine has no lock file for it (the import runs elsewhere, or never took it)."""
    return lock_held(lock_path(token))


def death_of(dataset: Dataset) -> str | None:
    """Return why the dataset's import in progress is dead, or None while it is alive (or none runs)."""
    now = timezone.now()
    if dataset.job == ImportJob.RUNNING:
        alive = lock_alive(dataset.import_token)
        if alive is False:
            return "the process running it stopped (killed or crashed)"
        if alive is None and (dataset.heartbeat is None or now - dataset.heartbeat > STALL_AFTER):
            return f"it showed no sign of life for {STALL_AFTER.total_seconds():.0f} s"
        return None
    if dataset.job == ImportJob.QUEUED and not dataset.task_id:
        # Queued, but its task was never recorded (the web process died, or the queue refused it,
        # between the two steps): dead once that has taken longer than any enqueue could.
        if dataset.heartbeat is None or now - dataset.heartbeat > CLAIM_GRACE:
            return "its task was never queued"
        return None
    if dataset.job == ImportJob.QUEUED:
        from django_tasks_db.models import DBTaskResult

        result = DBTaskResult.objects.filter(id=dataset.task_id).first()
        if result is None:
            return "its task is gone from the queue"
        if result.status in ("FAILED", "SUCCESSFUL"):
            return "its task ended before the import started"
        started = result.started_at or result.enqueued_at
        if result.status == "RUNNING" and lock_alive(dataset.import_token) is not True and now - started > CLAIM_GRACE:
            return "the worker that took its task stopped before the import started"
    return None


def settle(dataset: Dataset, reason: str) -> bool:
    """Record that the dataset's import in progress died (if it is still the one in progress):
    a dataset with points keeps serving them, one without becomes failed. Return whether it did."""
    with transaction.atomic():
        row = (
            Dataset.objects.select_for_update()
            .filter(pk=dataset.pk, import_token=dataset.import_token, job=dataset.job)
            .first()
        )
        if row is None or row.job == ImportJob.NONE:
            return False
        if row.status == DatasetStatus.READY:
            row.status_message = f"the last import stopped ({reason}); the previous points are still served"
        else:
            row.status = DatasetStatus.FAILED
            row.status_message = f"the import stopped: {reason}; import it again"
        row.job = ImportJob.NONE
        row.task_id = ""
        row.save(update_fields=["status", "status_message", "job", "task_id", "updated"])
    logger.warning("import of dataset %r stopped: %s", dataset.name, reason)
    dataset.refresh_from_db()
    if dataset.status == DatasetStatus.READY:
        # Killed after the store published but before its metadata was written: the store decides.
        from points.stores import get_store

        try:
            if reconcile(get_store(), [dataset]):
                dataset.refresh_from_db()
        except Exception:  # the store being down is no reason to leave the import unsettled
            logger.exception("dataset %r: its metadata could not be reconciled with the store", dataset.name)
    return True


def reap(datasets: Iterable[Dataset]) -> None:
    """Settle the imports in progress among `datasets` that are dead (each dataset is updated)."""
    for dataset in datasets:
        if dataset.job != ImportJob.NONE:
            reason = death_of(dataset)
            if reason is not None:
                settle(dataset, reason)


def reap_all() -> None:
    reap(list(Dataset.objects.exclude(job=ImportJob.NONE)))


@dataclass
class Swept:
    """What a sweep removed."""

    #: stored names no dataset may have: scratch datasets of the two-step imports of old
    scratch: list[str]
    uploads: list[str]
    locks: int

    def __str__(self) -> str:
        return f"{len(self.scratch)} old scratch dataset(s), {len(self.uploads)} upload(s), {self.locks} lock file(s)"


def _live_tokens() -> set[str]:
    return set(Dataset.objects.exclude(job=ImportJob.NONE).values_list("import_token", flat=True))


def sweep(store: PointStore) -> Swept:
    """Settle dead imports, then remove what they left (what is listed first, and only if no
    import alive afterwards owns it, so an import starting meanwhile keeps its files).

    Stored names `name~token` (no dataset may have one: they fail NAME_PATTERN) are the scratch
    datasets of imports before PointStore.load published in one step; nothing of this release
    writes them, but a worker of the release before may still run one during an upgrade, so a
    scratch dataset goes once no live import's token starts with its own, as before."""
    names = [n for n in store.names() if "~" in n and not re.fullmatch(NAME_PATTERN, n)]
    upload_dir = Path(settings.POINTS_UPLOAD_DIR)
    uploads = [p for p in upload_dir.iterdir() if _UPLOAD.match(p.name)] if upload_dir.is_dir() else []
    lock_dir = Path(settings.POINTS_IMPORT_LOCK_DIR)
    locks = list(lock_dir.glob("*.lock")) if lock_dir.is_dir() else []
    reap_all()
    live = _live_tokens()
    swept = Swept([], [], 0)
    for name in names:
        prefix = name.split("~", 1)[1]
        if not any(token.startswith(prefix) for token in live):
            store.drop(name)
            swept.scratch.append(name)
    for path in uploads:
        match = _UPLOAD.match(path.name)
        if match and match.group(1) not in live:
            path.unlink(missing_ok=True)
            swept.uploads.append(path.name)
    for path in locks:
        if path.stem not in live and lock_alive(path.stem) is False:
            path.unlink(missing_ok=True)
            swept.locks += 1
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if incoming.is_dir():
        oldest = (timezone.now() - _INCOMING_AGE).timestamp()
        for path in incoming.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < oldest:
                    path.unlink()
    store.remove_orphans()
    reconcile(store)
    if swept.scratch or swept.uploads:
        logger.info("swept what dead imports left: %s", swept)
    return swept


def reconcile(store: PointStore, datasets: Iterable[Dataset] | None = None) -> list[str]:
    """Make each dataset's count and bounds those of the points the store serves (the store is
    the source of truth; a failure between its publish and the metadata update leaves the
    metadata behind). Return the names corrected."""
    fixed = []
    known = set(store.names())
    for dataset in Dataset.objects.all() if datasets is None else datasets:
        if dataset.name not in known or dataset.status != DatasetStatus.READY:
            continue
        try:
            count, bounds = store.count(dataset.name), store.bounds(dataset.name)
        except StoreError as exc:  # damaged or out of reach: check_points and the streams say so
            logger.warning("dataset %r not reconciled with the store: %s", dataset.name, exc)
            continue
        values = list(bounds) if bounds is not None else [None, None, None, None]
        if dataset.count != count or [dataset.min_x, dataset.min_y, dataset.max_x, dataset.max_y] != values:
            Dataset.objects.filter(pk=dataset.pk).update(
                count=count, min_x=values[0], min_y=values[1], max_x=values[2], max_y=values[3]
            )
            fixed.append(dataset.name)
    if fixed:
        logger.warning("dataset metadata corrected from the point store: %s", ", ".join(fixed))
    return fixed
