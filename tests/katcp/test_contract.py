"""The recorder contract and the judging of a proxy, as plain values (no socket, no file)."""

from __future__ import annotations

import pytest

from harness.katcp.contract import ProductLayout, capture_block_id, capture_block_problem, product_problems
from harness.katcp.judge import CountClaims, config_mismatches, judge_counts, judge_done, judge_free, judge_init

LAYOUT = ProductLayout("/var/kat/data", "1764590400")


def test_the_product_layout_of_the_contract():
    assert LAYOUT.scan == "1764590400_vdif"
    assert LAYOUT.writing_dir == "/var/kat/data/1764590400/1764590400_vdif.writing"
    assert LAYOUT.final_dir == "/var/kat/data/1764590400/1764590400_vdif"
    assert LAYOUT.shard_name(1) == "1764590400_vdif.00000001"


def test_capture_block_ids_are_ten_digits_from_the_start_time_and_never_repeat():
    assert capture_block_id(1764590400.7) == "1764590400"
    assert capture_block_id(1764590400.2, previous="1764590400") == "1764590401"
    assert capture_block_id(17.0) == "0000000017"
    with pytest.raises(ValueError):
        capture_block_id(1e10)


@pytest.mark.parametrize("cbid", ["", "../x", "a/b", "a\\b", "..", "x y", "a" * 65])
def test_unsafe_capture_block_ids(cbid):
    assert capture_block_problem(cbid)


def test_a_finished_product_has_no_problem():
    shards = [LAYOUT.shard_name(i) for i in range(3)]
    assert product_problems(LAYOUT, [LAYOUT.scan], shards) == []


def test_what_is_wrong_with_a_product():
    writing = "1764590400_vdif.writing"
    assert product_problems(LAYOUT, [writing], None) == [
        f"product left unfinished: {LAYOUT.writing_dir} still exists and {LAYOUT.final_dir} does not"]
    assert product_problems(LAYOUT, [], None) == [f"no product directory {LAYOUT.final_dir}"]
    found = product_problems(LAYOUT, [LAYOUT.scan, "stray"], [LAYOUT.shard_name(0), LAYOUT.shard_name(2),
                                                               "1764590400_vdif.writing.00000001"])
    assert any("stray beside the product" in p for p in found)
    assert any("1 entries that are not shards" in p for p in found)
    assert any("shards 1764590400_vdif.00000001 missing" in p for p in found)
    assert product_problems(LAYOUT, [LAYOUT.scan], []) == [f"{LAYOUT.final_dir} holds no shard"]


def sensors(**values: str) -> dict[str, tuple[str, str]]:
    return {name.replace("_", "-"): ("nominal", value) for name, value in values.items()}


def test_sensors_after_capture_init():
    good = sensors(capture_block_state="capturing", capture_block_id="1764590400", device_status="ok")
    assert judge_init("1764590400", good, recording=True, record_reply="!record? 0 : on ;", writing_dir="/w",
                      writing_exists=True) == []
    found = judge_init("1764590400", sensors(capture_block_state="idle", device_status="ok"), recording=False,
                       record_reply="!record? 0 : off ;", writing_dir="/w", writing_exists=False)
    assert found == [
        "?capture-init 1764590400 replied ok, but sensor capture-block-state = 'idle' (nominal) (expected capturing)",
        "?capture-init 1764590400 replied ok, but sensor capture-block-id is absent (expected 1764590400)",
        "?capture-init 1764590400 replied ok, but the recorder is not recording (record? said '!record? 0 : off ;'); "
        "sensor device-status = 'ok' says nothing of it",
        "?capture-init 1764590400 replied ok, but /w does not exist"]
    assert judge_init("1764590400", None, recording=None, record_reply=None, writing_dir="/w",
                      writing_exists=None) == []


def test_sensors_after_capture_done():
    after = sensors(capture_block_state="idle", disk_bytes_total="1500")
    assert judge_done("c", after, bytes_before=500, bytes_on_disk=1000, recording=False, record_reply=None,
                      layout_problems=[]) == []
    found = judge_done("c", after, bytes_before=500, bytes_on_disk=2000, recording=True, record_reply="on",
                       layout_problems=["product left unfinished: /w still exists"])
    assert found == ["?capture-done (c) replied ok, but product left unfinished: /w still exists",
                     "?capture-done (c) replied ok, but the recorder still records (record? said 'on')",
                     "sensor disk-bytes-total = '1500' (nominal): it rose by 1000 over capture block c, but its shards "
                     "on disk hold 2000 bytes"]
    assert judge_done("c", {}, bytes_before=None, bytes_on_disk=5, recording=None, record_reply=None,
                      layout_problems=[])[0] == "sensor capture-block-state is absent: katsdpcontroller looks for it"


def test_free_space_and_counters():
    assert judge_free(sensors(**{"disk-free.disk0": str(100 << 30)}), {"/mnt/disk0": (100 << 30) + (1 << 20)}) == []
    assert judge_free(sensors(**{"disk-free.disk0": str(50 << 30)}), {"/mnt/disk0": 100 << 30})
    assert judge_counts(CountClaims("c", 1000, 0), valid_frames=1000, missing_frames=0) == []
    assert judge_counts(CountClaims("c", 1000, 3), valid_frames=997, missing_frames=0) == [
        "sensor input-packets-total rose by 1000 over capture block c, but its product holds 997 valid frames",
        "sensor input-packets-lost-total rose by 3 over capture block c, but the checker counted 0 frames absent "
        "from its product (0 missing, 0 fill frames)"]
    assert judge_counts(CountClaims("c", 997, 3), valid_frames=997, missing_frames=1, fill_frames=2) == []
    assert judge_counts(CountClaims("c", None, None), valid_frames=1, missing_frames=1) == []


def test_running_configuration_against_the_stream():
    expected = {"mode": "VDIF_5000-128-1-2", "net_protocol": "udps", "mtu": "9000", "net_port": "239.1.2.3@52030"}
    running = {"mode": "vdif_5000-128-1-2", "net_protocol": "udps", "mtu": "9000", "net_port": "239.1.2.3@52030"}
    assert config_mismatches(expected, running) == []
    wrong = {**running, "mtu": "1500", "net_port": "239.1.2.4@52030", "net_protocol": None}
    assert config_mismatches(expected, wrong) == [
        "net_protocol? gave no answer (the scenario needs udps)",
        "mtu: the recorder runs '1500', the scenario's stream needs '9000'",
        "net_port: the recorder runs '239.1.2.4@52030', the scenario's stream needs '239.1.2.3@52030'"]
    assert config_mismatches({"net_port": "52030"}, {"net_port": "10.0.0.1@52030"}) == []
