"""`manage.py import_points NAME FILE [--format csv|geojson|ndjson] [--spherical|--planar] [--skip-bad-rows]`.

Without --spherical or --planar, a dataset imported again keeps its kind, and a new one gets the
kind its file suggests (points.importers.guess_geometry: lon/lat column names, GeoJSON), said in
the output.
"""

from __future__ import annotations

import errno
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from points.datasets import DatasetError, dataset_fill, dataset_import_file, dataset_prepare, report_of, run_import
from points.importers import (
    FORMATS,
    GUESS_BYTES,
    KIND_WORDS,
    Format,
    ImportFileError,
    ImportOptions,
    choose_geometry,
    guess_format,
    guess_geometry,
    read_points,
)
from points.models import Dataset, GeometryKind
from points.stores.base import StoreError


class Command(BaseCommand):
    help = "Import a point file (CSV with a header, GeoJSON FeatureCollection of Points, or NDJSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="dataset name (lowercase letters, digits, - and _)")
        parser.add_argument("file", help="the file to read ('-' for standard input, with --format)")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file name's extension")
        kinds = parser.add_mutually_exclusive_group()
        kinds.add_argument("--spherical", action="store_true", help="lon/lat data with geodesic queries")
        kinds.add_argument("--planar", action="store_true", help="x/y data with straight edges")
        parser.add_argument("--x-column", help="CSV column of x (or longitude); default x, lon, lng, longitude")
        parser.add_argument("--y-column", help="CSV column of y (or latitude); default y, lat, latitude")
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="leave bad rows out instead of refusing the file"
        )
        parser.add_argument("--title", default="")
        parser.add_argument("--replace", action="store_true", help="replace an existing dataset of that name")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = opts["file"]
        try:
            fmt = opts["format"] or guess_format(path)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        if path != "-" and not Path(path).is_file():
            raise CommandError(f"{path}: No such file")
        geometry = self._geometry(opts, path, fmt)
        options = ImportOptions(
            format=fmt,
            geometry=GeometryKind.SPHERICAL if geometry == GeometryKind.SPHERICAL else GeometryKind.PLANAR,
            x_column=opts["x_column"],
            y_column=opts["y_column"],
            skip_bad_rows=opts["skip_bad_rows"],
        )
        started = time.perf_counter()
        try:
            dataset = dataset_prepare(
                name=opts["name"], geometry=geometry, title=opts["title"] or Path(path).name, replace=opts["replace"]
            )
            if path == "-":

                def fill(d: Dataset) -> Dataset:
                    return dataset_fill(
                        d, read_points(sys.stdin.buffer, options), geometry=geometry, report=lambda: report_of(options)
                    )
            else:

                def fill(d: Dataset) -> Dataset:
                    return dataset_import_file(d, Path(path), options)

            # Under the import's lock: killed, the dataset is settled at once (points.jobs).
            dataset = run_import(dataset, fill)
        except (ImportFileError, DatasetError, StoreError) as exc:
            raise CommandError(f"{path}: {exc}") from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise CommandError(
                    f"{path}: the disk is full ({exc.filename or 'the point store'}); nothing was imported "
                    "and the previous points, if any, are still served. Free some space and import again."
                ) from None
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        seconds = time.perf_counter() - started
        if options.report.rejected:
            self.stdout.write(f"left out {options.report.rejected:,} bad rows, the first ones:")
            for error in options.report.errors:
                self.stdout.write(f"  {error}")
        self.stdout.write(
            f"{dataset.name}: {dataset.count:,} points imported in {seconds:.2f} s "
            f"({dataset.count / max(seconds, 1e-9):,.0f} points/s)"
        )

    def _geometry(self, opts: dict[str, Any], path: str, fmt: Format) -> GeometryKind:
        """Return the kind asked for; else the existing dataset's; else the file's guess (said)."""
        chosen = GeometryKind.SPHERICAL if opts["spherical"] else GeometryKind.PLANAR if opts["planar"] else ""
        existing = Dataset.objects.filter(name=opts["name"]).values_list("geometry", flat=True).first()
        guess = None
        if not chosen and path != "-":  # (standard input cannot be looked at twice)
            with open(path, "rb") as file:
                head = file.read(GUESS_BYTES)
            guess = guess_geometry(head, fmt, x_column=opts["x_column"], y_column=opts["y_column"])
        kind, why = choose_geometry(chosen, existing, guess)
        if guess is not None:
            self.stdout.write(f"importing as {KIND_WORDS[kind]} ({why}; --spherical or --planar to choose)")
        return GeometryKind(kind)
