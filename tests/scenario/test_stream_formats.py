"""Scenario streams of other formats than VDIF (issue 14): what the schema accepts and refuses (one line naming the
field), their sizes and rates as the format layer gives them, and what the sender, the checker and the reference
recorder are told of them. No socket: the sender's own parser reads the command line built for it."""

from __future__ import annotations

import textwrap
from fractions import Fraction

import pytest

from harness.checker import Expectation
from harness.formats.lwa_rbeam.stream import LwaRbeamStreamSpec
from harness.formats.mark5b.stream import Mark5bStreamSpec
from harness.formats.vdif.header import station_id
from harness.formats.vdif.rates import parse_mode
from harness.recorder.model import RecorderConfig
from harness.scenario.loading import ScenarioError, load_scenario
from harness.scenario.self_report import judge_self_report
from harness.scenario.sender_process import sender_argv
from harness.scenario.stream_format import recorder_frame, whole_frame_workbuf
from harness.scenario.validation import expectation_fields
from harness.sender.cli import build_parser, sendable_from_args

HEAD = "name: fmt\nschedule: {scans: 2, scan_length: 2s}\n"
MARK5B = "stream:\n  format: mark5b\n  fps: 3200\n  station: Mk\n"
RBEAM = "stream:\n  format: lwa_rbeam\n  channels: 4\n  servers: 2\n  chan0: 100\n"


def load(text: str):
    return load_scenario("fmt.yaml", HEAD + textwrap.dedent(text))


def refusal(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load(text)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_mark5b_stream_takes_its_sizes_and_rate_from_the_format_layer():
    stream = load(MARK5B).stream
    spec = Mark5bStreamSpec(fps=3200, user=station_id("Mk"), udps=True, parts=2)
    assert stream.format_spec == spec
    assert (stream.frame_bytes, stream.datagram_bytes, stream.datagrams_per_frame) == (10016, 5016, 2)
    assert stream.thread_ids == (0,) and stream.frames_per_second == 3200
    assert stream.nominal_gbps == pytest.approx(spec.bits_per_second / 1e9)  # 3200 x 2 x 5016 x 8 bit/s
    assert stream.frame_gbps == pytest.approx(3200 * 10016 * 8 / 1e9)


def test_an_lwa_rbeam_stream_runs_at_the_sequence_clock_with_servers_as_threads():
    stream = load(RBEAM).stream
    assert stream.format_spec == LwaRbeamStreamSpec(nchan=4, servers=(1, 2), chan0=100)
    assert (stream.frame_bytes, stream.datagram_bytes, stream.udps) == (48, 48, False)  # udps: false by default
    assert stream.thread_ids == (1, 2) and stream.frame_rate == Fraction(765625, 32)
    assert stream.nominal_gbps == pytest.approx(765625 / 32 * 2 * 48 * 8 / 1e9)
    with pytest.raises(ValueError, match="not whole"):
        stream.frames_per_second  # noqa: B018 - LWA RBeam's rate is not whole: frame_rate is


def test_each_stream_dumps_only_its_formats_fields():
    vdif = load("stream: {fps: 100}\n").stream.model_dump(mode="json")
    assert set(vdif) == {"source", "format", "payload_bytes", "threads", "bits", "channels", "complex", "station",
                         "edv", "payload", "tone", "udps", "fps", "mode", "destination", "port", "multicast"}
    mark5b = load(MARK5B).stream.model_dump(mode="json")
    assert mark5b["format"] == "mark5b" and mark5b["frame_parts"] == 2 and mark5b["station"] == "Mk"
    assert not {"mode", "payload_bytes", "threads", "bits", "edv", "servers"} & set(mark5b)
    rbeam = load(RBEAM).stream.model_dump(mode="json")
    assert (rbeam["servers"], rbeam["chan0"], rbeam["channels"]) == (2, 100, 4)
    assert not {"fps", "station", "threads", "frame_parts"} & set(rbeam)


@pytest.mark.parametrize(("text", "said"), [
    (MARK5B + "  edv: 1\n", "fmt.yaml:7: stream.edv: not for a mark5b stream"),
    (MARK5B + "  mode: VDIF_8000-64-1-2\n", "fmt.yaml:7: stream.mode: not for a mark5b stream"),
    (MARK5B + "  threads: 2\n", "fmt.yaml:7: stream.threads: not for a mark5b stream"),
    (MARK5B + "  payload_bytes: 8000\n", "stream.payload_bytes: not for a mark5b stream"),
    (MARK5B + "  servers: 2\n", "stream.servers: for an lwa_rbeam stream, not mark5b"),
    (MARK5B + "  payload: noise\n", "stream.payload: pattern for a mark5b stream"),
    (MARK5B + "  source: external\n", "stream.source: harness for a mark5b stream"),
    (MARK5B + "  frame_parts: 3\n", "stream.frame_parts: a 10016-byte frame does not split into 3 datagrams"),
    (MARK5B + "  frame_parts: 1\n", "stream.frame_parts: expected a frame that fits recorder.mtu 9000: a 10024-byte"),
    (MARK5B + "  station: XYZ\n", "stream.station: station 'XYZ' is neither two ASCII characters nor a number"),
    ("stream: {format: mark5b}\n", "stream.fps: the rate of a mark5b stream: fps"),
    ("stream: {format: mark5b, fps: 200000}\n", "stream.fps: expected a rate within the link's 10 Gbit/s"),
    (RBEAM + "  fps: 100\n", "fmt.yaml:8: stream.fps: not for an lwa_rbeam stream"),
    (RBEAM + "  station: Mk\n", "stream.station: not for an lwa_rbeam stream"),
    (RBEAM + "  udps: true\n", "stream.udps: false for an lwa_rbeam stream"),
    (RBEAM + "  frame_parts: 2\n", "stream.frame_parts: for a mark5b stream, not lwa_rbeam"),
    ("stream: {format: lwa_rbeam}\n", "stream.channels: the channels per packet of an lwa_rbeam stream"),
    ("stream: {format: lwa_rbeam, channels: 0}\n", "stream.channels: input should be greater than or equal to 1"),
    ("stream: {format: lwa_rbeam, channels: 4, servers: 256}\n", "stream.servers: input should be less than or"),
    ("stream: {format: lwa_rbeam, channels: 4, chan0: 70000}\n", "stream.chan0: input should be less than or"),
    ("stream: {format: lwa_rbeam, channels: 2000}\n", "stream.channels: expected a frame that fits recorder.mtu"),
    ("stream: {fps: 100, chan0: 3}\n", "stream.chan0: for an lwa_rbeam stream, not vdif"),
    ("stream: {format: lofar_cep}\n", "stream.format: lofar_cep: a scenario does not drive LOFAR CEP yet"),
    ("stream: {format: mark5}\n", "stream.format: input should be 'vdif', 'mark5b' or 'lwa_rbeam'"),
    (MARK5B + "recorder: {backend: jive5ab}\n", "recorder.backend: expected reference for a mark5b stream"),
    (RBEAM + "recorder: {backend: katcp}\n", "recorder.backend: expected reference for an lwa_rbeam stream"),
    (MARK5B + "faults: [{kind: recorder_stop, scan: 1, at: 1s, duration: 1s}]\n",
     "faults: expected no faults for a mark5b stream"),
])
def test_refusals_are_one_line_naming_the_field(text, said):
    assert said in refusal(text)


def test_the_sender_is_told_the_format_and_its_options_and_takes_them():
    for text, port in ((MARK5B + "  port: 52040\n", 52040), (RBEAM + "  port: 52041\n", 52041)):
        stream = load(text).stream
        argv = sender_argv(stream, destination="127.0.0.1", seconds=2.0, first_sequence=640, progress=1.0)
        assert argv[1:3] == ["-m", "harness.sender"] and argv[argv.index("--port") + 1] == str(port)
        assert argv[argv.index("--format") + 1] == stream.format
        args = build_parser().parse_args(argv[3:])
        assert sendable_from_args(args) == stream.format_spec  # what vdif-send makes of it: the scenario's stream
        assert (args.duration, args.udps, args.seq_start) == (2.0, stream.udps, 640 if stream.udps else 0)
    rbeam = sender_argv(load(RBEAM).stream, destination="127.0.0.1", seconds=1.0, first_sequence=0, progress=1.0)
    assert rbeam[rbeam.index("--threads") + 1] == "2" and rbeam[rbeam.index("--chan0") + 1] == "100"


def test_a_vdif_streams_command_line_is_as_before():
    stream = load("stream: {fps: 100, threads: 2, station: Mk}\n").stream
    argv = sender_argv(stream, destination="127.0.0.1", seconds=1.0, first_sequence=5, progress=0.5)
    assert argv[3:] == ["--dest", "127.0.0.1", "--port", "52030", "--threads", "2", "--bits", "2", "--channels", "1",
                        "--station", "Mk", "--edv", "0", "--payload", "pattern", "--duration", "1.000000", "--json",
                        "--progress", "0.5", "--fps", "100", "--payload-bytes", "8000", "--udps", "--seq-start", "5"]


def test_the_checker_is_told_the_format_header_values_and_threads():
    mark5b = expectation_fields(load(MARK5B))
    assert mark5b == {"format": "mark5b", "frame_bytes": 10016, "threads": (0,), "fps": 3200,
                      "station": station_id("Mk"), "payload": "pattern"}
    rbeam = expectation_fields(load(RBEAM))
    assert rbeam == {"format": "lwa_rbeam", "frame_bytes": 48, "threads": (1, 2), "nchan": 4,
                     "header_values": (("chan0", 100),), "payload": "pattern"}
    for fields in (mark5b, rbeam):
        assert Expectation(**fields).format == fields["format"]  # the checker takes it as it is


@pytest.mark.parametrize(("text", "datagram", "frame"), [(MARK5B, 5008, 10016),
                                                         (MARK5B + "  frame_parts: 4\n", 2504, 10016),
                                                         (RBEAM, 48, 48)])
def test_the_reference_recorder_gets_a_mode_whose_frame_is_one_datagrams_payload(text, datagram, frame):
    spec = load(text).stream.format_spec
    found = recorder_frame(spec)
    assert (found.datagram_payload, found.frame_bytes) == (datagram, frame)
    assert parse_mode(found.mode).frame_bytes == datagram  # what the recorder sizes its slots by
    RecorderConfig(mode=found.mode, frame_bytes=datagram)  # and a configuration it takes
    for workbuf, minimum in ((16 << 20, 128 << 20), (200 << 20, 128 << 20), (1 << 20, 1 << 20)):
        aligned = whole_frame_workbuf(found, workbuf, minimum)
        assert aligned >= max(workbuf, minimum) and aligned % frame == 0  # chunks of whole frames
        assert aligned - max(workbuf, minimum) < frame


def test_a_recorders_datagram_loss_is_a_range_of_frames_where_a_frame_is_several():
    judge = dict(frames_sent=1000, udps=True, backend="reference")
    assert judge_self_report({"lost": 3}, lost_frames=3, **judge) == []
    assert judge_self_report({"lost": 4}, lost_frames=3, **judge) == [
        "the recorder reports 4 lost (its loss counter); 3 frames are missing from the recording (-1)"]
    for lost in (3, 5, 6):
        assert judge_self_report({"lost": lost}, lost_frames=3, datagrams_per_frame=2, **judge) == []
    (finding,) = judge_self_report({"lost": 7}, lost_frames=3, datagrams_per_frame=2, **judge)
    assert "7 datagrams lost" in finding and "3 frames of 2 datagrams" in finding and "3..6 datagrams" in finding
    assert judge_self_report({"lost": 2}, lost_frames=3, datagrams_per_frame=2, **judge) != []


def test_a_recorder_node_takes_the_expectation_as_json(tmp_path):
    """On an inventory lab the checker runs on the recorder node, the expectation sent as JSON (tuples become
    lists): the node half rebuilds it and checks a recorded RBeam scan (a vbs chunk of every server's packets)."""
    import json
    import subprocess
    import sys

    from harness.formats.lwa_rbeam.stream import LwaRbeamGenerator
    from harness.formats.lwa_rbeam.timecode import SEQ_TIME

    scan = tmp_path / "disk0" / "rb_001"
    scan.mkdir(parents=True)
    packets = LwaRbeamGenerator(load(RBEAM).stream.format_spec, 1_700_000_000 * SEQ_TIME).batch(0, 1000)
    packets.tofile(scan / "rb_001.00000000")
    request = {"target": {"name": "rb_001", "disk_glob": str(tmp_path / "disk*")},
               "expect": {**expectation_fields(load(RBEAM)), "expected_frames": 2000}}
    done = subprocess.run([sys.executable, "-m", "harness.scenario.validation"], input=json.dumps(request),
                          capture_output=True, text=True, timeout=60, check=True)
    answer = json.loads(done.stdout)
    assert "error" not in answer and "harness_bug" not in answer, answer
    assert answer["frames"] == answer["valid_frames"] == 2000 and answer["findings"] == []
