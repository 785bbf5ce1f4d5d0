"""The stream against what was declared for it (the CBF path): a thread that never came, frames absent at
the start or end of the capture window, another station, another frame size, a rate off the declared one.
Counting first with plain values, then streams broken on purpose (the corpus's clean stream, 4 threads x 750
frames at 250 frames/s), each with its exact count, where it is, and how it lands in the missing frames."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from harness.checker import Expectation, check
from harness.checker.absence import Absent, Window, absences
from harness.formats.vdif.timecode import iso
from harness.frame_counts import FrameCounts
from tests.checker.corpus import (
    CHUNK_FRAMES,
    EXPECT,
    START,
    THREADS,
    F,
    N,
    clean_items,
    fill_frame,
    frame_time,
    group,
    thread_of,
    write_flat,
    write_vbs,
)

PER_THREAD = N // len(THREADS)


# ---------------------------------------------------------------------------------------------- plain values
def test_a_thread_with_no_frame_lacks_the_whole_span_and_late_or_early_threads_their_edges():
    found = absences(first=[100, 100, 0, 103], last=[849, 849, 0, 845], seen=[True, True, False, True])
    assert found == [Absent(), Absent(), Absent(whole=750), Absent(at_start=3, at_end=4)]
    assert [a.missing for a in found] == [0, 0, 750, 7]


def test_one_frame_short_at_an_edge_is_a_recording_cut_mid_set():
    found = absences(first=[10, 11], last=[20, 19], seen=[True, True])
    assert found == [Absent(), Absent()]


def test_the_window_counts_every_thread_before_the_stream_starts_and_after_it_ends():
    found = absences(first=[100, 100, 0], last=[849, 849, 0], seen=[True, True, False], due=(50, 900))
    assert [(a.window_start, a.window_end) for a in found] == [(50, 51)] * 3
    assert [a.missing for a in found] == [101, 101, 750 + 101]
    # a stream reaching past the window on both sides lacks nothing of it
    assert all(a.due == 0 for a in absences([0], [999], [True], due=(50, 900)))
    # a window entirely before the stream (clocks an hour apart, say): all of it is absent
    assert absences([5000], [5999], [True], due=(0, 99))[0].window_start == 100
    assert absences([5000], [5999], [True], due=(7000, 7099))[0].window_end == 100
    assert absences([0], [9], [True], due=(5, 4))[0].due == 0  # shorter than twice the tolerance: nothing due


def test_loose_stand_ins_fill_absent_threads_first_then_absent_edges_and_never_the_window():
    found = absences(first=[100, 100, 0, 103], last=[849, 849, 0, 845], seen=[True, True, False, True],
                     due=(90, 849), loose_invalid=700, loose_corrupt=60)
    assert (found[2].stood_invalid, found[2].stood_corrupt, found[2].missing) == (700, 50, 10)  # its window part
    assert (found[3].stood_invalid, found[3].stood_corrupt, found[3].missing) == (0, 7, 10)
    assert sum(a.stood_in for a in found) == 757  # 3 stand-ins fill nothing: they stay unattributed
    two = absences(first=[0, 0, 0], last=[9, 0, 0], seen=[True, False, False], loose_invalid=5)
    assert [(a.whole, a.stood_invalid) for a in two] == [(0, 0), (10, 3), (10, 2)]


def test_nothing_placed_nothing_measured():
    assert absences([0, 0], [0, 0], [False, False], due=(0, 99), loose_invalid=40) == [Absent(), Absent()]


def test_window_due_slots():
    window = Window(1000.0, 1010.0, 0.5)
    assert window.due_slots(1000.0, 100) == (50, 949)
    assert window.due_slots(999.0, 100) == (150, 1049)
    assert Window(1000.25, 1001.0, 0.0).due_slots(1000.0, 4) == (1, 3)


# ---------------------------------------------------------------------------------------------- streams
@pytest.fixture(autouse=True)
def small_windows(monkeypatch):
    monkeypatch.setattr(check, "WINDOW_BYTES", 63 * F)


SPAN = f"({frame_time(0)} to {frame_time(PER_THREAD - 1)})"


def test_a_thread_that_never_came_names_its_frames_and_they_are_missing(tmp_path):
    items = [item for i, item in enumerate(clean_items()) if thread_of(i) != 2]
    result = write_flat(tmp_path, b"".join(items)).check(EXPECT)
    assert result.counts == {"missing_thread": 1} and result.frame_counts.missing_frames == PER_THREAD
    (finding,) = result.findings
    assert (finding.kind, finding.thread) == ("missing_thread", 2)
    assert finding.detail == f"thread 2 has no frame in the recording: all 750 of its frames due over the " \
                             f"stream's span {SPAN} are missing"
    assert result.threads[2].frame_counts.missing_frames == 750 and result.threads[2].frame_counts.frames == 0
    counts = result.frame_counts
    assert counts.missing_frames + counts.invalid_frames == 750  # what an external scan calls lost


def test_a_thread_never_sent_but_filled_by_the_recorder_counts_once(tmp_path):
    """A udps recorder fills the sequence numbers of a thread never sent with fill frames: its slots are
    invalid frames, not also missing ones."""
    items = [fill_frame() if thread_of(i) == 2 else item for i, item in enumerate(clean_items())]
    result = write_flat(tmp_path, b"".join(items)).check(EXPECT)
    assert result.counts == {"missing_thread": 1, "invalid_frames": 750}
    assert (result.frame_counts.missing_frames, result.frame_counts.invalid_frames, result.fill_frames) == (0, 750, 750)
    detail = next(f.detail for f in result.findings if f.kind == "missing_thread")
    assert detail == f"thread 2 has no frame in the recording: all 750 of its frames due over the stream's span " \
                     f"{SPAN} are lost, 750 as invalid or damaged frames in their place (e.g. a recorder's fill for " \
                     "datagrams never received) and 0 missing"
    report = result.threads[2]
    assert report.frame_counts == FrameCounts(frames=750, invalid_frames=750) and report.frame_counts.valid_frames == 0
    assert result.frame_counts.missing_frames + result.frame_counts.invalid_frames == 750


def window(start: float, end: float, tolerance: float = 0.5) -> Expectation:
    return replace(EXPECT, window_start=float(START) + start, window_end=float(START) + end,
                   window_tolerance_s=tolerance)


def test_a_stream_inside_its_window_but_for_the_tolerance_is_clean(tmp_path):
    result = write_flat(tmp_path, b"".join(clean_items())).check(window(-0.3, 3.4))
    assert result.clean, result.findings
    assert result.window == {"start": iso(float(START) - 0.3), "end": iso(float(START) + 3.4), "tolerance_s": 0.5,
                             "due_from": iso(float(START) + 0.2), "due_to": iso(float(START) + 2.9),
                             "absent_at_start": 0, "absent_at_end": 0, "absent_frames": 0}


def test_a_stream_starting_late_and_ending_early_in_its_window(tmp_path):
    rec = write_flat(tmp_path, b"".join(clean_items()))
    result = rec.check(window(-1.0, 4.0))
    # due from START - 0.5 s (125 frames per thread before the first) to START + 3.5 s (125 after the last)
    assert result.counts == {"stream_starts_late": 1, "stream_ends_early": 1}
    assert result.frame_counts.missing_frames == 4 * 250
    assert all(r.frame_counts.missing_frames == 250 for r in result.threads.values())
    assert all((r.window_absent_at_start, r.window_absent_at_end) == (125, 125) for r in result.threads.values())
    late, early = result.findings
    assert (late.kind, late.file, late.offset, late.time) == ("stream_starts_late", rec.pieces[0][0], 0,
                                                             frame_time(0))
    assert late.detail == (f"the stream's first frame is 1.000 s after the recording started "
                           f"({iso(float(START) - 1)}); allowing 0.5 s for the recorder to start, 125 frames per "
                           f"thread due from {iso(float(START) - 0.5)} are absent (500 in all, 4 threads)")
    assert (early.kind, early.offset, early.time) == ("stream_ends_early", (N - 1) * F, frame_time(PER_THREAD - 1))
    assert early.detail.startswith(f"the stream's last frame ends 1.000 s before the recording stopped "
                                   f"({iso(float(START) + 4)}); allowing 0.5 s for the recorder to stop, 125 frames "
                                   f"per thread due up to {iso(float(START) + 3.5)} are absent (500 in all, 4 threads)")
    assert result.window is not None and result.window["absent_frames"] == 1000


def test_a_missing_final_chunk_is_frames_absent_at_the_end_of_the_window(tmp_path):
    chunks = group(clean_items(), CHUNK_FRAMES)[:-2]  # the last two chunks never written: nothing says so but time
    result = write_vbs(tmp_path, chunks).check(window(-0.2, 3.2))
    # frames to index 639 recorded; due to START + 2.7 s, index 674: 35 per thread absent
    assert result.counts == {"stream_ends_early": 1}
    assert result.frame_counts.missing_frames == 140 and result.threads[0].window_absent_at_end == 35
    assert "35 frames per thread due up to" in result.findings[0].detail
    assert "(140 in all, 4 threads): a final chunk not written" in result.findings[0].detail


def test_a_missing_thread_in_a_window_lacks_its_span_and_the_window_edges(tmp_path):
    items = [item for i, item in enumerate(clean_items()) if thread_of(i) != 1]
    result = write_flat(tmp_path, b"".join(items)).check(window(-1.0, 3.5))
    assert result.counts == {"missing_thread": 1, "stream_starts_late": 1}
    assert result.threads[1].frame_counts.missing_frames == 750 + 125
    assert result.threads[0].frame_counts.missing_frames == 125
    assert result.frame_counts.missing_frames == 750 + 4 * 125


def set_station(item: bytes, station: int) -> bytes:
    frame = bytearray(item)
    (word,) = struct.unpack_from("<I", frame, 12)
    struct.pack_into("<I", frame, 12, (word & 0xFFFF0000) | station)
    return bytes(frame)


def test_one_thread_carrying_another_station(tmp_path):
    items = [set_station(item, 0x5858) if thread_of(i) == 3 else item for i, item in enumerate(clean_items())]
    result = write_flat(tmp_path, b"".join(items)).check(EXPECT)
    assert result.counts == {"corrupt_headers": 750, "station": 1} and result.frame_counts.corrupt_headers == 750
    station = next(f for f in result.findings if f.kind == "station")
    assert (station.thread, station.offset) == (3, 3 * F)
    assert station.detail == ("750 frames carry station 'XX' (0x5858), not the declared 'MK' (0x4d4b) "
                              "(frames per thread 3: 750)")


def test_a_stream_of_another_frame_size_is_checked_as_found(tmp_path):
    """Declared 5032-byte frames, recorded 1032-byte ones: not an error but a finding for every frame."""
    rec = write_flat(tmp_path, b"".join(clean_items()))
    result = rec.check(replace(EXPECT, frame_bytes=5032))
    assert result.frame_counts.frames == N and result.frame_bytes == F and result.frame_counts.missing_frames == 0
    assert result.counts == {"corrupt_headers": N, "frame_size": 1} and result.frame_counts.corrupt_headers == N
    size = next(f for f in result.findings if f.kind == "frame_size")
    assert (size.file, size.offset) == (rec.pieces[0][0], 0)
    assert size.detail == ("3000 frames are 1032-byte frames with 32-byte headers, not the declared 5032-byte "
                           "frames with 32-byte headers; checked as found")
    corrupt = next(f for f in result.findings if f.kind == "corrupt_headers")
    assert corrupt.detail == ("a 1032-byte frame with a 32-byte header, the declared stream's are 5032-byte frames "
                              "with 32-byte headers")


def test_declared_legacy_headers_where_the_frames_have_32_byte_ones(tmp_path):
    result = write_flat(tmp_path, b"".join(clean_items())).check(replace(EXPECT, edv="legacy"))
    assert result.counts == {"corrupt_headers": N, "frame_size": 1} and result.frame_counts.frames == N
    assert "not the declared 1032-byte frames with 16-byte headers" in next(
        f.detail for f in result.findings if f.kind == "frame_size")


def test_frame_numbers_beyond_the_declared_rate(tmp_path):
    """A stream at 250 frames/s declared at 125: frame numbers 125..249 of every second are past the rate."""
    result = write_flat(tmp_path, b"".join(clean_items())).check(replace(EXPECT, fps=125))
    assert result.counts["frame_rate"] == 4 and result.frame_counts.corrupt_headers == N // 2
    faster = [f for f in result.findings if f.kind == "frame_rate"]
    assert [f.thread for f in faster] == list(THREADS) and [f.offset for f in faster] == [(500 + t) * F
                                                                                      for t in THREADS]
    assert faster[0].detail == ("375 frames carry frame numbers at or above the declared 125 frames/s (up to 249): "
                                "the thread runs faster than declared")


def test_frame_numbers_short_of_the_declared_rate(tmp_path):
    """A stream at 250 frames/s declared at 500: half of every second's slots are empty."""
    result = write_flat(tmp_path, b"".join(clean_items())).check(replace(EXPECT, fps=500))
    assert result.counts["frame_rate"] == 4 and result.frame_counts.missing_frames == 4 * 500
    slow = next(f for f in result.findings if f.kind == "frame_rate")
    assert slow.thread == 0
    assert slow.detail == ("frame numbers go up to 249: 250 frames/s, not the 500 expected; 750 frames over the "
                           "thread's 2.500 s where 1250 were due (500 fewer)")


def test_a_few_damaged_frame_numbers_or_stations_are_corrupt_headers_only(tmp_path):
    items = clean_items()
    items[1401] = set_station(items[1401], 0x5858)
    frame = bytearray(items[1402])
    struct.pack_into("<I", frame, 4, struct.unpack_from("<I", frame, 4)[0] | 0xFFF)  # frame number 4095 > rate
    items[1402] = bytes(frame)
    result = write_flat(tmp_path, b"".join(items)).check(EXPECT)
    assert result.counts == {"corrupt_headers": 2}
