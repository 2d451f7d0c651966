"""`manage.py delete_dataset NAME`: remove a dataset and its points."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from points.datasets import dataset_delete


class Command(BaseCommand):
    help = "Delete a dataset and its points from the point store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not dataset_delete(name=opts["name"]):
            raise CommandError(f"no dataset named {opts['name']!r}")
        self.stdout.write(f"deleted {opts['name']}")
