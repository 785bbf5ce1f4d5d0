"""The Mark5B fault corpus: each fault alone, the checker's counts equal to those computed from the list
of frames written; the findings name the damaged frame's offset; baseband's reading of the same bytes
agrees where it can say something (headers of the clean file, sync, BCD, CRC, and the frame sequence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.checker import check, check_files
from tests.checker.mark5b_corpus import (
    EXPECT,
    FAULTS,
    FILLED,
    FPS,
    START,
    F,
    Written,
    clean_frames,
    expected_counts,
    faulted,
    render,
)

CLEAN = clean_frames()
FINDING_OF = {"sync": "corrupt_headers", "crc": "corrupt_headers", "bcd": "corrupt_headers",
              "payload": "payload_errors", **dict.fromkeys(FILLED, "invalid_frames")}


@pytest.fixture(autouse=True)
def small_windows(monkeypatch):
    monkeypatch.setattr(check, "WINDOW_BYTES", 63 * F)  # every fault also meets state carried across windows


def write(tmp_path: Path, written: list[Written]) -> Path:
    path = tmp_path / "corpus.m5b"
    path.write_bytes(render(written, CLEAN))
    return path


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_gives_the_counts_of_the_frames_written(tmp_path, fault):
    written = faulted(fault)
    result = check_files([write(tmp_path, written)], EXPECT)
    assert result.frame_counts.to_json() == expected_counts(written)
    if fault == "clean":
        assert result.clean, result.findings
    if fault in FINDING_OF:
        (finding,) = [f for f in result.findings if f.kind == FINDING_OF[fault]]
        assert finding.offset == 140 * F and finding.thread == 0
        if fault in FILLED:
            assert "fill" in finding.detail and result.fill_frames == 1, finding.detail
    if fault == "truncated":
        assert result.counts == {"truncated_frame": 1} and result.truncated_bytes == F // 2
    if fault == "lost_second_boundary":
        (gap,) = [f for f in result.findings if f.kind == "missing_frames"]
        assert gap.offset == 190 * F and "20 frames missing" in gap.detail


def test_expected_counts_are_not_trivially_zero():
    """The independent counting itself: each fault moves the count it should (a check of the oracle)."""
    moved = {fault: {k: v for k, v in expected_counts(faulted(fault)).items()
                     if v != expected_counts(faulted("clean"))[k]} for fault in FAULTS}
    assert moved["lost_frame"] == {"frames": 299, "valid_frames": 299, "missing_frames": 1}
    assert moved["lost_second_boundary"] == {"frames": 280, "valid_frames": 280, "missing_frames": 20}
    assert moved["duplicate"] == {"frames": 301, "valid_frames": 301, "duplicate_frames": 1}
    assert moved["swap"] == {"out_of_order_frames": 1}
    assert moved["fill"] == {"valid_frames": 299, "invalid_frames": 1}
    assert moved["truncated"] == {"frames": 299, "valid_frames": 299}


def baseband_view(path: Path) -> list[tuple[str, int | None]]:
    """Per whole frame, what baseband makes of its header: ('sync'|'bcd'|'crc', None) or ('ok', slot)."""
    from astropy.time import Time
    from baseband.mark5b.header import Mark5BHeader, crc16

    ref_time = Time(float(START), format="unix")
    start_mjd = Time(float(START), format="unix").mjd
    out: list[tuple[str, int | None]] = []
    data = path.read_bytes()
    for at in range(0, len(data) - F + 1, F):
        words = tuple(int(x) for x in np.frombuffer(data[at : at + 16], dtype="<u4"))
        try:
            header = Mark5BHeader(words, ref_time=ref_time)  # verify() asserts the sync word
        except AssertionError:
            out.append(("sync", None))
            continue
        try:
            seconds = (header.kday + header.jday - int(start_mjd)) * 86400 + header.seconds
        except ValueError:  # baseband refuses a BCD digit above 9
            out.append(("bcd", None))
            continue
        code = (header["bcd_jday"] << 36) | (header["bcd_seconds"] << 16) | header["bcd_fraction"]
        if crc16(code) != header["crc"]:  # baseband writes the CRC but does not check it; we ask its crc16
            out.append(("crc", None))
            continue
        out.append(("ok", seconds * FPS + header["frame_nr"]))
    return out


def test_baseband_decodes_the_clean_file_s_headers_as_the_checker_does(tmp_path):
    path = write(tmp_path, faulted("clean"))
    view = baseband_view(path)
    assert [kind for kind, _ in view] == ["ok"] * 300
    slots = [slot for _, slot in view]
    first = slots[0]
    assert slots == list(range(first, first + 300))  # consecutive frames, second boundaries included
    result = check_files([path], EXPECT)
    assert result.threads[0].first_time == "2026-11-21T11:00:51.000000Z"
    assert first % FPS == 0 and result.threads[0].frame_rate == FPS


@pytest.mark.parametrize("fault", ["lost_frame", "lost_second_boundary", "duplicate", "swap_over_boundary", "sync",
                                   "crc", "bcd", "fill", "truncated"])
def test_baseband_sees_the_same_damage_and_the_same_sequence(tmp_path, fault):
    """baseband's verdict per header, and the continuity counts of the slots it decodes, against the checker's."""
    path = write(tmp_path, faulted(fault))
    view = baseband_view(path)
    result = check_files([path], EXPECT)
    damaged = [i * F for i, (kind, _) in enumerate(view) if kind != "ok"]
    flagged = sorted(f.offset for f in result.findings if f.kind in ("corrupt_headers", "invalid_frames"))
    assert damaged == flagged
    # baseband's decoded slots, counted as the corpus counts (a damaged header stands in for its neighbour's gap)
    slots = [slot for _, slot in view]
    base = next(s for s in slots if s is not None)
    written = []
    for i, (kind, slot) in enumerate(view):
        if slot is None:  # a stand-in: the corpus put it where the clean frame was
            prev = next(s for s in reversed(slots[:i]) if s is not None)
            written.append(Written(prev - base + 1, "sync" if kind != "fill" else "fill"))
        else:
            written.append(Written(slot - base))
    counts = expected_counts(written)
    c = result.frame_counts
    assert (counts["missing_frames"], counts["duplicate_frames"], counts["out_of_order_frames"]) == (
        c.missing_frames, c.duplicate_frames, c.out_of_order_frames)
    assert counts["frames"] == c.frames
