"""What the recorder says it lost (its own counters: jive5ab's ``evlbi?``, the reference recorder's), set against
what the recording lacks (pure): the recorder's self-report is evidence, never the truth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def judge_self_report(recorder_stats: Mapping[str, Any], *, lost_frames: int, frames_sent: int | None,
                      udps: bool, backend: str, datagrams_per_frame: int = 1) -> list[str]:
    """A finding where the recorder's own loss count differs from the frames missing in the recording.

    Only where both are known: the recorder numbered the datagrams (UDPS: its loss is counted from sequence
    numbers), it answered at the close, and the harness knows what it sent (a sender that died leaves frames
    the schedule wanted but nobody sent, which no recorder can count). The recorder counts datagrams: where a
    frame is several (Mark5B), every frame missing lost one to all of its datagrams, so the count is a range.
    """
    said = recorder_stats.get("lost")
    if not udps or frames_sent is None or not isinstance(said, int):
        return []
    if lost_frames <= said <= lost_frames * datagrams_per_frame:
        return []
    source = "evlbi?" if backend == "jive5ab" else "its loss counter"
    if datagrams_per_frame > 1:
        return [f"the recorder reports {said} datagrams lost ({source}); {lost_frames} frames of "
                f"{datagrams_per_frame} datagrams each are missing from the recording (a loss of "
                f"{lost_frames}..{lost_frames * datagrams_per_frame} datagrams)"]
    return [f"the recorder reports {said} lost ({source}); {lost_frames} frames are missing from the recording "
            f"({lost_frames - said:+d})"]
