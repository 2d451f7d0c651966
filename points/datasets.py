"""Dataset lifecycle (create, import, delete), shared by the commands, the admin and the tests."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from points.models import Dataset, DatasetStatus, GeometryKind
from points.stores import get_store
from points.stores.base import PointBatch, PointStore

logger = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset request that cannot be done as asked; the message says why."""


class DatasetConflict(DatasetError):
    """A dataset of that name exists and may not be replaced."""


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
    """Create (or re-create) dataset `name` and fill it with `batches`; return it, ready.

    A failed import leaves the dataset `failed` with the reason and no points in the store.
    An existing ready or importing dataset is only replaced when `replace` is set; a failed one
    may always be imported again.
    """
    store = store or get_store()
    try:
        Dataset._meta.get_field("name").run_validators(name)
    except ValidationError as exc:
        raise DatasetError(f"invalid dataset name {name!r}: {' '.join(exc.messages)}") from None
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(name=name).first()
        if dataset is not None and dataset.status != DatasetStatus.FAILED and not replace:
            raise DatasetConflict(f"dataset {name!r} exists ({dataset.status}); delete it first or replace it")
        if dataset is None:
            dataset = Dataset(name=name)
        dataset.title = title or dataset.title
        dataset.description = description or dataset.description
        dataset.geometry = geometry
        dataset.status = DatasetStatus.IMPORTING
        dataset.status_message = ""
        dataset.count = 0
        dataset.min_x = dataset.min_y = dataset.max_x = dataset.max_y = None
        dataset.save()
    try:
        store.drop(name)
        store.create(name, geometry=geometry)  # type: ignore[arg-type]
        count = store.insert(name, batches)
        bounds = store.bounds(name)
    except BaseException as exc:
        logger.warning("import of dataset %r failed: %s", name, exc)
        try:
            store.drop(name)
        finally:
            Dataset.objects.filter(pk=dataset.pk).update(
                status=DatasetStatus.FAILED, status_message=str(exc) or exc.__class__.__name__
            )
        raise
    dataset.count = count
    if bounds is not None:
        dataset.min_x, dataset.min_y, dataset.max_x, dataset.max_y = bounds
    dataset.status = DatasetStatus.READY
    dataset.save()
    return dataset


def dataset_delete(*, name: str, store: PointStore | None = None) -> bool:
    """Delete the dataset and its points; return whether it existed."""
    store = store or get_store()
    store.drop(name)
    deleted, _ = Dataset.objects.filter(name=name).delete()
    return deleted > 0
