"""What the recorder says it lost (its own counters: jive5ab's ``evlbi?``, the reference recorder's), set against
what the recording lacks (pure): the recorder's self-report is evidence, never the truth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def judge_self_report(recorder_stats: Mapping[str, Any], *, lost_frames: int, frames_sent: int | None,
                      udps: bool, backend: str) -> list[str]:
    """A finding where the recorder's own loss count differs from the frames missing in the recording.

    Only where both are known: the recorder numbered the datagrams (UDPS: its loss is counted from sequence
    numbers), it answered at the close, and the harness knows what it sent (a sender that died leaves frames
    the schedule wanted but nobody sent, which no recorder can count).
    """
    said = recorder_stats.get("lost")
    if not udps or frames_sent is None or not isinstance(said, int) or said == lost_frames:
        return []
    source = "evlbi?" if backend == "jive5ab" else "its loss counter"
    return [f"the recorder reports {said} lost ({source}); {lost_frames} frames are missing from the recording "
            f"({lost_frames - said:+d})"]
