"""`manage.py delete_dataset NAME`: remove a dataset and its points."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from points.datasets import dataset_delete
from points.stores.base import StoreError


class Command(BaseCommand):
    help = "Delete a dataset and its points from the point store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            deleted = dataset_delete(name=opts["name"])
        except StoreError as exc:
            raise CommandError(str(exc)) from None
        if not deleted:
            raise CommandError(f"no dataset named {opts['name']!r}")
        self.stdout.write(f"deleted {opts['name']}")
