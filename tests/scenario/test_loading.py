"""Scenario files: the shipped ones load; malformed ones fail with one file:line message naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scenario.loading import ScenarioError, load_scenario
from harness.scenario.units import parse_duration, parse_size

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: t
stream:
  payload_bytes: 5000
  threads: 4
  fps: 3200
schedule:
  scans: 2
  scan_length: 5s
"""


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path):
    scenario = load_scenario(path)
    assert scenario.schedule.scan_count >= 1


def test_meerkat_scenario_is_the_meerkat_stream():
    scenario = load_scenario(ROOT / "scenarios/meerkat_rate.yaml")
    stream = scenario.stream
    assert (stream.frame_bytes, stream.threads, stream.frames_per_second, stream.bits, stream.port) == \
        (5032, 4, 3200, 2, 52030)
    assert stream.udps and not stream.complex and scenario.recorder.recording == "vbs"
    assert scenario.schedule.scan_length == 600 and scenario.schedule.duration == 4 * 3600


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("  threads: 4\n", "  threads: 4\n  thread: 2\n"), "x.yaml:5: stream.thread: unknown key"),
    (GOOD.replace("threads: 4", "threads: four"), "x.yaml:4: stream.threads: input should be a valid integer"),
    (GOOD.replace("  scans: 2\n", ""), "x.yaml:6: schedule: give exactly one of scans or duration"),
    (GOOD.replace("name: t\n", ""), ": name: missing (required)"),
    (GOOD.replace("scan_length: 5s", "scan_length: 5 minutes"), "x.yaml:8: schedule.scan_length: a duration such"),
    (GOOD.replace("payload_bytes: 5000", "payload_bytes: 9000"),
     "x.yaml:3: stream.payload_bytes: expected a frame that fits recorder.mtu 9000"),
    (GOOD.replace("fps: 3200", "fps: 400000").replace("threads: 4", "threads: 1"),
     "x.yaml:5: stream.fps: expected a rate within the link's 10 Gbit/s"),
    (GOOD.replace("fps: 3200", "mode: VDIF_8192-32000-1-2").replace("payload_bytes: 5000", "payload_bytes: 8192"),
     "x.yaml:5: stream.mode: 32000 Mbit/s in 8192-byte payloads gives 488281.2500 frames/s, not a whole"),
    (GOOD.replace("  scans: 2\n", "  scans: 2\n  rolling: maybe\n"),
     "x.yaml:8: schedule.rolling: input should be a valid boolean"),
    (GOOD.replace("fps: 3200", "mode: VDIF_8000-512-1-2"),
     "x.yaml:2: stream: payload_bytes 5000 contradicts mode VDIF_8000-512-1-2 (8000)"),
    (GOOD.replace("  threads: 4\n", "  threads: 4\n  source: external\n").replace("  fps: 3200\n", ""),
     "x.yaml:2: stream: an external stream needs its rate, mode (VDIF_<payload>-<Mbps>-<nchan>-<bits>) or fps"),
    (GOOD.replace("  threads: 4\n", "  threads: 4\n  source: external\n").replace("fps: 3200",
                                                                                  "mode: VDIF_8000-512-1-2"),
     "x.yaml:2: stream: payload_bytes 5000 contradicts mode VDIF_8000-512-1-2 (8000)"),
    (GOOD.replace("  threads: 4\n", "  threads: 4\n  source: external\n").replace("payload_bytes: 5000",
                                                                                  "payload_bytes: 9000"),
     "x.yaml:3: stream.payload_bytes: expected a frame that fits recorder.mtu 9000"),
    (GOOD.replace("  threads: 4\n", "  threads: 4\n  source: external\n  station: XYZ\n"),
     "x.yaml:6: stream.station: "),
    (GOOD.replace("  scans: 2\n", "  scans: 2\n  capture_tolerance: -1\n"),
     "x.yaml:8: schedule.capture_tolerance: a duration that is not negative"),
    (GOOD.replace("  scans: 2\n", "  scans: 2\n  scan_name: same\n"), "x.yaml:6: schedule: scan_name 'same' needs {n}"),
    ("name: t\nstream: [1, 2\n", "x.yaml:3: not valid YAML"),
    ("- just\n- a list\n", "x.yaml:1: a mapping with name, stream and schedule"),
])
def test_malformed_scenarios_name_file_line_and_key(text, expected):
    with pytest.raises(ScenarioError) as info:
        load_scenario("x.yaml", text)
    message = str(info.value)
    assert expected in message, message
    assert "\n" not in message


def test_a_mode_fixes_the_stream_shape():
    text = GOOD.replace("  payload_bytes: 5000\n", "").replace("fps: 3200", "mode: VDIFLC_8000-64-2-8")
    stream = load_scenario("x.yaml", text).stream
    shape = (stream.frame_bytes, stream.channels, stream.bits, stream.complex, stream.edv)
    assert shape == (8016, 2, 8, True, "legacy")
    assert stream.frames_per_second == 1000


def test_units():
    assert parse_duration("1h30m") == 5400 and parse_duration(90) == 90 and parse_duration("250ms") == 0.25
    assert parse_size("64M") == 64 << 20 and parse_size("12GiB") == 12 << 30 and parse_size(4096) == 4096
    for bad in ("ten", "5 parsecs", True, -1):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_collection_error_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "scenarios" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text(GOOD.replace("threads: 4", "threads: -4"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(bad)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2 or result.returncode == 1, result.stdout
    assert f"{bad}:4: stream.threads: input should be greater than or equal to 1 (got -4)" in result.stdout
    assert "Traceback" not in result.stdout and "def collect" not in result.stdout


_SCALARS = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=40)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) |
                       st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
_KEYS = st.sampled_from(["name", "stream", "recorder", "schedule", "thresholds", "lab", "requirements",
                         "metrics_period", "acceptance", "description"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=400),  # anything at all, YAML or not
    st.dictionaries(_KEYS, _VALUES, max_size=6).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.dictionaries(st.sampled_from(["payload_bytes", "threads", "fps", "mode", "bits", "station", "edv", "port"]),
                    _VALUES, max_size=6).map(lambda s: GOOD + yaml.safe_dump({"recorder": {}, "extra": s})),
))
def test_random_yaml_gives_only_one_line_errors(text: str) -> None:
    try:
        load_scenario("fuzz.yaml", text)
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml") and "\n" not in message and "Traceback" not in message, message
