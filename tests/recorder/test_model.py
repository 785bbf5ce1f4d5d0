"""The interface's values: scan names, configuration checks and the commands a configuration becomes."""

from __future__ import annotations

import pytest

from harness.formats.vdif.rates import parse_mode
from harness.recorder import RecorderConfig, ScanNameRefused, check_scan_name
from harness.recorder.model import parse_size, scan_name_problem, size_argument
from harness.recorder.reference.settings import Settings


@pytest.mark.parametrize("name", ["scan_001", "r4.21+x", "No0042", "a-b"])
def test_safe_scan_names(name):
    assert scan_name_problem(name) is None
    check_scan_name(name)


@pytest.mark.parametrize("name", ["", "../x", "a/b", "x..y", "a b", "a:b", "a;b", "é", "x" * 201])
def test_unsafe_scan_names(name):
    assert scan_name_problem(name) is not None
    with pytest.raises(ScanNameRefused):
        check_scan_name(name, "jive5ab")


def test_datastream_suffix_is_refused_by_the_driver_only():
    assert scan_name_problem("scan_ds1") is None
    with pytest.raises(ScanNameRefused, match="_ds"):
        check_scan_name("scan_ds1")


def test_configuration_becomes_jive5ab_commands_in_order():
    cfg = RecorderConfig(mode="VDIF_5000-128-1-2", protocol="udps", socket_buffer=64 << 20, workbuf="128M", nbuf=4,
                         mtu=9000, data_port=52030, data_address="239.1.2.3", disks=["/mnt/disk0", "/mnt/disk1"],
                         writers=2, frame_bytes=5032)
    assert cfg.commands() == [
        ("mode", ("VDIF_5000-128-1-2",)), ("net_protocol", ("udps", "67108864", "128M", 4)), ("mtu", (9000,)),
        ("net_port", ("239.1.2.3@52030",)), ("set_disks", ("/mnt/disk0", "/mnt/disk1")), ("record", ("nthread", "", 2)),
    ]
    assert cfg.datagram_bytes == 5040
    flat = RecorderConfig(protocol="pudp", disks="/srv/lab/disk*", net2file=True)
    assert [k for k, _ in flat.commands()] == ["net_protocol", "mtu", "net_port", "set_disks"]  # where it may write
    assert flat.commands()[0] == ("net_protocol", ("pudp", "32M", "", ""))
    assert RecorderConfig(disks="/srv/lab/disk*").disk_list == ["/srv/lab/disk*"]


@pytest.mark.parametrize("bad", [
    {"protocol": "tcp"}, {"mtu": 12}, {"mtu": 9001}, {"data_port": 0}, {"data_address": "not-an-ip"},
    {"writers": 0}, {"frame_bytes": 5033}, {"nbuf": 0}, {"socket_buffer": "4G"}, {"workbuf": -1},
])
def test_configuration_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        RecorderConfig(**bad)


def test_sizes():
    assert [parse_size(s) for s in ("8040", "4k", "32M")] == [8040, 4096, 32 << 20]
    assert size_argument(None) == "" and size_argument(1 << 20) == "1048576" and size_argument("1M") == "1M"
    for bad in ("1G", "x", "1.5M"):
        with pytest.raises(ValueError):
            parse_size(bad)


@pytest.mark.parametrize(("mode", "protocol", "mtu", "read_size"), [
    ("VDIF_8000-64-1-2", "udps", 1500, 1004),    # jive5ab: 8032-byte frames cut into 8 pieces at MTU 1500
    ("VDIF_8000-64-1-2", "udps", 9000, 8032),
    ("VDIF_8928-1116-1-2", "udps", 9000, 8960),  # 8960 + 28 + 8 < 9000: the largest whole udps frame
    ("VDIF_8936-1117-1-2", "udps", 9000, 4484),  # 8968 + 36 is not < 9000 (the strict <): halves
    ("VDIF_8936-1117-1-2", "pudp", 9000, 8968),
    ("VDIF_1000-8-1-2", "udps", 9000, 1032),
])
def test_datagram_size_as_jive5ab_solves_it(mode, protocol, mtu, read_size):
    settings = Settings(mode=parse_mode(mode), mode_text=mode, protocol=protocol, mtu=mtu)
    assert settings.read_size() == read_size
