"""The Django admin for datasets: upload, generate, watch imports, preview, delete (points too)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core import signing
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from points import generators, jobs, tasks
from points.datasets import DatasetConflict, DatasetError, dataset_delete, dataset_prepare, dataset_record_attached
from points.importers import (
    FORMATS,
    GUESS_BYTES,
    KIND_WORDS,
    UTF16_MESSAGE,
    GeometryGuess,
    ImportFileError,
    choose_geometry,
    guess_format,
    guess_geometry,
)
from points.models import Dataset, DatasetStatus, GeometryKind, ImportJob, validate_dataset_name
from points.stores import get_store
from points.stores.base import StoreError

FORMAT_CHOICES = [("", "from the file name"), ("csv", "CSV"), ("geojson", "GeoJSON"), ("ndjson", "NDJSON")]
GEOMETRY_CHOICES = [("", "guess from the file"), *GeometryKind.choices]
# A file kept after a form error is in FILE_UPLOAD_TEMP_DIR as kept-<32 hex>; points.jobs' sweep
# removes the files there older than an hour, so its signed reference is good for less: a
# reference still good never points at a file a sweep may be removing.
KEPT_FOR = timedelta(minutes=50)
_KEPT_SALT = "points.admin.kept-upload"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class KeptFile:
    """An upload kept on the server after a form error, for the next try to use."""

    path: Path
    name: str
    size: int


class _KeptUpload(UploadedFile):
    """A kept file handed to the form as an upload (moved, like a large upload, when imported)."""

    def __init__(self, kept: KeptFile) -> None:
        super().__init__(open(kept.path, "rb"), name=kept.name, size=kept.size)  # noqa: SIM115 (closed by the form)
        self.path = kept.path

    def temporary_file_path(self) -> str:
        return str(self.path)


class DatasetUploadForm(forms.Form):
    """Add a dataset from a file."""

    name = forms.CharField(
        max_length=63, validators=[validate_dataset_name], help_text="Used in URLs: lowercase letters, digits, - and _."
    )
    title = forms.CharField(max_length=200, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    geometry = forms.ChoiceField(
        choices=GEOMETRY_CHOICES,
        initial="",
        required=False,
        help_text=(
            "Guessed unless chosen: CSV columns (or NDJSON keys) lon, lng, long or longitude with lat or latitude "
            "mean lon/lat, other names planar; GeoJSON is lon/lat by its spec. A re-import keeps the dataset's kind."
        ),
    )
    file = forms.FileField(
        required=False, help_text="CSV with a header, GeoJSON FeatureCollection of Points, or NDJSON."
    )
    #: the signed reference of the file kept on the server after a form error (KeptFile)
    kept = forms.CharField(widget=forms.HiddenInput, required=False)
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)
    x_column = forms.CharField(required=False, help_text="CSV: the x or longitude column (default x, lon, lng…).")
    y_column = forms.CharField(required=False, help_text="CSV: the y or latitude column (default y, lat…).")
    skip_bad_rows = forms.BooleanField(
        required=False,
        help_text="Import the good rows and report the bad ones. Unticked (strict), one bad row imports nothing.",
    )
    replace = forms.BooleanField(required=False, help_text="Replace a ready dataset of the same name.")

    def __init__(self, *args: Any, owner: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the user the form is for: a kept file is only ever theirs
        self.owner = owner
        #: the file kept on the server from an earlier try (set by clean, or when the admin keeps one)
        self.kept_file: KeptFile | None = None
        #: what the file's start suggests, when there is a readable file
        self.guess: GeometryGuess | None = None
        self._opened: _KeptUpload | None = None
        #: notes shown under the geometry and file fields (set by the admin: _upload_notes)
        self.geometry_note = ""
        self.file_note = ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload: UploadedFile | None = data.get("file")
        kept = self._kept(data.get("kept") or "", report=upload is None)
        if upload is not None:
            if kept is not None:  # a new file replaces the one kept
                kept.path.unlink(missing_ok=True)
        elif kept is not None:
            self.kept_file = kept
            upload = data["file"] = self._opened = _KeptUpload(kept)
        elif not self.has_error("file"):
            self.add_error("file", "Choose a file.")
        if upload is not None and not data.get("format"):
            try:
                data["format"] = guess_format(upload.name or "")
            except ImportFileError as exc:
                self.add_error("format", str(exc))
        if upload is not None:
            head = upload.read(GUESS_BYTES)
            upload.seek(0)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(head[:256]):
                # UTF-16 (with its byte-order mark, or text with every other byte NUL): say so.
                self.add_error("file", f"{UTF16_MESSAGE}.")
            elif b"\x00" in head[:4096]:
                self.add_error("file", "This is not a text file: CSV, GeoJSON and NDJSON files are text.")
            elif data.get("format"):
                self.guess = guess_geometry(
                    head, data["format"], x_column=data.get("x_column") or None, y_column=data.get("y_column") or None
                )
        return data

    def _kept(self, value: str, *, report: bool) -> KeptFile | None:
        """Return the kept file `value` refers to, if it is still there and this user's; when not,
        and `report` (no new file was chosen), say the file must be chosen again."""
        if not value:
            return None
        try:
            info = signing.loads(value, salt=_KEPT_SALT, max_age=KEPT_FOR)
        except signing.BadSignature:  # forged, or older than any kept file
            info = {}
        if not isinstance(info, dict):
            info = {}
        name, token = str(info.get("n", "")), str(info.get("f", ""))
        path = Path(settings.FILE_UPLOAD_TEMP_DIR) / f"kept-{token}"
        if not name or info.get("u") != self.owner or not _HEX32.match(token) or not path.is_file():
            if report:
                self.add_error(
                    "file",
                    "The file kept from your last try is gone (a kept file lasts 50 minutes): choose it again.",
                )
            return None
        return KeptFile(path, name, path.stat().st_size)

    def keep_reference(self, kept: KeptFile, token: str) -> None:
        """Make the form, shown again, refer to `kept` (its hidden field, signed for this user)."""
        self.kept_file = kept
        self._set_kept(signing.dumps({"f": token, "n": kept.name, "u": self.owner}, salt=_KEPT_SALT))

    def forget_kept(self) -> None:
        """Make the form, shown again, refer to no kept file."""
        self.kept_file = None
        self._set_kept("")

    def _set_kept(self, value: str) -> None:
        # A request's QueryDict is immutable: a copy.
        data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        data["kept"] = value
        self.data = data

    def close(self) -> None:
        """Close the kept file, if the form opened it."""
        if self._opened is not None:
            self._opened.close()


# The generate form's defaults are the registry's (points.generators.DEMO_KINDS).
_GRID_SIZE = generators.DEMO_KINDS["grid"].size or (1, 1)
_CLUSTERS = generators.DEMO_KINDS["clusters"].clusters
_HOT_SPOTS = generators.DEMO_KINDS["land"].clusters


class DatasetGenerateForm(forms.Form):
    """Make a demo dataset: one form for every kind in points.generators.DEMO_KINDS. A field left
    blank takes the kind's default there (as in generate_points); one the kind does not take is
    ignored."""

    KINDS = [(key, kind.label) for key, kind in generators.DEMO_KINDS.items()]
    name = forms.CharField(max_length=63, validators=[validate_dataset_name])
    title = forms.CharField(max_length=200, required=False, help_text="blank: says what was made")
    kind = forms.ChoiceField(choices=KINDS, initial="random")
    width = forms.IntegerField(
        min_value=1, max_value=10_000, required=False, initial=_GRID_SIZE[0], help_text="grid only"
    )
    height = forms.IntegerField(
        min_value=1, max_value=10_000, required=False, initial=_GRID_SIZE[1], help_text="grid only"
    )
    points = forms.IntegerField(
        min_value=1,
        max_value=50_000_000,
        required=False,
        initial=generators.DEMO_KINDS["random"].points,
        help_text="all but the grid",
    )
    clusters = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        help_text=f"clustered: clusters (blank: {_CLUSTERS}); on land: hot spots (blank: {_HOT_SPOTS})",
    )
    bounds = forms.CharField(
        required=False,
        help_text=(
            f"random and clustered: minx,miny,maxx,maxy, lon/lat if spherical "
            f"(blank: {generators.bounds_text(generators.PLANAR_BOUNDS)}, or the world if spherical)"
        ),
    )
    seed = forms.IntegerField(required=False, help_text="the same seed gives the same points")
    spherical = forms.BooleanField(
        required=False, help_text="lon/lat data with geodesic queries (points on land always are)"
    )
    replace = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "kind" not in data or any(f in self.errors for f in ("width", "height", "points", "clusters", "seed")):
            return data
        kind = generators.DEMO_KINDS[data["kind"]]
        bounds = None
        if kind.bounded and data.get("bounds"):
            try:
                bounds = generators.parse_bounds(data["bounds"])
                if data.get("spherical"):
                    generators.check_spherical_bounds(bounds)
            except ValueError as exc:
                self.add_error("bounds", str(exc))
                return data
        spec = generators.demo_spec(
            data["kind"],
            width=data.get("width"),
            height=data.get("height"),
            points=data.get("points"),
            clusters=data.get("clusters"),
            bounds=bounds,
            seed=data.get("seed"),
            spherical=bool(data.get("spherical")),
        )
        try:
            # Made now only to be checked (the batches are lazy) and titled; a task makes the points.
            _batches, _total, data["made_title"] = generators.from_spec(spec)
        except ValueError as exc:  # e.g. points on land without the land data installed
            self.add_error(None, str(exc))
            return data
        data["spec"] = spec
        return data

    def spec(self) -> dict[str, Any]:
        """Return what to make, as points.generators.from_spec reads it (a task carries this)."""
        spec: dict[str, Any] = self.cleaned_data["spec"]
        return spec


def _looks_utf16(head: bytes) -> bool:
    """Whether text without a byte-order mark looks like UTF-16: mostly NULs in one byte of each
    pair (ASCII text so encoded), none in the other."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    pairs = len(head) // 2
    return pairs >= 4 and min(even, odd) == 0 and max(even, odd) >= pairs // 2


def _add_dataset_error(form: forms.Form, exc: DatasetError) -> None:
    """Show a refusal of points.datasets on the form: a DatasetConflict (the name is taken: a
    dataset exists, is being imported, or is attached) on the name field, any other as the
    form's. A name that breaks the naming rule never gets this far: the name field's validator
    refuses it first."""
    form.add_error("name" if isinstance(exc, DatasetConflict) else None, str(exc))


def _upload_notes(form: DatasetUploadForm) -> None:
    """Set the notes the upload form shows under its geometry and file fields."""
    name = form["name"].value() or ""
    existing = Dataset.objects.filter(name=name).first() if name else None
    notes = []
    if existing is not None:
        kind = KIND_WORDS[existing.geometry]
        notes.append(f"“{existing.name}” exists: importing it again keeps its kind, {kind}, unless you choose another.")
    if form.guess is not None:
        notes.append(f"This file looks {KIND_WORDS[form.guess.kind]} ({form.guess.why}).")
    form.geometry_note = " ".join(notes)
    if form.kept_file is not None:
        form.file_note = (
            f"Your file “{form.kept_file.name}” ({filesizeformat(form.kept_file.size)}) is kept on the server from "
            "your last try: upload again without choosing a file to use it, or choose another file."
        )
    elif form.is_bound and form.errors and not form.has_error("file"):
        form.file_note = (
            "Choose the file again: a browser cannot keep a chosen file when a form comes back with errors."
        )


def _store_upload(upload: UploadedFile, path: Path) -> None:
    """Put an upload's bytes at `path` (its folder made): moved when it is a file on disk already
    (a large upload, a kept one), else written out; OSError when it cannot be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(upload, (TemporaryUploadedFile, _KeptUpload)):
        shutil.move(upload.temporary_file_path(), path)
        return
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)


def site_url(dataset: Dataset) -> str:
    """Return the page's address with the dataset chosen (its URL fragment: frontend/src/url-state.js)."""
    return f"{reverse('index')}#dataset={quote(dataset.name)}"


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


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "title",
        "geometry",
        "points",
        "bounds_text",
        "status_text",
        "attached_text",
        "created",
        "on_site",
    )
    list_filter = ("geometry", "status")
    search_fields = ("name", "title")
    fields = (
        "name",
        "title",
        "description",
        "geometry",
        "attached_text",
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
    actions = ["refresh_attached"]

    @admin.display(description="damage (from check_points or a stream)")
    def damage(self, obj: Dataset) -> str:
        return obj.damage or "none known"

    def view_on_site(self, obj: Dataset) -> str:
        """The change page's "View on site": the page, on this dataset."""
        return site_url(obj)

    # --- columns -----------------------------------------------------------------------------

    @admin.display(description="points", ordering="count")
    def points(self, obj: Dataset) -> str:
        return f"{obj.count:,}"

    @admin.display(description="bounds")
    def bounds_text(self, obj: Dataset) -> str:
        b = obj.bounds
        return "-" if b is None else ", ".join(f"{v:g}" for v in b)

    @admin.display(description="attached", ordering="attached")
    def attached_text(self, obj: Dataset) -> str:
        # An attached dataset's points are read from the user's collection, never imported.
        return f"attached: {obj.attached}" if obj.attached else "-"

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

    @admin.display(description="on the site")
    def on_site(self, obj: Dataset) -> str:
        return format_html('<a href="{}" class="dataset-site-link">view</a>', site_url(obj))

    @admin.display(description="size in the store")
    def size(self, obj: Dataset) -> str:
        """The change page's size of the stored points. Not a list column: the store is asked per
        dataset (MongoDB runs $collStats on its collection), so a list of 100 would wait for 100
        answers, while the change page asks once."""
        if obj.status != DatasetStatus.READY:
            return "-"
        try:
            size = get_store().size(obj.name)
        except StoreError as exc:  # a store that is down must not break the page
            return f"unknown ({exc})"
        return "unknown (the store cannot tell)" if size is None else filesizeformat(size)

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
                        f"This upload is {filesizeformat(declared)}; the limit is {filesizeformat(limit)} "
                        "(POINTS_MAX_UPLOAD_BYTES). Import larger files from the shell: "
                        "python manage.py import_points NAME FILE"
                    ]
                )
            else:
                try:
                    form = DatasetUploadForm(request.POST, request.FILES, owner=request.user.pk)
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
                try:
                    if form.is_valid():
                        started = self._start_upload(request, form)
                        if started is not None:
                            return HttpResponseRedirect(reverse("admin:points_dataset_change", args=[started.pk]))
                    self._keep_upload(form)
                finally:
                    form.close()
        else:
            form = DatasetUploadForm(initial={"name": request.GET.get("name", "")}, owner=request.user.pk)
        _upload_notes(form)
        return self._form_page(request, form, "Upload a dataset", multipart=True)

    def _keep_upload(self, form: DatasetUploadForm) -> None:
        """After a form error, keep the form's file on the server for the next try (a browser
        cannot keep a chosen file in a page shown again), unless the file itself was refused."""
        if form.kept_file is not None:
            # Another hour from now, for the file (before the sweep) and its reference alike.
            os.utime(form.kept_file.path)
            form.keep_reference(form.kept_file, form.kept_file.path.name.removeprefix("kept-"))
            return
        upload: UploadedFile | None = form.cleaned_data.get("file")
        if upload is None or form.has_error("file"):
            form.forget_kept()
            return
        token = uuid.uuid4().hex
        path = Path(settings.FILE_UPLOAD_TEMP_DIR) / f"kept-{token}"
        try:
            _store_upload(upload, path)
            os.utime(path)
        except OSError:
            # Not kept (a full disk, most often): the form says to choose the file again.
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            form.forget_kept()
            return
        form.keep_reference(KeptFile(path, upload.name or "upload", path.stat().st_size), token)

    def _start_upload(self, request: HttpRequest, form: DatasetUploadForm) -> Dataset | None:
        d = form.cleaned_data
        upload: UploadedFile = d["file"]
        existing = Dataset.objects.filter(name=d["name"]).values_list("geometry", flat=True).first()
        geometry, why = choose_geometry(d["geometry"], existing, form.guess)
        try:
            dataset = dataset_prepare(
                name=d["name"],
                geometry=geometry,
                title=d["title"] or (upload.name or ""),
                description=d["description"],
                replace=d["replace"],
                job=ImportJob.QUEUED,
            )
        except DatasetError as exc:
            _add_dataset_error(form, exc)
            return None
        folder = Path(settings.POINTS_UPLOAD_DIR)
        # The user's file name never becomes a path: the file is kept under the import's token
        # (so a sweep knows whose it is: points.jobs).
        saved = folder / f"{dataset.import_token}.{d['format']}"
        try:
            _store_upload(upload, saved)
            form.kept_file = None  # imported now, no longer kept
        except OSError as exc:
            with contextlib.suppress(OSError):  # not even there when its folder cannot be made
                saved.unlink(missing_ok=True)
            jobs.settle(dataset, "its upload could not be stored")
            form.add_error(None, _storage_failure(exc))
            return None
        options = {
            "format": d["format"],
            "geometry": geometry,
            "x_column": d["x_column"] or None,
            "y_column": d["y_column"] or None,
            "skip_bad_rows": d["skip_bad_rows"],
        }
        tasks.queue_for(dataset, tasks.import_upload, path=str(saved), options=options)
        self.message_user(
            request,
            f"Importing {dataset.name} as {KIND_WORDS[geometry]} ({why}), "
            "a task of the worker: the status below updates by itself.",
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
            try:
                dataset = dataset_prepare(
                    name=d["name"],
                    title=d["title"] or d["made_title"],
                    replace=d["replace"],
                    geometry=generators.demo_geometry(spec),
                    job=ImportJob.QUEUED,
                )
            except DatasetError as exc:
                _add_dataset_error(form, exc)
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

    # --- attached collections: counted again on demand ------------------------------------------

    @admin.action(description="Refresh count and bounds of the selected attached datasets", permissions=["change"])
    def refresh_attached(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        """Count each selected attached dataset's collection again (documents added since, say)."""
        for dataset in queryset:
            if not dataset.attached:
                self.message_user(
                    request,
                    f"Dataset {dataset.name}: not attached to a collection (its points were imported)",
                    messages.WARNING,
                )
                continue
            try:
                meta = get_store().refresh(dataset.name)
            except StoreError as exc:
                self.message_user(request, f"Dataset {dataset.name}: {exc}", messages.ERROR)
                continue
            refreshed = dataset_record_attached(dataset.name, meta)
            bounds = refreshed.bounds
            where = "" if bounds is None else f", bounds {', '.join(f'{v:g}' for v in bounds)}"
            self.message_user(
                request, f"Dataset {refreshed.name} refreshed: {refreshed.count:,} points{where}", messages.SUCCESS
            )

    # --- deleting: the points leave the store too (an attached collection stays: only forgotten) --

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        dataset_delete(name=obj.name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for name in list(queryset.values_list("name", flat=True)):
            dataset_delete(name=name)
