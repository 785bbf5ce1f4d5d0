"""results.json as the report's plain values: verdict, thresholds, scans with their findings.

Pure: takes the parsed JSON (or None) and returns dataclasses; never raises on a missing or
mistyped field, it records what it could not use in ``problems`` so the report can say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.frame_counts import JUDGED, LOST
from harness.report.formatting import parse_time

VERDICTS = ("pass", "fail", "interrupted")
MINIMUM_THRESHOLDS = ("min_",)
"""Thresholds named so are lower limits (measured >= limit); all others are upper limits."""
MAX_FINDINGS_SHOWN = 20
"""Findings listed per failed scan; the checker's full counts per kind are always shown."""
DEFAULT_NODE = "recorder"
"""The recorder node of scans that name none (single-node labs, older runs)."""


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    return str(value)


@dataclass(frozen=True)
class ThresholdRow:
    name: str
    limit: Any
    measured: Any
    unit: str
    op: str  # how measured must compare with limit: results.json's 'op', else >= for min_*, <= for the rest
    passed: bool | None
    detail: str = ""


@dataclass(frozen=True)
class Finding:
    kind: str
    thread: Any
    time: Any
    file: Any
    offset: Any
    detail: str


@dataclass(frozen=True)
class RecorderNoteRow:
    """One thing the recorder said about a scan, in its words."""

    source: str
    kind: str
    data_lost: bool
    text: str


@dataclass
class ScanRow:
    name: str
    started: datetime | None
    finished: datetime | None
    duration_s: float | None
    frames_sent: float | None
    recorded: float | None
    counts: dict[str, float | None]
    """The judged frame counts (harness/frame_counts.py) by name; None: not checked, or not in results.json."""
    rate_gbps: float | None
    nominal_gbps: float | None
    passed: bool | None  # None: not checked (the run stopped during this scan)
    breaches: list[str] = field(default_factory=list)  # thresholds this scan alone breached, as text
    problems: list[str] = field(default_factory=list)  # recorder or checker failures in this scan
    interrupted: bool = False
    findings: list[Finding] = field(default_factory=list)
    finding_counts: dict[str, int] = field(default_factory=dict)
    findings_not_shown: int = 0
    recorder_node: str = DEFAULT_NODE  # the node that recorded it
    validated_on: str | None = None  # the node the checker ran on; None: not checked there, or not said
    recorder_notes: list[RecorderNoteRow] = field(default_factory=list)  # what the recorder said (newer runs)

    @property
    def lost(self) -> float | None:
        return self.counts.get(LOST.name)

    @property
    def has_findings(self) -> bool:
        return bool(self.findings or self.finding_counts)


@dataclass(frozen=True)
class PreflightCheck:
    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class PreflightGroup:
    node: str  # "" for checks that name no node
    checks: list[PreflightCheck]


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    thresholds: tuple[str, ...]  # evidence named by the scenario; empty: the whole run
    scans: tuple[str, ...]


@dataclass
class RunSummary:
    verdict: str  # pass | fail | interrupted | unknown
    breached: list[str]
    scenario: str
    description: str
    started: datetime | None
    finished: datetime | None
    run_by: str
    thresholds: list[ThresholdRow]
    scans: list[ScanRow]
    requirements: list[Requirement]
    problems: list[str] = field(default_factory=list)
    preflight: list[PreflightCheck] = field(default_factory=list)
    abort_reason: str = ""
    skipped_scans: list[tuple[str, str]] = field(default_factory=list)
    stream_nominal_gbps: float | None = None
    nodes: list[str] = field(default_factory=list)  # the nodes a multi-node run names; empty for one recorder
    stream_format: str = "vdif"  # the stream's recording format (runs before issue 14 were all VDIF)
    recorder_backend: str = ""  # the recorder that recorded it (reference, jive5ab, katcp) and its version
    recorder_version: str = ""

    @property
    def failed_preflight(self) -> list[PreflightCheck]:
        return [c for c in self.preflight if c.passed is False]

    @property
    def recorder_nodes(self) -> list[str]:
        """The nodes that recorded the scans, in the order they first appear."""
        return list(dict.fromkeys(s.recorder_node for s in self.scans))

    @property
    def several_recorders(self) -> bool:
        return len(self.recorder_nodes) > 1

    @property
    def preflight_by_node(self) -> list[PreflightGroup]:
        """The preflight checks under the node their name starts with; empty where the run names no nodes."""
        return preflight_groups(self.preflight, self.nodes) if self.nodes else []

    @property
    def duration_s(self) -> float | None:
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None

    @property
    def failed_scans(self) -> list[ScanRow]:
        return [s for s in self.scans if s.passed is False]

    def total(self, attribute: str) -> float | None:
        return _total(getattr(s, attribute) for s in self.scans)

    def count_total(self, name: str) -> float | None:
        """A judged frame count summed over the scans that have it."""
        return _total(s.counts.get(name) for s in self.scans)

    @property
    def achieved_gbps(self) -> float | None:
        """Mean achieved rate over the scans, weighted by scan duration where known."""
        pairs = [(s.rate_gbps, s.duration_s or 1.0) for s in self.scans if s.rate_gbps is not None]
        weight = sum(w for _, w in pairs)
        return sum(r * w for r, w in pairs) / weight if pairs and weight > 0 else None

    @property
    def nominal_gbps(self) -> float | None:
        rates = [s.nominal_gbps for s in self.scans if s.nominal_gbps]
        return max(rates) if rates else self.stream_nominal_gbps


def _total(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def threshold_rows(raw: Any) -> list[ThresholdRow]:
    rows = []
    for item in as_list(raw):
        t = as_mapping(item)
        name = as_text(t.get("name"))
        if name is None:
            continue
        passed = t.get("passed")
        op = as_text(t.get("op")) or (">=" if name.startswith(MINIMUM_THRESHOLDS) else "<=")
        rows.append(ThresholdRow(name=name, limit=t.get("limit"), measured=t.get("value"),
                                 unit=as_text(t.get("unit")) or "", op=op,
                                 passed=passed if isinstance(passed, bool) else None,
                                 detail=as_text(t.get("detail")) or ""))
    return rows


def _finding(raw: Any) -> Finding | None:
    f = as_mapping(raw)
    kind = as_text(f.get("kind"))
    if kind is None:
        return None
    return Finding(kind=kind, thread=f.get("thread"), time=f.get("time"), file=f.get("file"),
                   offset=f.get("offset"), detail=as_text(f.get("detail")) or "")


def findings_of(check: Mapping[str, Any]) -> tuple[list[Finding], dict[str, int]]:
    """The checker's listed findings and its full counts per kind.

    Accepts ``findings`` as a list (with ``counts`` beside it) or as ``{"counts": ..., "items"|"first": [...]}``;
    without counts, the listed findings are counted (a lower bound).
    """
    raw = check.get("findings")
    counts_raw: Any = check.get("counts")
    if isinstance(raw, Mapping):
        counts_raw = raw.get("counts", counts_raw)
        raw = raw.get("items", raw.get("first", raw.get("examples")))
    listed = [f for f in (_finding(x) for x in as_list(raw)) if f is not None]
    counts: dict[str, int] = {}
    for kind, n in as_mapping(counts_raw).items():
        number = as_number(n)
        if number is not None and number > 0:
            counts[str(kind)] = int(number)
    if not counts:
        for f in listed:
            counts[f.kind] = counts.get(f.kind, 0) + 1
    return listed, counts


def scan_row(raw: Any, index: int) -> ScanRow:
    s = as_mapping(raw)
    check = as_mapping(s.get("check"))

    def pick(*keys: str, source: Mapping[str, Any] = s) -> float | None:
        for key in keys:
            value = as_number(source.get(key))
            if value is not None:
                return value
        return None

    recorded = pick("frames", source=check)
    if recorded is None:
        recorded = pick("recorded_frames", "valid_frames")
    frame_counts = {c.name: pick(c.name) for c in JUDGED}
    if frame_counts[LOST.name] is None:
        frame_counts[LOST.name] = pick("missing_frames", source=check)
    started, finished = parse_time(s.get("started")), parse_time(s.get("finished"))
    duration = pick("duration_s")
    if duration is None and started and finished:
        duration = (finished - started).total_seconds()
    passed = s.get("passed")
    if s.get("validated") is False and passed is False and not s.get("problems") and s.get("interrupted"):
        passed = None  # stopped before the checker ran: not a failure of the recording
    listed, counts = findings_of(check)
    checked = s.get("validated") is not False  # the engine's zeros for a scan never checked mean "unknown"

    row = ScanRow(
        name=as_text(s.get("name")) or f"scan {index + 1} (unnamed)",
        started=started, finished=finished, duration_s=duration,
        frames_sent=pick("frames_sent"), recorded=recorded if checked else None,
        counts=frame_counts if checked else dict.fromkeys(frame_counts),
        rate_gbps=pick("rate_gbps") if checked else None, nominal_gbps=pick("nominal_gbps"),
        passed=passed if isinstance(passed, bool) else None,
        breaches=[str(b) for b in as_list(s.get("breaches")) if as_text(b)],
        problems=[str(p) for p in as_list(s.get("problems")) if as_text(p)],
        interrupted=s.get("interrupted") is True,
        finding_counts=counts,
    )
    row.recorder_node = as_text(s.get("recorder_node")) or DEFAULT_NODE
    row.validated_on = validated_on(s, check)
    if s.get("stopped_early") is True:
        row.problems.append("the recorder stopped recording by itself before record=off")
    row.recorder_notes = recorder_notes_of(s)
    row.findings = listed[:MAX_FINDINGS_SHOWN]
    row.findings_not_shown = max(0, sum(counts.values()) - len(row.findings))
    return row


def recorder_notes_of(scan: Mapping[str, Any]) -> list[RecorderNoteRow]:
    """The scan's recorder notes; none for a run older than them, and a malformed entry is skipped."""
    rows = []
    for entry in as_list(scan.get("recorder_notes")):
        note = as_mapping(entry)
        text = as_text(note.get("text"))
        if text:
            rows.append(RecorderNoteRow(as_text(note.get("source")) or "?", as_text(note.get("kind")) or "other",
                                        note.get("data_lost") is True, text))
    return rows


def validated_on(scan: Mapping[str, Any], check: Mapping[str, Any]) -> str | None:
    """The node the checker ran on; a validated scan of an older run that does not say was checked on 'recorder'."""
    for source in (scan, check):
        node = as_text(source.get("validated_on"))
        if node:
            return node
    if "validated_on" not in scan and scan.get("validated") is not False:
        return DEFAULT_NODE
    return None


def run_nodes(results: Mapping[str, Any]) -> list[str]:
    """The nodes of a multi-node run (an inventory lab), in the order results.json gives them.

    Empty for a run on one recorder (local or no lab, older runs): their environment names the nodes
    'recorder' and 'sender' without roles, and their scans were all recorded on 'recorder'.
    """
    env_nodes = as_mapping(as_mapping(results.get("environment")).get("nodes"))
    scan_nodes = [as_text(as_mapping(s).get("recorder_node")) for s in as_list(results.get("scans"))]
    named = [str(n) for n in scan_nodes if n and n != DEFAULT_NODE]
    with_roles = any("role" in as_mapping(node) for node in env_nodes.values())
    if not (named or with_roles):
        return []
    return list(dict.fromkeys([*(str(name) for name in env_nodes), *named]))


def preflight_groups(checks: Sequence[PreflightCheck], nodes: Sequence[str]) -> list[PreflightGroup]:
    """Checks grouped under the node their name starts with (``rec1 disk /srv/...``), in the nodes' order;
    checks that name no node come last. Names are kept as given."""
    by_length = sorted(nodes, key=len, reverse=True)  # 'rec10 ...' is rec10's, not rec1's
    grouped: dict[str, list[PreflightCheck]] = {node: [] for node in [*nodes, ""]}
    for check in checks:
        node = next((n for n in by_length if check.name.startswith(f"{n} ")), "")
        grouped[node].append(check)
    return [PreflightGroup(node, found) for node, found in grouped.items() if found]


def preflight_of(raw: Any) -> list[PreflightCheck]:
    checks = []
    for item in as_list(raw):
        c = as_mapping(item)
        passed = c.get("passed")
        checks.append(PreflightCheck(as_text(c.get("name")) or "check", passed if isinstance(passed, bool) else None,
                                     as_text(c.get("detail")) or ""))
    return checks


def requirements_of(scenario: Mapping[str, Any]) -> list[Requirement]:
    out = []
    for item in as_list(scenario.get("requirements")):
        r = as_mapping(item)
        rid = as_text(r.get("id"))
        if rid is None:
            continue
        out.append(Requirement(
            id=rid, text=as_text(r.get("text")) or "",
            thresholds=tuple(str(x) for x in as_list(r.get("thresholds")) if as_text(x)),
            scans=tuple(str(x) for x in as_list(r.get("scans")) if as_text(x)),
        ))
    return out


def summarize(results: Mapping[str, Any] | None) -> RunSummary:
    """The run's summary; ``results`` None means results.json was missing or unreadable."""
    r = as_mapping(results)
    scenario = as_mapping(r.get("scenario"))
    thresholds = threshold_rows(r.get("thresholds"))
    scans = [scan_row(s, i) for i, s in enumerate(as_list(r.get("scans")))]
    problems: list[str] = []
    breached = [str(b) for b in as_list(r.get("breached")) if as_text(b)]
    for t in thresholds:
        if t.passed is False and t.name not in breached:
            breached.append(t.name)
    started, finished = parse_time(r.get("started")), parse_time(r.get("finished"))
    preflight = preflight_of(r.get("preflight"))
    verdict = verdict_of(r, breached, scans, finished, problems)
    if verdict == "pass" and any(c.passed is False for c in preflight):
        problems.append("results.json says 'pass' but a preflight check failed; shown as 'fail'")
        verdict = "fail"
    if results is not None and not scans:
        problems.append("results.json lists no scans")
    skipped = [(str(k), as_text(v) or "") for k, v in as_mapping(r.get("skipped_scans")).items()]
    return RunSummary(
        verdict=verdict, breached=breached,
        scenario=as_text(scenario.get("name")) or "unnamed scenario",
        description=as_text(scenario.get("description")) or "",
        started=started, finished=finished, run_by=as_text(r.get("run_by")) or "",
        thresholds=thresholds, scans=scans, requirements=requirements_of(scenario), problems=problems,
        preflight=preflight, abort_reason=as_text(r.get("abort_reason")) or "", skipped_scans=skipped,
        stream_nominal_gbps=as_number(as_mapping(r.get("sender")).get("nominal_gbps")),
        nodes=run_nodes(r), stream_format=stream_format_of(r),
        recorder_backend=as_text(as_mapping(r.get("recorder")).get("backend")) or "",
        recorder_version=as_text(as_mapping(r.get("recorder")).get("version")) or "",
    )


def stream_format_of(r: Mapping[str, Any]) -> str:
    """The run's stream format: as the recorder section names it, else the stream's own, else VDIF (older runs)."""
    named = as_text(as_mapping(r.get("recorder")).get("stream_format"))
    stream = as_mapping(as_mapping(r.get("sender")).get("stream"))
    return named or as_text(stream.get("format")) or "vdif"


def verdict_of(r: Mapping[str, Any], breached: list[str], scans: list[ScanRow],
               finished: datetime | None, problems: list[str]) -> str:
    """The engine's verdict, never milder than the evidence: a 'pass' with a breach reads 'fail'."""
    stated = r.get("verdict")
    failed_scans = [s.name for s in scans if s.passed is False]
    if stated == "running":
        problems.append("results.json still says 'running': the run is in progress, or stopped without finishing "
                        "(killed, power lost); shown as 'interrupted'")
        return "interrupted"
    if stated == "pass" and (breached or failed_scans):
        what = ", ".join(breached or failed_scans)
        problems.append(f"results.json says 'pass' but reports failures ({what}); shown as 'fail'")
        return "fail"
    if stated in VERDICTS:
        return str(stated)
    if not r:
        return "unknown"
    problems.append("results.json has no verdict; derived from its thresholds and scans")
    if breached or failed_scans:
        return "fail"
    if finished is None:
        return "interrupted"
    return "pass" if r.get("thresholds") else "unknown"
