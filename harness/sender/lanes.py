"""What ``vdif-send`` reports of a LOFAR CEP run: the stream, and per lane its port, RSP id, beamlets and counts."""

from __future__ import annotations

from typing import Any

from harness.formats.lofar_cep.stream import LofarCepStreamSpec
from harness.sender.ports import LaneTransport
from harness.sender.run import SenderStats


def lofar_stream(spec: LofarCepStreamSpec) -> dict[str, Any]:
    return {
        "format": "lofar_cep", "fps_per_thread": float(spec.fps), "threads": list(spec.threads),
        "frame_bytes": spec.frame_bytes, "station": spec.station, "bits": spec.bits, "beamlets": spec.beamlets,
        "slices": spec.slices, "clock_mhz": spec.clock_mhz, "payload": "pattern",
    }


def lane_statistics(stats: SenderStats, spec: LofarCepStreamSpec, transport: LaneTransport) -> dict[str, Any]:
    """Per destination port: its lane's RSP id, beamlet range, packets scheduled, sent, refused by the kernel and
    left out on purpose (``--drop-every``; a skipped lane's are all left out)."""
    ports: dict[str, Any] = {}
    for k, (rsp, port) in enumerate(zip(spec.rsp_ids, transport.ports, strict=True)):
        sent, failed = stats.threads[rsp], transport.failed[k]
        skipped = rsp in stats.skipped_threads
        ports[str(port)] = {
            "rsp_id": rsp, "beamlets": list(spec.beamlet_ranges[k]), "frames": sent,
            "bytes": sent * spec.frame_bytes, "frames_scheduled": stats.frames_due, "send_failed": failed,
            "left_out": stats.frames_due - sent - failed, "skipped": skipped,
        }
    return ports
