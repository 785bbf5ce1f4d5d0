"""The fault corpus: a clean multi-thread recording (flat, vbs, Mark6), each fault class injected
on its own, and the checker must report exactly that fault - count, location, thread - and nothing
else. Windows are made small (63 frames) so every fault also meets state carried across windows.
"""

from __future__ import annotations

import struct

import pytest

from harness.checker import CheckResult, check
from harness.formats.vdif.stream import FrameGenerator
from harness.frame_counts import FrameCounts
from tests.checker.corpus import (
    BLOCK_FRAMES,
    CHUNK_FRAMES,
    EXPECT,
    FPS,
    SPEC,
    START,
    THREADS,
    F,
    N,
    Recording,
    clean_items,
    fill_frame,
    frame_time,
    group,
    located,
    position,
    thread_of,
    write,
    write_mark6,
    write_vbs,
)

KINDS = ("flat", "vbs", "mark6")
OTHER_COUNTS = ("stray_bytes", "truncated_bytes", "time_backwards")
"""The result's counts beside its frame counts."""


@pytest.fixture(autouse=True)
def small_windows(monkeypatch):
    monkeypatch.setattr(check, "WINDOW_BYTES", 63 * F)


def counts(result: CheckResult) -> dict[str, int]:
    return {**result.frame_counts.to_json(), **{name: getattr(result, name) for name in OTHER_COUNTS}}


def clean_counts(frames: int = N, **changes: int) -> dict[str, int]:
    return {**FrameCounts(frames=frames).to_json(), **dict.fromkeys(OTHER_COUNTS, 0), **changes}


def at(rec: Recording, items: list[bytes], index: int, extra: int = 0) -> tuple[str, int]:
    return rec.locate(position(items, index) + extra)


def chunk_finding(kind: str, rec: Recording, item_index: int) -> list[tuple[str, str | None, int | None, int | None]]:
    """The container's own finding when a chunk (vbs) or block (Mark6) holding this item has a wrong size."""
    if kind == "vbs":
        return [("chunk_size", rec.chunk_files[item_index // CHUNK_FRAMES], 0, None)]
    if kind == "mark6":
        path, offset, _ = rec.pieces[item_index // BLOCK_FRAMES]
        return [("block_size", path, offset, None)]
    return []


@pytest.mark.parametrize("kind", KINDS)
def test_clean_recording_reports_nothing(tmp_path, kind):
    items = clean_items()
    result = write(kind, tmp_path, items).check(EXPECT)
    assert result.clean, result.findings
    assert counts(result) == clean_counts()
    assert result.bytes == N * F
    assert result.start_time == frame_time(0) and result.end_time == frame_time(N // 4 - 1)
    assert result.duration_s == 3.0
    for thread in THREADS:
        report = result.threads[thread]
        assert report.frame_counts == FrameCounts(frames=N // 4) and report.frame_rate == FPS
        assert report.first_time == frame_time(0) and report.last_time == frame_time(N // 4 - 1)


@pytest.mark.parametrize("kind", KINDS)
def test_one_dropped_frame(tmp_path, kind):
    items = clean_items()
    del items[1001]  # thread 1, frame index 250
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - 1, missing_frames=1)
    # located at the thread's next frame (old index 1005, now 1004)
    assert located(result) == [("missing_frames", *at(rec, items, 1004), 1)]
    assert result.findings[0].time == frame_time(250)
    assert result.threads[1].frame_counts.missing_frames == 1 and result.threads[0].frame_counts.missing_frames == 0


@pytest.mark.parametrize("kind", KINDS)
def test_dropped_run(tmp_path, kind):
    items = clean_items()
    gone = range(1002, 1039)  # 37 consecutive frames over all four threads
    del items[1002:1039]
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - 37, missing_frames=37)
    per_thread = {t: sum(1 for i in gone if thread_of(i) == t) for t in THREADS}
    missing = {t: result.threads[t].frame_counts.missing_frames for t in THREADS}
    assert missing == per_thread == {0: 9, 1: 9, 2: 10, 3: 9}
    expected = []
    for t in THREADS:
        nxt = min(i for i in range(1039, N) if thread_of(i) == t) - 37
        expected.append(("missing_frames", *at(rec, items, nxt), t))
    assert located(result) == sorted(expected)


@pytest.mark.parametrize("kind", KINDS)
def test_duplicated_frame(tmp_path, kind):
    items = clean_items()
    items.insert(2002, items[2001])  # thread 1, frame 500 twice
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N + 1, duplicate_frames=1)
    assert located(result) == [("duplicate_frames", *at(rec, items, 2002), 1)]
    assert result.findings[0].time == frame_time(500)


@pytest.mark.parametrize("kind", KINDS)
def test_two_swapped_frames(tmp_path, kind):
    items = clean_items()
    items[1200], items[1204] = items[1204], items[1200]  # thread 0, frames 300 and 301
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(out_of_order_frames=1)
    assert located(result) == [("out_of_order_frames", *at(rec, items, 1204), 0)]
    assert result.threads[0].max_displacement == 1


@pytest.mark.parametrize("kind", KINDS)
def test_frame_arriving_five_frames_late(tmp_path, kind):
    items = clean_items()
    late = items.pop(1200)  # thread 0, frame 300, now after thread 0's frame 305
    items.insert(1220, late)
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(out_of_order_frames=1)
    assert located(result) == [("out_of_order_frames", *at(rec, items, 1220), 0)]
    assert result.threads[0].max_displacement == 5


HEADER_FLIPS = [
    # (what, word, bit): one bit of one header field of frame 1401 (thread 1, frame index 350)
    ("legacy", 0, 30), ("seconds (low bit: one second off)", 0, 0), ("seconds (high bit)", 0, 29),
    ("unassigned", 1, 30), ("reference epoch", 1, 24), ("frame number (above the rate)", 1, 23),
    ("frame number (one second's worth)", 1, 8), ("version", 2, 29), ("log2 channels", 2, 24),
    ("frame length", 2, 3), ("complex", 3, 31), ("bits per sample", 3, 26), ("thread id", 3, 25),
    ("station", 3, 0), ("EDV", 4, 24), ("EDV 0 words 4-7", 6, 5),
]


def flip(item: bytes, word: int, bit: int) -> bytes:
    frame = bytearray(item)
    (value,) = struct.unpack_from("<I", frame, 4 * word)
    struct.pack_into("<I", frame, 4 * word, value ^ (1 << bit))
    return bytes(frame)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("what", "word", "bit"), HEADER_FLIPS, ids=[f[0] for f in HEADER_FLIPS])
def test_bit_flip_in_header_field(tmp_path, kind, what, word, bit):
    items = clean_items()
    items[1401] = flip(items[1401], word, bit)
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(corrupt_headers=1), result.findings
    assert located(result) == [("corrupt_headers", *at(rec, items, 1401), 1)]
    assert result.threads[1].frame_counts.corrupt_headers == 1 and result.threads[1].frame_counts.frames == N // 4
    assert result.threads[1].frame_counts.missing_frames == 0


@pytest.mark.parametrize("kind", KINDS)
def test_bit_flip_in_invalid_flag(tmp_path, kind):
    items = clean_items()
    items[1401] = flip(items[1401], 0, 31)  # the sender marked this frame invalid
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(valid_frames=N - 1, invalid_frames=1)
    assert located(result) == [("invalid_frames", *at(rec, items, 1401), 1)]
    assert result.fill_frames == 0 and result.threads[1].frame_counts.invalid_frames == 1


@pytest.mark.parametrize("kind", KINDS)
def test_bit_flip_in_payload(tmp_path, kind):
    items = clean_items()
    frame = bytearray(items[777])
    frame[32 + 500] ^= 0x08
    items[777] = bytes(frame)
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(payload_errors=1)
    assert located(result) == [("payload_errors", *at(rec, items, 777), 1)]
    assert "payload byte 496" in result.findings[0].detail


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_last_frame(tmp_path, kind):
    items = clean_items()
    items[-1] = items[-1][:-100]
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - 1, truncated_bytes=F - 100)
    assert located(result) == [("truncated_frame", *at(rec, items, N - 1), None)]


@pytest.mark.parametrize("kind", KINDS)
def test_stray_bytes_between_frames(tmp_path, kind):
    items = clean_items()
    items[1500] = b"\xa5" * 100 + items[1500]
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(stray_bytes=100)
    expected = [("stray_bytes", *at(rec, items, 1500), None), *chunk_finding(kind, rec, 1500)]
    assert located(result) == sorted(expected)


@pytest.mark.parametrize("kind", KINDS)
def test_stray_bytes_inside_a_frame(tmp_path, kind):
    items = clean_items()
    item = items[1500]
    items[1500] = item[:500] + b"\x00" * 100 + item[500:]
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    # the frame with bytes inside it fails its payload check; sync is lost where the next frame should start
    assert counts(result) == clean_counts(stray_bytes=100, payload_errors=1)
    expected = [("payload_errors", *at(rec, items, 1500), 0), ("stray_bytes", *at(rec, items, 1500, F), None),
                *chunk_finding(kind, rec, 1500)]
    assert located(result) == sorted(expected)


def test_missing_chunk(tmp_path):
    items = clean_items()
    chunks: list[bytes | None] = list(group(items, CHUNK_FRAMES))
    chunks[4] = None  # frames 1024..1279: 64 of each thread
    rec = write_vbs(tmp_path, chunks)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - CHUNK_FRAMES, missing_frames=CHUNK_FRAMES)
    expected = [("missing_chunk", "corpus_001/corpus_001.00000004", None, None)]
    expected += [("missing_frames", rec.chunk_files[5], t * F, t) for t in THREADS]
    assert located(result) == sorted(expected)
    assert all(result.threads[t].frame_counts.missing_frames == 64 for t in THREADS)


def test_chunk_with_a_partial_frame(tmp_path):
    items = clean_items()
    chunks: list[bytes | None] = list(group(items, CHUNK_FRAMES))
    chunks[4] = chunks[4][:-100]  # type: ignore[index]
    rec = write_vbs(tmp_path, chunks)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - 1, missing_frames=1, truncated_bytes=F - 100)
    # frame 1279 (thread 3, index 319) is lost with the chunk's tail; thread 3's next frame opens chunk 5
    assert located(result) == sorted([("chunk_size", rec.chunk_files[4], 0, None),
                                      ("missing_frames", rec.chunk_files[5], 3 * F, 3)])


@pytest.mark.parametrize("kind", ["vbs", "mark6"])
def test_chunk_of_the_wrong_size(tmp_path, kind):
    items = clean_items()
    per = CHUNK_FRAMES if kind == "vbs" else BLOCK_FRAMES
    pieces = group(items, per)
    pieces[2] = pieces[2][: -8 * F]  # a chunk (block) 8 whole frames short: 2 of each thread
    rec = write_vbs(tmp_path, pieces) if kind == "vbs" else write_mark6(tmp_path, pieces)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - 8, missing_frames=8)
    if kind == "vbs":
        expected = [("chunk_size", rec.chunk_files[2], 0, None)]
        nxt = rec.chunk_files[3], 0
    else:
        expected = [("block_size", rec.pieces[2][0], rec.pieces[2][1], None)]
        nxt = rec.pieces[3][0], rec.pieces[3][1]
    expected += [("missing_frames", nxt[0], nxt[1] + t * F, t) for t in THREADS]
    assert located(result) == sorted(expected)


@pytest.mark.parametrize("kind", KINDS)
def test_thread_that_stops(tmp_path, kind):
    items = [item for i, item in enumerate(clean_items()) if not (thread_of(i) == 2 and i // 4 >= 400)]
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - 350, missing_frames=350)  # absent at its end: lost, so missing
    assert located(result) == [("thread_stops_early", *at(rec, items, 399 * 4 + 2), 2)]
    assert result.findings[0].detail == "last frame 350 frames before the stream's last: 350 frames absent at its end"
    assert result.threads[2].absent_at_end == 350 and result.threads[2].last_time == frame_time(399)
    assert result.threads[2].frame_counts.missing_frames == 350 and result.threads[1].frame_counts.missing_frames == 0


@pytest.mark.parametrize("kind", KINDS)
def test_thread_that_starts_late(tmp_path, kind):
    items = [item for i, item in enumerate(clean_items()) if not (thread_of(i) == 1 and i // 4 < 100)]
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N - 100, missing_frames=100)
    assert located(result) == [("thread_starts_late", *at(rec, items, 401 - 100), 1)]
    assert result.findings[0].detail == ("first frame 100 frames after the stream's first: "
                                         "100 frames absent at its start")
    assert result.threads[1].absent_at_start == 100 and result.threads[1].frame_counts.missing_frames == 100


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_fill_frames(tmp_path, kind):
    items = clean_items()
    for i in (1000, 1001, 1002, 2222):  # as jive5ab fills lost UDPS datagrams
        items[i] = fill_frame()
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(valid_frames=N - 4, invalid_frames=4)
    assert result.fill_frames == 4
    assert located(result) == sorted(("invalid_frames", *at(rec, items, i), thread_of(i))
                                     for i in (1000, 1001, 1002, 2222))
    assert {t: result.threads[t].frame_counts.invalid_frames for t in THREADS} == {0: 1, 1: 1, 2: 2, 3: 0}
    assert all(result.threads[t].frame_counts.frames == N // 4 for t in THREADS)


def set_station(item: bytes, station: int) -> bytes:
    frame = bytearray(item)
    (word,) = struct.unpack_from("<I", frame, 12)
    struct.pack_into("<I", frame, 12, (word & 0xFFFF0000) | station)
    return bytes(frame)


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_station_id(tmp_path, kind):
    items = clean_items()
    wrong = [k * 4 + 3 for k in range(100, 110)]  # thread 3, ten frames
    for i in wrong:
        items[i] = set_station(items[i], 0x5858)
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(corrupt_headers=10)
    assert located(result) == [("corrupt_headers", *at(rec, items, i), 3) for i in wrong]
    assert "station 'XX' (0x5858), the thread's is 'MK'" in result.findings[0].detail


def test_recording_of_another_station(tmp_path):
    result = write("flat", tmp_path, clean_items()).check(
        EXPECT.__class__(**{**EXPECT.__dict__, "station": "XX"}))
    assert counts(result) == clean_counts(corrupt_headers=N)
    # each frame a corrupt header (the first ten in full), and one finding for the station carried, with its count
    assert result.counts == {"corrupt_headers": N, "station": 1} and len(result.findings) == 11
    station = next(f for f in result.findings if f.kind == "station")
    assert station.detail == ("3000 frames carry station 'MK' (0x4d4b), not the declared 'XX' (0x5858) "
                              "(frames per thread 0: 750, 1: 750, 2: 750, 3: 750)")
    assert (station.file, station.offset, station.thread) == (str(tmp_path / "n2f.vdif"), 0, None)


def shifted(items: list[bytes], from_k: int, to_k: int, shift: int) -> list[bytes]:
    """Frames of indices from_k..to_k-1 replaced by the sender's frames of index k + shift (its clock stepped)."""
    frames = FrameGenerator(SPEC, START).batch(from_k + shift, to_k - from_k)
    out = list(items)
    out[from_k * 4: to_k * 4] = [f.tobytes() for f in frames]
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_time_jumps_back(tmp_path, kind):
    items = shifted(clean_items(), 400, N // 4, -500)  # from frame 400 on, time is 2 s earlier
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(time_backwards=4)
    assert located(result) == [("time_backwards", *at(rec, items, 1600 + t), t) for t in THREADS]
    assert "time goes back 2.000000 s" in result.findings[0].detail


@pytest.mark.parametrize("kind", KINDS)
def test_time_jumps_forward(tmp_path, kind):
    items = shifted(clean_items(), 400, N // 4, 500)  # from frame 400 on, time is 2 s later
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    # the header times skip 2 s: from the headers that is 500 missing frames per thread
    assert counts(result) == clean_counts(missing_frames=4 * 500)
    assert located(result) == [("missing_frames", *at(rec, items, 1600 + t), t) for t in THREADS]
    assert result.findings[0].time == frame_time(400)
    assert result.threads[0].last_time == frame_time(N // 4 - 1 + 500)


@pytest.mark.parametrize("kind", KINDS)
def test_time_jumps_back_and_forward_again(tmp_path, kind):
    items = shifted(clean_items(), 400, 450, -500)  # frames 400..449 carry times 2 s early
    rec = write(kind, tmp_path, items)
    result = rec.check(EXPECT)
    # continuity restarts at the step back; the step forward again is a gap of that new segment
    assert counts(result) == clean_counts(time_backwards=4, missing_frames=4 * 500)
    assert located(result) == sorted([("time_backwards", *at(rec, items, 1600 + t), t) for t in THREADS]
                                     + [("missing_frames", *at(rec, items, 1800 + t), t) for t in THREADS])


def test_inferred_stream_gives_the_same_counts(tmp_path):
    items = clean_items()
    del items[1001]
    rec = write("vbs", tmp_path, items)
    told = rec.check(EXPECT)
    guessed = rec.check(EXPECT.__class__())
    assert counts(guessed) == counts(told) == clean_counts(N - 1, missing_frames=1)
    assert guessed.frame_rate == FPS and guessed.frame_rate_source == "inferred"
    assert sorted(guessed.threads) == list(THREADS) and guessed.station == "MK"
    assert located(guessed) == located(told)


def test_faults_together_keep_their_counts(tmp_path):
    items = clean_items()
    items[2500] = flip(items[2500], 3, 0)      # station (thread 0)
    items[1401] = flip(items[1401], 0, 0)      # seconds (thread 1)
    items[999] = fill_frame()                  # fill (thread 3)
    del items[600]                             # dropped (thread 0)
    items.insert(300, items[299])              # duplicate (thread 3)
    rec = write("vbs", tmp_path, items)
    result = rec.check(EXPECT)
    assert counts(result) == clean_counts(N, valid_frames=N - 1, invalid_frames=1, missing_frames=1,
                                          duplicate_frames=1, corrupt_headers=2)
    assert result.counts == {"missing_frames": 1, "duplicate_frames": 1, "corrupt_headers": 2, "invalid_frames": 1}


def test_lossy_recording_settles_gaps_early_with_the_same_counts(tmp_path, monkeypatch):
    from harness.checker import continuity

    items = [item for i, item in enumerate(clean_items()) if i % 7 != 3]  # 428 single-frame gaps
    for i in range(5, len(items), 50):
        items[i] = fill_frame()
    rec = write("flat", tmp_path, items)
    whole = rec.check(EXPECT)
    monkeypatch.setattr(continuity, "COVERAGE_LIMIT", 16)
    monkeypatch.setattr(continuity.Continuity, "_horizon", lambda self: 8)
    early = rec.check(EXPECT)
    assert counts(early) == counts(whole)
    assert early.counts == whole.counts
    dropped = sum(1 for i in range(N) if i % 7 == 3)
    # frames 3 and 2999 (thread 3's first and last) are dropped too: outside the thread's span, not missing
    assert whole.frame_counts.missing_frames == dropped - 2
    assert whole.frame_counts.invalid_frames == whole.fill_frames == len(range(5, len(items), 50))
    assert (whole.threads[3].absent_at_start, whole.threads[3].absent_at_end) == (1, 1)
