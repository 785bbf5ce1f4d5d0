"""Judging a KATCP proxy against the truth (pure): its replies and sensors beside what is on disk, what the
recorder behind it says over VSI-S and what the checker found. Each finding is one line that quotes the
request and the reply, or the sensor and its value.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.katcp import sensors as names
from harness.katcp.sensors import free_sensor

Sensors = dict[str, tuple[str, str]]
"""name -> (status, value), as ``?sensor-value`` gives them."""
FREE_TOLERANCE = 256 << 20
"""Free space moves while the recorder writes; a sensor within this (or 1 %) of statvfs agrees."""


def sensor_text(sensors: Sensors, name: str) -> str | None:
    found = sensors.get(name)
    return None if found is None else found[1]


def sensor_int(sensors: Sensors, name: str) -> int | None:
    text = sensor_text(sensors, name)
    try:
        return None if text is None else int(float(text))
    except ValueError:
        return None


def _quoted(sensors: Sensors, name: str) -> str:
    found = sensors.get(name)
    return f"sensor {name} is absent" if found is None else f"sensor {name} = {found[1]!r} ({found[0]})"


def judge_init(cbid: str, sensors: Sensors | None, *, recording: bool | None, record_reply: str | None,
               writing_dir: str, writing_exists: bool | None) -> list[str]:
    """After ``?capture-init <cbid>`` replied ok (``sensors`` None: they could not be read, itself a finding)."""
    found = []
    request = f"?capture-init {cbid} replied ok"
    if sensors is not None:
        if sensor_text(sensors, names.CAPTURE_STATE) != "capturing":
            found.append(f"{request}, but {_quoted(sensors, names.CAPTURE_STATE)} (expected capturing)")
        if sensor_text(sensors, names.CAPTURE_BLOCK) != cbid:
            found.append(f"{request}, but {_quoted(sensors, names.CAPTURE_BLOCK)} (expected {cbid})")
    if recording is False:
        status = sensor_text(sensors or {}, names.DEVICE_STATUS)
        found.append(f"{request}, but the recorder is not recording (record? said {record_reply!r})"
                     + (f"; sensor {names.DEVICE_STATUS} = {status!r} says nothing of it" if status == "ok" else ""))
    if writing_exists is False:
        found.append(f"{request}, but {writing_dir} does not exist")
    return found


def judge_done(cbid: str, sensors: Sensors | None, *, bytes_before: int | None, bytes_on_disk: int | None,
               recording: bool | None, record_reply: str | None, layout_problems: list[str]) -> list[str]:
    """After ``?capture-done`` replied ok: the product, the sensors, the recorder."""
    found = [f"?capture-done ({cbid}) replied ok, but {p}" for p in layout_problems]
    if recording is True:
        found.append(f"?capture-done ({cbid}) replied ok, but the recorder still records (record? said "
                     f"{record_reply!r})")
    if sensors is None:  # the request for them failed: that is the finding
        return found
    state = sensor_text(sensors, names.CAPTURE_STATE)
    if state not in (None, "idle"):
        found.append(f"?capture-done ({cbid}) replied ok, but {_quoted(sensors, names.CAPTURE_STATE)} (expected idle)")
    if state is None:
        found.append(f"{_quoted(sensors, names.CAPTURE_STATE)}: katsdpcontroller looks for it")
    total = sensor_int(sensors, names.BYTES_TOTAL)
    if bytes_on_disk is not None:
        if total is None:
            found.append(f"{_quoted(sensors, names.BYTES_TOTAL)}: the bytes written cannot be judged")
        elif bytes_before is not None and total - bytes_before != bytes_on_disk:
            found.append(f"{_quoted(sensors, names.BYTES_TOTAL)}: it rose by {total - bytes_before} over capture "
                         f"block {cbid}, but its shards on disk hold {bytes_on_disk} bytes")
    return found


def judge_free(sensors: Sensors, free_by_mount: dict[str, int]) -> list[str]:
    """Each ``disk-free.<mount>`` sensor against statvfs of that mount point."""
    found = []
    for mount, free in free_by_mount.items():
        claimed = sensor_int(sensors, free_sensor(mount))
        if claimed is None:
            continue
        if abs(claimed - free) > max(FREE_TOLERANCE, free // 100):
            found.append(f"{_quoted(sensors, free_sensor(mount))}, but statvfs of {mount} says {free} bytes free")
    return found


@dataclass(frozen=True)
class CountClaims:
    """What the proxy's counters said one capture block received (the rise of each ``-total`` over it)."""

    cbid: str
    packets: int | None
    lost: int | None


def judge_counts(claims: CountClaims, *, valid_frames: int, missing_frames: int, fill_frames: int = 0) -> list[str]:
    """The counters' rise over a capture block against the frames the checker found in its product: every packet
    received is a valid frame, every packet lost a gap or a fill frame in its place (jive5ab fills udps loss)."""
    found = []
    if claims.packets is not None and claims.packets != valid_frames:
        found.append(f"sensor {names.PACKETS_TOTAL} rose by {claims.packets} over capture block {claims.cbid}, "
                     f"but its product holds {valid_frames} valid frames")
    absent = missing_frames + fill_frames
    if claims.lost is not None and claims.lost != absent:
        found.append(f"sensor {names.LOST_TOTAL} rose by {claims.lost} over capture block {claims.cbid}, "
                     f"but the checker counted {absent} frames absent from its product ({missing_frames} missing, "
                     f"{fill_frames} fill frames)")
    return found


def config_mismatches(expected: dict[str, str], running: dict[str, str | None]) -> list[str]:
    """Settings where a running recorder differs from the scenario's stream: ``mode``, ``net_protocol``, ``mtu``,
    ``net_port`` (what ``<setting>?`` said, None when it did not answer)."""
    found = []
    for setting, want in expected.items():
        have = running.get(setting)
        if have is None:
            found.append(f"{setting}? gave no answer (the scenario needs {want})")
            continue
        same = have.lower() == want.lower() if setting == "mode" else _same_port(have, want) \
            if setting == "net_port" else have == want
        if not same:
            found.append(f"{setting}: the recorder runs {have!r}, the scenario's stream needs {want!r}")
    return found


def _same_port(have: str, want: str) -> bool:
    """``port`` or ``address@port``: the ports must agree, and the addresses where both name one."""
    have_address, _, have_port = have.rpartition("@")
    want_address, _, want_port = want.rpartition("@")
    if have_port != want_port:
        return False
    return not (have_address and want_address) or have_address == want_address
