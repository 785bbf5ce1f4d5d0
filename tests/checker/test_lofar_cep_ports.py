"""vdif-check --format lofar_cep on a station's ports: one port's recording alone (its RSP id the one thread), and
a FOLDER of four ports' recordings, each checked on its own with its loss, the per-port counts computed from the
packets each file holds; a folder is refused where it does not mean ports."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np

from harness.checker import Expectation, check_files
from harness.formats.lofar_cep.stream import LofarCepGenerator, LofarCepStreamSpec

CHECK = [sys.executable, "-m", "harness.checker"]
SPEC = LofarCepStreamSpec(station=613, bits=8, beamlets=2)
STEPS = 600
START = Fraction(1782864001)  # an odd second: the packets run over the start of the next (half a sample late)
LOST = {2: [100, 101, 102, 400]}
DUPLICATED = {1: [250]}


def port_rows() -> list[np.ndarray]:
    rows = LofarCepGenerator(SPEC, START).batch(0, STEPS).copy()
    ports = []
    for k in range(4):
        mine = rows[k::4]
        keep = [s for s in range(STEPS) if s not in LOST.get(k, [])]
        for s in DUPLICATED.get(k, []):
            keep.insert(keep.index(s) + 1, s)
        ports.append(mine[keep])
    return ports


def write_folder(tmp_path) -> str:
    folder = tmp_path / "station"
    folder.mkdir()
    for k, rows in enumerate(port_rows()):
        rows.tofile(folder / f"port{k}.cep")
    return str(folder)


def test_one_ports_recording_is_its_rsp_lane_alone(tmp_path):
    path = tmp_path / "port2.cep"
    port_rows()[2].tofile(path)
    result = check_files([path], Expectation(format="lofar_cep", payload="pattern"))
    assert list(result.threads) == [2]
    c = result.frame_counts
    assert (c.frames, c.missing_frames, c.duplicate_frames, c.corrupt_headers, c.payload_errors) == (
        STEPS - 4, 4, 0, 0, 0)


def test_a_folder_of_four_ports_is_checked_port_by_port_with_each_ports_loss(tmp_path):
    run = subprocess.run([*CHECK, "--format", "lofar_cep", "--payload", "pattern", "--json", write_folder(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # findings: the lost and the duplicated packets
    document = json.loads(run.stdout)
    assert document["errors"] == [] and len(document["recordings"]) == 4
    ports = {p["path"].rsplit("/", 1)[1]: p for p in document["ports"]}
    for k in range(4):
        port = ports[f"port{k}.cep"]
        lost, twice = len(LOST.get(k, [])), len(DUPLICATED.get(k, []))
        assert port["rsp_ids"] == [k] and port["clean"] == (lost == twice == 0)
        assert (port["frames"], port["missing_frames"], port["duplicate_frames"]) == (STEPS - lost + twice, lost, twice)
        assert (port["out_of_order_frames"], port["corrupt_headers"], port["payload_errors"]) == (0, 0, 0)
    text = subprocess.run([*CHECK, "--format", "lofar_cep", "--payload", "pattern", str(tmp_path / "station")],
                          capture_output=True, text=True, timeout=120)
    assert "port2.cep: RSP [2], 596 packets, 4 missing" in text.stdout


def test_a_folder_is_refused_where_it_does_not_mean_ports(tmp_path):
    folder = write_folder(tmp_path)
    for args, says in ((["--format", "vdif", folder], "is a folder"),
                       (["--format", "lofar_cep", folder, folder], "is a folder"),
                       (["--format", "lofar_cep", "--threads", "0-3", folder], "--threads with a folder")):
        run = subprocess.run([*CHECK, *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and says in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
    (tmp_path / "empty").mkdir()
    run = subprocess.run([*CHECK, "--format", "lofar_cep", str(tmp_path / "empty")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "no recording in the folder" in run.stderr
