"""The recording checker: validates every recording, exactly and fast (``vdif-check``).

>>> result = check_scan("smoke_001", "/srv/lab/disk*", Expectation(frame_bytes=5032, threads=(0, 1, 2, 3)))
>>> result.clean, result.frame_counts.missing_frames, result.to_json()["findings"]

Readers (flat file, vbs scan, Mark6 scatter-gather) map the files and hand out windows of
frames; header rules, continuity, payload integrity and sample statistics work on each window
with numpy; the result counts every fault and keeps the first few of each kind in full.
"""

from harness.checker.check import check_files, check_mark6, check_recording, check_scan
from harness.checker.errors import CheckerError
from harness.checker.expectation import Expectation
from harness.checker.parallel import CheckJob, check_many
from harness.checker.result import CheckResult, Finding, ThreadReport

__all__ = [
    "CheckJob", "CheckResult", "CheckerError", "Expectation", "Finding", "ThreadReport", "check_files",
    "check_many", "check_mark6", "check_recording", "check_scan",
]
