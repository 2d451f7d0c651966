"""The admin's fixes of issue 12 in a real browser: the geometry guessed from the columns and kept
on a re-import, row errors in the user's column names, the file kept after a form error, the
preview from the overview endpoint, and "View on site"."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request, expect

from points.models import Dataset
from tests.browser.conftest import generate, in_thread
from tests.browser.test_admin_preview import assert_preview_shows, make_staff

PASSWORD = "a-long-admin-password"


def log_in(page: Page, next_url: str) -> None:
    make_staff("admin", PASSWORD)
    page.goto(f"/admin/login/?next={next_url}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def submit(page: Page) -> str:
    """Submit the upload form and return the page it leads to as the server sent it (its messages
    included: the dataset's page reloads by itself, without them, when the import ends)."""
    with page.expect_response(lambda r: r.request.method == "GET" and r.url.endswith("/change/")) as answer:
        page.get_by_role("button", name="Upload and import").click()
    return answer.value.text()


def upload(page: Page, name: str, path: Path) -> str:
    page.get_by_label("Name").fill(name)
    page.get_by_label("File").set_input_files(str(path))
    return submit(page)


def geometry_of(name: str) -> str:
    return str(in_thread(lambda: Dataset.objects.get(name=name).geometry))


def failed_import(page: Page) -> None:
    expect(page.locator(".errornote")).to_contain_text("Import failed", timeout=60_000)


def test_a_lon_lat_csv_left_to_the_default_is_imported_as_lon_lat_and_the_page_says_why(
    page: Page, live_server: Any, task_worker: None, tmp_path: Path
) -> None:
    towns = tmp_path / "towns.csv"
    towns.write_text("name,lon,lat\nParis,2.35,48.86\nLondon,-0.13,51.51\nRome,12.5,41.9\n")
    log_in(page, "/admin/points/dataset/add/")
    # The form's default is the guess, and the form says how it guesses.
    expect(page.locator("#id_geometry")).to_have_value("")
    expect(page.locator(".form-row.field-geometry, .form-row:has(#id_geometry)")).to_contain_text(
        "lon, lng, long or longitude with lat or latitude mean lon/lat"
    )
    shown = upload(page, "towns", towns)
    assert "Importing towns as lon/lat (guessed from the columns “lon”, “lat”)" in shown
    expect(page.locator("#dataset-preview .dataset-preview-status")).to_have_attribute(
        "data-state", "done", timeout=60_000
    )
    expect(page.locator(".field-geometry .readonly")).to_contain_text("spherical (lon/lat")
    assert geometry_of("towns") == "spherical"


def test_a_bad_row_is_reported_in_the_users_column_name(
    page: Page, live_server: Any, task_worker: None, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,lon,lat\nParis,2.35,48.86\nNowhere,abc,1\n")
    log_in(page, "/admin/points/dataset/add/")
    upload(page, "bad-lon", bad)
    failed_import(page)
    expect(page.locator(".errornote")).to_contain_text("line 3: column “lon” is not a number: 'abc'")


def test_importing_a_failed_lon_lat_dataset_again_keeps_it_lon_lat(
    page: Page, live_server: Any, task_worker: None, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("lon,lat\n2.35,48.86\n2.35,oops\n")
    fixed = tmp_path / "fixed.csv"  # columns named x/y: alone, these would be guessed planar
    fixed.write_text("x,y\n2.35,48.86\n-0.13,51.51\n")
    log_in(page, "/admin/points/dataset/add/")
    upload(page, "lonlat-retry", first)
    failed_import(page)
    assert geometry_of("lonlat-retry") == "spherical"
    page.get_by_role("link", name="import it again").click()
    expect(page.locator("#id_name")).to_have_value("lonlat-retry")
    expect(page.locator("#geometry-note")).to_have_text(
        "“lonlat-retry” exists: importing it again keeps its kind, lon/lat, unless you choose another."
    )
    page.get_by_label("File").set_input_files(str(fixed))
    shown = submit(page)
    assert "Importing lonlat-retry as lon/lat (kept from the dataset; the file looks planar (x/y)" in shown
    expect(page.locator("#dataset-preview .dataset-preview-status")).to_have_attribute(
        "data-received", "2", timeout=60_000
    )
    expect(page.locator(".field-geometry .readonly")).to_contain_text("spherical (lon/lat")
    assert geometry_of("lonlat-retry") == "spherical"


def test_after_a_form_error_the_file_is_kept_and_used_without_choosing_it_again(
    page: Page, live_server: Any, task_worker: None, tmp_path: Path
) -> None:
    points = tmp_path / "points.csv"
    points.write_text("x,y\n1,1\n2,2\n3,3\n4,4\n")
    log_in(page, "/admin/points/dataset/add/")
    page.get_by_label("Name").fill("Not A Valid Name")
    page.get_by_label("File").set_input_files(str(points))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator(".errorlist")).to_contain_text("Use 1 to 63 lowercase letters")
    expect(page.locator("#file-note")).to_contain_text(
        "Your file “points.csv” (20 bytes) is kept on the server from your last try: upload again without choosing"
    )
    expect(page.locator("#geometry-note")).to_have_text(
        "This file looks planar (x/y) (guessed from the columns “x”, “y”)."
    )
    page.get_by_label("Name").fill("kept")
    shown = submit(page)  # no file chosen this time
    assert "Importing kept as planar (x/y)" in shown
    expect(page.locator("#dataset-preview .dataset-preview-status")).to_have_attribute(
        "data-received", "4", timeout=60_000
    )
    expect(page.locator("#import-summary")).to_contain_text("4 points imported")


def test_the_preview_asks_the_overview_once_and_never_streams_the_points(
    page: Page, live_server: Any, grid: str
) -> None:
    pk = in_thread(lambda: Dataset.objects.get(name=grid).pk)
    asked: list[str] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).path.startswith("/api/"):
            asked.append(request.url)

    page.on("request", record)
    log_in(page, f"/admin/points/dataset/{pk}/change/")
    status = page.locator("#dataset-preview .dataset-preview-status")
    expect(status).to_have_attribute("data-state", "done")
    expect(status).to_have_attribute("data-received", str(50 * 50))
    assert [urlsplit(url).path for url in asked] == [f"/api/datasets/{grid}/overview"], asked
    assert_preview_shows(page, asked[0], [(x, y) for x in range(50) for y in range(50)])


def test_view_on_site_opens_the_page_on_the_dataset(page: Page, live_server: Any, grid: str) -> None:
    generate("other", "--grid", "3x3")  # not the page's first dataset: the link chooses it
    pk = in_thread(lambda: Dataset.objects.get(name="other").pk)
    log_in(page, f"/admin/points/dataset/{pk}/change/")
    page.get_by_role("link", name="View on site").click()
    page.wait_for_url("**/#dataset=other")
    page.wait_for_function("() => window.pointsite && document.querySelector('#dataset').value === 'other'")
    # From the list too.
    page.goto("/admin/points/dataset/")
    page.locator("tr:has(a:text-is('grid')) a.dataset-site-link").click()
    page.wait_for_url("**/#dataset=grid")
    page.wait_for_function("() => window.pointsite && document.querySelector('#dataset').value === 'grid'")
