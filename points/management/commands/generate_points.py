"""`manage.py generate_points NAME --grid 50x50 | --random N [--clusters K] [--bounds …] [--spherical] | --land N [--clusters K]` [--seed S]."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from points import generators
from points.datasets import DatasetError, dataset_import


class Command(BaseCommand):
    help = "Create a demo dataset: a grid, uniform random points, clusters, or lon/lat points on land."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="dataset name (lowercase letters, digits, - and _)")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--grid", metavar="WxH", help="points at integer [x, y], x < W, y < H")
        kind.add_argument("--random", metavar="N", type=int, help="N points spread over --bounds")
        kind.add_argument(
            "--land",
            metavar="N",
            type=int,
            help="N lon/lat points on Natural Earth's land (the page's map), most around city-like hot spots",
        )
        parser.add_argument(
            "--clusters",
            metavar="K",
            type=int,
            help="with --random: gather the points in K clusters; with --land: K hot spots "
            f"(default {generators.DEMO_KINDS['land'].clusters})",
        )
        parser.add_argument(
            "--bounds",
            metavar="MINX,MINY,MAXX,MAXY",
            help=f"default {generators.bounds_text(generators.PLANAR_BOUNDS)} (world if --spherical)",
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed, for the same points every time")
        parser.add_argument("--spherical", action="store_true", help="lon/lat data with geodesic queries")
        parser.add_argument("--title", default="")
        parser.add_argument("--replace", action="store_true", help="replace an existing dataset of that name")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            spec = self.spec(opts)
            batches, total, what = generators.from_spec(spec)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        started = time.perf_counter()
        try:
            dataset = dataset_import(
                name=opts["name"],
                batches=batches,
                geometry=generators.demo_geometry(spec),
                title=opts["title"] or what,
                replace=opts["replace"],
                total=total,
            )
        except DatasetError as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:
            raise CommandError(f"generating {opts['name']!r} failed: {exc}") from exc
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"{dataset.name}: {dataset.count:,} points ({what}) in {seconds:.2f} s "
            f"({dataset.count / max(seconds, 1e-9):,.0f} points/s)"
        )

    @staticmethod
    def spec(opts: dict[str, Any]) -> dict[str, Any]:
        """Return the spec of what the options ask for (points.generators.demo_spec: the defaults
        are the registry's, as in the admin), or raise ValueError saying what is wrong."""
        if opts["clusters"] is not None and opts["clusters"] < 1:
            raise ValueError("--clusters needs a positive number")
        if opts["grid"]:
            width, height = generators.parse_grid(opts["grid"])
            return generators.demo_spec("grid", width=width, height=height, spherical=opts["spherical"])
        if opts["land"] is not None:
            if opts["bounds"]:
                raise ValueError("--land covers the world's land: it takes no --bounds")
            return generators.demo_spec("land", points=opts["land"], clusters=opts["clusters"], seed=opts["seed"])
        return generators.demo_spec(
            "random" if opts["clusters"] is None else "clusters",
            points=opts["random"],
            clusters=opts["clusters"],
            bounds=generators.parse_bounds(opts["bounds"]) if opts["bounds"] else None,
            seed=opts["seed"],
            spherical=opts["spherical"],
        )
