"""Mark5B headers against bytes built independently (struct, BCD by hand, CRC by long division) and
against baseband's Mark5BHeader both ways; time code, CRC, rates and the 15-bit frame-number wrap."""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.formats.mark5b.header import (
    FRAME_BYTES,
    SYNC_WORD,
    HeaderError,
    bcd_decode,
    pack_headers,
    time_code_crc,
    unpack_headers,
)
from harness.formats.mark5b.stream import Mark5bGenerator, Mark5bStreamSpec
from harness.formats.mark5b.timecode import RateError, frames_per_second, to_mark5b, unwrap_frame_nr
from harness.formats.registry import frame_format

START = Fraction(1782864000 + 12394851)
"""2026-07-01 + 143.4 days: MJD 61365 + ..., a frame-aligned second."""


def long_division_crc(code48: int) -> int:
    """CRC-16 of a 48-bit value straight from the definition: (code * x^16) mod 0x18005, bit by bit."""
    value = code48 << 16
    for bit in range(63, 15, -1):
        if value >> bit & 1:
            value ^= 0x18005 << (bit - 16)
    return value


def struct_header(*, user=0, tvg=0, frame_nr=0, bcd_jday=0, bcd_seconds=0, bcd_fraction=0, crc=None,
                  sync=SYNC_WORD) -> bytes:
    """A Mark5B header from the users manual's word layout, with shifts and struct."""
    if crc is None:
        crc = long_division_crc((bcd_jday << 36) | (bcd_seconds << 16) | bcd_fraction)
    return struct.pack("<4I", sync, (user << 16) | (tvg << 15) | frame_nr, (bcd_jday << 20) | bcd_seconds,
                       (bcd_fraction << 16) | crc)


def test_header_matches_struct_bytes_with_bcd_by_hand():
    words = pack_headers({"user": 0x4D4B, "tvg": 1, "frame_nr": 12799, "jday": 365, "seconds": 86399,
                          "fraction": 9999}, 1)
    expected = struct_header(user=0x4D4B, tvg=1, frame_nr=12799, bcd_jday=0x365, bcd_seconds=0x86399,
                             bcd_fraction=0x9999)
    assert words.astype("<u4").tobytes() == expected


def test_crc_is_baseband_s_crc16_and_the_definition():
    from baseband.mark5b.header import crc16

    rng = np.random.default_rng(5)
    jday, seconds, fraction = rng.integers(0, 1000, 200), rng.integers(0, 86400, 200), rng.integers(0, 10000, 200)
    words = pack_headers({"jday": jday, "seconds": seconds, "fraction": fraction}, 200)
    fields = unpack_headers(words)
    for j in range(200):
        code = (int(fields["bcd_jday"][j]) << 36) | (int(fields["bcd_seconds"][j]) << 16) | int(
            fields["bcd_fraction"][j])
        assert int(fields["crc"][j]) == long_division_crc(code) == crc16(code)
    assert fields["crc_ok"].all()
    # and a known value: baseband writes 0x2bb2 for jjj=123 sssss=45678 .ssss=1234
    assert int(time_code_crc(0x123, 0x45678, 0x1234)) == 0x2BB2


@settings(max_examples=200, deadline=None)
@given(user=st.integers(0, 0xFFFF), tvg=st.integers(0, 1), frame_nr=st.integers(0, 0x7FFF),
       jday=st.integers(0, 999), seconds=st.integers(0, 86399), fraction=st.integers(0, 9999))
def test_round_trip_against_struct(user, tvg, frame_nr, jday, seconds, fraction):
    words = pack_headers({"user": user, "tvg": tvg, "frame_nr": frame_nr, "jday": jday, "seconds": seconds,
                          "fraction": fraction}, 1)
    by_hand = struct_header(user=user, tvg=tvg, frame_nr=frame_nr, bcd_jday=int(str(jday), 16),
                            bcd_seconds=int(str(seconds), 16), bcd_fraction=int(str(fraction), 16))
    assert words.astype("<u4").tobytes() == by_hand
    fields = unpack_headers(np.frombuffer(by_hand, dtype="<u4").reshape(1, 4))
    got = {k: int(fields[k][0]) for k in ("user", "tvg", "frame_nr", "jday", "seconds", "fraction")}
    assert got == {"user": user, "tvg": tvg, "frame_nr": frame_nr, "jday": jday, "seconds": seconds,
                   "fraction": fraction}
    assert fields["sync_ok"][0] and fields["bcd_ok"][0] and fields["crc_ok"][0]


def test_damage_shows_in_sync_bcd_and_crc():
    good = np.frombuffer(struct_header(bcd_jday=0x123, bcd_seconds=0x45678, bcd_fraction=0x1234), "<u4")
    rows = np.tile(good, (4, 1)).astype(np.uint32)
    rows[1, 0] ^= 1  # sync word
    rows[2, 2] = (rows[2, 2] & ~np.uint32(0xF)) | np.uint32(0xA)  # a seconds digit of 10 (CRC made to match)
    rows[2, 3] = (rows[2, 3] & np.uint32(0xFFFF0000)) | np.uint32(
        long_division_crc((0x123 << 36) | (0x4567A << 16) | 0x1234))
    rows[3, 3] ^= 0x0100  # the CRC
    fields = unpack_headers(rows)
    assert fields["sync_ok"].tolist() == [True, False, True, True]
    assert fields["bcd_ok"].tolist() == [True, True, False, True]
    assert fields["seconds"].tolist() == [45678, 45678, -1, 45678]
    assert fields["crc_ok"].tolist() == [True, True, True, False]


def test_bcd_decode_marks_each_bad_digit():
    values, ok = bcd_decode(np.array([0x0999, 0x09A9, 0xF000, 0x1234]), 4)
    assert values.tolist() == [999, -1, -1, 1234]
    assert ok.tolist() == [True, False, False, True]


def test_values_that_do_not_fit_are_refused():
    with pytest.raises(HeaderError, match="frame_nr=32768 does not fit in 15 bits"):
        pack_headers({"frame_nr": 32768}, 1)
    with pytest.raises(HeaderError, match="86400000 does not fit in 5 BCD digits"):
        pack_headers({"seconds": 86400000}, 1)
    with pytest.raises(HeaderError, match="not in a Mark5B header"):
        pack_headers({"thread_id": 1}, 1)


@pytest.mark.parametrize(("mbps", "fps"), [(8, 100), (512, 6400), (1024, 12800), (2048, 25600), (4096, 51200)])
def test_frames_per_second_is_rate_over_80000(mbps, fps):
    assert frames_per_second(mbps * 1_000_000) == fps
    assert frame_format("mark5b").frames_per_second(Fraction(mbps * 1_000_000), 10000) == fps


def test_rates_and_payloads_mark5b_cannot_carry_are_refused():
    with pytest.raises(RateError, match="multiple of 80 000"):
        frames_per_second(1_000_001)
    with pytest.raises(RateError, match="10000 bytes, not 8000"):
        frame_format("mark5b").frame_bytes(8000)
    assert frame_format("mark5b").frame_bytes(10000) == FRAME_BYTES == 10016


def test_the_15_bit_frame_number_wraps_above_2_6_gbps_and_the_fraction_undoes_it():
    fps = 51200  # 4 Gbit/s
    time = to_mark5b(START, np.arange(fps, dtype=np.int64), fps)
    assert time["frame_nr"].max() == 32767
    assert time["frame_nr"][32768] == 0 and time["fraction"][32768] == 6400
    assert np.array_equal(unwrap_frame_nr(time["frame_nr"], time["fraction"], fps), np.arange(fps))
    # below the wrap the field is the frame number itself
    slow = to_mark5b(START, np.arange(25600, dtype=np.int64), 25600)
    assert np.array_equal(unwrap_frame_nr(slow["frame_nr"], slow["fraction"], 25600), np.arange(25600))


def test_generated_frames_read_by_baseband_give_the_same_fields_and_times(tmp_path):
    """Our bytes, baseband's decoding: every header's fields, its time, and the CRC baseband would write."""
    import astropy.units as u
    from astropy.time import Time
    from baseband import mark5b

    fps = 400
    spec = Mark5bStreamSpec(fps=fps, user=0x4D4B)
    generator = Mark5bGenerator(spec, START)
    frames = generator.batch(0, 2 * fps).copy()
    path = tmp_path / "ours.m5b"
    path.write_bytes(frames.tobytes())
    ours = unpack_headers(frames[:, :16].copy().view("<u4"))
    ref_time = Time(float(START), format="unix")
    with mark5b.open(path, "rb", kday=None, ref_time=ref_time, nchan=8, bps=2) as fh:
        for i in range(0, 2 * fps, 7):
            fh.seek(i * FRAME_BYTES)
            header = mark5b.Mark5BHeader.fromfile(fh, ref_time=ref_time)
            for ours_name, theirs in (("user", "user"), ("tvg", "internal_tvg"), ("frame_nr", "frame_nr"),
                                      ("bcd_jday", "bcd_jday"), ("bcd_seconds", "bcd_seconds"),
                                      ("bcd_fraction", "bcd_fraction"), ("crc", "crc")):
                assert int(ours[ours_name][i]) == int(header[theirs]), (i, ours_name)
            assert header.jday == ours["jday"][i] and header.seconds == ours["seconds"][i]
            when = generator.frame_time(i)
            expected = Time(int(when), float(when - int(when)), format="unix")  # two doubles: ns exact
            assert abs((header.get_time(frame_rate=fps * u.Hz) - expected).to_value(u.ns)) < 1
            assert abs((header.time - expected).to_value(u.us)) < 1  # from the BCD fraction ("unrounded")
            recomputed = header.copy()
            recomputed.update()  # baseband recomputes the CRC when writing
            assert recomputed["crc"] == header["crc"]


def test_baseband_written_frames_read_by_us_give_the_same_fields(tmp_path):
    """baseband's writer (its own BCD, fraction and CRC): our unpack and our time arithmetic agree."""
    import astropy.units as u
    from astropy.time import Time
    from baseband import mark5b

    fps = 64
    nchan, bps = 8, 2
    samples_per_frame = 10000 * 8 // (nchan * bps)
    start = Time(float(START), format="unix", precision=9)
    path = tmp_path / "theirs.m5b"
    header0 = mark5b.Mark5BHeader.fromvalues(time=start, user=0x1234, frame_rate=fps * u.Hz)
    with mark5b.open(path, "ws", header0=header0, sample_rate=fps * samples_per_frame * u.Hz, nchan=nchan,
                     bps=bps) as fw:
        fw.write(np.zeros((2 * fps * samples_per_frame, nchan), dtype=np.float32))
    data = np.fromfile(path, dtype=np.uint8).reshape(-1, FRAME_BYTES)
    assert len(data) == 2 * fps
    ours = unpack_headers(data[:, :16].copy().view("<u4"))
    assert ours["sync_ok"].all() and ours["bcd_ok"].all() and ours["crc_ok"].all()
    assert (ours["user"] == 0x1234).all()
    expected = to_mark5b(START, np.arange(2 * fps, dtype=np.int64), fps)
    for name in ("jday", "seconds", "fraction", "frame_nr"):
        assert np.array_equal(ours[name], expected[name]), name
    times = frame_format("mark5b").frame_time(ours, fps, float(START))
    assert np.allclose(times, float(START) + np.arange(2 * fps) / fps, rtol=0, atol=1e-6)


def test_baseband_sample_file_decodes_as_baseband_decodes_it():
    from baseband import mark5b
    from baseband.data import SAMPLE_MARK5B
    from baseband.mark5b.header import crc16

    data = np.fromfile(SAMPLE_MARK5B, dtype=np.uint8)
    frames = data[: len(data) // FRAME_BYTES * FRAME_BYTES].reshape(-1, FRAME_BYTES)
    ours = unpack_headers(frames[:, :16].copy().view("<u4"))
    assert ours["sync_ok"].all() and ours["bcd_ok"].all()
    with open(SAMPLE_MARK5B, "rb") as raw:
        for i in range(len(frames)):
            raw.seek(i * FRAME_BYTES)
            header = mark5b.Mark5BHeader.fromfile(raw, kday=56000)
            assert (header.jday, header.seconds, header["frame_nr"], header["bcd_fraction"], header["user"]) == (
                ours["jday"][i], ours["seconds"][i], ours["frame_nr"][i], ours["bcd_fraction"][i], ours["user"][i])
            code = (int(header["bcd_jday"]) << 36) | (int(header["bcd_seconds"]) << 16) | int(header["bcd_fraction"])
            assert bool(ours["crc_ok"][i]) == (header["crc"] == crc16(code))
    assert ours["crc_ok"].all()  # the sample file's CRCs are right


def test_generated_payloads_are_the_pattern_of_their_own_headers_and_udps_prefixes_count():
    from harness.formats.pattern import pattern_row

    fmt = frame_format("mark5b")
    generator = Mark5bGenerator(Mark5bStreamSpec(fps=100, user=7, udps=True), START, first_sequence=40)
    datagrams = generator.batch(95, 10).copy()  # across a second boundary
    assert datagrams.shape == (10, 8 + FRAME_BYTES)
    assert datagrams[:, :8].copy().view("<u8")[:, 0].tolist() == list(range(135, 145))
    frames = datagrams[:, 8:]
    fields = fmt.unpack_headers(frames[:, :16].copy().view("<u4"))
    assert fields["frame_nr"].tolist() == [95, 96, 97, 98, 99, 0, 1, 2, 3, 4]
    assert fields["fraction"].tolist() == [9500, 9600, 9700, 9800, 9900, 0, 100, 200, 300, 400]
    payload = frames[:, 16:].copy().view("<u8")
    assert np.array_equal(payload ^ pattern_row(1250), np.repeat(fmt.pattern_keys(fields)[:, None], 1250, axis=1))
    assert len(set(fmt.pattern_keys(fields).tolist())) == 10
