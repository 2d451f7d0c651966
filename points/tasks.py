"""Imports and generation as tasks of Django's tasks framework (the django-tasks backport, with
django-tasks-db's database backend): the admin queues them, `manage.py db_worker` runs them,
outside every web process.

A task carries what to do (the upload's path and how to read it, or the spec of the demo data),
never points. A worker killed mid-task leaves the dataset's import dead at once (its lock,
points.jobs): a new dataset becomes failed, a replaced one keeps serving its previous points.
The task is not retried: it is marked failed when the next worker starts (points' `db_worker`),
which also removes the scratch points and the upload the import left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django_tasks import task

from points import generators
from points.datasets import dataset_fill, dataset_import_file, run_import
from points.importers import ImportOptions
from points.models import Dataset


def _owned(dataset_id: int, token: str) -> Dataset | None:
    return Dataset.objects.filter(pk=dataset_id, import_token=token).first()


@task()
def import_upload(dataset_id: int, token: str, path: str, options: dict[str, Any]) -> dict[str, Any]:
    """Import the uploaded file at `path` into the dataset (if this import is still its own)."""
    upload = Path(path)
    try:
        dataset = _owned(dataset_id, token)
        if dataset is None:
            return {"skipped": "the dataset was deleted or imported again before this task ran"}
        read = ImportOptions(**options)
        # A failed import raises (the task is then failed too); the dataset says why.
        done = run_import(dataset, lambda d: dataset_import_file(d, upload, read))
        return {"count": done.count}
    finally:
        upload.unlink(missing_ok=True)


@task()
def generate(dataset_id: int, token: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Make the demo points `spec` describes (points.generators.from_spec) as the dataset's points."""
    dataset = _owned(dataset_id, token)
    if dataset is None:
        return {"skipped": "the dataset was deleted or made again before this task ran"}
    batches, total, _title = generators.from_spec(spec)
    geometry = generators.demo_geometry(spec)
    done = run_import(
        dataset, lambda d: dataset_fill(d, batches, geometry=geometry, progress=lambda n: n / max(total, 1))
    )
    return {"count": done.count}


def queue_for(dataset: Dataset, task: Any, **kwargs: Any) -> None:
    """Enqueue `task` for the dataset's import in progress (its id and token given as arguments)
    and record the task's id on the dataset, as long as the import is still its own."""
    result = task.enqueue(dataset_id=dataset.pk, token=dataset.import_token, **kwargs)
    Dataset.objects.filter(pk=dataset.pk, import_token=dataset.import_token).update(task_id=str(result.id))
