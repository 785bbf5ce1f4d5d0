"""LWA RBeam's pattern check made a block at a time in place: the same answers as the values written."""

from __future__ import annotations

import numpy as np

from harness.formats.lwa_rbeam import payload
from harness.formats.lwa_rbeam.payload import first_wrong, pattern_values


def test_the_blocked_check_finds_every_wrong_value_the_plain_comparison_finds(monkeypatch):
    monkeypatch.setattr(payload, "BLOCK_VALUES", 3 * 40)  # blocks of 3 packets: 17 packets cross 6 of them
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 2**63, size=17, dtype=np.uint64)
    values = pattern_values(keys, 40)
    bad = {2: 0, 5: 39, 9: 17, 12: 3}  # packet -> its first wrong value
    values[2, 0] += 1
    values[5, 39] = -values[5, 39]
    values[9, 17] = np.float32(np.nan)
    values[12, 3] = 0.0
    values[12, 3:] = values[12, 3:] + 1  # and later values wrong too: the first is named
    check = np.ones(17, dtype=bool)
    check[7] = False
    found = first_wrong(values, keys, check)
    plain = np.where((values.view("<u4") == pattern_values(keys, 40).view("<u4")).all(axis=1), -1,
                     np.argmin(values.view("<u4") == pattern_values(keys, 40).view("<u4"), axis=1))
    plain[7] = -2
    assert found.tolist() == plain.tolist()
    assert {i: int(found[i]) for i in bad} == bad and found[7] == -2 and (found[[0, 1, 3, 16]] == -1).all()
