"""The admin in a real browser: log in, upload a small CSV, see the right count and the preview plot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import Page, expect

from tests.browser.conftest import preview_pixels


def make_staff(username: str, password: str) -> None:
    # Django refuses database work in the test's thread while Playwright's event loop is there.
    def work() -> None:
        try:
            get_user_model().objects.create_superuser(username, f"{username}@example.org", password)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work).result()


def test_upload_a_csv_and_see_the_preview(page: Page, live_server: Any, task_worker: None, tmp_path: Path) -> None:
    make_staff("admin", "a-long-admin-password")
    csv_file = tmp_path / "stations.csv"
    rows = [(x, y) for x in range(0, 100, 10) for y in range(0, 60, 10)]
    csv_file.write_text("x,y,name\n" + "".join(f"{x},{y},s{x}-{y}\n" for x, y in rows) + "5,5,bad\nnope,1,x\n")

    page.goto("/admin/login/?next=/admin/points/dataset/add/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("a-long-admin-password")
    page.get_by_role("button", name="Log in").click()

    page.get_by_label("Name").fill("stations")
    page.get_by_label("File").set_input_files(str(csv_file))
    page.get_by_label("Skip bad rows").check()
    page.get_by_role("button", name="Upload and import").click()

    # The import is a task of the worker; the page follows it and shows the result by itself.
    status = page.locator("#dataset-preview .dataset-preview-status")
    expect(status).to_have_attribute("data-state", "done", timeout=60_000)
    expect(status).to_have_attribute("data-received", str(len(rows) + 1))
    expect(page.locator("#import-summary")).to_contain_text(f"{len(rows) + 1} points imported")
    expect(page.locator("#import-summary")).to_contain_text("1 rows rejected")
    expect(page.locator("#import-errors")).to_contain_text("line 63: column “x” is not a number: 'nope'")

    # The plot shows points: count the pixels of the points' colour on the preview canvas.
    painted = preview_pixels(page)
    assert painted >= len(rows)
