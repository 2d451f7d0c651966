"""Dataset metadata; the points themselves live in the point store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.validators import RegexValidator
from django.db import models

from points.rules import NAME_PATTERN, NAME_RULE, GeometryKind

__all__ = ["NAME_PATTERN", "Dataset", "DatasetStatus", "GeometryKind", "ImportJob"]

# An import updates its heartbeat at least every 10 s; this long without one, it died (used only
# where its lock file cannot tell: an import running on another machine, see points.jobs).
STALL_AFTER = timedelta(minutes=2)
validate_dataset_name = RegexValidator(NAME_PATTERN, NAME_RULE)


class DatasetStatus(models.TextChoices):
    IMPORTING = "importing", "importing"
    READY = "ready", "ready"
    FAILED = "failed", "failed"


class ImportJob(models.TextChoices):
    NONE = "", "none"
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"


class Dataset(models.Model):
    """A named set of points: its metadata here, its points in the point store."""

    name = models.SlugField(max_length=63, unique=True, validators=[validate_dataset_name])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    geometry = models.CharField(max_length=16, choices=GeometryKind.choices, default=GeometryKind.PLANAR)
    status = models.CharField(max_length=16, choices=DatasetStatus.choices, default=DatasetStatus.IMPORTING)
    status_message = models.TextField(blank=True)
    count = models.BigIntegerField(default=0)
    min_x = models.FloatField(null=True, blank=True)
    min_y = models.FloatField(null=True, blank=True)
    max_x = models.FloatField(null=True, blank=True)
    max_y = models.FloatField(null=True, blank=True)
    #: share of the import done, 0..1, while importing
    progress = models.FloatField(default=0.0)
    #: what the import left out: {"rejected": N, "errors": ["line 3: ...", ...], "skip_bad_rows": bool}
    report = models.JSONField(default=dict, blank=True)
    #: last sign of life of the import running this dataset (a dead import stops updating it)
    heartbeat = models.DateTimeField(null=True, blank=True)
    #: which import owns the dataset now: only that one may publish its points or fail it
    import_token = models.CharField(max_length=32, blank=True, editable=False)
    #: the import in progress, if any (a replacement runs while the old points stay served)
    job = models.CharField(max_length=16, choices=ImportJob.choices, blank=True, default=ImportJob.NONE)
    #: the django-tasks result id of the import queued or running
    task_id = models.CharField(max_length=64, blank=True, editable=False)
    #: what `check_points` (or a stream) found damaged in the stored points; empty when none is known
    damage = models.TextField(blank=True)
    #: the MongoDB collection ("db.coll") an attached dataset's points are read from, never written
    #: to (`manage.py attach_collection`; deleting the dataset only unregisters it); empty when imported
    attached = models.CharField(max_length=320, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def bounds(self) -> list[float] | None:
        """Return [min_x, min_y, max_x, max_y], or None while unknown."""
        values = [self.min_x, self.min_y, self.max_x, self.max_y]
        if any(v is None for v in values):
            return None
        return [float(v) for v in values if v is not None]

    def as_json(self, properties: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Return the dataset as the API describes it; `properties` ({name, type} of each property
        of the points served, as the point store learnt them at import) is None when not known."""
        return {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "geometry": self.geometry,
            "count": self.count,
            "bounds": self.bounds,
            "status": self.status,
            "status_message": self.status_message,
            "importing": self.job != ImportJob.NONE,
            "job": self.job,
            "progress": round(self.progress, 4),
            "attached": self.attached or None,
            "created": self.created.isoformat() if self.created else None,
            "updated": self.updated.isoformat() if self.updated else None,
            "properties": properties,
        }
