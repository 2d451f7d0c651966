"""Dataset lifecycle (create, import, generate, delete), shared by the commands, the admin, the
tasks and the tests.

An import is two steps: `dataset_prepare` makes (or resets) the metadata row and marks an import
in progress (`job`: queued or running); `dataset_fill` streams the batches into the point store
(`PointStore.load`: a new version, published in one step), and ends the job. What is served and
what is being imported are separate: a dataset with points stays `ready` (and streams its
points) while a replacement runs, and until the new points are published. The commands run both
steps in their own process; the admin queues the second as a task of `manage.py db_worker`
(points.tasks). Every import runs under its lock (points.jobs), so a killed one is known dead at
once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from points import jobs
from points.importers import ImportOptions, read_points
from points.models import Dataset, DatasetStatus, GeometryKind, ImportJob
from points.stores import get_store
from points.stores.base import Loaded, PointBatch, PointStore

logger = logging.getLogger(__name__)
# How often a running import writes its progress and heartbeat (seconds).
PROGRESS_EVERY = 0.5


class DatasetError(ValueError):
    """A dataset request that cannot be done as asked; the message says why."""


class DatasetConflict(DatasetError):
    """A dataset of that name exists and may not be replaced."""


def dataset_prepare(
    *,
    name: str,
    geometry: str = GeometryKind.PLANAR,
    title: str = "",
    description: str = "",
    replace: bool = False,
    job: ImportJob = ImportJob.RUNNING,
) -> Dataset:
    """Create dataset `name`, or mark a new import of it in progress (`job`), or raise DatasetError.

    A dataset with points, or with an import alive, is only taken on when `replace` is set; a
    failed one, or one whose import died, may always be imported again. A dataset with points
    stays ready, serving them, until the new import publishes its own.
    """
    try:
        Dataset._meta.get_field("name").run_validators(name)
    except ValidationError as exc:
        raise DatasetError(f"invalid dataset name {name!r}: {' '.join(exc.messages)}") from None
    existing = Dataset.objects.filter(name=name).first()
    if existing is not None:
        jobs.reap([existing])
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(name=name).first()
        if dataset is not None and dataset.attached:
            raise DatasetConflict(
                f"dataset {name!r} is attached to the MongoDB collection {dataset.attached}: its points are read "
                "from there and cannot be imported or replaced; delete the dataset (which only unregisters the "
                "collection) to use the name for imported points, or refresh it to count the collection again"
            )
        if dataset is not None and not replace:
            if dataset.job != ImportJob.NONE:
                raise DatasetConflict(f"dataset {name!r} is being imported now; wait for it, or replace it")
            if dataset.status == DatasetStatus.READY:
                raise DatasetConflict(f"dataset {name!r} exists (ready); delete it first or replace it")
        if dataset is None:
            dataset = Dataset(name=name)
        dataset.title = title or dataset.title
        dataset.description = description or dataset.description
        if dataset.status != DatasetStatus.READY:
            # Nothing served: the dataset is what this import makes of it.
            dataset.status = DatasetStatus.IMPORTING
            dataset.geometry = geometry
            dataset.status_message = ""
            dataset.report = {}
        dataset.job = job
        dataset.task_id = ""
        dataset.progress = 0.0
        dataset.heartbeat = timezone.now()
        # The geometry kind, count and bounds stay those of the points served until new ones replace them.
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
            # Only while this import owns the dataset: a newer one's progress is not ours to write.
            Dataset.objects.filter(pk=dataset.pk, import_token=dataset.import_token).update(
                progress=share, heartbeat=timezone.now()
            )


def dataset_fill(
    dataset: Dataset,
    batches: Iterable[PointBatch],
    *,
    geometry: str | None = None,
    store: PointStore | None = None,
    progress: Callable[[int], float] | None = None,
    report: Callable[[], dict[str, Any]] | None = None,
) -> Dataset:
    """Put the batches in the store as the dataset's points; leave it ready, or failed with the reason.

    The store writes the points as a new version and publishes it in place of the dataset's own
    in one step at the end (PointStore.load), so a failed re-import loses nothing: the previous
    points stay served all along, and the dataset says the last import failed. Only the import
    that owns the dataset (its `import_token`) may publish or fail it: a newer import of the same
    name, or a delete, wins. `geometry` is the new points' kind (default: the dataset's).
    `progress(points_done)` returns the share done (0..1); `report()` is saved with the dataset.
    The exception of a failed import is raised again.
    """
    store = store or get_store()
    geometry = geometry or dataset.geometry
    name, token = dataset.name, dataset.import_token

    @contextlib.contextmanager
    def owner_publishes(loaded: Loaded) -> Iterator[None]:
        # Entered by the store right before it publishes, which it does inside: if the metadata
        # cannot be written, the previous points are still those served, and agree with it. (A
        # commit failing after the publish leaves the metadata behind: jobs.reconcile puts it
        # right from the store.)
        with transaction.atomic():
            owner = Dataset.objects.select_for_update().filter(pk=dataset.pk, import_token=token).first()
            if owner is None:
                raise DatasetError(f"dataset {name!r} was deleted or imported again while this import ran")
            dataset.geometry = geometry
            dataset.count = loaded.count
            dataset.min_x, dataset.min_y, dataset.max_x, dataset.max_y = loaded.bounds or (None, None, None, None)
            dataset.status = DatasetStatus.READY
            dataset.status_message = ""
            dataset.progress = 1.0
            dataset.job = ImportJob.NONE
            dataset.task_id = ""
            dataset.report = report() if report else {}
            dataset.heartbeat = timezone.now()
            dataset.damage = ""
            fields = [
                "geometry",
                "count",
                "min_x",
                "min_y",
                "max_x",
                "max_y",
                "status",
                "status_message",
                "progress",
                "job",
                "task_id",
                "report",
                "heartbeat",
                "damage",
            ]
            Dataset.objects.filter(pk=dataset.pk).update(
                **{f: getattr(dataset, f) for f in fields}, updated=timezone.now()
            )
            yield

    beat = _Heartbeat(dataset)
    try:
        store.load(name, _reporting(batches, dataset, progress), geometry=geometry, publish_guard=owner_publishes)
    except BaseException as exc:
        logger.warning("import of dataset %r failed: %s", name, exc)
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
        try:  # a failure after the store published leaves the metadata behind: the store decides
            jobs.reconcile(store, list(Dataset.objects.filter(pk=dataset.pk)))
        except Exception:
            logger.exception("dataset %r: its metadata could not be reconciled with the store", dataset.name)
    done = {"job": ImportJob.NONE, "task_id": "", "report": report, "heartbeat": timezone.now()}
    if kept:
        owned.update(
            status=DatasetStatus.READY,
            status_message=f"the last import failed ({reason}); the previous points are still served",
            **done,
        )
    else:
        owned.update(status=DatasetStatus.FAILED, status_message=reason, **done)


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


def run_import(dataset: Dataset, fill: Callable[[Dataset], Dataset], *, store: PointStore | None = None) -> Dataset:
    """Run `fill(dataset)` as the dataset's import in progress, under its lock (so a killed
    import is known dead at once), after sweeping what dead imports left; raise DatasetError
    when this import is no longer the dataset's (a newer one, or a delete, won)."""
    store = store or get_store()
    with jobs.holding_lock(dataset.import_token):
        started = Dataset.objects.filter(pk=dataset.pk, import_token=dataset.import_token).update(
            job=ImportJob.RUNNING, heartbeat=timezone.now()
        )
        if not started:
            raise DatasetError(f"dataset {dataset.name!r} was deleted or imported again before this import started")
        dataset.job = ImportJob.RUNNING
        try:
            jobs.sweep(store)
        except Exception:  # best effort: the import itself says what is wrong with the store
            logger.exception("sweeping what dead imports left failed; the import of %r goes on", dataset.name)
        return fill(dataset)


def dataset_import(
    *,
    name: str,
    batches: Iterable[PointBatch],
    geometry: str = GeometryKind.PLANAR,
    title: str = "",
    description: str = "",
    replace: bool = False,
    store: PointStore | None = None,
    total: int | None = None,
) -> Dataset:
    """Create (or re-create) dataset `name` and fill it with `batches` (`total` points, if known:
    for the progress shown), in this process; return it, ready."""
    dataset = dataset_prepare(name=name, geometry=geometry, title=title, description=description, replace=replace)
    progress = (lambda done: done / total) if total else None
    return run_import(
        dataset, lambda d: dataset_fill(d, batches, geometry=geometry, store=store, progress=progress), store=store
    )


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
            geometry=options.geometry,
            store=store,
            progress=lambda _done: options.report.bytes_read / size,
            # Called when the import ends: the report grows while the file is read.
            report=lambda: report_of(options),
        )


def dataset_record_attached(name: str, meta: dict[str, Any], *, title: str = "") -> Dataset:
    """Create or update the row of dataset `name`, which the store has just attached over an
    existing collection (or refreshed): ready, with the count, bounds and geometry of `meta` (the
    store's metadata document: points.stores.mongo.attach)."""
    where = f"{meta['attached']['db']}.{meta['attached']['collection']}"
    bounds = meta["bounds"] or [None, None, None, None]
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(name=name).first() or Dataset(name=name)
        dataset.title = title or dataset.title or where
        dataset.attached = where
        dataset.geometry = meta["geometry"]
        dataset.count = int(meta["count"])
        dataset.min_x, dataset.min_y, dataset.max_x, dataset.max_y = bounds
        dataset.status = DatasetStatus.READY
        dataset.status_message = ""
        dataset.job = ImportJob.NONE
        dataset.task_id = ""
        dataset.import_token = ""
        dataset.progress = 1.0
        dataset.report = {}
        dataset.damage = ""
        dataset.heartbeat = timezone.now()
        dataset.save()
    return dataset


def dataset_delete(*, name: str, store: PointStore | None = None) -> bool:
    """Delete the dataset and its points; return whether it existed. (An attached dataset's
    collection is the user's: the store only forgets it.) An import of it still running fails
    at its publish: it no longer owns the dataset."""
    store = store or get_store()
    deleted, _ = Dataset.objects.filter(name=name).delete()
    store.drop(name)
    return deleted > 0
