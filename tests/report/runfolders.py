"""A generator of realistic run folders (results.json, metrics.jsonl, logs) as docs/results.md describes.

The scenario engine that writes the real ones is written in parallel; these folders let the report be
built and tested against the documented format: several scans, one failed with findings, noise and tone
statistics, an interrupted run with a cut-off metrics line, a 12-hour metrics series at a 1 s period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

THREADS = 4
FPS = 3200  # per thread: MeerKAT VLBI, VDIF_5000-128-1-2
FRAME_BYTES = 5032
DATAGRAM_BYTES = FRAME_BYTES + 8  # UDPS sequence-number prefix
NOMINAL_GBPS = THREADS * FPS * FRAME_BYTES * 8 / 1e9
SAMPLES_PER_FRAME = 5000 * 4  # 2-bit real samples
OPTIMAL = np.array([0.1632, 0.3368, 0.3368, 0.1632])
HOSTILE = "<script>alert(1)</script>"


@dataclass
class RunSpec:
    scenario: str = "smoke"
    started: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC))
    scans: int = 4
    scan_s: float = 5.0
    gap_s: float = 2.0
    period_s: float = 1.0
    failed_scan: int | None = None  # index of a scan that loses frames and has a payload error
    noise_scans: tuple[int, ...] = (2, 3)  # scans whose payload is noise (thread 1 carries a tone)
    interrupted_during: int | None = None  # the run stops partway through this scan
    mounts: int = 4
    requirements: tuple[tuple[str, str, tuple[str, ...]], ...] = (
        ("REQ-REC-001", "Records the MeerKAT VLBI stream (512 Mbit/s) without losing a frame", ("lost_frames",)),
        ("REQ-REC-002", "Every recorded frame is valid and its payload intact", ("invalid_frames", "payload_errors")),
        ("REQ-NET-001", "The recorder's kernel drops no datagram for lack of buffer space", ("rcvbuf_errors",)),
    )
    killed: bool = False  # stopped without finishing: results.json still says 'running'
    hostile: bool = False  # names, text and logs with markup in them
    write_logs: tuple[str, ...] = ("sender", "recorder", "lab")
    metrics_shape: str = "engine"  # engine: as harness/scenario writes it; documented: as docs/results.md shows
    rate_factor: float = 1.0  # achieved rate relative to nominal (for drifting nightly series)
    mount_root: str = "/mnt"
    backend: str = "reference"
    seed: int = 1

    @property
    def folder_name(self) -> str:
        return f"{self.scenario}-{self.started:%Y%m%dT%H%M%SZ}"


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scan_names(spec: RunSpec) -> list[str]:
    names = [f"{spec.scenario}_{i + 1:03d}" for i in range(spec.scans)]
    if spec.hostile:
        names[0] = HOSTILE
    return names


def mount_points(spec: RunSpec) -> list[str]:
    mounts = [f"{spec.mount_root}/disk{i}" for i in range(spec.mounts)]
    if spec.hostile and mounts:
        mounts[-1] = "/mnt/<b>disk</b>$x_"
    return mounts


def statistics(rng: np.random.Generator, frames_per_thread: int, off_levels: bool) -> dict[str, Any]:
    freq = np.arange(256) * 32e6 / 256
    edge = 1 / (1 + np.exp(-(freq - 1.0e6) / 3e5)) / (1 + np.exp((freq - 31.0e6) / 3e5))
    out: dict[str, Any] = {}
    for thread in range(THREADS):
        shares = np.array([0.19, 0.31, 0.31, 0.19]) if off_levels and thread == 3 else OPTIMAL
        n = frames_per_thread * SAMPLES_PER_FRAME
        counts = rng.multinomial(n, shares / shares.sum()).tolist()
        power = (0.05 + edge) * (1 + 0.03 * rng.standard_normal(len(freq)))
        if thread == 1:
            power[40] *= 30.0  # the tone at 5 MHz
        out[str(thread)] = {"state_counts": [counts],
                            "spectrum": {"frequency_hz": freq.tolist(), "power": [np.round(power, 5).tolist()]}}
    return out


def check_output(spec: RunSpec, index: int, name: str, start: datetime, frames: int,
                 rng: np.random.Generator) -> dict[str, Any]:
    failed = index == spec.failed_scan
    lost = 37 if failed else 0
    per_thread = frames // THREADS
    threads = {str(t): {"frames": per_thread - (lost if failed and t == 2 else 0), "valid_frames": per_thread,
                        "missing_frames": lost if t == 2 else 0, "first_time": iso(start),
                        "last_time": iso(start + timedelta(seconds=spec.scan_s)), "frame_rate": FPS}
               for t in range(THREADS)}
    check: dict[str, Any] = {
        "frames": frames - lost, "valid_frames": frames - lost, "invalid_frames": 0, "missing_frames": lost,
        "duplicate_frames": 0, "out_of_order_frames": 2 if failed else 0, "corrupt_headers": 0,
        "payload_errors": 1 if failed else 0, "stray_bytes": 0, "bytes": (frames - lost) * FRAME_BYTES,
        "start_time": iso(start), "end_time": iso(start + timedelta(seconds=spec.scan_s)), "threads": threads,
        "findings": [], "counts": {},
    }
    if failed:
        chunk = f"/mnt/disk1/{name}/{name}.00000003"
        check["findings"] = [
            {"kind": "gap", "offset": 40_260_000 + 5032 * k, "file": chunk, "thread": 2,
             "time": iso(start + timedelta(seconds=2.4 + k)), "detail": f"{n} frames missing before frame {1200 + k}"}
            for k, n in enumerate((30, 5, 2))
        ] + [
            {"kind": "out_of_order", "offset": 80_000_000, "file": chunk, "thread": 0,
             "time": iso(start + timedelta(seconds=3.1)), "detail": "frame 9931 arrived after frame 9933"},
            {"kind": "payload", "offset": 81_503_216, "file": chunk, "thread": 3,
             "time": iso(start + timedelta(seconds=3.3)), "detail": "payload differs from the pattern at byte 1712"},
        ]
        check["counts"] = {"gap": 3, "out_of_order": 2, "payload": 1}
    if index in spec.noise_scans:
        check["statistics"] = statistics(rng, per_thread, off_levels=failed)
    return check


def results_document(spec: RunSpec, scans: list[dict[str, Any]], finished: datetime | None,
                     verdict: str) -> dict[str, Any]:
    failed = spec.failed_scan is not None and any(s["passed"] is False and s["validated"] for s in scans)
    validated = [s for s in scans if s["validated"]]
    lost = sum(s["lost_frames"] for s in validated)
    payload = sum(s["payload_errors"] for s in validated)
    sent = sum(s["frames_sent"] for s in validated)
    rcvbuf = 37 if failed else 0
    worst = min((s["rate_gbps"] / s["nominal_gbps"] for s in validated), default=None)
    thresholds = [
        {"name": "lost_frames", "limit": 0, "value": lost, "passed": lost == 0, "unit": "frames", "detail": ""},
        {"name": "invalid_frames", "limit": 0, "value": 0, "passed": True, "unit": "frames", "detail": ""},
        {"name": "payload_errors", "limit": 0, "value": payload, "passed": payload == 0, "unit": "frames",
         "detail": ""},
        {"name": "lost_fraction", "limit": 1e-6, "value": lost / sent if sent else 0.0,
         "passed": (lost / sent if sent else 0.0) <= 1e-6, "unit": "", "detail": ""},
        {"name": "min_rate_fraction", "limit": 0.99, "value": None if worst is None else round(worst, 6),
         "passed": worst is not None and worst >= 0.99, "unit": "",
         "detail": "worst scan's recorded rate over nominal"},
        {"name": "rcvbuf_errors", "limit": 0, "value": rcvbuf, "passed": rcvbuf == 0, "unit": "datagrams",
         "detail": "kernel UDP RcvbufErrors on the recorder node during the run"},
        {"name": "scans_completed", "limit": 0, "value": 0, "passed": True, "unit": "scans",
         "detail": "scans with recorder or checker failures"},
    ]
    mounts = mount_points(spec)
    description = "Four short scans of the MeerKAT VLBI stream over the local lab"
    if spec.hostile:
        description += ' <img src=x onerror="alert(2)"> & friends'
    text = (f"name: {spec.scenario}\ndescription: {description}\nstream:\n  mode: VDIF_5000-128-1-2\n"
            f"  threads: {THREADS}\n  udps: true\n  payload: noise\nschedule:\n  scans: {spec.scans}\n"
            f"  scan_seconds: {spec.scan_s}\n  gap_seconds: {spec.gap_s}\nthresholds:\n  lost_frames: 0\n"
            "  payload_errors: 0\n  min_rate_gbps: 0.51\n")
    return {
        "schema": 1,
        "scenario": {"name": spec.scenario, "description": description, "file": f"scenarios/{spec.scenario}.yaml",
                     "text": text,
                     "requirements": [{"id": i, "text": t, "thresholds": list(th)} for i, t, th in spec.requirements]},
        "verdict": verdict,
        "breached": [t["name"] for t in thresholds if not t["passed"]] if verdict != "running" else [],
        "abort_reason": "run interrupted" if verdict == "interrupted" else None,
        "started": iso(spec.started), "finished": iso(finished) if finished else None,
        "duration_scale": 1.0, "run_by": "root@lab-rec1", "harness_version": "0.1.0",
        "recorder": {"backend": spec.backend, "version": "0.1.0",
                     "config": {"protocol": "udps", "mtu": 9000, "net_port": 52030, "mode": "VDIF_5000-128-1-2",
                                "record": "flexbuff", "mounts": mounts, "socket_buffer_bytes": 201326592}},
        "sender": {"node": "sender", "version": "0.1.0", "nominal_gbps": round(NOMINAL_GBPS, 6),
                   "stream": {"mode": "VDIF_5000-128-1-2", "threads": THREADS, "frame_bytes": FRAME_BYTES,
                              "fps": FPS, "bits": 2, "payload": "noise", "udps": True, "port": 52030}},
        "preflight": [{"name": "recorder answers version?", "passed": True, "detail": "reference 0.1.0"},
                      {"name": "MTU 9000 on veth-rec", "passed": True, "detail": ""},
                      {"name": "net.core.rmem_max >= 201326592", "passed": True, "detail": "201326592"},
                      {"name": "free space for the schedule", "passed": True,
                       "detail": f"{len(mounts)} mount points, 5.6 TB free"}],
        "scans": scans,
        "skipped_scans": {},
        "thresholds": thresholds if verdict != "running" else [],  # evaluated when the run finishes
        "environment": {
            "nodes": {
                "recorder": {"kernel": "6.1.0-27-amd64", "cpu": "Intel(R) Xeon(R) Silver 4214R @ 2.40GHz, 24 cores",
                             "interfaces": {"veth-rec": 9000, "lo": 65536},
                             "disks": [{"mount": m, "fstype": "xfs", "options": "rw,noatime,nodiratime",
                                        "size_bytes": 2_000_000_000_000, "free_bytes": 1_400_000_000_000}
                                       for m in mounts],
                             "sysctls": {"net.core.rmem_max": "201326592", "net.core.rmem_default": "201326592",
                                         "net.core.netdev_max_backlog": "250000",
                                         "net.ipv4.udp_mem": "4096 8388608 16777216"}},
                "sender": {"kernel": "6.1.0-27-amd64", "cpu": "AMD EPYC 7302P, 16 cores",
                           "interfaces": {"veth-snd": 9000}},
            },
            "clock_offset_s": 0.00031, "lab": "local",
        },
        "logs": {name: f"{name}.log" for name in ("sender", "recorder", "lab") if name in spec.write_logs},
        "metrics": "metrics.jsonl",
        "wall_seconds": 0.0,
    }


def schedule(spec: RunSpec) -> tuple[list[tuple[float, float]], float]:
    """The scans' (start, end) offsets in seconds from the run's start, and when the run stopped."""
    windows = []
    for i in range(spec.scans):
        start = i * (spec.scan_s + spec.gap_s) + spec.gap_s
        windows.append((start, start + spec.scan_s))
    stop_at = windows[-1][1] + spec.gap_s
    if spec.interrupted_during is not None:
        a, b = windows[spec.interrupted_during]
        stop_at = a + 0.4 * (b - a)
    elif spec.killed:
        a, b = windows[-1]
        stop_at = a + 0.5 * (b - a)
    return windows, stop_at


def scan_entries(spec: RunSpec, windows: list[tuple[float, float]], stop_at: float,
                 rng: np.random.Generator) -> list[dict[str, Any]]:
    """results.json's scans, as the engine writes them, up to where the run stopped."""
    names = scan_names(spec)
    scans = []
    for i, (a, b) in enumerate(windows):
        if a >= stop_at:
            break
        partial = b > stop_at  # the scan recording when the run stopped
        if partial and spec.killed:
            break  # a killed run never wrote the scan it was in
        seconds = (min(b, stop_at) - a)
        frames = int(THREADS * FPS * seconds)
        failed = i == spec.failed_scan and not partial
        lost = 37 if failed else 0
        start = spec.started + timedelta(seconds=a)
        rate = NOMINAL_GBPS * spec.rate_factor * (1 - rng.uniform(0, 0.002))
        check = {} if partial else check_output(spec, i, names[i], start, frames, rng)
        scans.append({
            "name": names[i], "started": iso(start), "finished": iso(spec.started + timedelta(seconds=a + seconds)),
            "duration_s": seconds, "frames_sent": frames, "valid_frames": 0 if partial else frames - lost,
            "lost_frames": lost, "invalid_frames": 0, "duplicate_frames": 0, "out_of_order_frames": 2 if failed else 0,
            "payload_errors": 1 if failed else 0, "corrupt_headers": 0, "missing_frames": lost,
            "rate_gbps": 0.0 if partial else round(rate, 6), "nominal_gbps": round(NOMINAL_GBPS, 6),
            "sender_gbps": round(NOMINAL_GBPS, 6), "passed": not failed and not partial, "validated": not partial,
            "interrupted": partial, "stopped_early": False,
            "breaches": ["lost_frames 37 > 0", "payload_errors 1 > 0"] if failed else [], "problems": [],
            "recorder_stats": {"packets": frames - lost, "lost": lost, "out_of_order": 2 if failed else 0},
            "sender": {"frames_sent": frames}, "check": check, "deleted": False,
        })
    return scans


def finished_and_verdict(spec: RunSpec, stop_at: float) -> tuple[datetime | None, str]:
    if spec.killed:
        return None, "running"
    if spec.interrupted_during is not None:
        return spec.started + timedelta(seconds=stop_at + 1), "interrupted"
    return spec.started + timedelta(seconds=stop_at), "pass"  # or "fail", once the thresholds are known


def results_of(spec: RunSpec, scans: list[dict[str, Any]], stop_at: float) -> dict[str, Any]:
    finished, verdict = finished_and_verdict(spec, stop_at)
    results = results_document(spec, scans, finished, verdict)
    if verdict == "pass" and (results["breached"] or any(not s["passed"] for s in scans)):
        results["verdict"] = "fail"
    return results


def write_run(root: Path, spec: RunSpec | None = None) -> Path:
    """Write one run folder under ``root`` and return its path."""
    spec = spec or RunSpec()
    rng = np.random.default_rng(spec.seed)
    run_dir = root / spec.folder_name
    run_dir.mkdir(parents=True, exist_ok=True)
    windows, stop_at = schedule(spec)
    scans = scan_entries(spec, windows, stop_at, rng)
    (run_dir / "results.json").write_text(json.dumps(results_of(spec, scans, stop_at), indent=1))
    write_metrics(run_dir / "metrics.jsonl", spec, metric_rows(spec, windows, stop_at, rng))
    write_logs(run_dir, spec, scan_names(spec)[: len(scans)])
    return run_dir


def _per_scan_cumsum(step: np.ndarray, scan_of: np.ndarray) -> np.ndarray:
    """Cumulative within each scan, restarting at every scan (a new sender process, a new recording)."""
    total = np.cumsum(step)
    starts = np.flatnonzero(np.diff(np.concatenate(([-2], scan_of))) != 0)
    base = np.zeros_like(total)
    for k, first in enumerate(starts):
        last = starts[k + 1] if k + 1 < len(starts) else len(total)
        base[first:last] = total[first - 1] if first > 0 else 0
    return total - base


def metric_rows(spec: RunSpec, windows: list[tuple[float, float]], stop_at: float,
                rng: np.random.Generator) -> list[dict[str, Any]]:
    """metrics.jsonl's lines of a run on one recorder, as the engine writes them on the local lab."""
    offsets = np.arange(0.0, stop_at, spec.period_s)
    n = len(offsets)
    scan_of = np.full(n, -1)
    for i, (a, b) in enumerate(windows):
        scan_of[(offsets >= a) & (offsets < b)] = i
    on = scan_of >= 0
    names = scan_names(spec)
    fps_total = THREADS * FPS * spec.rate_factor
    sent_step = np.where(on, np.round(fps_total * spec.period_s * (1 + 0.0015 * rng.standard_normal(n))), 0)
    lost_step = np.zeros(n)
    if spec.failed_scan is not None:
        inside = np.flatnonzero(scan_of == spec.failed_scan)
        if len(inside) >= 3:
            lost_step[inside[len(inside) // 2]] = 30
            lost_step[inside[len(inside) // 2 + 1]] = 7
    sent = _per_scan_cumsum(sent_step, scan_of).astype(np.int64)
    lost = _per_scan_cumsum(lost_step, scan_of).astype(np.int64)
    packets = sent - lost
    run_lost = np.cumsum(lost_step).astype(np.int64)
    sender_gbps = sent_step * DATAGRAM_BYTES * 8 / 1e9 / spec.period_s
    recorder_gbps = (sent_step - lost_step) * DATAGRAM_BYTES * 8 / 1e9 / spec.period_s
    sender_cpu = np.cumsum(np.where(on, 0.34 + 0.03 * rng.standard_normal(n), 0.008) * spec.period_s)
    hours = offsets / 3600
    mounts = mount_points(spec)
    per_disk = np.where(on, fps_total * FRAME_BYTES / max(1, len(mounts)), 0.0)
    written = np.cumsum(per_disk * spec.period_s)
    engine = spec.metrics_shape == "engine"
    rows = []
    for k in range(n):
        sender: dict[str, Any] | None = {"frames": int(sent[k]), "bytes": int(sent[k]) * DATAGRAM_BYTES,
                                         "gbps": round(float(sender_gbps[k]), 6),
                                         "rss_bytes": 84_000_000 + int(rng.integers(0, 200_000))}
        recorder: dict[str, Any] = {
            "recording": bool(on[k]), "packets": int(packets[k]), "lost": int(lost[k] if engine else run_lost[k]),
            "out_of_order": 2 if spec.failed_scan is not None and lost[k] else 0,
            "bytes": int(packets[k]) * DATAGRAM_BYTES,
            "cpu_pct": round(float(21 + 2 * rng.standard_normal()) if on[k] else 0.5, 1),
            "rss_bytes": int(118_000_000 + 1_000_000 * hours[k]) + int(rng.integers(0, 100_000))}
        if engine:  # the engine's sender reports CPU seconds, and nothing between scans
            assert sender is not None
            sender.update(cpu_s=round(float(sender_cpu[k]), 3), send_errors={})
            if not on[k]:
                sender = None
        else:
            sender["cpu_pct"] = round(float(34 + 3 * rng.standard_normal()) if on[k] else 0.8, 1)
            recorder["gbps"] = round(float(recorder_gbps[k]), 6)
        row = {
            "t": round(spec.started.timestamp() + offsets[k] + 0.2, 3), "scan": names[scan_of[k]] if on[k] else None,
            "sender": sender, "recorder": recorder,
            "udp": {"InDatagrams": 123_456_789 + int(np.sum(sent_step[: k + 1])),
                    "RcvbufErrors": 12 + int(run_lost[k]), "InErrors": 12 + int(run_lost[k])},
            "disks": {m: {"write_bytes_per_s": round(float(per_disk[k] * (1 + 0.01 * rng.standard_normal())), 1),
                          "free_bytes": int(1_400_000_000_000 - written[k]), "total_bytes": 2_000_000_000_000}
                      for m in mounts},
        }
        if engine:
            row["harness"] = {"rss_bytes": 150_000_000}
        rows.append(row)
    return rows


def write_metrics(path: Path, spec: RunSpec, rows: list[dict[str, Any]]) -> None:
    lines = [json.dumps(row, separators=(",", ":")) for row in rows]
    text = "\n".join(lines) + "\n"
    if spec.interrupted_during is not None or spec.killed:
        text += lines[-1][: len(lines[-1]) // 3]  # the line being written when the run stopped
    path.write_text(text)


def write_logs(run_dir: Path, spec: RunSpec, names: list[str]) -> None:
    start = spec.started
    content = {
        "sender": [f"{iso(start)} vdif-send --dest 198.18.0.1 --port 52030 --mode VDIF_5000-128-1-2 --threads 4 --udps"]
        + [f"{iso(start)} scan {n}: sent {THREADS * FPS * spec.scan_s:.0f} frames" for n in names],
        "recorder": [f"{iso(start)} net_protocol=udps:201326592;", f"{iso(start)} mode=VDIF_5000-128-1-2;"]
        + [f"{iso(start)} record=on:{n}; -> !record = 0 ;" for n in names],
        "lab": [f"{iso(start)} ansible-playbook site.yml -i inventory/local.yml: ok=41 changed=0 failed=0"],
    }
    if spec.hostile:
        content["recorder"].append("error: <script>alert(3)</script> in reply")
    for name in spec.write_logs:
        (run_dir / f"{name}.log").write_text("\n".join(content[name]) + "\n")


def twelve_hour_spec() -> RunSpec:
    """A nightly soak: 12 scans of 59 min 55 s with 1-min gaps, metrics every second: 12 h, 43 200 lines."""
    return RunSpec(scenario="soak_nightly", started=datetime(2026, 11, 20, 19, 0, 0, tzinfo=UTC), scans=12,
                   scan_s=3535.0, gap_s=60.0, failed_scan=7, noise_scans=(10, 11), mounts=8, seed=7)
