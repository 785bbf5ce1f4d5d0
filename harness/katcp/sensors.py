"""The sensors of ``vdif-katcp-proxy`` and what the harness reads from any proxy, by name.

Names follow SARAO's conventions (katsdpbfingest, katgpucbf): counters end in ``-total``, ``device-status`` is
the ok / degraded / fail aggregate katsdpcontroller looks for, ``capture-block-state`` says whether a capture
block is open. Counters are totals since the proxy started, so a capture block's share is the difference
between its start and its end.
"""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath


class CaptureState(enum.Enum):
    IDLE = "idle"
    CAPTURING = "capturing"


class DeviceStatus(enum.Enum):
    OK = "ok"
    DEGRADED = "degraded"
    FAIL = "fail"


CAPTURE_STATE = "capture-block-state"
CAPTURE_BLOCK = "capture-block-id"
BYTES_TOTAL = "disk-bytes-total"
"""Bytes of shards on disk written by capture blocks (the current one included), since the proxy started."""
PACKETS_TOTAL = "input-packets-total"
LOST_TOTAL = "input-packets-lost-total"
PACKETS_RATE = "input-packets-rate"
BYTES_RATE = "disk-bytes-rate"
DEVICE_STATUS = "device-status"
RECORDER_STATE = "recorder-state"
"""What the recorder behind the proxy says about itself (``record?``), verbatim."""
FREE_PREFIX = "disk-free."

COUNTERS = (BYTES_TOTAL, PACKETS_TOTAL, LOST_TOTAL)
PLOTTED = (BYTES_TOTAL, PACKETS_TOTAL, LOST_TOTAL, PACKETS_RATE, BYTES_RATE)


def free_sensor(mount: str) -> str:
    """``disk-free.<name>`` for a mount point, from its last path component (KATCP names have no slashes)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", PurePosixPath(mount).name or "root")
    return f"{FREE_PREFIX}{name}"
