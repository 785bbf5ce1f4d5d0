"""The Jinja2 environment of the reports (autoescape always on) and writing a page to disk.

Everything that comes from a run (scan names, logs, scenario text, findings) reaches the page
through autoescaping; only the SVG that matplotlib produced is marked safe, and matplotlib escapes
the text inside it.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from harness import __version__
from harness.frame_counts import JUDGED
from harness.report import formatting

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Sent as a meta tag: the page can load nothing at all, and runs no script, even if one slipped in."""


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        count=formatting.count_text,
        number=formatting.number_text,
        gbps=formatting.gbps_text,
        size=formatting.bytes_text,
        when=formatting.time_text,
        clock=formatting.clock_text,
        instant=formatting.instant_text,
        op=formatting.comparison_text,
        duration=formatting.duration_text,
        percent=formatting.percent_text,
        value=formatting.value_text,
        node_id=formatting.html_id,
    )
    env.globals.update(csp=CONTENT_SECURITY_POLICY, harness_version=__version__, absent=formatting.ABSENT,
                       judged_counts=JUDGED)
    return env


def render_page(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def write_page(path: Path, html: str) -> Path:
    """Write atomically, so a browser or the index never reads half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
