"""The per-second loss profile from real recordings with known holes (flat, vbs, Mark6): frames present per
thread per second counted here from the items kept, independently of the checker, and the findings that
name loss in the scan's first second and at its tail."""

from __future__ import annotations

import struct
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from harness.checker import check
from harness.checker.profile import SecondTally
from harness.checker.rules import SLOT_BIAS
from tests.checker.corpus import (
    EXPECT,
    FPS,
    SECONDS,
    START,
    THREADS,
    F,
    clean_items,
    fill_frame,
    frame_time,
    thread_of,
    write,
)

KINDS = ("flat", "vbs", "mark6")
SCHEDULED = replace(EXPECT, schedule_start=float(START), schedule_end=float(START + SECONDS))


@pytest.fixture(autouse=True)
def small_windows(monkeypatch):
    monkeypatch.setattr(check, "WINDOW_BYTES", 63 * F)  # seconds of 250 frames span several windows


def present_per_second(kept: list[int]) -> np.ndarray:
    """(thread, second) counts of the clean stream's item indices kept: item i is thread i % 4, frame i // 4."""
    out = np.zeros((len(THREADS), SECONDS), dtype=np.int64)
    for i in kept:
        out[THREADS.index(thread_of(i)), (i // 4) // FPS] += 1
    return out


def holes(items: list[bytes], drop) -> tuple[list[bytes], list[int]]:
    kept = [i for i in range(len(items)) if not drop(i)]
    return [items[i] for i in kept], kept


@pytest.mark.parametrize("kind", KINDS)
def test_a_gap_at_the_start_and_a_stop_before_the_tail(tmp_path, kind):
    # the first second: thread 0 lacks frames 0-39, thread 2 frames 100-189; the tail: nothing from frame 680 on
    def drop(i: int) -> bool:
        k, t = i // 4, thread_of(i)
        return (t == 0 and k < 40) or (t == 2 and 100 <= k < 190) or k >= 680

    items, kept = holes(clean_items(), drop)
    result = write(kind, tmp_path, items).check(SCHEDULED)
    present = present_per_second(kept)
    assert present.tolist() == [[210, 250, 180], [250, 250, 180], [160, 250, 180], [250, 250, 180]]
    short = FPS - present
    profile = result.to_json()["profile"]
    assert profile["present"] == present.sum(axis=0).tolist()
    assert (profile["seconds"], profile["fps"], profile["due_source"]) == (SECONDS, FPS, "schedule")
    assert (profile["due_first_frame"], profile["due_last_frame"]) == (0, FPS * SECONDS - 1)
    assert profile["start"] == frame_time(0) and profile["due_to"] == frame_time(FPS * SECONDS)
    assert profile["short_frames"] == short.sum() == 40 + 90 + 4 * 70
    assert profile["short_seconds"] == 2
    assert profile["short"] == {
        str(t): {"seconds": int((short[r] > 0).sum()), "frames": int(short[r].sum()),
                 "first": [[s, int(present[r, s])] for s in np.flatnonzero(short[r]).tolist()]}
        for r, t in enumerate(THREADS)}
    named = {f.kind: f for f in result.findings if f.kind in ("first_second_short", "tail_missing")}
    assert named["first_second_short"].time == frame_time(0)
    assert named["first_second_short"].detail == (
        "frames missing in the first second of the scan: thread 0 has 210 of 250, thread 2 has 160 of 250; "
        "130 frames short in that second")
    assert named["tail_missing"].time == frame_time(680)
    assert named["tail_missing"].detail == (
        f"at the tail: the last 0.280 s of the scan missing (280 frames, 4 threads): no frame after "
        f"{frame_time(679)}, frames were due up to {frame_time(750)}")
    assert result.counts["first_second_short"] == result.counts["tail_missing"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_schedule_starting_part_way_through_a_second(tmp_path, kind):
    # the sender's first frame is frame 125 (half a second in); thread 3 then loses frames 125-129
    items, kept = holes(clean_items(), lambda i: i // 4 < 125 or (thread_of(i) == 3 and i // 4 < 130))
    expect = replace(SCHEDULED, schedule_start=float(START + Fraction(1, 2)))
    result = write(kind, tmp_path, items).check(expect)
    profile = result.to_json()["profile"]
    assert profile["due_first_frame"] == 125 and profile["present"] == present_per_second(kept).sum(axis=0).tolist()
    assert profile["short"] == {"3": {"seconds": 1, "frames": 5, "first": [[0, 120]]}}
    [first] = [f for f in result.findings if f.kind == "first_second_short"]
    assert first.detail == ("frames missing in the first second of the scan, 0.500 s of it due: thread 3 has 120 of "
                            "125; 5 frames short in that second")
    assert "tail_missing" not in result.counts


@pytest.mark.parametrize("kind", KINDS)
def test_a_whole_scan_has_a_profile_and_no_finding(tmp_path, kind):
    result = write(kind, tmp_path, clean_items()).check(SCHEDULED)
    assert result.clean, result.findings
    profile = result.to_json()["profile"]
    assert profile["present"] is None and profile["short"] == {}
    assert (profile["short_frames"], profile["short_seconds"], profile["seconds"]) == (0, 0, SECONDS)


def flip(item: bytes, word: int, bit: int) -> bytes:
    frame = bytearray(item)
    (value,) = struct.unpack_from("<I", frame, 4 * word)
    struct.pack_into("<I", frame, 4 * word, value ^ (1 << bit))
    return bytes(frame)


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_frames_and_duplicates_are_not_frames_present(tmp_path, kind):
    items = clean_items()
    for i in (1000, 1004, 1008):  # thread 0, frames 250-252: lost datagrams filled by the recorder
        items[i] = fill_frame()
    items[1501] = flip(items[1501], 0, 31)  # thread 1, frame 375: a frame its sender marked invalid
    items[2005] = flip(items[2005], 0, 31)  # thread 1, frame 501: another, in the window of the duplicate below
    items[2502] = flip(items[2502], 3, 25)  # thread 2, frame 625: a damaged thread id, in its slot by position
    items.insert(2001, items[2001])  # thread 1, frame 500 twice
    result = write(kind, tmp_path, items).check(SCHEDULED)
    counts = result.frame_counts
    assert (counts.invalid_frames, counts.corrupt_headers, counts.duplicate_frames) == (5, 1, 1)
    assert result.to_json()["profile"]["short"] == {"0": {"seconds": 1, "frames": 3, "first": [[1, 247]]},
                                                    "1": {"seconds": 2, "frames": 2, "first": [[1, 249], [2, 249]]}}
    assert not {"first_second_short", "tail_missing"} & set(result.counts)


def test_without_a_schedule_the_stream_span_is_judged_and_nothing_more_is_said(tmp_path):
    items, kept = holes(clean_items(), lambda i: (thread_of(i) == 1 and 10 <= i // 4 < 60) or i // 4 >= 700)
    result = write("flat", tmp_path, items).check(EXPECT)
    profile = result.to_json()["profile"]
    assert profile["due_source"] == "stream" and profile["due_last_frame"] == 699
    assert profile["short"] == {"1": {"seconds": 1, "frames": 50, "first": [[0, 200]]}}
    assert profile["present"] == present_per_second(kept).sum(axis=0).tolist()
    assert set(result.counts) == {"missing_frames"}  # the gap's own finding; the span's edges are the recording's


def external(window_start: float, tolerance: float):
    return replace(EXPECT, payload=None, window_start=window_start, window_end=float(START + SECONDS),
                   window_tolerance_s=tolerance)


def test_an_external_stream_judged_by_its_capture_window(tmp_path):
    # record=on 0.2 s before the stream's first frame, 0.2 s tolerance: frames due from the first frame on
    items, kept = holes(clean_items(), lambda i: thread_of(i) == 2 and i // 4 < 20)
    result = write("flat", tmp_path, items).check(external(float(START) - 0.2, 0.2))
    profile = result.to_json()["profile"]
    assert profile["due_source"] == "window" and (profile["due_first_frame"], profile["seconds"]) == (0, SECONDS)
    assert profile["present"] == present_per_second(kept).sum(axis=0).tolist()
    assert [f.detail for f in result.findings if f.kind == "first_second_short"] == [
        "frames missing in the first second of the scan: thread 2 has 230 of 250; 20 frames short in that second"]
    assert "tail_missing" not in result.counts  # the window's end: stream_ends_early's to say


def test_a_stream_starting_late_in_its_window_is_named_once(tmp_path):
    # record=on 0.5 s before the first frame: 0.3 s of frames due before it, in a second of their own
    result = write("flat", tmp_path, clean_items()).check(external(float(START) - 0.5, 0.2))
    profile = result.to_json()["profile"]
    assert profile["seconds"] == SECONDS + 1 and profile["present"][0] == 0
    assert profile["short"] == {str(t): {"seconds": 1, "frames": 75, "first": [[0, 0]]} for t in THREADS}
    assert set(result.counts) == {"stream_starts_late"}


def test_the_tally_grows_both_ways():
    tally = SecondTally(2, 10)
    tally.add(np.array([0, 1, 1]), SLOT_BIAS + np.array([50, 55, 59]))  # second 5
    tally.add(np.array([0]), SLOT_BIAS + np.array([-1]))  # second -1
    tally.add(np.array([1] * 3), SLOT_BIAS + np.array([700, 705, 710]))  # seconds 70 and 71
    first, counts = tally.seconds()
    assert first == -1 and counts.shape == (2, 73)
    assert {(r, s + first): int(n) for (r, s), n in np.ndenumerate(counts) if n} == {
        (0, -1): 1, (0, 5): 1, (1, 5): 2, (1, 70): 2, (1, 71): 1}
