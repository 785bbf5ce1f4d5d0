"""What a recorder said about one scan in its own words, and which of it means data was lost or mishandled (pure).

Both recorders speak through ``error?`` (every entry), ``record?``/``net2file?`` (a transfer that ended by
itself), their counters set against the files they left, and jive5ab through its log only for some things
(a mount point dropped, a chunk not written, a reader that died on a short datagram: reference/jive5ab.md §6,
§7). Each such text becomes a `RecorderNote`; a note with ``data_lost`` fails its scan.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

SOURCES = ("error?", "record?", "net2file?", "files", "log", "control")
"""Where a note came from: a reply, the files against the counters, the recorder's log, the control link."""


@dataclass(frozen=True)
class NoteKind:
    """One kind of note: its name, how to recognise its text, and whether it means data was lost."""

    name: str
    pattern: re.Pattern[str]
    data_lost: bool


KINDS: tuple[NoteKind, ...] = (
    NoteKind("mount_point_gone", re.compile(r"no longer mounted|not on its mount point", re.I), True),
    NoteKind("mount_point_dropped", re.compile(r"dropped at chunk|POSSIBLY BAD|removing it from (the )?list", re.I),
             True),
    NoteKind("blocks_not_written", re.compile(r"blocks? not written|did not write", re.I), True),
    NoteKind("wrong_size_datagrams", re.compile(r"wrong size|ask:\d+ got:\d+", re.I), True),
    NoteKind("file_removed", re.compile(r"removed|deleted|never wrote", re.I), True),
    NoteKind("stopped_early", re.compile(r"already stopped|already ended|ended by itself|recvmsg .*fails", re.I),
             True),
    NoteKind("tail_lost", re.compile(r"datagrams counted .* bytes in", re.I), True),
    NoteKind("closed_hard", re.compile(r"closed hard", re.I), True),
    NoteKind("hung", re.compile(r"\bhung\b|no complete reply", re.I), True),
)
"""First match wins; text that matches none is still kept (kind ``other``)."""

ERROR_IS_LOSS = True
"""Every ``error?`` entry fails its scan, whatever it says: the recorder itself flagged something during it."""


@dataclass(frozen=True)
class RecorderNote:
    """One thing the recorder said about a scan, verbatim, with where it came from and what it means."""

    text: str
    source: str
    kind: str
    data_lost: bool

    def line(self) -> str:
        """How a finding quotes it: ``recorder (error?): <its words>``."""
        return f"recorder ({self.source}): {self.text}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def classify(text: str, source: str) -> RecorderNote:
    """The note for one text the recorder gave through ``source``."""
    if source not in SOURCES:
        raise ValueError(f"unknown note source {source!r} (one of {', '.join(SOURCES)})")
    for kind in KINDS:
        if kind.pattern.search(text):
            return RecorderNote(text, source, kind.name, kind.data_lost)
    return RecorderNote(text, source, "recorder_error" if source == "error?" else "other",
                        source == "error?" and ERROR_IS_LOSS)


_ERROR_ENTRY = re.compile(r"^!error\?\s*0\s*:\s*\d*\s*:\s*(?P<message>.*?)"
                          r"(?:\s*:\s*\S+\s*:\s*\S+\s*:\s*(?P<times>\d+))?\s*;?\s*$")
"""``!error? 0 : <n> : <message> : <first> : <last> : <times> ;`` (the message may hold colons; times do)."""


def error_entry_text(raw: str) -> str:
    """The message of one ``error?`` reply, with how often it happened; the raw reply where it has another shape."""
    match = _ERROR_ENTRY.match(raw.strip())
    if match is None or not match["message"]:
        return raw.strip()
    times = match["times"]
    return f"{match['message']} ({times} times)" if times and times != "1" else match["message"]
