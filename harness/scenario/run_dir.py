"""A run's folder under reports/: results.json (rewritten atomically), metrics.jsonl, logs, `latest` link."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

SCANS_SLOT = '\n  "scans": [],\n'
"""The top-level empty scans list as ``json.dumps(indent=2)`` spells it (inside a string its quotes are escaped)."""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RunDirectory:
    """``reports/<scenario>-<UTC time>/``; ``reports/latest`` points to the newest."""

    def __init__(self, reports: Path, scenario: str) -> None:
        reports.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = reports / f"{scenario}-{stamp}"
        suffix = 1
        while path.exists():  # two runs in one second
            suffix += 1
            path = reports / f"{scenario}-{stamp}-{suffix}"
        path.mkdir()
        self.path = path
        self.reports = reports
        self.created = time.time()
        latest = reports / "latest"
        tmp = reports / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(path.name)
        tmp.replace(latest)
        self._metrics: TextIO = (path / "metrics.jsonl").open("a", buffering=1)
        self._metrics_lock = threading.Lock()

    def log(self, name: str) -> Path:
        return self.path / f"{name}.log"

    def write_results(self, results: dict[str, Any], scans: Iterable[str] = ()) -> None:
        """Write results.json so that a reader never sees half a file. ``scans``: each scan's JSON text, written
        one after the other as the ``scans`` list (``results["scans"]`` must then be empty), so that a rewrite holds
        one scan's text at a time, not the whole run's objects."""
        target = self.path / "results.json"
        tmp = target.with_suffix(".json.tmp")
        text = json.dumps(results, indent=2, default=str)
        head, slot, tail = text.partition(SCANS_SLOT)  # the top level's empty list: its one unescaped spelling
        with tmp.open("w") as out:
            if not slot:
                if any(True for _ in scans):
                    raise ValueError("write_results: scans given but results has no empty top-level scans list")
                out.write(text)
            else:
                out.write(head + '\n  "scans": [')
                for n, scan in enumerate(scans):
                    out.write(("," if n else "") + "\n    " + scan)
                out.write("\n  ],\n" + tail)
        tmp.replace(target)

    def append_metrics(self, sample: dict[str, Any]) -> None:
        line = json.dumps(sample, separators=(",", ":")) + "\n"
        with self._metrics_lock:  # one sampler thread per recorder node: whole lines only
            self._metrics.write(line)

    def close(self) -> None:
        self._metrics.close()
