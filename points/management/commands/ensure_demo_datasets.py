"""`manage.py ensure_demo_datasets`: create the demo datasets that are missing (used by make run)."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from points.models import Dataset, DatasetStatus

DEMOS: list[tuple[str, list[str]]] = [
    ("grid", ["--grid", "50x50", "--title", "50 x 50 grid (the original demo)"]),
    (
        "random-500k",
        ["--random", "500000", "--bounds", "0,0,1000,1000", "--seed", "1", "--title", "500,000 random points"],
    ),
    (
        "clusters-500k",
        [
            "--random",
            "500000",
            "--clusters",
            "14",
            "--bounds",
            "0,0,1000,1000",
            "--seed",
            "11",
            "--title",
            "500,000 points in 14 clusters",
        ],
    ),
    (
        "world-200k",
        [
            "--random",
            "200000",
            "--clusters",
            "30",
            "--spherical",
            "--seed",
            "5",
            "--title",
            "200,000 lon/lat points (geodesic queries)",
        ],
    ),
]


class Command(BaseCommand):
    help = "Create the demo datasets (50x50 grid, 500,000 random or clustered points, a lon/lat set) if missing."

    def handle(self, *args: Any, **opts: Any) -> None:
        for name, arguments in DEMOS:
            existing = Dataset.objects.filter(name=name).first()
            if existing is not None and existing.status == DatasetStatus.READY:
                continue
            call_command("generate_points", name, *arguments, "--replace", stdout=self.stdout)
