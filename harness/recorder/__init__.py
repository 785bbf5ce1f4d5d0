"""Recorder control: the VSI-S client, one Recorder interface, and its two backends.

    from harness.recorder import RecorderConfig, open_recorder, RecorderError

    with open_recorder("reference", log_dir=run_dir) as rec:      # or "jive5ab" (control=, binary=, image=)
        rec.configure(RecorderConfig(mode="VDIF_5000-128-1-2", protocol="udps", disks=["/mnt/disk0"]))
        name = rec.record_on("scan_001")
        ...                                                        # send; rec.status() once a second
        result = rec.record_off()                                  # ScanResult: counters, files, raw replies
"""

from harness.recorder.backends import BACKENDS, open_recorder
from harness.recorder.driver import VsisRecorder
from harness.recorder.errors import (
    ConfigurationRefused,
    ConnectionLost,
    ProtocolError,
    RecorderDied,
    RecorderError,
    ReplyError,
    ScanNameRefused,
)
from harness.recorder.model import Recorder, RecorderConfig, RecorderStatus, ScanResult, check_scan_name

__all__ = [
    "BACKENDS", "ConfigurationRefused", "ConnectionLost", "ProtocolError", "Recorder", "RecorderConfig",
    "RecorderDied", "RecorderError", "RecorderStatus", "ReplyError", "ScanNameRefused", "ScanResult",
    "VsisRecorder", "check_scan_name", "open_recorder",
]
