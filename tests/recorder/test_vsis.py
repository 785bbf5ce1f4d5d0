"""VSI-S parsing and formatting on plain values, against reply lines recorded from jive5ab 3.1.0."""

from __future__ import annotations

import ast

import pytest

from harness.recorder.vsis import (
    Command,
    NotACommand,
    ReplyShapeError,
    ReturnCode,
    command_line,
    join_commands,
    parse_command_line,
    parse_replies,
    parse_reply,
)
from tests.recorder.conftest import DATA


def recorded() -> list[tuple[str, str]]:
    rows = []
    for line in (DATA / "replies-3.1.0.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        command, reply = line.split("\t")
        rows.append((command, ast.literal_eval(reply)))
    return rows


RECORDED = recorded()


def test_the_recording_covers_the_subset():
    keywords = {c.split("?")[0].split("=")[0].strip() for c, _ in RECORDED}
    assert {"version", "mode", "net_protocol", "mtu", "net_port", "set_disks", "record", "evlbi", "net2file",
            "dir_info", "constraints", "tstat", "error", "scan_check"} <= keywords
    assert len(RECORDED) > 50


@pytest.mark.parametrize(("command", "line"), RECORDED, ids=[f"{i}:{c}" for i, (c, _) in enumerate(RECORDED)])
def test_every_recorded_reply_parses(command, line):
    assert line.endswith("\n")
    replies = parse_replies(line)
    expected = len([c for c in command.split(";") if c.strip()])
    assert len(replies) == expected
    first = replies[0]
    if first.keyword != "syntax":
        assert first.keyword == command.split(";")[0].replace(" ", "").split("?")[0].split("=")[0].lower()
        assert first.query == ("?" in command.split(";")[0].split("=")[0])
    assert first.return_code is not None


def test_fields_and_codes_of_typical_replies():
    reply = parse_reply("!record?  0 : on : 1 : tr1 : 2056080 ;")
    assert (reply.keyword, reply.query, reply.code, reply.fields) == ("record", True, 0, ("on", "1", "tr1", "2056080"))
    assert parse_reply("!record=  0  ;").fields == () and parse_reply("!record=  0  ;").ok
    assert parse_reply("!record=  0  : tr1a ;").fields == ("tr1a",)
    assert parse_reply("!record=  1 ;").return_code is ReturnCode.INITIATED and parse_reply("!record=  1 ;").ok
    busy = parse_reply("!record=  6 : Already doing vbsrecord ;")
    assert busy.return_code is ReturnCode.CONFLICT and not busy.ok and busy.text == "Already doing vbsrecord"


def test_text_with_colons_is_kept_whole():
    line = ("!mode = 4 : /root/jive5ab-build/src/headersearch.cc@1464 assertion [(payloadsize%8)==0] fails The VDIF "
            "dataarraysize is not a multiple of 8;")
    reply = parse_reply(line)
    assert reply.code == 4 and reply.text.startswith("/root/jive5ab-build/src/headersearch.cc@1464")
    version = parse_reply("!version?  0 :  jive5ab : 3.1.0 : 64bit : Release : vm : 21-Nov-2026 : 11h15m51s : "
                          "nossapi :  ;")
    assert version.fields[:3] == ("jive5ab", "3.1.0", "64bit")
    assert parse_reply("!error? 0 :  :  :  :  :  ;").fields == ("",) * 5  # number, message, times, count


def test_several_commands_get_one_joined_line():
    replies = parse_replies("!mtu? 0 : 9000 ;!net_port? 0 : 46291 ;\n")
    assert [(r.keyword, r.fields) for r in replies] == [("mtu", ("9000",)), ("net_port", ("46291",))]
    assert parse_replies("!tstat=  0 : 1.5 : vbsrecord : UdpsReadBH : 10 : FIFOLength : 0;\r\n")[0].fields[-1] == "0"


@pytest.mark.parametrize("bad", ["", "   ", "record? 0 : off ;", "!record? zero : off ;", "!record? 0 : off", "hello"])
def test_text_that_is_not_a_reply_is_refused(bad):
    with pytest.raises(ReplyShapeError):
        parse_replies(bad)


def test_command_lines():
    assert command_line("mode", "VDIF_8000-64-1-2") == "mode= VDIF_8000-64-1-2 ;"
    assert command_line("record", "nthread", "", 2) == "record= nthread :  : 2 ;"
    assert command_line("record", query=True) == "record? ;"
    assert command_line("evlbi", query=True) == "evlbi? ;"
    assert command_line("net2file", "open", "/mnt/disk0/x.vdif,w") == "net2file= open : /mnt/disk0/x.vdif,w ;"
    assert join_commands(["record? ;", "evlbi? ;"]) == "record? ; evlbi? ;"
    for bad in ("a b", "x;y", "p:q", "line\nbreak"):
        with pytest.raises(ValueError):
            command_line("record", "on", bad)
    with pytest.raises(ValueError):
        command_line("two words")
    with pytest.raises(ValueError):
        join_commands(["mtu? ;"] * 1000)


def test_received_lines_split_as_jive5ab_splits_them():
    assert parse_command_line(" m t u ? ;") == [Command("mtu", True, ())]
    on = Command("record", False, ("on", "Scan1", "exp", "st"))
    assert parse_command_line("RECORD = on : Scan1 : exp : st\r") == [on]
    assert parse_command_line("mtu?;net_port?;") == [Command("mtu", True, ()), Command("net_port", True, ())]
    assert parse_command_line("record?nthread") == [Command("record", True, ("nthread",))]
    assert parse_command_line("record=nthread::2") == [Command("record", False, ("nthread", "", "2"))]
    assert parse_command_line("") == [] and parse_command_line(" ; ;; ") == []
    assert parse_command_line("nonsense") == [NotACommand("nonsense")]
    assert NotACommand("x").reply() == "!syntax = 7 : Not a command or query;"
    assert Command("bogus", True, ()).reply(7, "ENOSYS - not implemented") == "!bogus? 7 : ENOSYS - not implemented ;"
