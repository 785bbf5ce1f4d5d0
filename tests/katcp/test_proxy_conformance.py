"""Proxy conformance: the recorder contract (reference/katsdpvlbi.md section 2) over KATCP, for every proxy.

Ours always; the public katsdpvlbi proxy where KATSDPVLBI_PROXY names its script. Each proxy fronts the real
reference recorder; the truth is what is on disk, what the recorder's own VSI-S port says and what the checker
finds in the product.
"""

from __future__ import annotations

import os

import pytest

from harness.checker import Expectation, check_scan
from harness.katcp.contract import ProductLayout
from harness.katcp.judge import sensor_int, sensor_text
from harness.katcp.link import RequestFailed
from harness.recorder.replies import parse_record_query
from tests.katcp.conftest import FPS, FRAME, PAYLOAD, THREADS
from tests.recorder.conftest import drained, send

CBID = "1796137090"


def recording(recorder) -> bool:  # type: ignore[no-untyped-def]
    return parse_record_query(recorder.client.ask("record?")).on


def test_a_capture_block_ends_as_the_contract_says(proxy, recorder):
    layout = ProductLayout(str(proxy.root), CBID)
    link = proxy.link()
    try:
        link.request("capture-init", CBID, timeout=30)
        assert os.path.isdir(layout.writing_dir), os.listdir(proxy.root)
        assert recording(recorder), "capture-init replied ok but the recorder does not record"
        send(recorder.config.data_port, frames=300, threads=THREADS, fps=FPS, payload=PAYLOAD)
        drained(recorder, recorder.config.data_port)
        link.request("capture-done", timeout=240)
    finally:
        link.close()
    assert not recording(recorder)
    assert sorted(os.listdir(layout.block_dir)) == [layout.scan], "the .writing directory must become the product"
    shards = sorted(os.listdir(layout.final_dir))
    assert shards and shards == [layout.shard_name(i) for i in range(len(shards))]
    result = check_scan(layout.scan, layout.block_dir, Expectation(frame_bytes=FRAME, threads=tuple(range(THREADS)),
                                                                   fps=FPS, payload="pattern", expected_frames=1200))
    assert result.clean and result.frame_counts.valid_frames == 1200, result.summary()


def test_one_capture_block_at_a_time(proxy):
    link = proxy.link()
    try:
        link.request("capture-init", CBID, timeout=30)
        with pytest.raises(RequestFailed) as refused:
            link.request("capture-init", "1796137091", timeout=30)
        assert CBID in refused.value.message and "!capture-init fail" in (refused.value.reply or "")
        link.request("capture-done", timeout=240)
        with pytest.raises(RequestFailed):
            link.request("capture-done", timeout=240)
    finally:
        link.close()
    assert not os.path.exists(proxy.root / "1796137091")


@pytest.mark.parametrize("cbid", ["../escape", "a/b", "a\\b", ".."])
def test_unsafe_capture_block_ids_are_refused(proxy, cbid):
    link = proxy.link()
    try:
        with pytest.raises(RequestFailed):
            link.request("capture-init", cbid, timeout=30)
    finally:
        link.close()
    assert os.listdir(proxy.root) == []
    assert not os.path.exists(proxy.root.parent / "escape")


def test_the_sensors_say_what_is_on_disk_and_on_the_wire(proxy, recorder):
    layout = ProductLayout(str(proxy.root), CBID)
    link = proxy.link()
    try:
        before = link.sensor_values()
        assert sensor_text(before, "capture-block-state") == "idle"
        assert sensor_text(before, "device-status") == "ok"
        link.request("capture-init", CBID, timeout=30)
        during = link.sensor_values()
        assert (sensor_text(during, "capture-block-state"), sensor_text(during, "capture-block-id")) == \
            ("capturing", CBID)
        sent = send(recorder.config.data_port, frames=250, threads=THREADS, fps=FPS, payload=PAYLOAD)
        drained(recorder, recorder.config.data_port)
        link.request("capture-done", timeout=240)
        after = link.sensor_values()
    finally:
        link.close()
    on_disk = sum(os.path.getsize(os.path.join(layout.final_dir, f)) for f in os.listdir(layout.final_dir))
    assert on_disk == 1000 * FRAME
    assert sensor_int(after, "disk-bytes-total") - sensor_int(before, "disk-bytes-total") == on_disk
    assert sensor_int(after, "input-packets-total") - sensor_int(before, "input-packets-total") == \
        sent.stats["frames_sent"] == 1000
    assert sensor_int(after, "input-packets-lost-total") == sensor_int(before, "input-packets-lost-total")
    assert sensor_text(after, "capture-block-state") == "idle"
    statvfs = os.statvfs(proxy.root)
    free = sensor_int(after, "disk-free.data")
    assert free is not None and abs(free - statvfs.f_bavail * statvfs.f_frsize) < 256 << 20


def test_katcpcmd_drives_our_proxy(proxy_factory, recorder):
    proxy = proxy_factory("ours")
    init = proxy.katcpcmd("capture-init", CBID)
    assert init.returncode == 0 and "!capture-init[1] ok" in init.stdout, init.stdout + init.stderr
    status = proxy.katcpcmd("capture-status")
    assert f"capturing {CBID}" in status.stdout.replace("\\_", " ")
    done = proxy.katcpcmd("capture-done")
    assert "!capture-done[1] ok" in done.stdout
    refused = proxy.katcpcmd("capture-done")
    assert "!capture-done[1] fail" in refused.stdout
    assert "no capture block in progress" in refused.stdout.replace("\\_", " ")
    assert os.path.isdir(ProductLayout(str(proxy.root), CBID).final_dir)


def test_device_status_fails_when_the_recorder_is_gone(proxy_factory, recorder):
    from tests.waiting import wait_until

    proxy = proxy_factory("ours")
    link = proxy.link()
    try:
        assert sensor_text(link.sensor_values(), "device-status") == "ok"
        recorder.owner.stop()
        wait_until(lambda: sensor_text(link.sensor_values(), "device-status") == "fail", timeout=15,
                   what="device-status to say fail")
        with pytest.raises(RequestFailed) as refused:
            link.request("capture-init", CBID, timeout=30)
        assert "recorder" in refused.value.message
    finally:
        link.close()
