"""What the status replies mean, and how the reference recorder renders them: pure values.

The shapes are jive5ab 3.1.0's (shared reference, section 4), e.g.
``!evlbi? 0 : total : 2970 : loss : 29 ( 0.97%) : out-of-order : 6 ( 0.20%) : extent : 2seqnr/pkt ;``.
Parsing is tolerant of spacing; rendering reproduces jive5ab's text so that one driver reads both.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from harness.recorder.vsis import Reply


class ReplyFieldError(ValueError):
    """A reply whose fields do not say what its keyword promises."""


def _int(text: str, what: str, reply: Reply) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ReplyFieldError(f"{what} {text!r} in {reply.raw!r} is not a whole number") from None


@dataclass(frozen=True)
class EvlbiCounts:
    """``evlbi?`` in its default format: packets in, lost, out of order, and the extent text."""

    total: int
    lost: int
    out_of_order: int
    extent: str | None


_COUNT = re.compile(r"^\s*(\d+)")


def parse_evlbi(reply: Reply) -> EvlbiCounts:
    """Read ``total : N : loss : N (p%) : out-of-order : N (p%) : extent : X`` by its labels."""
    fields = reply.fields
    labelled: dict[str, str] = {}
    for label, value in zip(fields[0::2], fields[1::2], strict=False):
        labelled[label.lower()] = value
    try:
        values = [labelled["total"], labelled["loss"], labelled["out-of-order"]]
    except KeyError as missing:
        raise ReplyFieldError(f"evlbi? reply {reply.raw!r} has no {missing.args[0]!r} field") from None
    numbers = []
    for name, value in zip(("total", "loss", "out-of-order"), values, strict=True):
        match = _COUNT.match(value)
        if not match:
            raise ReplyFieldError(f"evlbi? {name} {value!r} in {reply.raw!r} is not a count")
        numbers.append(int(match[1]))
    return EvlbiCounts(numbers[0], numbers[1], numbers[2], labelled.get("extent"))


@dataclass(frozen=True)
class RecordState:
    """``record?``: ``off``, or ``on : <recordings this session> : <scan> : <bytes>``."""

    on: bool
    recordings: int | None = None
    scan: str | None = None
    bytes: int | None = None


def parse_record_query(reply: Reply) -> RecordState:
    fields = reply.fields
    if not fields:
        raise ReplyFieldError(f"record? reply {reply.raw!r} has no state")
    state = fields[0].lower()
    if state == "off":
        return RecordState(on=False)
    if state != "on":
        raise ReplyFieldError(f"record? state {fields[0]!r} in {reply.raw!r} is neither on nor off")
    if len(fields) < 4:
        return RecordState(on=True)
    return RecordState(True, _int(fields[1], "recordings", reply), fields[2], _int(fields[-1], "byte count", reply))


_CONSTRAINT = re.compile(r"<(\w+):(-?\d+)>")


def parse_constraints(reply: Reply) -> dict[str, int]:
    """The solved sizes of ``constraints?``: ``<framesize:8032> <blocksize:1044160> ... <read_size:8032>``."""
    sizes = {name: int(value) for name, value in _CONSTRAINT.findall(reply.text)}
    if "read_size" not in sizes:
        raise ReplyFieldError(f"constraints? reply {reply.raw!r} has no read_size")
    return sizes


def parse_net2file_query(reply: Reply) -> tuple[bool, int]:
    """``net2file?`` -> (active, bytes written)."""
    fields = reply.fields
    if len(fields) < 2 or fields[0] not in ("active", "inactive"):
        raise ReplyFieldError(f"net2file? reply {reply.raw!r} is not active|inactive : <bytes>")
    return fields[0] == "active", _int(fields[1], "byte count", reply)


def parse_set_disks(reply: Reply) -> list[str]:
    """``set_disks?`` -> the selected mount points (``null`` when recording to nowhere)."""
    fields = reply.fields
    if not fields:
        raise ReplyFieldError(f"set_disks? reply {reply.raw!r} has no count")
    count = _int(fields[0], "mount point count", reply)
    return list(fields[1 : 1 + count])


def parse_dir_info(reply: Reply) -> tuple[int, int]:
    """``dir_info?`` on FlexBuff: ``? : <used bytes> : <total bytes>`` -> (used, total)."""
    fields = reply.fields
    if len(fields) < 3:
        raise ReplyFieldError(f"dir_info? reply {reply.raw!r} is not ? : used : total")
    return _int(fields[1], "used bytes", reply), _int(fields[2], "total bytes", reply)


# --------------------------------------------------------------------------------------------
# Rendering, for the reference recorder


@dataclass
class EvlbiStats:
    """jive5ab's e-VLBI packet counters (runtime.h ``evlbi_stats_type``)."""

    pkt_in: int = 0
    pkt_lost: int = 0
    pkt_ooo: int = 0
    pkt_disc: int = 0
    ooosum: int = 0
    gap_sum: int = 0
    discont: int = 0
    discont_sz: int = 0


EVLBI_DEFAULT_FORMAT = "total : %t : loss : %l (%L) : out-of-order : %o (%O) : extent : %R"


def _cxx_double(value: float) -> str:
    """A double as C++ ``ostream << double`` prints it (6 significant digits, no trailing zeros)."""
    return f"{value:g}"


def format_evlbi(stats: EvlbiStats, fmt: str = EVLBI_DEFAULT_FORMAT, now: float | None = None) -> str:
    """Expand jive5ab's ``evlbi`` format specifiers (runtime.cc ``fmt_evlbistats``)."""
    total = stats.pkt_in + stats.pkt_lost
    pct = (lambda n: 100.0 * n / total) if stats.pkt_in and total else (lambda n: 0.0)
    extent = stats.ooosum / stats.pkt_ooo if stats.pkt_ooo else 0.0
    gap = stats.gap_sum / stats.pkt_ooo if stats.pkt_ooo else 0.0
    discont = stats.discont_sz / stats.discont if stats.discont else 0.0
    when = time.time() if now is None else now
    expand = {
        "t": str(stats.pkt_in), "l": str(stats.pkt_lost), "L": f"{pct(stats.pkt_lost):5.2f}%",
        "o": str(stats.pkt_ooo), "O": f"{pct(stats.pkt_ooo):5.2f}%",
        "d": str(stats.pkt_disc), "D": f"{pct(stats.pkt_disc):5.2f}%",
        "r": str(stats.ooosum), "R": _cxx_double(extent) + "seqnr/pkt", "G": _cxx_double(gap) + "seqnr/gap",
        "c": str(stats.discont), "C": _cxx_double(discont) + "seqnr/discontinuity",
        "u": f"{when:.3f}",
        "U": time.strftime("%Y-%m-%d %Hh%Mm%S", time.gmtime(when)) + f"{when % 1:.3f}"[1:] + "s",
    }
    out: list[str] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            out.append(expand.get(spec, "%" + spec))  # jive5ab passes unknown specifiers through
            i += 2
            continue
        if char != "%":
            out.append(char)
        i += 1
    return "".join(out)
