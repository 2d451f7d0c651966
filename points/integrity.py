"""What is known damaged in the stored points: `Dataset.damage`, written by `manage.py
check_points` (every dataset, every block) and by a stream or count that meets damage (only on
that failure: nothing here runs while points stream fine)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass, field

from django.db import DatabaseError, connection

from points.batches import Chunk
from points.models import Dataset, DatasetStatus
from points.stores.base import PointStore, StoreDamaged, StoreError
from points.streams import Closing

logger = logging.getLogger(__name__)


def record_damage(name: str, message: str) -> None:
    """Record that a stream (or count, or overview) of dataset `name` met damage, unless some is
    recorded already (check_points' fuller report stays). Logs it; never raises, as it runs while
    a failure is being answered."""
    logger.error("dataset %r is damaged: %s", name, message)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a thread of its own: write now
        _save(name, message)
    else:  # an event loop's thread (a stream's piece made there) may not touch the database
        threading.Thread(target=_save, args=(name, message, True), name="record-damage", daemon=True).start()


def _save(name: str, message: str, own_thread: bool = False) -> None:
    try:
        Dataset.objects.filter(name=name, damage="").update(damage=message)
    except DatabaseError:
        logger.exception("could not record the damage of dataset %r", name)
    finally:
        if own_thread:
            connection.close()


def watched(chunks: Generator[Chunk, None, None], name: str) -> Generator[Chunk, None, None]:
    """Return the chunks of a stream of dataset `name`, recording the damage they meet (the error
    goes on to the stream, which ends with its error marker). Closing it closes `chunks`."""

    def reading() -> Generator[Chunk, None, None]:
        try:
            yield from chunks
        except StoreDamaged as exc:
            record_damage(name, str(exc))
            raise

    return Closing(reading(), chunks.close)


@dataclass
class Checked:
    """What check_points found of one dataset: its problems (none: it is fine), or why it was
    not checked (`skipped`)."""

    name: str
    problems: list[str] = field(default_factory=list)
    skipped: str = ""


def check_dataset(dataset: Dataset, store: PointStore) -> Checked:
    """Check every stored point of a ready dataset (PointStore.verify) and that the store holds
    as many as the dataset says; record the result as its `damage` (cleared when fine)."""
    if dataset.status != DatasetStatus.READY:
        return Checked(dataset.name, skipped=f"not checked: it is {dataset.status}")
    problems = store.verify(dataset.name)
    if not problems:
        try:
            stored = store.count(dataset.name)
        except StoreError as exc:
            problems = [str(exc)]
        else:
            if stored != dataset.count:
                problems = [f"the point store holds {stored:,} points, the dataset says {dataset.count:,}"]
    record(dataset, problems)
    return Checked(dataset.name, problems)


def record(dataset: Dataset, problems: list[str]) -> None:
    """Save `problems` as the dataset's damage (empty: none known)."""
    damage = "; ".join(problems)
    if dataset.damage != damage:
        Dataset.objects.filter(pk=dataset.pk).update(damage=damage)
        dataset.damage = damage
