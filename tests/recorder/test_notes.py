"""The recorder's words as notes: each kind recognised, every error? entry a loss, error? replies unpacked."""

from __future__ import annotations

import pytest

from harness.recorder.notes import classify, error_entry_text

ENTRY = ("!error? 0 : 3 : /srv/disk0 dropped at chunk 7: ENOSPC: No space left on device : "
         "2026-12-01T17:49:04.123Z : 2026-12-01T17:49:05.456Z : 2 ;")


@pytest.mark.parametrize(("text", "source", "kind", "lost"), [
    ("/srv/disk0 dropped at chunk 7: ENOSPC: No space left on device", "error?", "mount_point_dropped", True),
    ("/srv/disk0 dropped at chunk 3: ENODEV: no longer mounted (its directory is now on /)", "error?",
     "mount_point_gone", True),
    ("mountpoint /mnt/disk1 POSSIBLY BAD! ... removing it from list!", "log", "mount_point_dropped", True),
    ("vbsrecord s: 2 blocks not written", "error?", "blocks_not_written", True),
    ("recvmsg(3) fails - [] (ask:8032 got:100)", "log", "wrong_size_datagrams", True),
    ("s had already stopped before record=off (record? said 'off')", "record?", "stopped_early", True),
    ("something jive5ab says that nobody foresaw", "error?", "recorder_error", True),
    ("an ordinary log line", "log", "other", False),
])
def test_each_kind_is_recognised_and_an_error_entry_is_always_a_loss(text, source, kind, lost):
    note = classify(text, source)
    assert (note.kind, note.data_lost, note.text, note.source) == (kind, lost, text, source)
    assert note.line() == f"recorder ({source}): {text}"


def test_an_error_reply_keeps_a_message_with_colons_and_says_how_often():
    assert error_entry_text(ENTRY) == "/srv/disk0 dropped at chunk 7: ENOSPC: No space left on device (2 times)"
    assert error_entry_text(ENTRY.replace(": 2 ;", ": 1 ;")).endswith("No space left on device")
    assert error_entry_text("!error? 0 : 1 : odd ;") == "odd"
    assert error_entry_text("garbage") == "garbage"


def test_an_unknown_source_is_a_harness_bug():
    with pytest.raises(ValueError, match="unknown note source"):
        classify("x", "somewhere")
