"""Dataset management through the Django admin, logged in as staff, with the real store."""

from __future__ import annotations

import html
import io
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.urls import reverse

from points.generators import DEMO_KINDS
from points.models import Dataset, DatasetStatus
from points.ndjson import decode_lines
from points.rules import LON_LAT_RANGE, NAME_RULE
from points.stores import get_store
from tests.conftest import run_worker

# Imports run as tasks of the worker, which commits as it goes: real transactions.
pytestmark = pytest.mark.django_db(transaction=True)
ADD = reverse("admin:points_dataset_add")


def upload(client: Client, name: str, filename: str, content: bytes, **fields: Any) -> Any:
    data = {"name": name, "geometry": "planar", "file": SimpleUploadedFile(filename, content), **fields}
    response = client.post(ADD, data)
    run_worker()
    return response


def ids(name: str) -> list[Any]:
    return sorted(r["id"] for c in get_store().iter_all(name) for r in decode_lines(c.data))


def test_upload_csv_imports_in_the_background(admin_client: Client, settings: Any, tmp_path: Path) -> None:
    settings.POINTS_UPLOAD_DIR = tmp_path / "uploads"
    response = upload(admin_client, "csv1", "../../etc/passwd.csv", b"id,x,y,kind\n1,0,0,a\n2,3,4,b\n")
    dataset = Dataset.objects.get(name="csv1")
    assert response.status_code == 302 and response["Location"].endswith(f"/{dataset.pk}/change/")
    assert dataset.status == DatasetStatus.READY and dataset.count == 2 and dataset.bounds == [0, 0, 3, 4]
    assert ids("csv1") == [1, 2]
    # The upload is gone once imported, and its name never became a path.
    assert list((tmp_path / "uploads").iterdir()) == []
    page = admin_client.get(reverse("admin:points_dataset_change", args=[dataset.pk])).content.decode()
    assert "2 points imported" in page and "strict" in page and 'id="dataset-preview"' in page


@pytest.mark.parametrize(
    ("filename", "content", "count"),
    [
        (
            "p.geojson",
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [1, 2]},
                            "properties": {"a": 1},
                        }
                    ],
                }
            ).encode(),
            1,
        ),
        ("p.ndjson", b'{"pt": [1, 2]}\n{"x": 3, "y": 4, "k": "v"}\n', 2),
        ("p.txt", b"x,y\n1,2\n", 1),
    ],
)
def test_upload_each_format(admin_client: Client, filename: str, content: bytes, count: int) -> None:
    extra = {"format": "csv"} if filename.endswith(".txt") else {}
    upload(admin_client, "f", filename, content, **extra)
    assert Dataset.objects.get(name="f").count == count


def test_strict_mode_imports_nothing_and_names_the_line(admin_client: Client) -> None:
    upload(admin_client, "strict", "s.csv", b"x,y\n1,1\n2,oops\n3,3\n")
    dataset = Dataset.objects.get(name="strict")
    assert dataset.status == DatasetStatus.FAILED and "line 3: column “y” is not a number" in dataset.status_message
    assert not get_store().exists("strict")
    page = admin_client.get(reverse("admin:points_dataset_change", args=[dataset.pk])).content.decode()
    assert "Import failed" in page and "line 3" in page and "import it again" in page
    # The API never serves it as complete.
    assert Client().get("/api/datasets/strict/points").status_code == 409
    # Imported again, fixed, it is whole.
    upload(admin_client, "strict", "s.csv", b"x,y\n1,1\n3,3\n")
    assert Dataset.objects.get(name="strict").status == DatasetStatus.READY and ids("strict") == [0, 1]


def test_skip_mode_imports_good_rows_and_reports_the_bad(admin_client: Client) -> None:
    upload(admin_client, "skip", "s.csv", b"x,y\n1,1\n2,oops\n3,3\n4\n", skip_bad_rows="on")
    dataset = Dataset.objects.get(name="skip")
    assert dataset.status == DatasetStatus.READY and dataset.count == 2
    assert dataset.report == {
        "rejected": 2,
        "skip_bad_rows": True,
        "errors": ["line 3: column “y” is not a number: 'oops'", "line 5: 1 fields, but the header has 2"],
    }
    page = admin_client.get(reverse("admin:points_dataset_change", args=[dataset.pk])).content.decode()
    assert "skip bad rows" in page and "<strong>2</strong> rows rejected" in page and "line 5: 1 fields" in page


def test_uploads_are_checked_for_type_and_size(admin_client: Client, settings: Any) -> None:
    response = upload(admin_client, "bin", "p.csv", b"\x00\x01\x02binary")
    assert response.status_code == 200 and "This is not a text file" in response.content.decode()
    response = upload(admin_client, "odd", "p.xlsx", b"x,y\n1,2\n")
    assert "cannot tell the format" in response.content.decode()
    settings.POINTS_MAX_UPLOAD_BYTES = 2048
    response = upload(admin_client, "big", "p.csv", b"x,y\n" + b"1,2\n" * 2000)
    assert response.status_code == 200
    assert "import_points NAME FILE" in response.content.decode()
    assert not Dataset.objects.filter(name__in=["bin", "odd", "big"]).exists()


def test_an_existing_ready_dataset_needs_replace(admin_client: Client) -> None:
    upload(admin_client, "r", "p.csv", b"x,y\n1,2\n")
    response = upload(admin_client, "r", "p.csv", b"x,y\n1,2\n3,4\n")
    assert "exists" in response.content.decode() and Dataset.objects.get(name="r").count == 1
    upload(admin_client, "r", "p.csv", b"x,y\n1,2\n3,4\n", replace="on")
    assert Dataset.objects.get(name="r").count == 2


def test_generate_from_the_admin(admin_client: Client) -> None:
    url = reverse("admin:points_dataset_generate")
    assert "Generate" in admin_client.get(url).content.decode()
    response = admin_client.post(
        url, {"name": "demo", "kind": "grid", "width": 4, "height": 3, "points": 1, "clusters": 1, "bounds": "0,0,1,1"}
    )
    run_worker()
    assert response.status_code == 302
    assert Dataset.objects.get(name="demo").count == 12 and ids("demo") == list(range(12))
    admin_client.post(
        url,
        {
            "name": "globe",
            "kind": "clusters",
            "width": 1,
            "height": 1,
            "points": 5000,
            "clusters": 3,
            "bounds": "-180,-90,180,90",
            "spherical": "on",
            "seed": 4,
        },
    )
    run_worker()
    globe = Dataset.objects.get(name="globe")
    assert globe.geometry == "spherical" and globe.count == 5000
    # On land: lon/lat whatever the form's spherical box and bounds say (they are the world's land).
    admin_client.post(
        url,
        {"name": "land", "kind": "land", "width": 1, "height": 1, "points": 3000, "clusters": 40, "bounds": "0,0,1,1"},
    )
    run_worker()
    on_land = Dataset.objects.get(name="land")
    assert on_land.geometry == "spherical" and on_land.count == 3000 and on_land.title == "3,000 lon/lat points on land"
    response = admin_client.post(
        url,
        {
            "name": "bad",
            "kind": "random",
            "width": 1,
            "height": 1,
            "points": 10,
            "clusters": 1,
            "bounds": "0,0,400,10",
            "spherical": "on",
        },
    )
    assert response.context["form"].errors == {"bounds": [f"bounds of spherical data must lie within {LON_LAT_RANGE}"]}


# What the admin's generate form gets, and generate_points's arguments for the same points: a
# field left out takes the kind's default in both (the clusters' 300 hot spots on land, the
# world's bounds for spherical random points).
SAME_INPUTS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "grid": ({"width": 4, "height": 3}, ["--grid", "4x3"]),
    "random": ({"points": 500, "seed": 3, "spherical": "on"}, ["--random", "500", "--seed", "3", "--spherical"]),
    "clusters": (
        {"points": 400, "clusters": 5, "bounds": "0,0,10,10", "seed": 2},
        ["--random", "400", "--clusters", "5", "--bounds", "0,0,10,10", "--seed", "2"],
    ),
    "land": ({"points": 300, "seed": 4}, ["--land", "300", "--seed", "4"]),
}


def points_of(name: str) -> list[tuple[Any, list[float]]]:
    return sorted((r["id"], r["pt"]) for c in get_store().iter_all(name) for r in decode_lines(c.data))


def test_the_admin_and_the_command_offer_the_registrys_kinds() -> None:
    page = Client()
    page.force_login(get_user_model().objects.create_superuser("kinds", "kinds@example.org", "pw-12345-long"))
    form = page.get(reverse("admin:points_dataset_generate")).content.decode()
    select = re.search(r'<select name="kind".*?</select>', form, re.S)
    assert select is not None
    offered = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', select.group(0))
    assert offered == [(key, html.escape(kind.label)) for key, kind in DEMO_KINDS.items()]
    # The command reaches every kind too: SAME_INPUTS gives each one's arguments (a kind added to
    # the registry without them fails here), and the next test makes each both ways.
    assert list(SAME_INPUTS) == list(DEMO_KINDS)


@pytest.mark.parametrize("kind", list(SAME_INPUTS))
def test_the_admin_and_the_command_make_the_same_dataset_from_the_same_inputs(admin_client: Client, kind: str) -> None:
    fields, arguments = SAME_INPUTS[kind]
    response = admin_client.post(reverse("admin:points_dataset_generate"), {"name": "by-admin", "kind": kind, **fields})
    assert response.status_code == 302, response.context["form"].errors
    run_worker()
    call_command("generate_points", "by-command", *arguments, stdout=io.StringIO())
    by_admin, by_command = Dataset.objects.get(name="by-admin"), Dataset.objects.get(name="by-command")
    assert by_admin.status == by_command.status == DatasetStatus.READY
    assert (by_admin.title, by_admin.geometry, by_admin.count, by_admin.bounds) == (
        by_command.title,
        by_command.geometry,
        by_command.count,
        by_command.bounds,
    )
    assert by_admin.count > 0 and points_of("by-admin") == points_of("by-command")


def test_dataset_refusals_land_on_the_field_they_are_about(admin_client: Client, settings: Any, tmp_path: Path) -> None:
    generate = reverse("admin:points_dataset_generate")
    # A name against the rule: the name field's, before points.datasets is asked.
    for response in (
        admin_client.post(ADD, {"name": "Bad Name", "file": SimpleUploadedFile("p.csv", b"x,y\n1,2\n")}),
        admin_client.post(generate, {"name": "Bad Name", "kind": "grid"}),
    ):
        form = response.context["form"]
        assert form.errors["name"] == [NAME_RULE] and not form.non_field_errors()
    # A name taken (points.datasets' DatasetConflict): the name field's too.
    upload(admin_client, "taken", "p.csv", b"x,y\n1,2\n")
    for response in (
        upload(admin_client, "taken", "p.csv", b"x,y\n3,4\n"),
        admin_client.post(generate, {"name": "taken", "kind": "grid"}),
    ):
        form = response.context["form"]
        assert form.errors["name"] == ["dataset 'taken' exists (ready); delete it first or replace it"]
        assert not form.non_field_errors()
    # Any other failure is the form's, not a field's: here the upload cannot be stored.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.POINTS_UPLOAD_DIR = str(blocker / "uploads")
    form = upload(admin_client, "fresh", "p.csv", b"x,y\n1,2\n").context["form"]
    assert "name" not in form.errors and "file" not in form.errors
    assert [str(e) for e in form.non_field_errors()] == [
        "The upload could not be stored on the server (Not a directory); nothing was imported."
    ]
    assert Dataset.objects.get(name="fresh").status == DatasetStatus.FAILED


def test_the_list_never_asks_the_store_for_sizes_and_the_change_page_once(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("s1", "s2", "s3"):
        call_command("generate_points", name, "--grid", "20x20", stdout=io.StringIO())
    store = get_store()
    real = store.size
    asked: list[str] = []

    def counted(dataset: str) -> int | None:
        asked.append(dataset)
        return real(dataset)

    monkeypatch.setattr(store, "size", counted)
    listing = admin_client.get(reverse("admin:points_dataset_changelist")).content.decode()
    assert all(name in listing for name in ("s1", "s2", "s3")) and asked == []
    pk = Dataset.objects.get(name="s2").pk
    page = admin_client.get(reverse("admin:points_dataset_change", args=[pk])).content.decode()
    assert asked == ["s2"]
    size = real("s2")
    assert size and f'<div class="readonly">{filesizeformat(size)}</div>' in page


def test_delete_one_and_many_removes_the_points(admin_client: Client) -> None:
    for name in ("a", "b", "c"):
        upload(admin_client, name, "p.csv", b"x,y\n1,2\n")
    a = Dataset.objects.get(name="a")
    admin_client.post(reverse("admin:points_dataset_delete", args=[a.pk]), {"post": "yes"})
    assert not Dataset.objects.filter(name="a").exists() and not get_store().exists("a")
    pks = list(Dataset.objects.filter(name__in=["b", "c"]).values_list("pk", flat=True))
    admin_client.post(
        reverse("admin:points_dataset_changelist"),
        {"action": "delete_selected", "_selected_action": pks, "post": "yes"},
    )
    assert not Dataset.objects.exists()
    assert not get_store().exists("b") and not get_store().exists("c")


def test_list_columns_search_filter_and_status(admin_client: Client) -> None:
    upload(admin_client, "alpha", "p.csv", b"x,y\n1,2\n5,7\n", title="First set")
    url = reverse("admin:points_dataset_changelist")
    page = admin_client.get(url).content.decode()
    for text in ("alpha", "First set", "planar", "1, 2, 5, 7", 'data-status="ready"', "Generate demo data"):
        assert text in page
    assert "alpha" not in admin_client.get(url, {"q": "zzz"}).content.decode().split("results")[-1]
    assert "alpha" in admin_client.get(url, {"status__exact": "ready"}).content.decode()
    pk = Dataset.objects.get(name="alpha").pk
    status = admin_client.get(reverse("admin:points_dataset_status"), {"ids": str(pk)}).json()
    assert status["datasets"][0]["status"] == "ready" and status["datasets"][0]["count"] == 2


def test_only_staff_reach_the_admin(client: Client, django_user_model: Any) -> None:
    assert client.get(ADD).status_code == 302
    django_user_model.objects.create_user("user", password="pw-12345-long")
    client.login(username="user", password="pw-12345-long")
    response = client.post(ADD, {"name": "x", "file": SimpleUploadedFile("p.csv", b"x,y\n1,2\n")})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Dataset.objects.filter(name="x").exists()


def test_progress_is_written_while_batches_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    from points import datasets, generators

    monkeypatch.setattr(datasets, "PROGRESS_EVERY", 0.0)
    dataset = datasets.dataset_prepare(name="prog")
    flow = datasets._reporting(generators.grid(100, 100, batch_points=2500), dataset, lambda done: done / 10_000)
    next(flow)
    next(flow)  # the first batch's progress is written when the second is asked for
    assert Dataset.objects.get(name="prog").progress == pytest.approx(0.25)
    list(flow)
    assert Dataset.objects.get(name="prog").progress == pytest.approx(0.99)  # 1.0 only once stored


def test_an_import_that_died_can_be_imported_again(admin_client: Client) -> None:
    from points.datasets import DatasetConflict, dataset_prepare
    from points.jobs import holding_lock, lock_path

    dataset = dataset_prepare(name="stuck")
    with holding_lock(dataset.import_token):
        with pytest.raises(DatasetConflict, match="being imported"):
            dataset_prepare(name="stuck")
        page = admin_client.get(reverse("admin:points_dataset_changelist")).content.decode()
        assert 'data-status="importing"' in page
    # Its lock file is left unlocked, as when its process is killed: the list settles it as
    # failed, and the page's poller (which reloads when imports end) no longer waits for it.
    lock_path(dataset.import_token).touch()
    page = admin_client.get(reverse("admin:points_dataset_changelist")).content.decode()
    assert 'data-status="failed"' in page and 'data-status="importing"' not in page
    stuck = Dataset.objects.get(pk=dataset.pk)
    assert stuck.status == DatasetStatus.FAILED and "stopped" in stuck.status_message and stuck.job == ""
    upload(admin_client, "stuck", "p.csv", b"x,y\n1,2\n")
    assert Dataset.objects.get(name="stuck").status == DatasetStatus.READY


def test_deleting_while_importing_leaves_nothing(admin_client: Client) -> None:
    url = reverse("admin:points_dataset_generate")
    admin_client.post(
        url,
        {
            "name": "gone",
            "kind": "random",
            "width": 1,
            "height": 1,
            "points": 1_000_000,
            "clusters": 1,
            "bounds": "0,0,1,1",
        },
    )
    pk = Dataset.objects.get(name="gone").pk
    admin_client.post(reverse("admin:points_dataset_delete", args=[pk]), {"post": "yes"})
    run_worker()
    assert not Dataset.objects.filter(name="gone").exists()
    assert not get_store().exists("gone")


@pytest.mark.skipif(
    not os.environ.get("MONGODB_URI"), reason="MONGODB_URI is not set: no MongoDB server to test against"
)
def test_delete_cascades_to_mongodb(admin_client: Client, settings: Any) -> None:
    from points import stores
    from tests.conftest import _mongo_url

    settings.POINTS_STORE_URL = url = _mongo_url()
    store: Any = get_store()
    try:
        upload(admin_client, "m", "p.csv", b"x,y\n1,2\n3,4\n")
        dataset = Dataset.objects.get(name="m")
        assert dataset.status == DatasetStatus.READY and ids("m") == [0, 1]
        version = store._meta("m")["collection"]
        assert version.startswith("points.m~") and version in store.db.list_collection_names()
        admin_client.post(reverse("admin:points_dataset_delete", args=[dataset.pk]), {"post": "yes"})
        assert not store.exists("m")
        left = store.db.list_collection_names()
        assert version not in left and not [n for n in left if n.startswith(("points.m.", "points.m~"))]
    finally:
        store.client.drop_database(store.db.name)
        stores._stores.pop(url).close()


def test_an_upload_that_fills_the_disk_is_refused_and_leaves_nothing(
    admin_client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from django.core.files.uploadhandler import TemporaryFileUploadHandler

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # to disk, as large uploads go
    real = TemporaryFileUploadHandler.receive_data_chunk
    written: list[int] = []

    def disk_fills(self: TemporaryFileUploadHandler, raw_data: bytes, start: int) -> Any:
        if written:  # the disk is full after the first piece
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(raw_data))
        return real(self, raw_data, start)

    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", disk_fills)
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    before = set(incoming.iterdir())
    response = upload(admin_client, "full", "big.csv", b"x,y\n" + b"1.5,2.5\n" * 100_000)
    assert response.status_code == 200
    assert "The server&#x27;s disk is full: the upload could not be stored" in response.content.decode()
    assert written and not Dataset.objects.filter(name="full").exists()
    assert set(incoming.iterdir()) == before, "the partial upload must be removed"
    assert not [p for p in Path(settings.POINTS_UPLOAD_DIR).glob("*.csv")]
    monkeypatch.undo()
    # Nothing else broke: the admin answers, and the next upload imports.
    assert admin_client.get(reverse("admin:points_dataset_changelist")).status_code == 200
    upload(admin_client, "full", "p.csv", b"x,y\n1,2\n")
    assert Dataset.objects.get(name="full").status == DatasetStatus.READY


def test_a_utf16_upload_is_refused_as_such(admin_client: Client) -> None:
    text = '{"type":"FeatureCollection","features":[]}'
    for content in ("\ufeff" + text).encode("utf-16-le"), text.encode("utf-16-be"):
        response = upload(admin_client, "wide", "p.geojson", content)
        assert "UTF-16 is not supported; save as UTF-8." in response.content.decode()
    assert not Dataset.objects.filter(name="wide").exists()
    response = upload(admin_client, "bin", "p.csv", b"\x00\x00\x01\x02binary")
    assert "This is not a text file" in response.content.decode()


def started(client: Client, name: str, filename: str, content: bytes, **fields: Any) -> str:
    """Upload with the form's default geometry (unless given), import, and return the admin's message."""
    data = {"name": name, "file": SimpleUploadedFile(filename, content), **fields}
    response = client.post(ADD, data, follow=True)
    run_worker()
    assert response.redirect_chain, response.content.decode()
    return " ".join(str(m) for m in response.context["messages"])


def test_the_geometry_is_guessed_from_the_file_and_the_message_says_so(admin_client: Client) -> None:
    form = admin_client.get(ADD).content.decode()
    assert '<option value="" selected>guess from the file</option>' in form
    assert "lon, lng, long or longitude with lat or latitude" in form
    message = started(admin_client, "ll", "s.csv", b"id,Lon,Lat\n1,10,50\n2,11,51\n")
    assert "Importing ll as lon/lat (guessed from the columns “Lon”, “Lat”)" in message
    assert Dataset.objects.get(name="ll").geometry == "spherical"
    message = started(admin_client, "xy", "s.csv", b"x,y\n1,500\n")
    assert "as planar (x/y) (guessed from the columns “x”, “y”)" in message
    assert Dataset.objects.get(name="xy").geometry == "planar"
    # An explicit choice wins.
    message = started(admin_client, "chosen", "s.csv", b"lon,lat\n1,2\n", geometry="planar")
    assert "as planar (x/y) (as chosen)" in message and Dataset.objects.get(name="chosen").geometry == "planar"
    # GeoJSON is lon/lat by its spec; NDJSON by its keys.
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [2, 48]}}],
    }
    message = started(admin_client, "gj", "p.geojson", json.dumps(doc).encode())
    assert "as lon/lat (GeoJSON coordinates are lon/lat (RFC 7946))" in message
    assert Dataset.objects.get(name="gj").geometry == "spherical"
    started(admin_client, "nd", "p.ndjson", b'{"lng": 2, "lat": 48}\n')
    assert Dataset.objects.get(name="nd").geometry == "spherical"


def test_a_reimport_keeps_the_geometry_kind_unless_another_is_chosen(admin_client: Client) -> None:
    started(admin_client, "lonlat-again", "s.csv", b"lon,lat\n1,2\n1,oops\n")
    failed = Dataset.objects.get(name="lonlat-again")
    assert failed.status == DatasetStatus.FAILED and failed.geometry == "spherical"
    assert "line 3: column “lat” is not a number: 'oops'" in failed.status_message
    # The failed dataset's "import it again" link: the form says the kind is kept.
    form = admin_client.get(ADD, {"name": "lonlat-again"}).content.decode()
    assert "“lonlat-again” exists: importing it again keeps its kind, lon/lat, unless you choose another." in form
    # Fixed with columns named x/y, left to the default: still lon/lat, and the message says why.
    message = started(admin_client, "lonlat-again", "s.csv", b"x,y\n1,2\n3,4\n")
    dataset = Dataset.objects.get(name="lonlat-again")
    assert dataset.status == DatasetStatus.READY and dataset.geometry == "spherical"
    assert (
        "as lon/lat (kept from the dataset; the file looks planar (x/y), guessed from the columns “x”, “y”: "
        "choose that kind to change it)" in message
    )
    # A replacement keeps it too; choosing planar changes it.
    started(admin_client, "lonlat-again", "s.csv", b"x,y\n5,6\n", replace="on")
    assert Dataset.objects.get(name="lonlat-again").geometry == "spherical"
    started(admin_client, "lonlat-again", "s.csv", b"x,y\n500,6\n", replace="on", geometry="planar")
    dataset = Dataset.objects.get(name="lonlat-again")
    assert dataset.geometry == "planar" and dataset.bounds == [500, 6, 500, 6]


def kept_reference(page: str) -> str:
    match = re.search(r'<input type="hidden" name="kept"(?: value="([^"]*)")?', page)
    assert match, "no kept field on the form"
    return html.unescape(match.group(1) or "")


def kept_files(settings: Any) -> list[Path]:
    return sorted(Path(settings.FILE_UPLOAD_TEMP_DIR).glob("kept-*"))


@pytest.mark.parametrize("in_memory", [True, False])
def test_after_a_form_error_the_file_is_kept_and_used_again(
    admin_client: Client, settings: Any, in_memory: bool
) -> None:
    if not in_memory:
        settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 16  # to a temporary file, as large uploads go
    content = b"x,y\n1,2\n3,4\n5,6\n"
    for path in kept_files(settings):
        path.unlink()
    response = admin_client.post(ADD, {"name": "Not A Name", "file": SimpleUploadedFile("mine.csv", content)})
    page = response.content.decode()
    assert response.status_code == 200 and "Use 1 to 63 lowercase letters" in page
    assert "Your file “mine.csv” (16\xa0bytes) is kept on the server from your last try" in page
    (kept,) = kept_files(settings)
    assert kept.read_bytes() == content
    reference = kept_reference(page)
    # Another error (the format is refused): still kept, the same file, its reference signed again.
    response = admin_client.post(ADD, {"name": "ok", "kept": reference, "format": "nope"})
    assert "Select a valid choice" in response.content.decode()
    reference = kept_reference(response.content.decode())
    assert kept_files(settings) == [kept]
    # Submitted without choosing a file: the kept one is imported, and no longer kept.
    response = admin_client.post(ADD, {"name": "ok", "kept": reference})
    run_worker()
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="ok")
    assert dataset.count == 3 and dataset.title == "mine.csv" and kept_files(settings) == []
    # Used once: a second try is told to choose the file again.
    response = admin_client.post(ADD, {"name": "ok2", "kept": reference})
    assert "The file kept from your last try is gone (a kept file lasts 50 minutes): choose it again." in (
        response.content.decode()
    )
    assert not Dataset.objects.filter(name="ok2").exists()


def test_a_kept_file_is_only_its_users_and_a_new_file_replaces_it(
    admin_client: Client, client: Client, django_user_model: Any, settings: Any
) -> None:
    for path in kept_files(settings):
        path.unlink()
    page = admin_client.post(ADD, {"name": "-bad", "file": SimpleUploadedFile("a.csv", b"x,y\n1,2\n")}).content
    reference = kept_reference(page.decode())
    (kept,) = kept_files(settings)
    other = django_user_model.objects.create_superuser("other", "other@example.org", "pw-12345-long")
    client.force_login(other)
    for forged in (reference, reference[:-2] + "xx", ""):
        response = client.post(ADD, {"name": "theirs", "kept": forged})
        assert response.status_code == 200 and not Dataset.objects.filter(name="theirs").exists()
        assert ("is gone" if forged else "Choose a file.") in response.content.decode()
    assert kept.is_file()
    # A new file chosen with the reference replaces the kept one.
    admin_client.post(ADD, {"name": "new", "kept": reference, "file": SimpleUploadedFile("b.csv", b"x,y\n7,8\n")})
    run_worker()
    assert Dataset.objects.get(name="new").bounds == [7, 8, 7, 8] and kept_files(settings) == []
    # A refused file is not kept: the form says what is wrong with it.
    page = admin_client.post(ADD, {"name": "bin", "file": SimpleUploadedFile("c.csv", b"\x00\x01binary")}).content
    assert "This is not a text file" in page.decode() and kept_reference(page.decode()) == ""
    assert kept_files(settings) == []


def test_a_kept_file_left_behind_is_swept_after_an_hour(admin_client: Client, settings: Any) -> None:
    from points.jobs import sweep

    for path in kept_files(settings):
        path.unlink()
    admin_client.post(ADD, {"name": "-bad", "file": SimpleUploadedFile("a.csv", b"x,y\n1,2\n")})
    (kept,) = kept_files(settings)
    sweep(get_store())
    assert kept.is_file()  # fresh: kept
    hours_ago = time.time() - 2 * 3600
    os.utime(kept, (hours_ago, hours_ago))
    sweep(get_store())
    assert not kept.exists()


def test_view_on_site_opens_the_page_on_the_dataset(admin_client: Client) -> None:
    upload(admin_client, "seen", "p.csv", b"x,y\n1,2\n")
    pk = Dataset.objects.get(name="seen").pk
    page = admin_client.get(reverse("admin:points_dataset_change", args=[pk])).content.decode()
    assert '<a href="/#dataset=seen" class="viewsitelink">View on site</a>' in page
    listing = admin_client.get(reverse("admin:points_dataset_changelist")).content.decode()
    assert '<a href="/#dataset=seen" class="dataset-site-link">view</a>' in listing


def test_a_file_that_cannot_be_kept_is_asked_for_again(admin_client: Client, settings: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.FILE_UPLOAD_TEMP_DIR = str(blocker / "incoming")  # nothing can be written there
    response = admin_client.post(ADD, {"name": "-bad", "file": SimpleUploadedFile("a.csv", b"x,y\n1,2\n")})
    page = response.content.decode()
    assert response.status_code == 200 and kept_reference(page) == ""
    assert "Choose the file again: a browser cannot keep a chosen file when a form comes back with errors." in page
