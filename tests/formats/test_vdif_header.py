"""The header table against bytes built independently with struct, and pack/unpack round trips."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.formats.vdif.header import (
    BASE_FIELDS,
    EDV_FIELDS,
    SYNC_WORD,
    HeaderError,
    fields_for,
    pack_headers,
    station_id,
    station_name,
    unpack_headers,
)


def struct_header(*, invalid=0, legacy=0, seconds=0, epoch=0, frame_nr=0, version=1, lg2_nchan=0,
                  length8=0, complex_=0, bits=2, thread=0, station=0, word4=0, word5=0, word6=0, word7=0):
    """A VDIF header written with shifts and struct, straight from the VDIF 1.1.1 spec text."""
    w0 = (invalid << 31) | (legacy << 30) | seconds
    w1 = (epoch << 24) | frame_nr
    w2 = (version << 29) | (lg2_nchan << 24) | length8
    w3 = (complex_ << 31) | ((bits - 1) << 26) | (thread << 16) | station
    if legacy:
        return struct.pack("<4I", w0, w1, w2, w3)
    return struct.pack("<8I", w0, w1, w2, w3, word4, word5, word6, word7)


def test_edv0_header_matches_struct_bytes():
    words = pack_headers(
        {"seconds": 12394851, "ref_epoch": 53, "frame_nr": 249, "version": 1, "lg2_nchan": 3,
         "frame_length": 1004, "complex": 1, "bits": 4, "thread_id": 1023, "station": station_id("Mk")}, 1, 0)
    expected = struct_header(seconds=12394851, epoch=53, frame_nr=249, lg2_nchan=3, length8=1004,
                             complex_=1, bits=4, thread=1023, station=0x4D6B)
    assert words.tobytes() == expected


def test_invalid_and_legacy_bits_and_legacy_length():
    words = pack_headers({"invalid": 1, "seconds": (1 << 30) - 1, "frame_length": 2, "bits": 1}, 1, None)
    assert words.shape == (1, 4)
    assert words.tobytes() == struct_header(invalid=1, legacy=1, seconds=(1 << 30) - 1, length8=2, bits=1, version=0)


def test_edv3_words_match_struct_bytes():
    words = pack_headers(
        {"frame_length": 629, "bits": 2, "sampling_unit": 1, "sample_rate": 64, "loif_tuning": 0x12345678,
         "dbe_unit": 5, "if_nr": 9, "subband": 6, "sideband": 1, "major_rev": 3, "minor_rev": 2,
         "personality": 0xAB}, 1, 3)
    word4 = (3 << 24) | (1 << 23) | 64
    word7 = (5 << 24) | (9 << 20) | (6 << 17) | (1 << 16) | (3 << 12) | (2 << 8) | 0xAB
    assert words.tobytes() == struct_header(version=0, length8=629, word4=word4, word5=SYNC_WORD,
                                            word6=0x12345678, word7=word7)


def test_edv1_das_id_and_edv4_mask_span_two_words():
    edv1 = pack_headers({"das_id": 0x0102030405060708}, 1, 1)
    assert edv1[0, 5] == SYNC_WORD and edv1[0, 6] == 0x05060708 and edv1[0, 7] == 0x01020304
    assert edv1[0, 4] >> 24 == 1
    edv4 = pack_headers({"validity_bits": 16, "validity_mask": 0xFFFF}, 1, 4)
    assert edv4[0, 4] == (4 << 24) | (16 << 16) and edv4[0, 5] == SYNC_WORD and edv4[0, 6] == 0xFFFF


def test_every_field_lies_inside_its_word_and_fields_do_not_overlap():
    for edv in (None, 0, 1, 3, 4):
        used: dict[int, int] = {}
        for field in fields_for(edv):
            spans = [(field.word, field.bit, field.width)] if field.width <= 32 else \
                [(field.word, 0, 32), (field.word + 1, 0, 32)]
            for word, bit, width in spans:
                assert bit + width <= 32, field
                mask = ((1 << width) - 1) << bit
                assert not used.get(word, 0) & mask, (edv, field)
                used[word] = used.get(word, 0) | mask


def test_values_that_do_not_fit_are_refused():
    with pytest.raises(HeaderError, match="thread_id=1024"):
        pack_headers({"thread_id": 1024}, 1)
    with pytest.raises(HeaderError, match="not in a header"):
        pack_headers({"sync": 1}, 1, 0)
    with pytest.raises(HeaderError, match="EDV 2"):
        fields_for(2)


def test_station_ids():
    assert station_id("Mk") == 0x4D6B and station_name(0x4D6B) == "Mk"
    assert station_id(7) == 7 and station_name(7) == "7"
    with pytest.raises(HeaderError):
        station_id("ABC")
    with pytest.raises(HeaderError):
        station_id(70000)


def base_values(n: int) -> st.SearchStrategy[dict[str, np.ndarray]]:
    return st.fixed_dictionaries({
        f.name: st.lists(st.integers(0, f.mask), min_size=n, max_size=n).map(np.array)
        for f in BASE_FIELDS if f.name not in ("legacy", "bits_m1")
    })


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([None, 0, 1, 3, 4]), st.data())
def test_pack_unpack_round_trip(edv, data):
    n = data.draw(st.integers(1, 20))
    values = data.draw(base_values(n))
    values["bits"] = data.draw(st.lists(st.integers(1, 32), min_size=n, max_size=n).map(np.array))
    for field in EDV_FIELDS.get(edv, ()) if edv is not None else ():
        if field.name == "sync":
            continue
        top = (1 << 64) - 1 if field.width == 64 else field.mask
        values[field.name] = np.array(data.draw(st.lists(st.integers(0, top), min_size=n, max_size=n)),
                                      dtype=np.uint64 if field.width == 64 else np.int64)
    words = pack_headers(values, n, edv)
    fields = unpack_headers(words, edv)
    for name, column in values.items():
        np.testing.assert_array_equal(fields[name], column, err_msg=name)
    assert (fields["legacy"] == (1 if edv is None else 0)).all()
    if edv is not None:
        assert (fields["edv"] == edv).all()
    # pack(unpack(words)) gives the same words back
    again = {k: v for k, v in fields.items() if k not in ("bits", "frame_bytes")}
    np.testing.assert_array_equal(pack_headers(again, n, edv), words)
