"""Every finding kind of the katcp backend fires, against a proxy that misbehaves on purpose, and none against
ours: a sensor that disagrees, a product left unfinished, a refused request, a timeout, a capture that does not
record; and an attached recorder whose running configuration is not the scenario's stream."""

from __future__ import annotations

import pytest

from harness.katcp.link import RequestFailed
from harness.recorder import ConfigurationRefused, RecorderConfig, open_recorder
from tests.katcp.conftest import FPS, FRAME, MODE, PAYLOAD, THREADS
from tests.recorder.conftest import drained, send


def attach(proxy, recorder, tmp_path):  # type: ignore[no-untyped-def]
    return open_recorder("katcp", log_dir=tmp_path / "katcp", control=proxy.control, vsis=recorder.control_address,
                         product_root=str(proxy.root), mounts=[str(proxy.root)])


def capture(katcp, recorder, scan="scan_001", frames=200):  # type: ignore[no-untyped-def]
    """One capture block of a known stream; the backend's ScanResult."""
    katcp.record_on(scan)
    send(recorder.config.data_port, frames=frames, threads=THREADS, fps=FPS, payload=PAYLOAD)
    drained(recorder, recorder.config.data_port)
    return katcp.record_off()


def configured(katcp, recorder):  # type: ignore[no-untyped-def]
    katcp.configure(recorder.config)
    return katcp


def test_our_proxy_gives_no_finding(proxy_factory, recorder, tmp_path):
    with attach(proxy_factory("ours"), recorder, tmp_path) as katcp:
        result = capture(configured(katcp, recorder), recorder)
    assert result.findings == []
    assert (result.packets, result.lost, result.bytes) == (800, 0, 800 * FRAME)
    name, disks = result.product
    assert (name, disks) == (f"{result.capture_block}_vdif", f"{katcp.product_root}/{result.capture_block}")


def test_a_sensor_that_lies_about_the_bytes_written(proxy_factory, recorder, tmp_path):
    with attach(proxy_factory("misbehaving", "lie-bytes"), recorder, tmp_path) as katcp:
        result = capture(configured(katcp, recorder), recorder)
    assert len(result.findings) == 1, result.findings
    assert "sensor disk-bytes-total = " in result.findings[0]
    assert f"rose by {400 * FRAME}" in result.findings[0] and f"hold {800 * FRAME} bytes" in result.findings[0]


def test_a_product_left_unfinished_is_said_and_still_validated(proxy_factory, recorder, tmp_path):
    with attach(proxy_factory("misbehaving", "keep-writing"), recorder, tmp_path) as katcp:
        result = capture(configured(katcp, recorder), recorder)
    assert len(result.findings) == 1, result.findings
    assert "?capture-done" in result.findings[0] and "product left unfinished" in result.findings[0]
    assert result.product[1].endswith("_vdif.writing") and len(result.files) >= 1


def test_a_refused_capture_init_quotes_request_and_reply(proxy_factory, recorder, tmp_path):
    with attach(proxy_factory("misbehaving", "refuse-second"), recorder, tmp_path) as katcp:
        assert capture(configured(katcp, recorder), recorder).findings == []
        with pytest.raises(RequestFailed) as refused:
            katcp.record_on("scan_002")
    assert refused.value.command == f"?capture-init {katcp.capture_block}"
    assert refused.value.reply == "!capture-init fail refused on purpose by the misbehaving proxy"


def test_a_sensor_request_that_times_out(proxy_factory, recorder, tmp_path):
    with attach(proxy_factory("misbehaving", "hang-sensor"), recorder, tmp_path) as katcp:
        result = capture(configured(katcp, recorder), recorder)
    assert len(result.findings) == 1, result.findings
    assert result.findings[0].startswith("no reply to ?sensor-value within 5 s")


def test_a_capture_init_that_replies_ok_but_does_not_record(proxy_factory, recorder, tmp_path):
    with attach(proxy_factory("misbehaving", "fake-init"), recorder, tmp_path) as katcp:
        result = capture(configured(katcp, recorder), recorder)
    said = " | ".join(result.findings)
    assert "replied ok, but the recorder is not recording" in said and "device-status = 'ok'" in said
    assert "had stopped recording" in said or "holds no shard" in said


def test_a_capture_done_that_times_out_is_a_finding(proxy_factory, recorder, tmp_path):
    proxy = proxy_factory("ours")
    with open_recorder("katcp", log_dir=tmp_path / "katcp", control=proxy.control, vsis=recorder.control_address,
                       product_root=str(proxy.root), done_timeout=0.001) as katcp:
        result = capture(configured(katcp, recorder), recorder)
    assert result.findings and result.findings[0] == "no reply to ?capture-done within 0.001 s"


def test_an_attached_recorder_running_another_stream_fails_the_preflight(proxy_factory, recorder, tmp_path):
    proxy = proxy_factory("ours")
    wanted = RecorderConfig(mode="VDIF_8000-64-1-2", protocol="udps", mtu=1500,
                            data_port=recorder.config.data_port + 1, frame_bytes=8032)
    with attach(proxy, recorder, tmp_path) as katcp, pytest.raises(ConfigurationRefused) as refused:
        katcp.configure(wanted)
    message = refused.value.message
    assert f"mode: the recorder runs '{MODE}', the scenario's stream needs 'VDIF_8000-64-1-2'" in message
    assert "mtu: the recorder runs '9000', the scenario's stream needs '1500'" in message
    assert f"net_port: the recorder runs '127.0.0.1@{recorder.config.data_port}'" in message
    assert "net_protocol" not in message


def test_request_timeouts_are_katsdpcontrollers():
    from harness.katcp.contract import CAPTURE_DONE_TIMEOUT, CAPTURE_INIT_TIMEOUT
    from harness.scenario.schema import RecorderSpec

    spec = RecorderSpec(backend="katcp")
    assert (CAPTURE_INIT_TIMEOUT, CAPTURE_DONE_TIMEOUT) == (spec.capture_init_timeout, spec.capture_done_timeout) \
        == (30.0, 240.0)


class Started:
    """Stands for the process the harness would have started (the proxy is then the harness's own)."""

    def stop(self, timeout: float = 0) -> None:
        pass


def test_an_exception_in_our_own_proxy_is_a_harness_bug_but_in_an_attached_one_a_finding(proxy_factory, recorder,
                                                                                          tmp_path):
    from harness.katcp.link import KatcpLink
    from harness.katcp.recorder import KatcpRecorder, ProxyBug

    proxy = proxy_factory("misbehaving", "crash-init")
    host, port = proxy.control.rsplit(":", 1)
    ours = KatcpRecorder(KatcpLink(host, int(port)), tmp_path, product_root=str(proxy.root), proxy=Started())
    with ours, pytest.raises(ProxyBug, match="ZeroDivisionError: a bug in the proxy"):
        ours.record_on("scan_001")
    with attach(proxy, recorder, tmp_path) as attached, pytest.raises(RequestFailed) as refused:
        attached.record_on("scan_001")
    assert "ZeroDivisionError" in (refused.value.reply or "")
