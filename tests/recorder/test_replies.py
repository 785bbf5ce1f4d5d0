"""Meaning of status replies, and the reference's rendering of them, against jive5ab 3.1.0's text."""

from __future__ import annotations

import pytest

from harness.recorder.replies import (
    EvlbiStats,
    ReplyFieldError,
    format_evlbi,
    parse_constraints,
    parse_dir_info,
    parse_evlbi,
    parse_net2file_query,
    parse_record_query,
    parse_set_disks,
)
from harness.recorder.vsis import parse_reply
from tests.recorder.test_vsis import RECORDED

EVLBI = "!evlbi? 0 : total : 1977 : loss : 19 ( 0.95%) : out-of-order : 0 ( 0.00%) : extent : 0seqnr/pkt ;"


def test_evlbi_by_its_labels():
    counts = parse_evlbi(parse_reply(EVLBI))
    assert (counts.total, counts.lost, counts.out_of_order, counts.extent) == (1977, 19, 0, "0seqnr/pkt")
    reordered = "!evlbi? 0 : total : 2970 : loss : 29 ( 0.97%) : out-of-order : 6 ( 0.20%) : extent : 2seqnr/pkt ;"
    assert parse_evlbi(parse_reply(reordered)).out_of_order == 6
    with pytest.raises(ReplyFieldError):
        parse_evlbi(parse_reply("!evlbi= 0 : 1977 : 19 : 0 : 0 ;"))


def test_every_recorded_evlbi_and_record_query_parses():
    for command, line in RECORDED:
        reply = parse_reply(line)
        if command == "evlbi?":
            assert parse_evlbi(reply).total in (0, 1977)
        if command == "record?":
            assert parse_record_query(reply).on in (True, False)


def test_record_query():
    assert parse_record_query(parse_reply("!record?  0 : off ;")) == parse_record_query(parse_reply("!record? 0:off;"))
    state = parse_record_query(parse_reply("!record?  0 : on : 1 : tr1 : 2056080 ;"))
    assert (state.on, state.recordings, state.scan, state.bytes) == (True, 1, "tr1", 2056080)
    with pytest.raises(ReplyFieldError):
        parse_record_query(parse_reply("!record?  0 : maybe ;"))


def test_constraints_read_size():
    mtu9000 = next(line for c, line in RECORDED if c == "constraints?" and "MTU:9000" in line)
    mtu1500 = next(line for c, line in RECORDED if c == "constraints?" and "MTU:1500" in line)
    assert parse_constraints(parse_reply(mtu9000))["read_size"] == 1032
    sizes = parse_constraints(parse_reply(mtu1500))
    assert (sizes["framesize"], sizes["read_size"], sizes["blocksize"]) == (8032, 1004, 1044160)
    with pytest.raises(ReplyFieldError):
        parse_constraints(parse_reply("!constraints?  0 : 2tr : VDIF : 4000000bps/tr : [] ;"))


def test_net2file_set_disks_dir_info():
    assert parse_net2file_query(parse_reply("!net2file?  0 : active : 51600 ;")) == (True, 51600)
    assert parse_net2file_query(parse_reply("!net2file?  0 : inactive : 0 ;")) == (False, 0)
    two = parse_reply("!set_disks?  0 : 2 : /mnt/disk0 : /mnt/disk1 ;")
    assert parse_set_disks(two) == ["/mnt/disk0", "/mnt/disk1"]
    assert parse_set_disks(parse_reply("!set_disks?  0 : 1 : null ;")) == ["null"]
    assert parse_set_disks(parse_reply("!set_disks?  0 : 0 ;")) == []
    assert parse_dir_info(parse_reply("!dir_info? 0 : ? : 2064384 : 134217728 ;")) == (2064384, 134217728)


def test_rendering_reproduces_jive5ab_text():
    assert f"!evlbi? 0 : {format_evlbi(EvlbiStats(pkt_in=1977, pkt_lost=19))} ;" == EVLBI
    assert format_evlbi(EvlbiStats()) == ("total : 0 : loss : 0 ( 0.00%) : out-of-order : 0 ( 0.00%) : "
                                          "extent : 0seqnr/pkt")
    assert format_evlbi(EvlbiStats(pkt_in=1977, pkt_lost=19), "%t : %l : %o : %d") == "1977 : 19 : 0 : 0"
    stats = EvlbiStats(pkt_in=2970, pkt_lost=29, pkt_ooo=6, ooosum=12)
    assert format_evlbi(stats).endswith("out-of-order : 6 ( 0.20%) : extent : 2seqnr/pkt")
    assert format_evlbi(EvlbiStats(pkt_ooo=3, ooosum=5), "%R") == "1.66667seqnr/pkt"
    assert format_evlbi(EvlbiStats(), "%x %% 100%") == "%x %% 100"
    assert format_evlbi(EvlbiStats(), "%u", now=1795261314.0661) == "1795261314.066"
