"""`manage.py ensure_demo_datasets`: create the demo datasets that are missing (used by make run)."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from points import generators, jobs, tasks
from points.datasets import dataset_prepare
from points.models import Dataset, DatasetStatus, ImportJob

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
            "--land",
            "200000",
            "--seed",
            "5",
            "--title",
            "200,000 lon/lat points on land (geodesic queries)",
        ],
    ),
]


# Too big to make before the server starts (~8 s at ~0.6 M points/s): queued for the task worker
# that bin/run starts beside it; the page shows its progress and opens it once ready.
QUEUED_DEMOS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "clusters-5m",
        "5,000,000 points in 40 clusters",
        generators.demo_spec("clusters", points=5_000_000, clusters=40, bounds=(0, 0, 1000, 1000), seed=55),
    ),
]


class Command(BaseCommand):
    help = (
        "Create the demo datasets (50x50 grid, 500,000 random or clustered points, a lon/lat set) if missing, "
        "and queue the 5,000,000-point one for the task worker."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        for name, arguments in DEMOS:
            existing = Dataset.objects.filter(name=name).first()
            if existing is not None and existing.status == DatasetStatus.READY:
                continue
            call_command("generate_points", name, *arguments, "--replace", stdout=self.stdout)
        for name, title, spec in QUEUED_DEMOS:
            self.enqueue(name, title, spec)

    def enqueue(self, name: str, title: str, spec: dict[str, Any]) -> None:
        """Queue the generation of demo `name` for the worker, unless it is ready or on its way
        (an import queued or running); an import that died is settled first, then queued again."""
        existing = Dataset.objects.filter(name=name).first()
        if existing is not None:
            jobs.reap([existing])
            if existing.status == DatasetStatus.READY or existing.job != ImportJob.NONE:
                return
        geometry = generators.demo_geometry(spec)
        dataset = dataset_prepare(name=name, title=title, geometry=geometry, replace=True, job=ImportJob.QUEUED)
        tasks.queue_for(dataset, tasks.generate, spec=spec)
        self.stdout.write(f"{name}: queued for the task worker ({title}); the page shows its progress")
