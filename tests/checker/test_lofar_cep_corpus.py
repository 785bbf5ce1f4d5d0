"""The LOFAR CEP fault corpus: each fault alone, the checker's counts equal to those computed from the list
of packets written, and its findings name the damaged packet's offset and RSP lane."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checker import check, check_files
from tests.checker.lofar_cep_corpus import (
    DAMAGED_AT,
    EXPECT,
    FAULTS,
    HEADER_DAMAGE,
    F,
    Written,
    clean_packets,
    expected_counts,
    faulted,
    render,
)

CLEAN = clean_packets()
FINDING_OF = {**dict.fromkeys(HEADER_DAMAGE, "corrupt_headers"), "payload": "payload_errors"}


@pytest.fixture(autouse=True)
def small_windows(monkeypatch):
    monkeypatch.setattr(check, "WINDOW_BYTES", 61 * F)  # every fault also meets state carried across windows


def write(tmp_path: Path, written: list[Written]) -> Path:
    path = tmp_path / "corpus.cep"
    path.write_bytes(render(written, CLEAN))
    return path


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_gives_the_counts_of_the_packets_written(tmp_path, fault):
    written = faulted(fault)
    result = check_files([write(tmp_path, written)], EXPECT)
    assert result.frame_counts.to_json() == expected_counts(written)
    if fault == "clean":
        assert result.clean, result.findings
    if fault in FINDING_OF:
        (finding,) = [f for f in result.findings if f.kind == FINDING_OF[fault]]
        assert finding.offset == DAMAGED_AT * F and finding.thread == 1
    if fault == "truncated":
        assert result.counts == {"truncated_frame": 1} and result.truncated_bytes == F // 2
    if fault == "lost_over_cycle":
        gaps = [f for f in result.findings if f.kind == "missing_frames"]
        assert sorted(g.thread for g in gaps) == [0, 1, 2, 3] and all("10 frames missing" in g.detail for g in gaps)


def test_expected_counts_are_not_trivially_zero():
    """The independent counting itself: each fault moves the count it should (a check of the oracle)."""
    moved = {fault: {k: v for k, v in expected_counts(faulted(fault)).items()
                     if v != expected_counts(faulted("clean"))[k]} for fault in FAULTS}
    assert moved["lost_packet"] == {"frames": 1199, "valid_frames": 1199, "missing_frames": 1}
    assert moved["lost_over_cycle"] == {"frames": 1160, "valid_frames": 1160, "missing_frames": 40}
    assert moved["duplicate"] == {"frames": 1201, "valid_frames": 1201, "duplicate_frames": 1}
    assert moved["swap"] == {"out_of_order_frames": 1}
    for damage in HEADER_DAMAGE:
        assert moved[damage] == {"corrupt_headers": 1}
    assert moved["payload"] == {"payload_errors": 1}
    assert moved["truncated"] == {"frames": 1199, "valid_frames": 1199}
