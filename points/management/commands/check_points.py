"""`manage.py check_points [NAME ...]`: read every stored block of the datasets (all of them by
default) and the point store's index, and say what is damaged."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from points.integrity import Checked, check_dataset, record
from points.models import Dataset
from points.stores import get_store
from points.stores.base import StoreError


class Command(BaseCommand):
    help = (
        "Check the stored points of every dataset (or those named) block by block, and the point store's "
        "index; print one line per dataset, save what is damaged on the dataset (the admin shows it), "
        "and exit with status 1 if anything is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="datasets to check (default: all)")

    def handle(self, *args: Any, **opts: Any) -> None:
        names: list[str] = opts["names"]
        datasets = list(Dataset.objects.filter(name__in=names) if names else Dataset.objects.all())
        missing = sorted(set(names) - {d.name for d in datasets})
        if missing:
            raise CommandError(f"no dataset named {', '.join(repr(n) for n in missing)}")
        try:
            store = get_store()
        except StoreError as exc:  # the index cannot even be opened: nothing in it can be read
            self.stdout.write(f"point store: damaged: {exc}")
            for dataset in datasets:
                record(dataset, [str(exc)])
                self.stdout.write(f"{dataset.name}: damaged: cannot be read")
            raise CommandError("the point store cannot be opened", returncode=1) from None
        damaged = 0
        index = store.verify_store()
        if index:
            damaged += 1
            self.stdout.write(f"point store: damaged: {'; '.join(index)}")
        else:
            self.stdout.write("point store: ok")
        for dataset in datasets:
            checked = check_dataset(dataset, store)
            self.stdout.write(self._line(checked, dataset))
            damaged += bool(checked.problems)
        if damaged:
            raise CommandError("damage found: see the lines above", returncode=1)

    @staticmethod
    def _line(checked: Checked, dataset: Dataset) -> str:
        if checked.skipped:
            return f"{checked.name}: {checked.skipped}"
        if checked.problems:
            return f"{checked.name}: damaged: {'; '.join(checked.problems)}"
        return f"{checked.name}: ok ({dataset.count:,} points)"
