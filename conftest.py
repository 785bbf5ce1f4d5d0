"""Repository-wide pytest setup: keep astropy (via baseband) offline; the suite's parallel and serial parts."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("ASTROPY_SKIP_CONFIG_UPDATE", "1")

try:  # baseband converts times with astropy; never let it try to download IERS tables
    from astropy.utils import iers

    iers.conf.auto_download = False
except ImportError:  # pragma: no cover - astropy comes with baseband
    pass

SERIAL_ALONE = "marked serial: it runs alone, never beside another test (scripts/test-suite runs it in the serial part)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--suite-part", choices=("all", "parallel", "serial"), default="all",
        help="parallel: leave out the tests marked serial (for -n 2); serial: run only those (alone, no -n). "
             "make test runs both, one after the other (scripts/test-suite).")


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected theirs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    part = config.getoption("suite_part")
    if part == "all":
        if hasattr(config, "workerinput"):  # an xdist worker: a serial test would run beside another one
            for item in items:
                if item.get_closest_marker("serial"):
                    item.add_marker(pytest.mark.skip(reason=SERIAL_ALONE))
        return
    keep: list[pytest.Item] = []
    leave: list[pytest.Item] = []
    for item in items:
        (keep if (item.get_closest_marker("serial") is not None) == (part == "serial") else leave).append(item)
    if leave:
        config.hook.pytest_deselected(items=leave)
        items[:] = keep
    if part == "parallel":  # the files that hold a slow test first (stable), so that no worker ends on a long one
        slow = {item.path for item in items if item.get_closest_marker("slow")}
        items.sort(key=lambda item: item.path not in slow)
