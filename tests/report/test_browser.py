"""model_card.html and index.html in a real headless Chromium (Debian's ``chromium``, driven
by playwright; no browser is downloaded): the verdict, every tenant and every gate row are
visible, a tenant name made of markup shows as text, nothing is fetched from outside the file
system, the page fits a phone's width and prints; screenshots go to the test's tmp folder.

CI (``.ci/run``) installs chromium and sets ``MMM_EVIDENCE_REQUIRE_BROWSER=1``, so there a
missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.run_folder import make_run_folder

CHROMIUM = os.environ.get("MMM_EVIDENCE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GATE_LABELS = {True: "PASS", False: "FAIL", None: "NOT ASSESSABLE"}


def _require_browser() -> None:
    required = os.environ.get("MMM_EVIDENCE_REQUIRE_BROWSER") == "1"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("playwright is not installed (pip install '.[test]')")
        pytest.skip("playwright is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        if required:
            pytest.fail(f"{CHROMIUM} not found: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} not found")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require_browser()
    return make_run_folder(tmp_path_factory.mktemp("run"))


@pytest.fixture
def browser_page(tmp_path: Path):
    """A page in a fresh Chromium profile that records every request and dialog, and lets
    only file: URLs through."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1100, "height": 900})
        page = context.pages[0] if context.pages else context.new_page()
        page.requests, page.blocked, page.dialogs = [], [], []

        def route(r) -> None:
            page.requests.append(r.request.url)
            if r.request.url.startswith("file:"):
                r.continue_()
            else:
                page.blocked.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        try:
            yield page
        finally:
            context.close()


def test_model_card_shows_verdict_every_tenant_and_every_gate(run_folder: Path, browser_page,
                                                                tmp_path: Path) -> None:
    page = browser_page
    report = json.loads((run_folder / "validation_report.json").read_text(encoding="utf-8"))
    card = run_folder / "model_card.html"
    page.goto(card.as_uri())
    banner = page.locator(".banner").first
    assert banner.is_visible() and banner.inner_text().startswith(f"Verdict: {report['verdict']}")
    for tenant, section in report["tenants"].items():
        heading = page.locator(f"#tenant-{tenant} h2").first
        assert heading.is_visible(), tenant
        assert section["display_name"] in heading.inner_text()  # as text, markup and all
        gate_table = page.locator(f"#tenant-{tenant} table").filter(
            has=page.locator("th", has_text="threshold")).first
        for g in section["gates"]:
            row = gate_table.locator("tr").filter(
                has=page.locator("td:first-child code", has_text=g["name"])).first
            assert row.is_visible(), (tenant, g["name"])
            assert row.locator(".badge").first.inner_text() == GATE_LABELS[g["passed"]]
    assert page.locator("script").count() == 0 and page.dialogs == []
    page.screenshot(path=str(tmp_path / "model_card.png"), full_page=True)
    assert (tmp_path / "model_card.png").read_bytes().startswith(b"\x89PNG")
    assert page.blocked == [] and all(u.startswith(("file:", "data:")) for u in page.requests)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: tables scroll in their box
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(tmp_path / "model_card_phone.png"))
    page.emulate_media(media="print")
    assert page.locator(".banner").first.is_visible()
    page.pdf(path=str(tmp_path / "model_card.pdf"))
    assert (tmp_path / "model_card.pdf").read_bytes().startswith(b"%PDF")


def test_index_lists_tenants_by_notebooks_with_working_links(run_folder: Path, browser_page,
                                                              tmp_path: Path) -> None:
    page = browser_page
    report = json.loads((run_folder / "validation_report.json").read_text(encoding="utf-8"))
    page.goto((run_folder / "index.html").as_uri())
    assert page.locator(".banner").first.inner_text().startswith(
        f"Verdict: {report['verdict']}")
    headers = page.locator("th").all_inner_texts()
    assert all(nb in headers for nb in report["notebooks"])
    for tenant, section in report["tenants"].items():
        row = page.locator("tr").filter(has=page.locator("code", has_text=tenant)).first
        assert row.is_visible() and section["display_name"] in row.inner_text()
        for entry in section["notebooks"].values():
            if entry.get("reviewer_html"):
                link = row.locator(f'a[href="{entry["reviewer_html"]}"]')
                assert link.is_visible() and link.inner_text() == "reviewer"
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    # follow a reviewer link: it opens from the file system too
    page.locator('a:text-is("reviewer")').first.click()
    page.wait_for_load_state()
    assert page.url.endswith(".reviewer.html")
    assert page.blocked == [] and page.dialogs == []
