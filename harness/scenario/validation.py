"""Validating a finished scan in a worker process, while the next scan records."""

from __future__ import annotations

import glob
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.formats.vdif.header import station_id
from harness.scenario.schema import Scenario


@dataclass(frozen=True)
class ScanTarget:
    """Where a scan's data is: a vbs scan name over a mount-point glob, or one net2file file."""

    name: str
    disk_glob: str
    flat_file: str | None = None

    def files(self) -> list[Path]:
        if self.flat_file:
            return [Path(self.flat_file)]
        name = glob.escape(self.name)
        return sorted(Path(p) for p in glob.glob(f"{self.disk_glob}/{name}/{name}.*"))

    def delete(self) -> int:
        """Remove the scan's files (rolling mode); returns bytes freed."""
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
    if stream.source == "external":
        return {"payload": None}
    return {
        "frame_bytes": stream.frame_bytes, "threads": tuple(range(stream.threads)), "fps": stream.frames_per_second,
        "payload": stream.payload, "station": station_id(stream.station), "bits": stream.bits,
        "nchan": stream.channels, "complex": stream.complex,
        "edv": stream.edv,
        "tone_hz": stream.tone.frequency_hz if stream.tone else None,
        "tone_channel": stream.tone.channel if stream.tone else 0,
    }


def validate(target: ScanTarget, expect: dict[str, Any]) -> dict[str, Any]:
    """Run the checker over one scan; returns its JSON, or ``{"error": reason}`` when it cannot read it."""
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
