"""Each fault's own counter against the harness's count (pure)."""

from __future__ import annotations

from harness.faults.accounting import judge_faults
from harness.faults.network import counter_of, datagrams_in
from harness.scenario.self_report import judge_self_report


def fault(kind: str, **injected: object) -> dict[str, object]:
    return {"kind": kind, "scan": 1, "at": 1.0, "duration": 1.0, "injected": injected, "error": None}


def test_the_named_counter_is_read_from_nfts_own_answer():
    # nft -j list counter netdev vlbi_fault_0 dropped (nftables 1.0.6), after the rule was flushed
    listing = ('{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, {"counter": {"family": '
               '"netdev", "name": "dropped", "table": "T", "handle": 1, "packets": 5, "bytes": 640}}]}')
    assert counter_of(listing) == (5, 640)
    assert counter_of("") == (0, 0)


def test_a_gso_super_packet_counts_as_its_datagrams():
    # measured on the local lab: 23 packets, 1327244 bytes dropped at the netdev hook = 165 datagrams of 8040
    assert datagrams_in(23, 1327244, 8040) == 165
    assert datagrams_in(1, 8040 + 28, 8040) == 1


def test_loss_equal_to_the_mechanism_is_no_finding_and_one_off_is():
    counts = {"lost_frames": 206}
    assert judge_faults([fault("loss", dropped=206)], counts, udps=True, kernel_udp={}, recorder_stats={}) == []
    found = judge_faults([fault("loss", dropped=205)], counts, udps=True, kernel_udp={}, recorder_stats={})
    assert found == ["fault loss: nftables dropped 205 datagrams, but 206 frames are lost in the recording"]


def test_a_hung_recorder_is_held_to_the_kernels_socket_drops():
    counts = {"lost_frames": 19051}
    kernel = {"RcvbufErrors": 19051}
    assert judge_faults([fault("recorder_stop")], counts, udps=True, kernel_udp=kernel, recorder_stats={}) == []
    kernel = {"RcvbufErrors": 19000}
    assert "19000 datagrams, but 19051 frames" in judge_faults([fault("recorder_stop")], counts, udps=True,
                                                               kernel_udp=kernel, recorder_stats={})[0]
    gone = judge_faults([fault("disk_gone")], {"lost_frames": 2731}, udps=True, kernel_udp={"RcvbufErrors": 2731},
                        recorder_stats={})
    assert gone == []


def test_a_rate_limit_is_held_to_what_the_kernel_never_saw():
    counts = {"lost_frames": 4538, "frames_sent": 60000}
    assert judge_faults([fault("rate_limit", dropped=4529)], counts, udps=True,
                        kernel_udp={"InDatagrams": 55462}, recorder_stats={}) == []
    assert judge_faults([fault("rate_limit", dropped=4529)], counts, udps=True, kernel_udp={"InDatagrams": 55463},
                        recorder_stats={}) == ["fault rate_limit: of the datagrams sent, the recorder node's kernel "
                                               "never saw 4537 datagrams, but 4538 frames are lost in the recording"]


def test_two_losing_faults_in_one_scan_are_not_split():
    counts = {"lost_frames": 500}
    faults = [fault("loss", dropped=100), fault("rate_limit", dropped=100)]
    assert judge_faults(faults, counts, udps=True, kernel_udp={}, recorder_stats={}) == []


def test_wire_faults_under_udps_are_absorbed_and_counted_by_the_recorder():
    faults = [fault("duplicate", duplicated=200, late_in_scan=490), fault("reorder", reordered=145, late_in_scan=490)]
    ok = judge_faults(faults, {"duplicate_frames": 0, "out_of_order_frames": 0}, udps=True, kernel_udp={},
                      recorder_stats={"out_of_order": 490})
    assert ok == []
    off = judge_faults(faults, {"duplicate_frames": 0}, udps=True, kernel_udp={}, recorder_stats={"out_of_order": 489})
    assert off == ["faults duplicate, reorder: the sender put 490 datagrams below the highest sequence number on the "
                   "wire (200 duplicated, 145 re-ordered), the recorder reports 489 out of order"]
    leaked = judge_faults(faults[:1], {"duplicate_frames": 3}, udps=True, kernel_udp={}, recorder_stats={})
    assert "the recording has duplicate_frames 3" in leaked[0]


def test_wire_faults_without_udps_reach_the_checker_exactly():
    faults = [fault("reorder", reordered=274)]
    assert judge_faults(faults, {"out_of_order_frames": 274}, udps=False, kernel_udp={}, recorder_stats={}) == []
    assert judge_faults(faults, {"out_of_order_frames": 273}, udps=False, kernel_udp={}, recorder_stats={})


def test_stray_datagrams_must_each_be_noted_by_the_recorder():
    faults = [fault("port_scan", sent=20)]
    note = {"kind": "wrong_size_datagrams", "text": "vbs scan_7: 20 datagrams of the wrong size dropped"}
    assert judge_faults(faults, {}, udps=True, kernel_udp={}, recorder_stats={}, recorder_notes=[note]) == []
    note = {**note, "text": "vbs scan_7: 19 datagrams of the wrong size dropped"}
    assert "the recorder says 19" in judge_faults(faults, {}, udps=True, kernel_udp={}, recorder_stats={},
                                                  recorder_notes=[note])[0]
    silent = judge_faults(faults, {}, udps=True, kernel_udp={}, recorder_stats={}, recorder_notes=[])
    assert silent == ["faults port_scan: 20 datagrams of the wrong size were sent to the data port, and the "
                      "recorder said nothing of them"]


def test_a_fault_that_did_not_take_fails_its_scan():
    failed = {**fault("disk_full"), "error": "could not apply: fallocate refused"}
    assert judge_faults([failed], {}, udps=True, kernel_udp={}, recorder_stats={}) == [
        "fault disk_full (scan 1, +1 s): could not apply: fallocate refused"]


def test_a_failing_disk_that_no_write_reached_proved_nothing():
    idle = fault("disk_fail", mount="/srv/vlbi-lab/disk0", device_writes_failed=0)
    assert judge_faults([idle], {"lost_frames": 0}, udps=True, kernel_udp={"RcvbufErrors": 0}, recorder_stats={}) == [
        "fault disk_fail: no write reached /srv/vlbi-lab/disk0 while it was failing (+1 s for 1 s): the fault proved "
        "nothing; give it the whole scan"]
    hit = fault("disk_fail", mount="/srv/vlbi-lab/disk0", device_writes_failed=128)
    assert judge_faults([hit], {"lost_frames": 0}, udps=True, kernel_udp={"RcvbufErrors": 0}, recorder_stats={}) == []


def test_files_written_below_a_gone_disk_are_a_finding():
    gone = fault("disk_gone", mount="/srv/vlbi-lab/disk1",
                 landed_on_parent_fs={"files": 2, "bytes": 10, "first": ["/srv/vlbi-lab/disk1/s/s.00000001"]})
    found = judge_faults([gone], {"lost_frames": 0}, udps=True, kernel_udp={}, recorder_stats={})
    assert len(found) == 1 and "2 files (10 bytes) were written onto the filesystem under /srv/vlbi-lab/disk1" \
        in found[0]


def test_the_recorders_own_loss_count_is_held_to_the_recording():
    assert judge_self_report({"lost": 206}, lost_frames=206, frames_sent=80000, udps=True, backend="jive5ab") == []
    assert judge_self_report({"lost": 0}, lost_frames=42772, frames_sent=80000, udps=True, backend="jive5ab") == [
        "the recorder reports 0 lost (evlbi?); 42772 frames are missing from the recording (+42772)"]
    # a dead sender's unsent frames, a plain VDIF stream (no sequence numbers), no answer: nothing to hold it to
    assert judge_self_report({"lost": 0}, lost_frames=9, frames_sent=None, udps=True, backend="reference") == []
    assert judge_self_report({"lost": 0}, lost_frames=9, frames_sent=10, udps=False, backend="reference") == []
    assert judge_self_report({}, lost_frames=9, frames_sent=10, udps=True, backend="reference") == []
