"""HTTP adapters: parse the request, ask the store, stream the points back (no logic of their own)."""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import orjson
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from points import codings, integrity, jobs, streams
from points.api_errors import failure_response
from points.batches import Chunk, Coding, StreamForm
from points.geometry import Area, PolygonError, parse_area
from points.models import NAME_PATTERN, Dataset, DatasetStatus, GeometryKind
from points.negotiation import NotAcceptable, UnknownFormat, choose_coding, choose_form
from points.openapi import openapi_document
from points.overview import GridError, parse_grid
from points.stores import get_store
from points.stores.base import PointStore, PointStream, StoreDamaged, StoreError

logger = logging.getLogger(__name__)
_NAME = re.compile(NAME_PATTERN)
# A URL-encoded byte takes at most this many bytes in a form's body (%XX).
_FORM_ENCODING = 3
# Under ASGI, a stream's next piece is made on the event loop while making one takes less than this.
INLINE_PULL_SECONDS = 0.002


def error(status: int, message: str) -> JsonResponse:
    """Return a JSON error response a person can act on."""
    return JsonResponse({"error": message}, status=status)


def api_access(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Let the request through when no POINTS_API_TOKEN is set, or it carries the token, or a user is logged in."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        token = settings.POINTS_API_TOKEN
        if token and not request.user.is_authenticated:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                response = error(401, "this API needs a token: send the header 'Authorization: Bearer <token>'")
                response["WWW-Authenticate"] = 'Bearer realm="pointsite"'
                return response
        return view(request, *args, **kwargs)

    return guarded


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Render the page, with the server's limits its checks mirror."""
    limits = {"max_vertices": settings.POINTS_MAX_VERTICES, "token_required": bool(settings.POINTS_API_TOKEN)}
    return render(request, "index.html", limits)


@require_safe
def openapi(request: HttpRequest) -> JsonResponse:
    """Return the OpenAPI description of the API."""
    return JsonResponse(openapi_document())


@require_safe
@api_access
def dataset_list(request: HttpRequest) -> JsonResponse:
    """Return every dataset's metadata."""
    datasets = list(Dataset.objects.all())
    jobs.reap(datasets)  # imports that died are settled before they are described
    return JsonResponse([d.as_json(properties=_properties(d)) for d in datasets], safe=False)


@require_safe
@api_access
def dataset_detail(request: HttpRequest, name: str) -> JsonResponse:
    """Return one dataset's metadata, with its properties' types and statistics (see points.schema)."""
    dataset = _dataset(name)
    if isinstance(dataset, JsonResponse):
        return dataset
    jobs.reap([dataset])
    return JsonResponse(dataset.as_json(properties=_properties(dataset, detail=True)))


def _properties(dataset: Dataset, *, detail: bool = False) -> list[dict[str, Any]] | None:
    """Return the properties of the points the dataset serves, with their column types, as the
    store keeps them (learnt at import: points.schema); None while it serves none, or when the
    store cannot say (the list stays usable with the store out of reach). With `detail`, each
    property also has its statistics, where the store kept them."""
    if dataset.status != DatasetStatus.READY:
        return None
    try:
        schema = get_store().schema(dataset.name)
    except StoreError as exc:
        logger.warning("dataset %r: its properties could not be read from the store: %s", dataset.name, exc)
        return None
    if detail:
        return schema.describe()
    return [{"name": name, "type": str(kind)} for name, kind in schema.properties.items()]


def _dataset(name: str) -> Dataset | JsonResponse:
    """Return the dataset named `name`, or the 404 saying there is none."""
    dataset = Dataset.objects.filter(name=name).first() if _NAME.match(name) else None
    if dataset is None:
        shown = name if len(name) <= 64 else name[:64] + "…"
        return error(404, f"no dataset named {shown!r}")
    return dataset


def _ready_dataset(name: str) -> Dataset | JsonResponse:
    dataset = _dataset(name)
    if isinstance(dataset, JsonResponse):
        return dataset
    if dataset.status == DatasetStatus.IMPORTING:
        jobs.reap([dataset])  # an import that died says so now, not "importing" forever
    if dataset.status == DatasetStatus.IMPORTING:
        return error(409, f"dataset {name!r} is still importing; try again when its status is ready")
    if dataset.status == DatasetStatus.FAILED:
        return error(409, f"dataset {name!r} failed to import ({dataset.status_message}); import it again")
    return dataset


@require_safe  # HEAD: the headers of the stream, which is not opened (see _stream)
@api_access
def points_all(request: HttpRequest, name: str) -> HttpResponseBase:
    """Stream every point of the dataset."""
    dataset = _ready_dataset(name)
    if isinstance(dataset, JsonResponse):
        return dataset
    form = _form(request)
    if isinstance(form, JsonResponse):
        return form
    return _stream(
        request, dataset, lambda store, form: store.open_points(dataset.name, None, form=form), form, inline=True
    )


@csrf_exempt  # read-only: it selects points and changes nothing, so scripts may call it freely
@require_POST
@api_access
def points_within(request: HttpRequest, name: str) -> HttpResponseBase:
    """Stream the points of the dataset inside the GeoJSON polygon in the body."""
    dataset = _ready_dataset(name)
    if isinstance(dataset, JsonResponse):
        return dataset
    form = _form(request)
    if isinstance(form, JsonResponse):
        return form
    area = _area(request, dataset)
    if isinstance(area, JsonResponse):
        return area
    return _stream(
        request,
        dataset,
        lambda store, form: store.open_points(dataset.name, area, form=form),
        form,
        inline=True,
        selection=True,
    )


@csrf_exempt  # read-only, as points_within
@require_http_methods(["GET", "HEAD", "POST"])
@api_access
def points_count(request: HttpRequest, name: str) -> HttpResponseBase:
    """Return how many points a stream of the dataset (GET) or of the polygon in the body (POST) would send."""
    dataset = _ready_dataset(name)
    if isinstance(dataset, JsonResponse):
        return dataset
    area: Area | None = None
    if request.method == "POST":
        parsed = _area(request, dataset)
        if isinstance(parsed, JsonResponse):
            return parsed
        area = parsed
    try:
        count = get_store().count_points(dataset.name, area)
    except StoreError as exc:
        return _store_failure(dataset, exc, "count the points of")
    return JsonResponse({"count": count})


@require_safe
@api_access
def overview(request: HttpRequest, name: str) -> HttpResponseBase:
    """Return the dataset's density grid: how many points fall in each cell (see points.overview)."""
    dataset = _ready_dataset(name)
    if isinstance(dataset, JsonResponse):
        return dataset
    try:
        coding = choose_coding(request.headers.get("Accept-Encoding"))
    except NotAcceptable as exc:
        return error(406, str(exc))
    bounds = dataset.bounds
    try:
        grid = parse_grid(
            request.GET.get("width"),
            request.GET.get("height"),
            request.GET.get("bbox"),
            (bounds[0], bounds[1], bounds[2], bounds[3]) if bounds else None,
        )
    except GridError as exc:
        return error(400, str(exc))
    try:
        counts = get_store().overview(dataset.name, grid)
    except StoreError as exc:
        return _store_failure(dataset, exc, "count an overview of")
    body = orjson.dumps(
        {"bbox": list(grid.bbox), "width": grid.width, "height": grid.height, "counts": counts.reshape(-1)},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    response = HttpResponse(codings.compress_whole(body, coding), content_type="application/json")
    if coding != Coding.IDENTITY:
        response["Content-Encoding"] = coding.value
    response["Vary"] = "Accept-Encoding"
    return response


def _area(request: HttpRequest, dataset: Dataset) -> Area | JsonResponse:
    """Return the area in the request's body, or the error response saying why there is none."""
    limit = settings.POINTS_MAX_BODY_BYTES
    if not request.META.get("CONTENT_LENGTH") and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # WSGI servers hand Django no body without a length: say so rather than "empty".
        return error(411, "send the polygon with a Content-Length header (chunked request bodies are not read)")
    # A form's body is URL-encoded, up to 3 bytes a character: the limit is on the GeoJSON in it.
    form = request.content_type == "application/x-www-form-urlencoded"
    read_limit = limit * _FORM_ENCODING if form else limit
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > read_limit:
        return error(413, f"the polygon body is {int(declared):,} bytes; the limit is {read_limit:,}")
    body = request.read(read_limit + 1)
    if len(body) > read_limit:
        return error(413, f"the polygon body is over the limit of {read_limit:,} bytes")
    if form and body.strip()[:1] not in (b"", b"{"):
        # An HTML form's post: the polygon is its `geometry` field (curl -d sends the same
        # content type with the bare GeoJSON, which is read as such).
        field = _form_geometry(body)
        if isinstance(field, JsonResponse):
            return field
        body = field
    if len(body) > limit:
        return error(413, f"the polygon is {len(body):,} bytes; the limit is {limit:,}")
    try:
        return parse_area(body, kind=GeometryKind(dataset.geometry), max_vertices=settings.POINTS_MAX_VERTICES)
    except PolygonError as exc:
        return error(400, f"invalid polygon: {exc}")


def _form_geometry(body: bytes) -> bytes | JsonResponse:
    """Return the `geometry` field of a URL-encoded form body, or the error response saying why there is none."""
    try:
        fields = urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return error(400, "invalid form body: it is not URL-encoded text (send the polygon in a field named geometry)")
    values = fields.get("geometry")
    if not values:
        return error(400, "the form has no geometry field: send the GeoJSON polygon in a field named geometry")
    return values[0].encode()


def _store_failure(dataset: Dataset, exc: StoreError, doing: str) -> JsonResponse:
    """Return the answer to a store error met before anything was sent (its status and message:
    points.stores.errors), recording damage on the dataset for the admin."""
    if isinstance(exc, StoreDamaged):
        integrity.record_damage(dataset.name, str(exc))
    return failure_response(exc, dataset.name, doing)


def _form(request: HttpRequest) -> StreamForm | JsonResponse:
    """Return the format and coding the request asks for, or the error response saying why not."""
    try:
        return choose_form(
            query_format=request.GET.get("format"),
            accept=request.headers.get("Accept"),
            accept_encoding=request.headers.get("Accept-Encoding"),
        )
    except UnknownFormat as exc:
        return error(400, str(exc))
    except NotAcceptable as exc:
        return error(406, str(exc))


def _stream(
    request: HttpRequest,
    dataset: Dataset,
    open_points: Callable[[PointStore, StreamForm], PointStream],
    form: StreamForm,
    *,
    inline: bool,
    selection: bool = False,
) -> HttpResponseBase:
    download = _download(request.GET.get("download"))
    if isinstance(download, JsonResponse):
        return download
    # A download is named after the dataset: its name is safe in a quoted file name (NAME_PATTERN).
    filename = f"{dataset.name}{'-selection' if selection else ''}.{streams.EXTENSIONS[form.format]}"
    attachment = filename if download else None
    if request.method == "HEAD":
        # The headers a GET would get, without opening a stream (no cursor to hold or release);
        # empty and streaming, so it carries no Content-Length either. Its count is the store's.
        nothing = _no_chunks() if isinstance(request, ASGIRequest) else iter(())
        head = StreamingHttpResponse(nothing, content_type=streams.CONTENT_TYPES[form.format])
        try:
            count = get_store().count(dataset.name)  # the store's, as a GET's (it is the source of truth)
        except StoreError as exc:
            return _store_failure(dataset, exc, "count the points of")
        return _stream_headers(head, form, count, attachment)
    opened: PointStream | None = None
    try:
        opened = open_points(get_store(), streams.store_form(form))  # an export reads plain Arrow
        chunks = integrity.watched(opened.chunks, dataset.name)  # damage met midway is recorded
        schema = None
        if streams.needs_schema(form):  # the schema of the very points that stream
            schema = opened.schema.arrow(dataset=dataset.name, geometry=dataset.geometry)
        # Read the first chunk before answering, so a store that is down gets a 503, not a
        # stream that starts and fails.
        first = next(chunks, None)
    except Exception as exc:
        if opened is not None:
            opened.chunks.close()  # nothing will read them: the cursor and files go back now
        if isinstance(exc, StoreError):
            return _store_failure(dataset, exc, "open a stream of")
        raise  # an internal error: Django logs it; the client reads a 500 with INTERNAL (api_errors)
    framed = streams.frame_stream(
        _prepend(first, chunks),
        form=form,
        schema=schema,
        chunk_bytes=settings.POINTS_STREAM_CHUNK_BYTES,
        max_points=settings.POINTS_MAX_RESULTS,
        max_seconds=settings.POINTS_MAX_STREAM_SECONDS,
        dataset=dataset.name,
    )
    # A response closed before its body was read (the client left at once) still releases the cursor.
    body = streams.Closing(framed, chunks.close)
    content = _async_chunks(body, inline=inline) if isinstance(request, ASGIRequest) else body
    response = _PointsResponse(content, body, content_type=streams.CONTENT_TYPES[form.format])
    # The store's count of the very version streaming (the store is the source of truth).
    count = opened.count if opened.count is not None else dataset.count
    return _stream_headers(response, form, count, attachment)


def _download(value: str | None) -> bool | JsonResponse:
    """Return whether `?download=` asks for an attachment, or the error response saying why it is unreadable."""
    if value is None or value.strip().lower() in ("", "0", "false"):
        return False
    if value.strip().lower() in ("1", "true"):
        return True
    return error(400, f"download must be 1 or true (or 0 or false), not {value[:40]!r}")


def _stream_headers(
    response: StreamingHttpResponse, form: StreamForm, count: int, attachment: str | None = None
) -> StreamingHttpResponse:
    if attachment is not None:
        response["Content-Disposition"] = f'attachment; filename="{attachment}"'
    if form.coding.value != "identity":
        response["Content-Encoding"] = form.coding.value
    response["Vary"] = "Accept, Accept-Encoding"
    response["X-Dataset-Count"] = str(count)
    response["X-Accel-Buffering"] = "no"
    response["Cache-Control"] = "no-store"
    return response


class _PointsResponse(StreamingHttpResponse):
    """A stream whose body is closed with the response, also under ASGI, where Django closes
    only its own wrapper of the async iterator and ours would wait for the garbage collector."""

    def __init__(self, content: Any, body: Generator[bytes, None, None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._body = body

    def close(self) -> None:
        try:
            super().close()
        finally:
            # Called once the body is no longer being read (after the last piece, or once the
            # request's task is cancelled and awaited), so no pull is running in another thread.
            self._body.close()


def _prepend(first: Chunk | None, rest: Generator[Chunk, None, None]) -> Generator[Chunk, None, None]:
    # A generator (not itertools.chain) so closing it closes the store's iterator too.
    try:
        if first is not None:
            chunk, first = first, None  # held by the stream while it is sent, not for its whole life
            yield chunk
            del chunk
        yield from rest
    finally:
        rest.close()


def _next_piece(body: Iterator[bytes]) -> bytes | None:
    return next(body, None)


async def _no_chunks() -> AsyncIterator[bytes]:
    # The empty body of a HEAD under ASGI (a synchronous one would draw Django's warning).
    return
    yield b""


async def _async_chunks(body: Generator[bytes, None, None], *, inline: bool) -> AsyncIterator[bytes]:
    """Yield the body's pieces under ASGI (Django would buffer a synchronous iterator whole).

    A piece that is quick to make (the bytes of blocks wholly inside, as a dataset's full stream
    is) is pulled right on the event loop: a hop to a thread and back for each piece cost more
    than the piece (measured: 8 concurrent full 500k streams on one worker, 72-88 streams in 6 s
    with a hop, 165-216 without, gunicorn's threads 203-241). A pull that takes longer than
    `INLINE_PULL_SECONDS` (points tested against a polygon's edge, a cold disk) sends the rest of
    the stream's pulls to a thread (as does `inline=False` from the start), so the loop never
    waits long for one stream while others are being sent.
    """
    loop = asyncio.get_running_loop()
    pulling: asyncio.Future[bytes | None] | None = None
    piece: bytes | None = None
    try:
        while True:
            piece = None  # the piece sent last is not kept while the next is read
            if inline:
                # CPU time of this thread, not the clock: waiting for the GIL while other streams
                # run is no reason to leave the loop.
                started = time.thread_time()
                piece = _next_piece(body)
                inline = time.thread_time() - started < INLINE_PULL_SECONDS
            else:
                pulling = loop.run_in_executor(None, _next_piece, body)
                # Shielded: a client that leaves cancels this task, not the pull, which runs on
                # in its thread; the body must not be closed while it does (a generator already executing).
                piece = await asyncio.shield(pulling)
                pulling = None
            if piece is None:
                return
            yield piece
    finally:
        if pulling is not None:
            await asyncio.wait([pulling])
        await loop.run_in_executor(None, body.close)
