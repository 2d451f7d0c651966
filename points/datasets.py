"""Dataset lifecycle (create, import, generate, delete), shared by the commands, the admin and the tests.

An import is two steps: `dataset_prepare` makes (or resets) the metadata row, status
`importing`; `dataset_fill` streams the batches into the point store and ends `ready` or `failed`.
The commands run both in their own process; the admin runs the second in a background thread
(`start_in_background`), so a long import never holds a request and the list shows its progress.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from points.importers import ImportOptions, read_points
from points.models import Dataset, DatasetStatus, GeometryKind
from points.stores import get_store
from points.stores.base import PointBatch, PointStore

logger = logging.getLogger(__name__)
# How often a running import writes its progress and heartbeat (seconds).
PROGRESS_EVERY = 0.5


class DatasetError(ValueError):
    """A dataset request that cannot be done as asked; the message says why."""


class DatasetConflict(DatasetError):
    """A dataset of that name exists and may not be replaced."""


def dataset_prepare(
    *, name: str, geometry: str = GeometryKind.PLANAR, title: str = "", description: str = "", replace: bool = False
) -> Dataset:
    """Create or reset dataset `name` as `importing`, or raise DatasetError.

    A ready or importing dataset is only reset when `replace` is set; a failed one, or one whose
    import died (stalled), may always be imported again.
    """
    try:
        Dataset._meta.get_field("name").run_validators(name)
    except ValidationError as exc:
        raise DatasetError(f"invalid dataset name {name!r}: {' '.join(exc.messages)}") from None
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(name=name).first()
        if dataset is not None and not replace and dataset.status != DatasetStatus.FAILED and not dataset.stalled:
            raise DatasetConflict(f"dataset {name!r} exists ({dataset.status}); delete it first or replace it")
        if dataset is None:
            dataset = Dataset(name=name)
        dataset.title = title or dataset.title
        dataset.description = description or dataset.description
        dataset.geometry = geometry
        dataset.status = DatasetStatus.IMPORTING
        dataset.status_message = ""
        dataset.progress = 0.0
        dataset.report = {}
        dataset.heartbeat = timezone.now()
        # Count and bounds stay those of the points the store holds until new ones replace them.
        dataset.import_token = uuid.uuid4().hex
        dataset.save()
    return dataset


def _reporting(
    batches: Iterable[PointBatch], dataset: Dataset, progress: Callable[[int], float] | None
) -> Iterator[PointBatch]:
    """Pass the batches on, writing progress and heartbeat to the dataset now and then."""
    done = 0
    last = time.monotonic()
    for batch in batches:
        yield batch
        done += len(batch)
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY:
            last = now
            share = min(max(progress(done), 0.0), 0.99) if progress else 0.0
            Dataset.objects.filter(pk=dataset.pk).update(progress=share, heartbeat=timezone.now())


def dataset_fill(
    dataset: Dataset,
    batches: Iterable[PointBatch],
    *,
    store: PointStore | None = None,
    progress: Callable[[int], float] | None = None,
    report: Callable[[], dict[str, Any]] | None = None,
) -> Dataset:
    """Put the batches in the store as the dataset's points; leave it ready, or failed with the reason.

    The points go to a scratch dataset of the store first and replace the dataset's own points
    in one step at the end, so a failed re-import loses nothing: the previous points stay, and
    the dataset is ready again with a message saying the import failed. Only the import that
    owns the dataset (its `import_token`) may publish or fail it: a newer import of the same
    name, or a delete, wins. `progress(points_done)` returns the share done (0..1); `report()`
    is saved with the dataset. The exception of a failed import is raised again.
    """
    store = store or get_store()
    name, token = dataset.name, dataset.import_token
    scratch = f"{name}~{token[:12]}"
    beat = _Heartbeat(dataset)
    try:
        store.drop(scratch)
        store.create(scratch, geometry=dataset.geometry)  # type: ignore[arg-type]
        count = store.insert(scratch, _checked(_reporting(batches, dataset, progress), dataset.geometry))
        bounds = store.bounds(scratch)
        with transaction.atomic():
            owner = Dataset.objects.select_for_update().filter(pk=dataset.pk, import_token=token).first()
            if owner is None:
                raise DatasetError(f"dataset {name!r} was deleted or imported again while this import ran")
            store.replace(scratch, name)
            dataset.count = count
            dataset.min_x, dataset.min_y, dataset.max_x, dataset.max_y = bounds or (None, None, None, None)
            dataset.status = DatasetStatus.READY
            dataset.status_message = ""
            dataset.progress = 1.0
            dataset.report = report() if report else {}
            dataset.heartbeat = timezone.now()
            fields = [
                "count",
                "min_x",
                "min_y",
                "max_x",
                "max_y",
                "status",
                "status_message",
                "progress",
                "report",
                "heartbeat",
            ]
            Dataset.objects.filter(pk=dataset.pk).update(
                **{f: getattr(dataset, f) for f in fields}, updated=timezone.now()
            )
    except BaseException as exc:
        logger.warning("import of dataset %r failed: %s", name, exc)
        try:
            store.drop(scratch)
        finally:
            _record_failure(dataset, store, exc, report() if report else {})
        raise
    finally:
        beat.stop()
    return dataset


def _record_failure(dataset: Dataset, store: PointStore, exc: BaseException, report: dict[str, Any]) -> None:
    reason = str(exc) or exc.__class__.__name__
    owned = Dataset.objects.filter(pk=dataset.pk, import_token=dataset.import_token)
    try:
        kept = store.exists(dataset.name) and store.count(dataset.name) > 0
    except Exception:  # the store itself is what failed: nothing is known to be served
        kept = False
    if kept:
        owned.update(
            status=DatasetStatus.READY,
            report=report,
            heartbeat=timezone.now(),
            status_message=f"the last import failed ({reason}); the previous points are still served",
        )
    else:
        owned.update(status=DatasetStatus.FAILED, status_message=reason, report=report, heartbeat=timezone.now())


def _checked(batches: Iterable[PointBatch], geometry: str) -> Iterator[PointBatch]:
    """Pass the batches on, refusing coordinates that spherical data cannot have."""
    for batch in batches:
        if (
            geometry == GeometryKind.SPHERICAL
            and len(batch)
            and not (np.abs(batch.xs).max() <= 180 and np.abs(batch.ys).max() <= 90)
        ):
            raise DatasetError("spherical data needs longitude in [-180, 180] and latitude in [-90, 90]")
        yield batch


class _Heartbeat:
    """Keeps the dataset's heartbeat fresh while its import runs, also in the steps that read no
    batch (sorting, writing, index builds), so a long import is never taken for a dead one."""

    EVERY = 10.0

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{dataset.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.done.wait(self.EVERY):
                Dataset.objects.filter(pk=self.dataset.pk, import_token=self.dataset.import_token).update(
                    heartbeat=timezone.now()
                )
        finally:
            connection.close()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def dataset_import(
    *,
    name: str,
    batches: Iterable[PointBatch],
    geometry: str = GeometryKind.PLANAR,
    title: str = "",
    description: str = "",
    replace: bool = False,
    store: PointStore | None = None,
) -> Dataset:
    """Create (or re-create) dataset `name` and fill it with `batches`; return it, ready."""
    dataset = dataset_prepare(name=name, geometry=geometry, title=title, description=description, replace=replace)
    return dataset_fill(dataset, batches, store=store)


def report_of(options: ImportOptions) -> dict[str, Any]:
    """Return the import report of a file import, as saved with the dataset."""
    return {
        "rejected": options.report.rejected,
        "errors": list(options.report.errors),
        "skip_bad_rows": options.skip_bad_rows,
    }


def dataset_import_file(
    dataset: Dataset, path: Path, options: ImportOptions, *, store: PointStore | None = None
) -> Dataset:
    """Fill `dataset` from the file at `path`, with progress by bytes read and the rows report."""
    size = max(path.stat().st_size, 1)
    with open(path, "rb") as binary:
        return dataset_fill(
            dataset,
            read_points(binary, options),
            store=store,
            progress=lambda _done: options.report.bytes_read / size,
            # Called when the import ends: the report grows while the file is read.
            report=lambda: report_of(options),
        )


def dataset_delete(*, name: str, store: PointStore | None = None) -> bool:
    """Delete the dataset and its points, scratch points of its imports included; return whether it existed."""
    store = store or get_store()
    deleted, _ = Dataset.objects.filter(name=name).delete()
    for stored in store.names():
        if stored == name or stored.startswith(f"{name}~"):
            store.drop(stored)
    return deleted > 0


# --- background imports -----------------------------------------------------------------------

_running: dict[int, threading.Thread] = {}
_lock = threading.Lock()


def start_in_background(
    dataset: Dataset, work: Callable[[], object], *, cleanup: Callable[[], None] | None = None
) -> None:
    """Run `work` (which fills `dataset`) in a thread of this process; failures end in the dataset."""

    def run() -> None:
        close_old_connections()
        try:
            work()
        except Exception:  # already recorded on the dataset as failed, with its reason
            logger.info("background import of %r ended in failure", dataset.name)
        finally:
            if cleanup is not None:
                cleanup()
            connection.close()
            with _lock:
                _running.pop(dataset.pk, None)

    thread = threading.Thread(target=run, name=f"import-{dataset.name}", daemon=True)
    with _lock:
        _running[dataset.pk] = thread
    thread.start()


def wait_for_imports(timeout: float = 300.0) -> None:
    """Wait until the background imports of this process have finished (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            threads = list(_running.values())
        if not threads:
            return
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        if time.monotonic() >= deadline:
            raise TimeoutError("background imports still running")
