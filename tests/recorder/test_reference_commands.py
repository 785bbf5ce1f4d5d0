"""The reference recorder's command layer on its own: whatever arrives, a well-formed reply and no crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.recorder.reference.commands import ReferenceRecorder, unique_scan_name
from harness.recorder.vsis import parse_replies

KEYWORDS = ["mode", "net_protocol", "mtu", "net_port", "set_disks", "record", "evlbi", "net2file", "dir_info",
            "constraints", "version", "tstat", "error", "bogus", "RECORD", ""]
WORDS = ["on", "off", "nthread", "open", "stop", "close", "udps", "pudp", "tcp", "VDIF_1000-8-1-2", "none", "9000",
         "0", "-1", "x,w", "a b", "..", "%t", "4M", "1G", "@", "null", "é", "\t", ""]


@st.composite
def lines(draw: st.DrawFn) -> str:
    commands = []
    for _ in range(draw(st.integers(0, 3))):
        keyword = draw(st.sampled_from(KEYWORDS))
        sep = draw(st.sampled_from(["?", "=", " = ", "", "?="]))
        args = draw(st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=4))
        commands.append(keyword + sep + " : ".join(args))
    return draw(st.sampled_from([";", " ; ", ";;"])).join(commands)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=lines())
def test_any_line_gets_replies_or_nothing_never_an_exception(line, tmp_path_factory, monkeypatch):
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # a net2file=open:x,w lands here, nowhere else
    recorder = ReferenceRecorder(min_block=1 << 20)
    try:
        reply = recorder.execute(line.replace("/", ""))
        if reply is not None:
            for one in parse_replies(reply):
                assert 0 <= one.code <= 9
                assert one.code != 4 or "internal error" not in one.text, reply
    finally:
        recorder.shutdown()


def test_unique_scan_names_follow_jive5ab(tmp_path):
    disks = [str(tmp_path / "d0"), str(tmp_path / "d1")]
    for d in disks:
        (tmp_path / d).mkdir()
    assert unique_scan_name("s1", disks) == "s1"
    (tmp_path / "d1" / "s1").mkdir()
    assert unique_scan_name("s1", disks) == "s1a"
    (tmp_path / "d0" / "s1a").mkdir()
    assert unique_scan_name("s1", disks) == "s1b"
    for suffix in "bcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        (tmp_path / "d0" / f"s1{suffix}").mkdir()
    assert unique_scan_name("s1", disks) is None


@pytest.mark.parametrize(("line", "expected"), [
    ("mode = VDIF_8000-64-1-2 ; mode?", "!mode= 0 ;!mode? 0 : VDIF_8000-64-1-2 : VDIF : 2 : 32000000.000 : 8000 ;"),
    ("net_protocol = pudp : 64M : 8040 : 1 ; net_protocol?",
     "!net_protocol = 0 ;!net_protocol? 0 : pudp : 67108864 : 8040 : 1 ;"),
    ("net_port = 127.0.0.1@46291 ; net_port?", "!net_port= 0 ;!net_port? 0 : 127.0.0.1@46291 ;"),
    ("set_disks = null ; set_disks?", "!set_disks=  0 : 1 ;!set_disks?  0 : 1 : null ;"),
    ("constraints?", "!constraints?  0 : 0tr : <unknown> : 0bps/tr : [] ;"),
    ("dir_info = 1", "!dir_info= 2 : only available as query ;"),
    ("error?", "!error? 0 :  :  :  :  :  ;"),
])
def test_reply_shapes(line, expected):
    recorder = ReferenceRecorder()
    assert recorder.execute(line) == expected
