"""Validating a finished scan in a worker process, while the next scan records: here, or on its recorder node.

A scan recorded on another node is validated there: ``python -m harness.scenario.validation`` runs over SSH in
the node's harness venv, reads the target and the expectation as JSON on stdin and prints the checker's JSON
result. The recording never leaves its node; only the result travels.
"""

from __future__ import annotations

import glob
import json
import shlex
import shutil
import subprocess
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.formats.vdif.header import station_id
from harness.lab.info import SshTarget
from harness.scenario import stream_format
from harness.scenario.schema import Scenario

REMOTE_TIMEOUT_S = 3600.0
"""The longest a validation over SSH may take (a multi-hour scan at the checker's speed takes minutes)."""


class HarnessBugOnNode(Exception):
    """The checker failed on a recorder node with an exception of its own (not a recording it cannot read): a
    bug of the harness, with the node's traceback."""

    def __init__(self, node: str, traceback_text: str) -> None:
        super().__init__(f"on node {node}:\n{traceback_text}")
        self.node = node


@dataclass(frozen=True)
class ScanTarget:
    """Where a scan's data is: a vbs scan name over a mount-point glob, or one net2file file; on which node."""

    name: str
    disk_glob: str
    flat_file: str | None = None
    node: str = "recorder"
    ssh: SshTarget | None = None
    """None: the recording is on this machine; else validated (and deleted) on that node."""
    python: str = sys.executable
    become: bool = False
    """Run the checker there through ``sudo -n`` (ansible_become)."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "disk_glob": self.disk_glob, "flat_file": self.flat_file, "node": self.node}

    def files(self) -> list[Path]:
        if self.flat_file:
            return [Path(self.flat_file)]
        name = glob.escape(self.name)
        return sorted(Path(p) for p in glob.glob(f"{self.disk_glob}/{name}/{name}.*"))

    def delete(self) -> int:
        """Remove the scan's files (rolling mode), on its node; returns bytes freed."""
        if self.ssh is not None:
            answer = _on_node(self, {"delete": True})
            if "error" in answer:
                raise OSError(answer["error"])
            return int(answer.get("freed", 0))
        freed = 0
        for path in self.files():
            freed += path.stat().st_size
            path.unlink()
        if not self.flat_file:
            for directory in glob.glob(f"{self.disk_glob}/{glob.escape(self.name)}"):
                shutil.rmtree(directory, ignore_errors=True)
        return freed


def expectation_fields(scenario: Scenario) -> dict[str, Any]:
    """The checker's Expectation for this scenario's stream, as plain (picklable) values."""
    stream = scenario.stream
    spec = stream.format_spec
    if spec is not None:  # Mark5B, LWA RBeam: a harness stream of the test pattern (schema.Stream refuses others)
        return stream_format.expectation(spec)
    declared = {
        "frame_bytes": stream.frame_bytes, "threads": tuple(range(stream.threads)), "fps": stream.frames_per_second,
        "station": station_id(stream.station), "bits": stream.bits, "nchan": stream.channels,
        "complex": stream.complex, "edv": stream.edv,
    }
    if stream.source == "external":  # a real CBF's payload is not our pattern: every check but payload integrity
        return {**declared, "payload": None}
    return {
        **declared, "payload": stream.payload,
        "tone_hz": stream.tone.frequency_hz if stream.tone else None,
        "tone_channel": stream.tone.channel if stream.tone else 0,
    }


def sender_schedule(sender: Mapping[str, Any]) -> dict[str, float]:
    """Expectation fields for the sender's schedule (its first frame to the end of its last), which the checker's
    loss profile judges each second by; none where the sender left frames out on purpose."""
    if "first_frame_posix" not in sender or "schedule_end_posix" not in sender or sender.get("dropped_on_purpose"):
        return {}
    return {"schedule_start": float(sender["first_frame_posix"]), "schedule_end": float(sender["schedule_end_posix"])}


def validate(target: ScanTarget, expect: dict[str, Any]) -> dict[str, Any]:
    """Run the checker over one scan, on the node that holds it; returns its JSON (with ``validated_on``), or
    ``{"error": reason}`` when it cannot read it or cannot reach its node."""
    result = _on_node(target, {"expect": expect}) if target.ssh is not None else _validate_here(target, expect)
    if "error" not in result:
        result["validated_on"] = target.node
    return result


def _on_node(target: ScanTarget, request: dict[str, Any]) -> dict[str, Any]:
    assert target.ssh is not None
    local = {"name": target.name, "disk_glob": target.disk_glob, "flat_file": target.flat_file, "node": target.node}
    sudo = "sudo -n " if target.become else ""
    argv = [*target.ssh.ssh_argv(), f"cd / && exec {sudo}{shlex.quote(target.python)} -m harness.scenario.validation"]
    try:
        done = subprocess.run(argv, input=json.dumps({"target": local, **request}), capture_output=True, text=True,
                              timeout=REMOTE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"validation on node {target.node} did not end within {REMOTE_TIMEOUT_S:g} s"}
    except OSError as exc:
        return {"error": f"cannot run ssh to validate on node {target.node}: {exc}"}
    if done.returncode != 0 or not done.stdout.strip():
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        if done.returncode == 255:
            why = f"node unreachable over SSH ({target.ssh.user}@{target.ssh.host}:{target.ssh.port}): {why}"
        return {"error": f"could not validate {target.name} on node {target.node}: {why}"}
    try:
        return dict(json.loads(done.stdout))
    except json.JSONDecodeError:
        return {"error": f"validation on node {target.node} printed no JSON result: {done.stdout[:200]!r}"}


def _validate_here(target: ScanTarget, expect: dict[str, Any]) -> dict[str, Any]:
    from harness.checker import CheckerError, Expectation, check_files, check_scan

    expectation = Expectation(**expect)
    try:
        if target.flat_file:
            result = check_files([Path(target.flat_file)], expectation)
        else:
            result = check_scan(target.name, target.disk_glob, expectation)
    except CheckerError as exc:
        return {"error": str(exc)}
    return dict(result.to_json())


def main() -> int:
    """The node half: one request as JSON on stdin, its answer as JSON on stdout."""
    request = json.loads(sys.stdin.read())
    spec = request["target"]
    target = ScanTarget(name=spec["name"], disk_glob=spec["disk_glob"], flat_file=spec.get("flat_file"),
                        node=spec.get("node", "recorder"))
    if request.get("delete"):
        answer: dict[str, Any] = {"freed": target.delete()}
    else:
        expect = dict(request["expect"])
        if isinstance(expect.get("threads"), list):
            expect["threads"] = tuple(expect["threads"])
        if isinstance(expect.get("header_values"), list):  # JSON made the pairs lists
            expect["header_values"] = tuple((str(name), int(value)) for name, value in expect["header_values"])
        try:
            answer = _validate_here(target, expect)
        except Exception:  # a bug of the checker: its traceback goes back to the controller, not a finding
            answer = {"harness_bug": traceback.format_exc()}
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
