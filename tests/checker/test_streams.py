"""Other stream shapes than the corpus's: legacy headers, EDV 1 and 3 (sync word), one thread,
many channels, MeerKAT's 5032-byte frames; noise and tone payloads with sample statistics; and the
checker's readers and result in themselves."""

from __future__ import annotations

import json
import math
import pickle
import struct

import numpy as np
import pytest

from harness.checker import CheckerError, CheckJob, Expectation, check_files, check_many, check_scan
from harness.checker.check import check_recording
from harness.checker.readers import flat_recording
from harness.checker.statistics import COUNT_EVERY
from harness.formats.vdif.payload import (
    OPTIMAL_2BIT_THRESHOLD,
    PayloadKind,
    Tone,
    pack_samples,
    quantise,
    state_counts,
)
from harness.formats.vdif.stream import FrameGenerator, StreamSpec
from tests.checker.corpus import START, write_vbs


def record(tmp_path, spec: StreamSpec, per_thread: int, name: str = "stream.vdif") -> tuple[str, np.ndarray]:
    frames = FrameGenerator(spec, START).batch(0, per_thread).copy()
    path = tmp_path / name
    path.write_bytes(frames.tobytes())
    return str(path), frames


@pytest.mark.parametrize(("edv", "extra"), [(None, {}), (1, {"sampling_unit": 1, "sample_rate": 16}),
                                            (3, {"sampling_unit": 1, "sample_rate": 16})],
                         ids=["legacy", "edv1", "edv3"])
def test_other_header_kinds_clean_and_one_flip(tmp_path, edv, extra):
    spec = StreamSpec(fps=400, payload_bytes=5000 if edv == 3 else 2000, threads=(3, 5), station=0x4D4B, edv=edv,
                      extra=extra)
    path, frames = record(tmp_path, spec, 1200)
    result = check_files([path], Expectation(payload="pattern"))
    assert result.clean, result.findings
    assert result.frame_counts.frames == 2400 and sorted(result.threads) == [3, 5] and result.frame_rate == 400
    damaged = frames.copy()
    if edv is None:
        damaged[700, 12] ^= 0x01  # station, the only word-3 field left to hurt in a legacy header
    else:
        damaged[700, 20] ^= 0x10  # word 5: the EDV sync word
    path2 = tmp_path / "damaged.vdif"
    path2.write_bytes(damaged.tobytes())
    bad = check_files([path2], Expectation(payload="pattern", edv="legacy" if edv is None else edv))
    assert bad.counts == {"corrupt_headers": 1} and bad.findings[0].offset == 700 * spec.frame_bytes
    if edv is not None:
        assert "sync word" in bad.findings[0].detail


def test_meerkat_stream_in_vbs_chunks(tmp_path):
    spec = StreamSpec(fps=3200, payload_bytes=5000, threads=(0, 1, 2, 3), station=0x4D4B)
    frames = FrameGenerator(spec, START).batch(0, 3200 * 2 + 17)
    data = frames.tobytes()
    chunk = 300 * spec.frame_bytes
    write_vbs(tmp_path, [data[i:i + chunk] for i in range(0, len(data), chunk)], scan="mk_001", disks=3)
    result = check_scan("mk_001", str(tmp_path / "disk*"), Expectation(frame_bytes=5032, threads=(0, 1, 2, 3),
                                                                       fps=3200, payload="pattern", station="MK"))
    assert result.clean and result.frame_counts.frames == len(frames) and result.duration_s == (2 * 3200 + 17) / 3200


def test_rate_is_inferred_from_a_complete_second_despite_a_damaged_frame_number(tmp_path):
    spec = StreamSpec(fps=1000, payload_bytes=1000, threads=(0,))
    _, frames = record(tmp_path, spec, 2500)
    frames = frames.copy()
    frames[1500, 4:8] = np.frombuffer(struct.pack("<I", (frames[1500, 4:8].view("<u4")[0] & 0xFF000000) | 900_000),
                                      np.uint8)
    (tmp_path / "odd.vdif").write_bytes(frames.tobytes())
    result = check_files([tmp_path / "odd.vdif"])
    assert result.frame_rate == 1000 and result.frame_rate_source == "inferred"
    assert result.counts == {"corrupt_headers": 1}


def test_short_recording_gives_a_lower_bound_rate(tmp_path):
    path, _ = record(tmp_path, StreamSpec(fps=1000, payload_bytes=1000, threads=(0, 1)), 600)
    result = check_files([path])
    assert result.clean and result.frame_rate == 600 and result.frame_rate_source.startswith("lower bound")


def test_noise_statistics_match_the_generator_and_baseband(tmp_path):
    spec = StreamSpec(fps=1000, payload_bytes=8000, threads=(0, 1), nchan=4, payload=PayloadKind.NOISE)
    path, frames = record(tmp_path, spec, 300)
    result = check_files([path], Expectation(payload="noise", fps=1000))
    assert result.clean, result.findings
    stats = result.statistics[0]
    counts = np.array(stats["state_counts"])
    # every COUNT_EVERY-th frame of the thread, and the counts equal an independent unpacking of those payloads
    assert counts.shape == (4, 4) and stats["state_counts_frames"] == 38
    assert stats["state_counts_fraction"] == pytest.approx(38 / 300, rel=1e-5)
    mine = frames[0::2, 32:][::COUNT_EVERY]
    assert np.array_equal(counts, state_counts(mine, 2, 4, False))
    share = counts / counts.sum(axis=1, keepdims=True)
    outer = 0.5 * math.erfc(OPTIMAL_2BIT_THRESHOLD / math.sqrt(2))  # 16.3 % for the optimal quantiser
    assert np.allclose(share[:, [0, 3]], outer, atol=0.01) and np.allclose(share[:, [1, 2]], 0.5 - outer, atol=0.01)
    spectrum = stats["spectrum"]
    assert len(spectrum["power"]) == 4 and len(spectrum["frequency_hz"]) == len(spectrum["power"][0])
    assert spectrum["frequency_hz"][-1] == pytest.approx(float(spec.sample_rate) / 2)
    assert "statistics" in result.to_json()


def test_tone_shows_at_its_frequency(tmp_path):
    spec = StreamSpec(fps=1000, payload_bytes=8000, threads=(0,), nchan=2, payload=PayloadKind.TONE,
                      tone=Tone(3_000_000, channel=1))
    path, _ = record(tmp_path, spec, 200)
    result = check_files([path], Expectation(payload="tone", fps=1000, tone_hz=3e6, tone_channel=1))
    assert result.clean, result.findings
    spectrum = result.statistics[0]["spectrum"]
    assert abs(spectrum["peak_hz"][1] - 3e6) <= float(spec.sample_rate) / spectrum["nfft"]
    # the same stream, expected to carry a tone somewhere else: the tone is not there
    wrong = check_files([path], Expectation(payload="tone", fps=1000, tone_hz=1e6, tone_channel=1))
    assert wrong.counts == {"tone_missing": 1} and wrong.findings[0].thread == 0
    assert "no tone at 1e+06 Hz" in wrong.findings[0].detail


def test_complex_noise(tmp_path):
    spec = StreamSpec(fps=1000, payload_bytes=8000, threads=(0,), nchan=2, complex=True)
    frames = FrameGenerator(spec, START).batch(0, 100).copy()
    # each of the real and imaginary parts quantised against its own sigma, as a complex sampler does
    rng = np.random.default_rng(7)
    states = quantise(rng.standard_normal(100 * 8000 * 4).astype(np.float32), 2)
    frames[:, 32:] = pack_samples(states, 2).reshape(100, 8000)
    (tmp_path / "complex.vdif").write_bytes(frames.tobytes())
    result = check_files([tmp_path / "complex.vdif"], Expectation(payload="noise", fps=1000, complex=True, nchan=2))
    assert result.clean, result.findings
    assert np.array_equal(np.array(result.statistics[0]["state_counts"]),
                          state_counts(frames[::COUNT_EVERY, 32:], 2, 2, True))
    freq = result.statistics[0]["spectrum"]["frequency_hz"]
    assert freq[0] == -4_000_000 and 0 < freq[-1] < 4_000_000  # complex: -fs/2 .. fs/2


def test_dead_sampler_is_a_finding(tmp_path):
    spec = StreamSpec(fps=1000, payload_bytes=8000, threads=(0, 1), payload=PayloadKind.NOISE)
    _, frames = record(tmp_path, spec, 100)
    frames = frames.copy()
    frames[1::2, 32:] = 0x55  # thread 1 stuck in state 01
    (tmp_path / "dead.vdif").write_bytes(frames.tobytes())
    result = check_files([tmp_path / "dead.vdif"], Expectation(payload="noise", fps=1000))
    assert result.counts == {"sampler_states": 1}
    assert result.findings[0].thread == 1 and "0.0/100.0/0.0/0.0" in result.findings[0].detail


def test_statistics_of_4_bit_data_come_from_the_sample(tmp_path):
    spec = StreamSpec(fps=1000, payload_bytes=8000, threads=(0,), bits=4, payload=PayloadKind.NOISE)
    path, _ = record(tmp_path, spec, 100)
    result = check_files([path], Expectation(payload="noise", fps=1000))
    assert result.clean
    assert np.array(result.statistics[0]["state_counts"]).shape == (1, 16)
    assert "spectrum" in result.statistics[0]


def test_pattern_check_sees_a_frame_moved_between_threads(tmp_path):
    spec = StreamSpec(fps=500, payload_bytes=1000, threads=(0, 1))
    _, frames = record(tmp_path, spec, 500)
    frames = frames.copy()
    frames[101, 32:] = frames[103, 32:]  # thread 1's payload of frame 50 replaced by that of frame 51
    (tmp_path / "moved.vdif").write_bytes(frames.tobytes())
    result = check_files([tmp_path / "moved.vdif"], Expectation(payload="pattern"))
    assert result.counts == {"payload_errors": 1} and result.findings[0].detail.endswith("payload byte 0")


def test_several_files_are_one_recording(tmp_path):
    spec = StreamSpec(fps=500, payload_bytes=1000, threads=(0, 1))
    frames = FrameGenerator(spec, START).batch(0, 1000)
    paths = []
    for part, rows in enumerate((frames[:700], frames[700:1500], frames[1500:])):
        paths.append(tmp_path / f"part{part}.vdif")
        paths[-1].write_bytes(rows.tobytes())
    result = check_files(paths, Expectation(payload="pattern"))
    assert result.clean and result.frame_counts.frames == 2000
    gap = check_files([paths[0], paths[2]], Expectation(payload="pattern"))
    assert gap.frame_counts.missing_frames == 800
    assert gap.findings[0].file == str(paths[2]) and gap.findings[0].offset == 0


def test_checks_run_in_worker_processes(tmp_path):
    spec = StreamSpec(fps=500, payload_bytes=1000, threads=(0, 1))
    paths = [record(tmp_path, spec, 700, f"s{i}.vdif")[0] for i in range(3)]
    jobs = [CheckJob("files", paths=(p,), expect=Expectation(payload="pattern")) for p in paths]
    jobs.append(CheckJob("scan", name="absent", disks=str(tmp_path)))
    outcomes = check_many(jobs, processes=2)
    assert [o.frame_counts.frames for o in outcomes[:3]] == [1400] * 3  # type: ignore[union-attr]
    assert isinstance(outcomes[3], CheckerError) and "no chunks" in outcomes[3].reason
    assert pickle.loads(pickle.dumps(outcomes[3])).path == outcomes[3].path


def test_memory_stays_bounded_by_the_window(tmp_path, monkeypatch):
    from harness.checker import check

    spec = StreamSpec(fps=500, payload_bytes=8000, threads=(0,))
    path, _ = record(tmp_path, spec, 4000)  # 32 MB
    monkeypatch.setattr(check, "WINDOW_BYTES", 1 << 20)
    with flat_recording([path]) as recording:
        seen: list[int] = []
        original = recording.release

        def release(segment, offset, length):
            original(segment, offset, length)
            seen.append(length)

        monkeypatch.setattr(recording, "release", release)
        result = check_recording(recording, Expectation(payload="pattern"))
    assert result.clean and max(seen) <= 1 << 20 and sum(seen) == 4000 * spec.frame_bytes


def test_result_json_round_trips(tmp_path):
    path, _ = record(tmp_path, StreamSpec(fps=500, payload_bytes=1000, threads=(0, 1)), 600)
    doc = check_files([path], Expectation(payload="pattern", expected_frames=1000)).to_json()
    again = json.loads(json.dumps(doc))
    assert again == doc and again["clean"] is False and again["counts"] == {"frame_count": 1}
    assert again["findings"][0]["kind"] == "frame_count"


def test_dead_channel_in_a_tone_stream(tmp_path):
    spec = StreamSpec(fps=1000, payload_bytes=8000, threads=(0,), payload=PayloadKind.TONE, tone=Tone(1_000_000))
    _, frames = record(tmp_path, spec, 100)
    frames = frames.copy()
    frames[:, 32:] = 0  # every sample in state 00: no power anywhere
    (tmp_path / "dead.vdif").write_bytes(frames.tobytes())
    result = check_files([tmp_path / "dead.vdif"], Expectation(payload="tone", fps=1000, tone_hz=1e6))
    assert result.counts == {"sampler_states": 1, "tone_missing": 1}
