"""`manage.py db_worker`: django-tasks-db's worker, which first settles what a killed worker left.

Before taking tasks it marks failed the import tasks that a worker died running (their import's
lock is free: points.jobs), settles their datasets (a new one failed, a replaced one still
serving its previous points), and sweeps their scratch points and upload files. A killed
import is not retried: its file may be what killed it; importing again is one click.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as WorkerCommand
from django_tasks_db.models import DBTaskResult

from points import jobs
from points.stores import get_store

logger = logging.getLogger(__name__)
IMPORT_TASKS = ("points.tasks.import_upload", "points.tasks.generate")


class ImportStopped(RuntimeError):
    """The worker running this import stopped before it finished."""


def fail_dead_tasks() -> int:
    """Mark failed the import tasks still said to be running whose import's lock is free; return how many."""
    failed = 0
    for result in DBTaskResult.objects.filter(status="RUNNING", task_path__in=IMPORT_TASKS):
        token = (result.args_kwargs or {}).get("kwargs", {}).get("token", "")
        alive = jobs.lock_alive(token) if token else None
        started = result.started_at or result.enqueued_at
        # A free lock is a dead import; no lock file, only once the task had time to take it
        # (another worker may have just claimed it, or run it on another machine).
        if alive is True or (alive is None and timezone.now() - started < jobs.STALL_AFTER):
            continue
        result.set_failed(ImportStopped("the worker running this import stopped (killed or crashed); not retried"))
        failed += 1
    return failed


class Command(WorkerCommand):
    help = WorkerCommand.help + " (first settling and sweeping imports that a stopped worker left)"

    def handle(self, *args: Any, **options: Any) -> None:
        failed = fail_dead_tasks()
        swept = jobs.sweep(get_store())
        if failed or swept.scratch or swept.uploads:
            logger.warning("worker start: %d dead import task(s) marked failed; swept %s", failed, swept)
        super().handle(*args, **options)
