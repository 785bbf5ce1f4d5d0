"""Reading a run folder: results.json, metrics.jsonl and the logs, tolerating what is missing.

The only module of the report that reads run files. An interrupted run may have a results.json
with few scans, a metrics.jsonl whose last line was cut off, or no logs; each of these becomes
a sentence in ``problems`` instead of an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.report.results import as_mapping, as_text
from harness.report.series import RunMetrics, metrics_by_node

RESULTS = "results.json"
METRICS = "metrics.jsonl"
DEFAULT_LOGS = {"sender": "sender.log", "recorder": "recorder.log", "lab": "lab.log"}
LOG_TAIL_LINES = 30
LOG_TAIL_BYTES = 16 * 1024
LOG_LINE_CHARS = 300


class RunFolderError(Exception):
    """The path given is not a run folder at all (a harness or usage error, not a finding)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class LogFile:
    name: str
    path: str  # as results.json names it
    href: str | None  # relative link, only for a file inside the run folder
    size_bytes: int | None  # None: missing
    tail: list[str]


@dataclass
class RunFolder:
    path: Path
    results: dict[str, Any] | None
    metrics: RunMetrics | None  # per node
    logs: list[LogFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_results(run_dir: Path, problems: list[str]) -> dict[str, Any] | None:
    path = run_dir / RESULTS
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        problems.append(f"{RESULTS} is missing: the run wrote no results (verdict unknown)")
        return None
    except OSError as exc:
        problems.append(f"{RESULTS} could not be read: {exc.strerror or exc}")
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"{RESULTS} is not valid JSON (line {exc.lineno}: {exc.msg}); was the run cut off mid-write?")
        return None
    if not isinstance(parsed, dict):
        problems.append(f"{RESULTS} holds a {type(parsed).__name__}, not an object")
        return None
    schema = parsed.get("schema")
    if schema not in (None, 1):
        problems.append(f"{RESULTS} has schema {schema!r}; this report knows schema 1 and shows what it recognises")
    return parsed


def inside(run_dir: Path, name: str) -> Path | None:
    """``name`` as a path inside the run folder, or None if it is absolute, a URL, or leads out of it."""
    if not name or "\x00" in name or ":" in name.split("/", 1)[0] or name.startswith(("/", "\\")):
        return None
    root = run_dir.resolve()
    candidate = (run_dir / name).resolve()
    return candidate if candidate == root or root in candidate.parents else None


def _metric_rows(path: Path, counts: dict[str, int]) -> Iterator[Mapping[str, Any]]:
    with path.open("r", encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            counts["lines"] = number
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                counts["bad"] += 1
                counts["last_bad"] = number
                continue
            if isinstance(row, dict):
                yield row
            else:
                counts["bad"] += 1
                counts["last_bad"] = number


def read_metrics(run_dir: Path, results: Mapping[str, Any] | None, problems: list[str]) -> RunMetrics | None:
    name = as_text(as_mapping(results).get("metrics")) or METRICS
    path = inside(run_dir, name)
    if path is None:
        problems.append(f"metrics file {name!r} is outside the run folder; not read")
        return None
    if not path.is_file():
        problems.append(f"{name} is missing: no plots over time")
        return None
    counts = {"lines": 0, "bad": 0, "last_bad": 0}
    try:
        metrics = metrics_by_node(_metric_rows(path, counts))
    except OSError as exc:
        problems.append(f"{name} could not be read: {exc.strerror or exc}")
        return None
    bad = counts["bad"]
    if bad == 1 and counts["last_bad"] == counts["lines"]:
        problems.append(f"{name}: the last line ({counts['lines']:,}) is cut off, as when a run is interrupted; "
                        "it is left out")
    elif bad:
        problems.append(f"{name}: {bad:,} of {counts['lines']:,} lines are not valid JSON and are left out")
    if metrics.skipped_lines:
        problems.append(f"{name}: {metrics.skipped_lines:,} lines have no time 't' and are left out")
    return metrics


def _tail(path: Path) -> list[str]:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - LOG_TAIL_BYTES))
        chunk = f.read()
    lines = chunk.decode("utf-8", errors="replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is probably partial
    return [line if len(line) <= LOG_LINE_CHARS else line[:LOG_LINE_CHARS] + " …" for line in lines[-LOG_TAIL_LINES:]]


def read_logs(run_dir: Path, results: Mapping[str, Any] | None) -> list[LogFile]:
    named = as_mapping(as_mapping(results).get("logs")) or DEFAULT_LOGS
    logs = []
    seen: set[Path] = set()
    for log_name, raw in named.items():
        rel = as_text(raw) or ""
        path = inside(run_dir, rel)
        if path is None or not path.is_file():
            logs.append(LogFile(str(log_name), rel, None, None, []))
            continue
        seen.add(path)
        logs.append(LogFile(str(log_name), rel, quote(rel), path.stat().st_size, _tail(path)))
    for path in sorted(run_dir.glob("*.log")):
        if path.resolve() not in seen and path.is_file():
            logs.append(LogFile(path.stem, path.name, quote(path.name), path.stat().st_size, _tail(path)))
    return logs


def load_run(run_dir: Path, *, with_metrics: bool = True) -> RunFolder:
    """Everything the reports read from one run folder."""
    if not run_dir.is_dir():
        raise RunFolderError(run_dir, "not a folder")
    problems: list[str] = []
    results = read_results(run_dir, problems)
    metrics = read_metrics(run_dir, results, problems) if with_metrics else None
    logs = read_logs(run_dir, results) if with_metrics else []
    return RunFolder(run_dir, results, metrics, logs, problems)
