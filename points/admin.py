"""The Django admin for datasets: upload, generate, watch imports, preview, delete (points too)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from points import generators, jobs, tasks
from points.datasets import DatasetError, dataset_delete, dataset_prepare
from points.importers import FORMATS, UTF16_MESSAGE, ImportFileError, guess_format
from points.models import Dataset, DatasetStatus, GeometryKind, ImportJob, validate_dataset_name
from points.stores import get_store

FORMAT_CHOICES = [("", "from the file name"), ("csv", "CSV"), ("geojson", "GeoJSON"), ("ndjson", "NDJSON")]


class DatasetUploadForm(forms.Form):
    """Add a dataset from a file."""

    name = forms.CharField(
        max_length=63, validators=[validate_dataset_name], help_text="Used in URLs: lowercase letters, digits, - and _."
    )
    title = forms.CharField(max_length=200, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    geometry = forms.ChoiceField(choices=GeometryKind.choices, initial=GeometryKind.PLANAR)
    file = forms.FileField(help_text="CSV with a header, GeoJSON FeatureCollection of Points, or NDJSON.")
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)
    x_column = forms.CharField(required=False, help_text="CSV: the x or longitude column (default x, lon, lng…).")
    y_column = forms.CharField(required=False, help_text="CSV: the y or latitude column (default y, lat…).")
    skip_bad_rows = forms.BooleanField(
        required=False,
        help_text="Import the good rows and report the bad ones. Unticked (strict), one bad row imports nothing.",
    )
    replace = forms.BooleanField(required=False, help_text="Replace a ready dataset of the same name.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload: UploadedFile | None = data.get("file")
        if upload is not None and not data.get("format"):
            try:
                data["format"] = guess_format(upload.name or "")
            except ImportFileError as exc:
                self.add_error("format", str(exc))
        if upload is not None:
            head = upload.read(4096)
            upload.seek(0)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(head[:256]):
                # UTF-16 (with its byte-order mark, or text with every other byte NUL): say so.
                self.add_error("file", f"{UTF16_MESSAGE}.")
            elif b"\x00" in head:
                self.add_error("file", "This is not a text file: CSV, GeoJSON and NDJSON files are text.")
        return data


class DatasetGenerateForm(forms.Form):
    """Make a demo dataset."""

    KINDS = [
        ("grid", "grid: points at integer [x, y]"),
        ("random", "uniform random"),
        ("clusters", "clustered"),
        ("land", "lon/lat on land (around city-like hot spots)"),
    ]
    name = forms.CharField(max_length=63, validators=[validate_dataset_name])
    title = forms.CharField(max_length=200, required=False)
    kind = forms.ChoiceField(choices=KINDS, initial="random")
    width = forms.IntegerField(min_value=1, max_value=10_000, initial=50, help_text="grid only")
    height = forms.IntegerField(min_value=1, max_value=10_000, initial=50, help_text="grid only")
    points = forms.IntegerField(min_value=1, max_value=50_000_000, initial=500_000, help_text="random and clustered")
    clusters = forms.IntegerField(
        min_value=1, max_value=10_000, initial=20, help_text="clustered: clusters; on land: hot spots"
    )
    bounds = forms.CharField(initial="0,0,1000,1000", help_text="minx,miny,maxx,maxy (lon/lat if spherical)")
    seed = forms.IntegerField(required=False, help_text="the same seed gives the same points")
    spherical = forms.BooleanField(required=False, help_text="lon/lat data with geodesic queries")
    replace = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == "land":
            data["spherical"] = True  # on land is lon/lat; the bounds are the world's land
        elif data.get("kind") != "grid" and data.get("bounds"):
            try:
                bounds = generators.parse_bounds(data["bounds"])
                if data.get("spherical"):
                    generators.check_spherical_bounds(bounds)
                data["parsed_bounds"] = bounds
            except ValueError as exc:
                self.add_error("bounds", str(exc))
        return data

    def spec(self) -> dict[str, Any]:
        """Return what to make, as points.generators.from_spec reads it (a task carries this)."""
        d = self.cleaned_data
        if d["kind"] == "grid":
            return {"kind": "grid", "width": d["width"], "height": d["height"]}
        if d["kind"] == "land":
            return {
                "kind": "land",
                "points": d["points"],
                "clusters": d["clusters"],
                "seed": d["seed"],
                "spherical": True,
            }
        spec: dict[str, Any] = {
            "kind": d["kind"],
            "points": d["points"],
            "bounds": list(d["parsed_bounds"]),
            "seed": d["seed"],
            "spherical": d["spherical"],
        }
        if d["kind"] == "clusters":
            spec["clusters"] = d["clusters"]
        return spec


def _looks_utf16(head: bytes) -> bool:
    """Whether text without a byte-order mark looks like UTF-16: mostly NULs in one byte of each
    pair (ASCII text so encoded), none in the other."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    pairs = len(head) // 2
    return pairs >= 4 and min(even, odd) == 0 and max(even, odd) >= pairs // 2


def _storage_failure(exc: OSError) -> str:
    """Return what the admin says when an upload cannot be written to the server's disk."""
    if exc.errno == errno.ENOSPC:
        return (
            "The server's disk is full: the upload could not be stored, and nothing was imported. "
            "Free some space (or ask an operator), then upload again."
        )
    return f"The upload could not be stored on the server ({exc.strerror or exc}); nothing was imported."


def _status_label(status: str, job: str, progress: float, damage: str) -> str:
    """Return the words the admin shows for a dataset's state (the list and the live poll)."""
    if damage:
        return f"damaged ({damage})"
    if job == ImportJob.QUEUED:
        return "ready, re-import queued" if status == DatasetStatus.READY else "queued"
    if job == ImportJob.RUNNING:
        done = f"{progress:.0%}"
        return f"ready, re-importing {done}" if status == DatasetStatus.READY else f"importing {done}"
    return str(status)


def _human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "geometry", "points", "bounds_text", "status_text", "size", "created")
    list_filter = ("geometry", "status")
    search_fields = ("name", "title")
    fields = (
        "name",
        "title",
        "description",
        "geometry",
        "points",
        "bounds_text",
        "status_text",
        "status_message",
        "damage",
        "size",
        "created",
        "updated",
    )
    # Only the words are edited here; the points change by importing again.
    readonly_fields = tuple(f for f in fields if f not in ("title", "description"))
    change_list_template = "admin/points/dataset/change_list.html"
    change_form_template = "admin/points/dataset/change_form.html"

    @admin.display(description="damage (from check_points or a stream)")
    def damage(self, obj: Dataset) -> str:
        return obj.damage or "none known"

    # --- columns -----------------------------------------------------------------------------

    @admin.display(description="points", ordering="count")
    def points(self, obj: Dataset) -> str:
        return f"{obj.count:,}"

    @admin.display(description="bounds")
    def bounds_text(self, obj: Dataset) -> str:
        b = obj.bounds
        return "-" if b is None else ", ".join(f"{v:g}" for v in b)

    @admin.display(description="status", ordering="status")
    def status_text(self, obj: Dataset) -> str:
        # data-status "importing" while an import is queued or running: the page polls those.
        label = _status_label(obj.status, obj.job, obj.progress, obj.damage)
        state = "importing" if obj.job else obj.status
        return format_html('<span class="dataset-status" data-id="{}" data-status="{}">{}</span>', obj.pk, state, label)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dataset]:
        # An import that died is settled before it is shown (a lock test per import in progress).
        jobs.reap(Dataset.objects.exclude(job=ImportJob.NONE))
        return super().get_queryset(request)

    @admin.display(description="size on disk")
    def size(self, obj: Dataset) -> str:
        if obj.status != DatasetStatus.READY:
            return "-"
        try:
            return _human_size(get_store().size(obj.name))
        except Exception:  # a store that is down must not break the admin list
            return "?"

    # --- adding, generating, progress ----------------------------------------------------------

    def get_urls(self) -> list[Any]:
        extra = [
            path("generate/", self.admin_site.admin_view(self.generate_view), name="points_dataset_generate"),
            path("status/", self.admin_site.admin_view(self.status_view), name="points_dataset_status"),
        ]
        return extra + super().get_urls()

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            return super().add_view(request, form_url, extra_context)
        limit = settings.POINTS_MAX_UPLOAD_BYTES
        form: DatasetUploadForm
        if request.method == "POST":
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
            if declared > limit:
                # Refuse before Django reads the body; say where large files go instead.
                form = DatasetUploadForm()
                form.errors["__all__"] = form.error_class(
                    [
                        f"This upload is {_human_size(declared)}; the limit is {_human_size(limit)} "
                        "(POINTS_MAX_UPLOAD_BYTES). Import larger files from the shell: "
                        "python manage.py import_points NAME FILE"
                    ]
                )
            else:
                try:
                    form = DatasetUploadForm(request.POST, request.FILES)
                except OSError as exc:
                    # The body could not be stored (a full disk, most often): remove the
                    # partial file (Django closes only the files it finished); nothing else changed.
                    for handler in request.upload_handlers:
                        interrupted = getattr(handler, "upload_interrupted", None)
                        if interrupted is not None:
                            interrupted()
                    form = DatasetUploadForm()
                    form.errors["__all__"] = form.error_class([_storage_failure(exc)])
                    return self._form_page(request, form, "Upload a dataset", multipart=True)
                if form.is_valid():
                    started = self._start_upload(request, form)
                    if started is not None:
                        return HttpResponseRedirect(reverse("admin:points_dataset_change", args=[started.pk]))
        else:
            form = DatasetUploadForm(initial={"name": request.GET.get("name", "")})
        return self._form_page(request, form, "Upload a dataset", multipart=True)

    def _start_upload(self, request: HttpRequest, form: DatasetUploadForm) -> Dataset | None:
        d = form.cleaned_data
        upload: UploadedFile = d["file"]
        try:
            dataset = dataset_prepare(
                name=d["name"],
                geometry=d["geometry"],
                title=d["title"] or (upload.name or ""),
                description=d["description"],
                replace=d["replace"],
                job=ImportJob.QUEUED,
            )
        except DatasetError as exc:
            form.add_error("name" if "name" in str(exc) or "exists" in str(exc) else None, str(exc))
            return None
        folder = Path(settings.POINTS_UPLOAD_DIR)
        # The user's file name never becomes a path: the file is kept under the import's token
        # (so a sweep knows whose it is: points.jobs).
        saved = folder / f"{dataset.import_token}.{d['format']}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if isinstance(upload, TemporaryUploadedFile):
                shutil.move(upload.temporary_file_path(), saved)
            else:
                with open(saved, "wb") as out:
                    for chunk in upload.chunks():
                        out.write(chunk)
        except OSError as exc:
            saved.unlink(missing_ok=True)
            jobs.settle(dataset, "its upload could not be stored")
            form.add_error(None, _storage_failure(exc))
            return None
        options = {
            "format": d["format"],
            "geometry": d["geometry"],
            "x_column": d["x_column"] or None,
            "y_column": d["y_column"] or None,
            "skip_bad_rows": d["skip_bad_rows"],
        }
        tasks.queue_for(dataset, tasks.import_upload, path=str(saved), options=options)
        self.message_user(
            request,
            f"Importing {dataset.name} (a task of the worker): the status below updates by itself.",
            messages.INFO,
        )
        return dataset

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:points_dataset_changelist"))
        form = DatasetGenerateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            spec = form.spec()
            _batches, _total, what = generators.from_spec(spec)
            try:
                dataset = dataset_prepare(
                    name=d["name"],
                    title=d["title"] or what,
                    replace=d["replace"],
                    geometry=GeometryKind.SPHERICAL if d["spherical"] else GeometryKind.PLANAR,
                    job=ImportJob.QUEUED,
                )
            except DatasetError as exc:
                form.add_error("name", str(exc))
            else:
                tasks.queue_for(dataset, tasks.generate, spec=spec)
                self.message_user(request, f"Generating {dataset.name}: the status below updates by itself.")
                return HttpResponseRedirect(reverse("admin:points_dataset_change", args=[dataset.pk]))
        return self._form_page(request, form, "Generate demo data", multipart=False)

    def _form_page(self, request: HttpRequest, form: forms.Form, title: str, *, multipart: bool) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "multipart": multipart,
            "formats": FORMATS,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/points/dataset/dataset_form.html", context)

    def status_view(self, request: HttpRequest) -> JsonResponse:
        """Return the status of the datasets whose ids are in ?ids=1,2,3 (polled by the pages)."""
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit()][:500]
        rows = list(Dataset.objects.filter(pk__in=ids))
        jobs.reap(rows)
        return JsonResponse(
            {
                "datasets": [
                    {
                        "id": d.pk,
                        "status": d.status,
                        "job": d.job,
                        "progress": d.progress,
                        "count": d.count,
                        "label": _status_label(d.status, d.job, d.progress, d.damage),
                        "message": d.status_message,
                    }
                    for d in rows
                ]
            }
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Dataset | None = None,
    ) -> HttpResponse:
        # The change page's report and preview, from the object the admin has fetched already.
        if obj is not None:
            report = obj.report or {}
            context.update(
                dataset=obj,
                report=report,
                count_text=f"{obj.count:,}",
                rejected_text=f"{report.get('rejected', 0):,}",
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- deleting: the points leave the store too ---------------------------------------------

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        dataset_delete(name=obj.name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for name in list(queryset.values_list("name", flat=True)):
            dataset_delete(name=name)
