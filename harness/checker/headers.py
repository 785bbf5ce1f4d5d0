"""How the checker reads each format's headers, by the format's name (the names of ``formats.registry``).

Framing, shape, header fields and header rules are where formats differ; continuity, payload
integrity, the loss profile and the result are shared. Each entry here is the checker's side of one
format; the format's own layout stays in ``harness/formats/<name>/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker import lofar_cep, lwa_rbeam, mark5b
from harness.checker.errors import CheckerError
from harness.checker.expectation import Expectation
from harness.checker.framing import SyncRef
from harness.checker.integrity import check_pattern
from harness.checker.readers import Recording
from harness.checker.rules import RULES, Rule
from harness.checker.shape import StreamShape, find_sync, infer_shape
from harness.formats.registry import frame_format
from harness.formats.vdif.header import EDV_FIELDS, unpack_headers

Keys = npt.NDArray[np.uint64] | None


@dataclass(frozen=True)
class HeaderReading:
    """The checker's side of one format."""

    find_sync: Callable[[Recording, Expectation], SyncRef]
    infer_shape: Callable[[Recording, SyncRef, Expectation, int], StreamShape]
    fields: Callable[[npt.NDArray[np.uint32], StreamShape, bool], tuple[Mapping[str, npt.NDArray[Any]], Keys]]
    """(header words, shape, want pattern keys) -> (the checker's fields, each frame's pattern key or None)."""
    rules: tuple[Rule, ...]
    check_payload: Callable[[npt.NDArray[Any], npt.NDArray[np.uint64], npt.NDArray[np.bool_]],
                            npt.NDArray[np.int32]] = check_pattern
    """(payloads, keys, frames to check) -> per frame the first wrong word, -1 right, -2 not checked."""
    payload_dtype: str = "<u8"
    """The payload words ``check_payload`` reads."""


def edv_layout(shape: StreamShape) -> int | None:
    if shape.sync.legacy:
        return None
    return shape.edv if shape.edv in EDV_FIELDS else 0


def _vdif_fields(words: npt.NDArray[np.uint32], shape: StreamShape,
                 want_keys: bool) -> tuple[Mapping[str, npt.NDArray[Any]], Keys]:
    fields = unpack_headers(words, edv_layout(shape))
    return fields, frame_format("vdif").pattern_keys(fields) if want_keys else None


def _mark5b_fields(words: npt.NDArray[np.uint32], shape: StreamShape,
                   want_keys: bool) -> tuple[Mapping[str, npt.NDArray[Any]], Keys]:
    fields, keys = mark5b.header_fields(words, shape)
    return fields, keys if want_keys else None


READINGS: Mapping[str, HeaderReading] = {
    "vdif": HeaderReading(find_sync, infer_shape, _vdif_fields, RULES),
    "mark5b": HeaderReading(mark5b.find_sync, mark5b.infer_shape, _mark5b_fields, mark5b.RULES),
    "lwa_rbeam": HeaderReading(lwa_rbeam.find_sync, lwa_rbeam.infer_shape, lwa_rbeam.header_fields, lwa_rbeam.RULES,
                               lwa_rbeam.check_payload, "<u4"),
    "lofar_cep": HeaderReading(lofar_cep.find_sync, lofar_cep.infer_shape, lofar_cep.header_fields, lofar_cep.RULES),
}


def reading(name: str) -> HeaderReading:
    try:
        return READINGS[name]
    except KeyError:
        raise CheckerError(None, f"the checker cannot read format {name!r} (it reads {', '.join(READINGS)})") from None
