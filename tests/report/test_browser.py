"""The reports in headless Chromium: no console errors, nothing loaded over the network, verdict and
plots on the page, scripts from run data inert; a screenshot of each and a PDF of the acceptance report.

Chromium is Debian's ``chromium`` (scripts/ensure-debian-packages installs it as root); it is driven
over the DevTools protocol on a pipe, so no driver package is needed.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.report import render_acceptance, render_index, render_run
from tests.report.chromium import Chromium, PageLoad, find_chromium
from tests.report.runfolders import HOSTILE

pytestmark = pytest.mark.browser

FAIL_RED = (0xC0, 0x39, 0x2B)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("headless Chromium is not installed (Debian package 'chromium'; "
                    "scripts/ensure-debian-packages installs it when run as root)")
    with Chromium(binary, tmp_path_factory.mktemp("chromium-profile")) as chromium:
        chromium.open_page(width=1280, height=900)
        yield chromium


def load(browser: Chromium, page: Path) -> PageLoad:
    result = browser.load(page.resolve().as_uri())
    assert result.errors == [], result.errors
    assert result.requests == [page.resolve().as_uri()], "the page loaded something besides itself"
    return result


def plots_drawn(browser: Chromium) -> int:
    """Inline SVG plots that the browser laid out at a readable size."""
    return int(browser.evaluate(
        "[...document.querySelectorAll('svg.plot')].filter(s => { const r = s.getBoundingClientRect();"
        " return r.width > 500 && r.height > 100; }).length"))


def colour_share(png: Path, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> float:
    """The share of pixels in ``box`` close to ``colour``."""
    with Image.open(io.BytesIO(png.read_bytes())) as image:
        pixels = np.asarray(image.convert("RGB").crop(box), dtype=int)
    return float(np.mean(np.all(np.abs(pixels - np.array(colour)) < 24, axis=-1)))


def test_run_report_shows_verdict_breaches_and_plots(browser, runs, tmp_path):
    run = tmp_path / runs["failed"].name
    shutil.copytree(runs["failed"], run)
    load(browser, render_run(run))
    assert browser.evaluate("document.querySelector('#verdict .word').innerText") == "FAIL"
    breached = browser.evaluate("document.querySelector('#breached').innerText")
    assert "lost_frames" in breached and "rcvbuf_errors" in breached
    assert browser.evaluate("document.querySelectorAll('#scan-table tbody tr.failed').length") == 1
    assert plots_drawn(browser) == 5  # throughput, loss, disks, processes, spectrum
    assert browser.evaluate("document.scripts.length") == 0
    shot = browser.screenshot(tmp_path / "report.png")
    with Image.open(shot) as image:
        width, height = image.size
    assert width == 1280 and height > 3000
    assert colour_share(shot, FAIL_RED, (60, 80, 400, 180)) > 0.05, "no red FAIL banner at the top"
    print(f"screenshot: {shot}")


def test_markup_in_run_data_stays_text_in_the_browser(browser, runs, tmp_path):
    run = tmp_path / runs["hostile"].name
    shutil.copytree(runs["hostile"], run)
    page = load(browser, render_run(run))
    assert page.dialogs == []
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    first_scan = browser.evaluate("document.querySelector('#scan-table tbody tr td').innerText")
    assert first_scan == HOSTILE
    legend = browser.evaluate("[...document.querySelectorAll('#plot-disks svg text')].map(t => t.textContent)")
    assert "<b>disk</b>$x_" in legend  # the mount point, shortened to what differs, as text in the plot


def test_a_twelve_hour_report_opens_with_every_plot(browser, twelve_hours, tmp_path):
    run = tmp_path / twelve_hours.name
    shutil.copytree(twelve_hours, run)
    load(browser, render_run(run))
    assert browser.evaluate("document.querySelector('#verdict').dataset.verdict") == "fail"
    assert plots_drawn(browser) == 5
    browser.screenshot(tmp_path / "twelve-hours.png")


def test_an_interrupted_run_says_so(browser, runs, tmp_path):
    run = tmp_path / runs["interrupted"].name
    shutil.copytree(runs["interrupted"], run)
    load(browser, render_run(run))
    assert browser.evaluate("document.querySelector('#verdict .word').innerText") == "INTERRUPTED"
    assert "cut off" in browser.evaluate("document.querySelector('#problems').innerText")
    assert plots_drawn(browser) >= 4


def test_index_shows_every_run_and_the_trend(browser, nightly, tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(nightly, reports, symlinks=True)
    for run in reports.glob("*-2026*"):
        (run / "report.html").write_text("rendered elsewhere")  # the index only links it
    load(browser, render_index(reports))
    assert browser.evaluate("document.querySelectorAll('#runs-table tbody tr').length") == 13
    assert browser.evaluate("document.querySelectorAll('#runs-table a').length") == 13
    assert plots_drawn(browser) == 1
    browser.screenshot(tmp_path / "index.png")


def test_acceptance_report_prints_to_pdf(browser, runs, tmp_path):
    run = tmp_path / runs["failed"].name
    shutil.copytree(runs["failed"], run)
    load(browser, render_acceptance(run, signer="A. Tester"))
    assert browser.evaluate("document.querySelector('#signer').innerText") == "A. Tester"
    statuses = browser.evaluate("[...document.querySelectorAll('#requirements-table .status')].map(s => s.innerText)")
    assert statuses == ["FAIL", "FAIL", "FAIL"]
    pdf = browser.print_pdf()
    assert pdf.startswith(b"%PDF")
    (tmp_path / "acceptance.pdf").write_bytes(pdf)
    browser.screenshot(tmp_path / "acceptance.png")


def test_a_two_node_report_shows_every_node(browser, two_nodes, tmp_path):
    run = tmp_path / two_nodes.name
    shutil.copytree(two_nodes, run)
    load(browser, render_run(run))
    assert browser.evaluate("document.querySelector('#verdict .word').innerText") == "FAIL"
    assert plots_drawn(browser) == 10  # four per recorder node, the sender node's, the spectrum
    assert browser.evaluate("[...document.querySelectorAll('section.node-plots')].map(s => s.dataset.node)") == [
        "rec1", "rec2", "sender"]
    assert browser.evaluate("[...document.querySelectorAll('#scan-table tbody tr.failed td.node')]"
                            ".map(td => td.innerText)") == ["rec2"]
    assert browser.evaluate("document.querySelectorAll('table.preflight').length") == 4
    browser.screenshot(tmp_path / "two-nodes.png")
