"""Endurance: the MeerKAT scenario for hours on the local lab, and the slopes of everything a leak grows.

    python -m bench.soak [--hours 1] [--scenario scenarios/meerkat_rate.yaml] [--reports reports/soak] [--every 10]
                         [--own-scans]
    python -m bench.soak --judge RUN_DIR        (judge a run already made, e.g. a nightly soak_nightly run)

The scenario runs as a user runs it, on the local lab, rolling as the file says, its whole schedule squeezed into
``--hours`` (``--duration-scale``: the 4-hour MeerKAT schedule in 1 hour is 24 scans of 2.5 minutes, four times
the real cadence: a harsher test of whatever each scan leaves behind). ``--own-scans`` instead runs the
scenario's own scans, as many of its first ones as fill ``--hours`` (the others deselected): an hour of the
night it stands for, on a lab whose disks hold two of its scans (a MeerKAT 10-minute scan is 39 GB; this
machine's 2 x 12 GB loop disks are refused by the preflight). Every metrics period the harness samples itself
and the recorder (RSS, open files, threads) and the size of its results.json and metrics.jsonl (metrics.jsonl, section
``harness``; the report draws them in its "resources" figure). Taken every ``--every`` seconds after the first
scan (the warm-up: buffers, pools and imports), each gets a least-squares line, and is judged:

- RSS: growth of at most 1 MB per hour (harness and recorder), fitted over the second half of the run (a leak
  grows alike in both halves; pools and caches filling over the first scans level off); the whole run's slope is
  printed beside it;
- open files and threads: no growth, i.e. their peak over the last quarter of the run is no higher than over the
  first quarter (each scan opens and closes files and threads: a leak raises the peak, a scan does not);
- the report of a 12-hour run: its size extrapolated from this run's (an upper bound: as if all of it grew with
  the run, though its plots are bounded), and, judged, a synthetic 12-hour run folder (this run's scans and
  metrics repeated, shifted in time) rendered for real: at most 5 MB and in under 10 s.

Prints one table, writes ``soak.json`` into the run folder and exits 0 when every bound holds, 1 when one does not,
2 on bad input. The MeerKAT rate fills 2 x 12 GB of loop disks in 6 minutes: the scenario must be rolling.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.arguments import positive_float
from harness.arguments import OneLineParser
from harness.scenario.loading import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]
RSS_MB_PER_HOUR = 1.0
REPORT_MAX_BYTES = 5 << 20
REPORT_MAX_SECONDS = 10.0
TWELVE_HOURS = 12 * 3600.0
PROCESSES = ("harness", "recorder")


@dataclass
class Trend:
    """One sampled quantity over the run: its fitted slope and how it is judged."""

    name: str
    unit: str
    first: float
    last: float
    slope_per_hour: float
    bound: str
    passed: bool
    samples: int


def resample(times: np.ndarray, values: np.ndarray, every: float) -> tuple[np.ndarray, np.ndarray]:
    """The last sample at or before each ``every``-second tick (NaN samples dropped): a soak's 10-s view."""
    keep = np.isfinite(values)
    times, values = times[keep], values[keep]
    if len(times) < 2:
        return times, values
    ticks = np.arange(times[0], times[-1] + 1e-9, every)
    index = np.searchsorted(times, ticks, side="right") - 1
    return ticks, values[index]


def slope_per_hour(times: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope, in units per hour (NaN for fewer than two samples)."""
    if len(times) < 2 or np.ptp(times) == 0:
        return math.nan
    return float(np.polyfit((times - times[0]) / 3600.0, values, 1)[0])


def judge_rss(name: str, times: np.ndarray, values: np.ndarray) -> Trend:
    """Growth of at most 1 MB/h, fitted over the second half of the samples: a leak grows alike in both halves,
    a warm-up (pools and caches filling over the first scans) levels off. The whole window's slope is shown."""
    half = len(values) // 2
    slope = slope_per_hour(times[half:], values[half:] / 1e6)
    whole = slope_per_hour(times, values / 1e6)
    ok = bool(np.isfinite(slope) and slope <= RSS_MB_PER_HOUR)
    return Trend(name, "MB", float(values[0] / 1e6), float(values[-1] / 1e6), slope,
                 f"<= {RSS_MB_PER_HOUR:g} MB/h over the second half (whole run after the first scan: "
                 f"{whole:.2f} MB/h)", ok, len(values))


def judge_count(name: str, times: np.ndarray, values: np.ndarray) -> Trend:
    """No growth: the peak of the last quarter of the run no higher than the peak of the first quarter."""
    quarter = max(1, len(values) // 4)
    first, last = float(np.max(values[:quarter])), float(np.max(values[-quarter:]))
    return Trend(name, "", float(values[0]), float(values[-1]), slope_per_hour(times, values),
                 f"last quarter's peak {last:g} <= first quarter's {first:g}", last <= first, len(values))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open() as fh:
        for line in fh:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: the rest are still the run's
                continue
    return rows


def column(rows: list[dict[str, Any]], section: str, key: str) -> np.ndarray:
    out = []
    for row in rows:
        value = (row.get(section) or {}).get(key) if isinstance(row.get(section), dict) else None
        out.append(float(value) if isinstance(value, int | float) else math.nan)
    return np.array(out, dtype=float)


def warm_up_end(rows: list[dict[str, Any]]) -> float:
    """When the second scan began (the first one warms up pools and caches), else a tenth into the run."""
    scans: list[tuple[str, float]] = []
    for row in rows:
        if row.get("scan") and (not scans or scans[-1][0] != row["scan"]):
            scans.append((row["scan"], row["t"]))
    if len(scans) >= 3:
        return float(scans[1][1])
    return float(rows[0]["t"] + (rows[-1]["t"] - rows[0]["t"]) / 10)


def trends(rows: list[dict[str, Any]], every: float) -> list[Trend]:
    """Every judged quantity of a run's metrics, after the warm-up, every ``every`` seconds."""
    start = warm_up_end(rows)
    rows = [r for r in rows if r.get("t", 0) >= start]
    t = np.array([float(r["t"]) for r in rows])
    found: list[Trend] = []
    for process in PROCESSES:
        for key, judge in (("rss_bytes", judge_rss), ("fds", judge_count), ("threads", judge_count)):
            times, values = resample(t, column(rows, process, key), every)
            if len(values) >= 2:
                found.append(judge(f"{process} {key.removesuffix('_bytes')}", times, values))
    return found


def file_growth(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Bytes per hour of results.json and metrics.jsonl (the harness's samples of their sizes)."""
    t = np.array([float(r["t"]) for r in rows])
    growth = {}
    for key in ("results_bytes", "metrics_bytes"):
        values = column(rows, "harness", key)
        keep = np.isfinite(values)
        growth[key] = slope_per_hour(t[keep], values[keep])
    return growth


def synthetic_run(run_dir: Path, into: Path, hours: float) -> Path:
    """A run folder of ``hours``: this run's scans and metrics lines repeated, each copy shifted by the run's
    length (scan names suffixed), so that the report meets a real long run's rows and samples."""
    results = json.loads((run_dir / "results.json").read_text())
    rows = read_metrics(run_dir / "metrics.jsonl")
    span = max(1.0, rows[-1]["t"] - rows[0]["t"] + (rows[1]["t"] - rows[0]["t"] if len(rows) > 1 else 1.0))
    copies = max(1, math.ceil(hours * 3600 / span))
    folder = into / f"{run_dir.name}-x{copies}"
    folder.mkdir(parents=True)
    scans = []
    with (folder / "metrics.jsonl").open("w") as out:
        for k in range(copies):
            shift = k * span
            for row in rows:
                row = dict(row, t=row["t"] + shift)
                if row.get("scan"):
                    row["scan"] = f"{row['scan']}-{k}"
                out.write(json.dumps(row, separators=(",", ":")) + "\n")
            for scan in results.get("scans", []):
                scans.append(_shifted(scan, k, shift))
    results["scans"] = scans
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def _shifted(scan: dict[str, Any], k: int, shift: float) -> dict[str, Any]:
    copy = dict(scan, name=f"{scan['name']}-{k}")
    for key in ("capture_started", "capture_stopped"):
        if isinstance(copy.get(key), int | float):
            copy[key] = copy[key] + shift
    return copy


def render_timed(folder: Path) -> tuple[float, int]:
    """Seconds to render the folder's report (in a fresh process, as a user does) and its size in bytes."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.report", "render", str(folder)], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    seconds = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"bench.soak: the report of {folder} did not render: {done.stderr.strip()[-300:]}")
    return seconds, (folder / "report.html").stat().st_size


def judge_run(run_dir: Path, every: float, hours_measured: float | None = None) -> dict[str, Any]:
    rows = read_metrics(run_dir / "metrics.jsonl")
    if len(rows) < 10:
        raise SystemExit(f"bench.soak: {run_dir}/metrics.jsonl has {len(rows)} samples: too few to judge a soak")
    hours = hours_measured or (rows[-1]["t"] - rows[0]["t"]) / 3600
    found = trends(rows, every)
    growth = file_growth(rows)
    if not (run_dir / "report.html").exists():
        render_timed(run_dir)
    report_bytes = (run_dir / "report.html").stat().st_size
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch:
        synthetic = synthetic_run(run_dir, Path(scratch), 12.0)
        seconds, size = render_timed(synthetic)
        synthetic_samples = sum(1 for _ in (synthetic / "metrics.jsonl").open())
    # an upper bound: as if all of the report grew with the run (its plots are bounded; the scan table grows)
    extrapolated = report_bytes * 12.0 / max(hours, 1e-6)
    report = {"measured_hours": hours, "measured_report_bytes": report_bytes,
              "extrapolated_12h_report_bytes": extrapolated, "synthetic_12h_report_bytes": size,
              "synthetic_12h_render_s": seconds, "synthetic_12h_samples": synthetic_samples,
              "passed": size <= REPORT_MAX_BYTES and seconds < REPORT_MAX_SECONDS}
    files = {k: {"bytes_per_hour": v, "at_12h_bytes": v * 12 if math.isfinite(v) else None} for k, v in growth.items()}
    return {"run": str(run_dir), "trends": [asdict(t) for t in found], "files": files, "report_12h": report,
            "cadence": cadence(rows), "passed": bool(found) and all(t.passed for t in found) and report["passed"]}


def cadence(rows: list[dict[str, Any]]) -> dict[str, float]:
    """How many scans the run had and how often they came: an RSS slope per hour is so much per scan."""
    started: dict[str, float] = {}
    for row in rows:
        if row.get("scan"):
            started.setdefault(row["scan"], row["t"])
    times = sorted(started.values())
    every = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else math.nan
    return {"scans": len(times), "seconds_per_scan": every}


def table(judged: dict[str, Any]) -> str:
    lines = [f"soak of {judged['report_12h']['measured_hours']:.2f} h: {judged['run']}",
             f"  {'what':18} {'first':>10} {'last':>10} {'slope/h':>10}  bound"]
    for t in judged["trends"]:
        lines.append(f"  {t['name']:18} {t['first']:10.2f} {t['last']:10.2f} {t['slope_per_hour']:10.3f}  "
                     f"{t['bound']}  {'ok' if t['passed'] else 'EXCEEDED'}")
    for name, growth in judged["files"].items():
        per_hour = growth["bytes_per_hour"]
        lines.append(f"  {name:18} grows {per_hour / 1e6:.3f} MB/h, {per_hour * 12 / 1e6:.2f} MB at 12 h")
    r = judged["report_12h"]
    lines.append(f"  report, 12 h: at most {r['extrapolated_12h_report_bytes'] / 1e6:.2f} MB by extrapolation "
                 f"(from {r['measured_report_bytes'] / 1e6:.2f} MB); synthetic 12-h "
                 f"folder ({r['synthetic_12h_samples']} samples) {r['synthetic_12h_report_bytes'] / 1e6:.2f} MB, "
                 f"rendered in {r['synthetic_12h_render_s']:.1f} s (bounds {REPORT_MAX_BYTES / 1e6:.1f} MB, "
                 f"{REPORT_MAX_SECONDS:g} s)  {'ok' if r['passed'] else 'EXCEEDED'}")
    every = judged["cadence"]["seconds_per_scan"]
    if math.isfinite(every):
        per_scan = {t["name"]: t["slope_per_hour"] * every / 3600 * 1e3 for t in judged["trends"]
                    if t["unit"] == "MB"}
        lines.append(f"  {judged['cadence']['scans']} scans, one every {every:.0f} s: RSS per scan "
                     + ", ".join(f"{name} {kb:+.1f} kB" for name, kb in per_scan.items()))
    lines.append(f"  verdict: {'PASS' if judged['passed'] else 'FAIL'}")
    return "\n".join(lines)


def soak_argv(scenario: Path, hours: float, reports: Path, own_scans: bool = False) -> list[str]:
    """The pytest command line of a soak of ``hours``: the scenario's whole schedule scaled into them, or
    (``own_scans``) its first scans that fill them."""
    loaded = load_scenario(scenario)
    schedule = loaded.schedule
    period = schedule.scan_length + schedule.gap
    planned = schedule.scan_count * period
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "local",
            "--reports", str(reports)]
    if not own_scans:
        return [*argv, "--duration-scale", f"{hours * 3600 / planned:.6g}"]  # it scales scans and gaps
    scans = max(2, round(hours * 3600 / period))
    if scans > schedule.scan_count:
        raise ValueError(f"{scenario}: its schedule is {planned / 3600:.2f} h ({schedule.scan_count} scans): "
                         f"--hours {hours:g} needs {scans} with --own-scans; give fewer hours")
    names = [schedule.scan_name.format(scenario=loaded.name, n=n + 1) for n in range(schedule.scan_count)]
    return [*argv, "-k", f"not ({' or '.join(names[scans:])})"] if scans < len(names) else argv


def run_to_its_end(argv: list[str]) -> int:
    """Run the harness and wait for it, also after Ctrl-C: each interrupt is passed on (a terminal's reaches it
    anyway) and the harness tears its run down, recorder and lab included, before this returns. (subprocess.run
    would kill it at the first Ctrl-C, leaving its recorder running.)"""
    child = subprocess.Popen(argv, cwd=ROOT)
    interrupted = False
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:
            interrupted = True
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)
    if interrupted:
        raise KeyboardInterrupt
    return code


def run_soak(scenario: Path, hours: float, reports: Path, own_scans: bool = False) -> Path:
    """Run the scenario for ``hours`` on the local lab; its run folder."""
    if not load_scenario(scenario).schedule.rolling:
        print(f"bench.soak: {scenario} is not rolling: the disks may fill before {hours:g} h", file=sys.stderr)
    argv = soak_argv(scenario, hours, reports, own_scans)
    reports.mkdir(parents=True, exist_ok=True)
    shown = " ".join(argv[2:]).split(" -k ")[0] + (" -k ..." if "-k" in argv else "")
    how = "its own scans" if own_scans else "the schedule squeezed in"
    print(f"bench.soak: {shown}  ({hours:g} h, {how})", file=sys.stderr, flush=True)
    code = run_to_its_end(argv)
    latest = reports / "latest"
    if not (latest / "metrics.jsonl").exists():
        raise SystemExit(f"bench.soak: the run left no metrics in {latest} (pytest exit {code})")
    if code not in (0, 1):
        print(f"bench.soak: the run ended with pytest exit {code}", file=sys.stderr)
    return latest.resolve()


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="bench.soak", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--hours", type=positive_float, default=1.0, help="how long the scenario runs (default 1)")
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "meerkat_rate.yaml")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports" / "soak")
    parser.add_argument("--every", type=positive_float, default=10.0, help="seconds between judged samples")
    parser.add_argument("--judge", type=Path, metavar="RUN_DIR", help="judge this run folder instead of running")
    parser.add_argument("--own-scans", action="store_true",
                        help="the scenario's own scans, its first that fill --hours, not the schedule squeezed in")
    args = parser.parse_args(argv)
    if args.judge is not None:
        if not (args.judge / "metrics.jsonl").is_file():
            parser.error(f"{args.judge}: no metrics.jsonl (not a run folder)")
        run_dir, hours = args.judge.resolve(), None
    else:
        if os.geteuid() != 0:
            parser.error("the soak runs on the local lab, which needs root")
        try:
            run_dir, hours = run_soak(args.scenario, args.hours, args.reports, args.own_scans), args.hours
        except (ScenarioError, ValueError) as exc:
            parser.error(str(exc))
    judged = judge_run(run_dir, args.every, hours)
    (run_dir / "soak.json").write_text(json.dumps(judged, indent=1) + "\n")
    print(table(judged))
    return 0 if judged["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
