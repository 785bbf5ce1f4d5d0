"""Before the scans and after them: the lab, the recorder, the preflight checks, and teardown."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.formats.vdif.rates import ObservingMode
from harness.scenario.errors import SYSTEM_FAULTS
from harness.scenario.nodes import LoopbackNodes, Nodes, local_environment, mount_glob
from harness.scenario.run_dir import RunDirectory
from harness.scenario.schema import Scenario

if TYPE_CHECKING:
    from harness.lab import LabInfo


@dataclass(frozen=True)
class RunOptions:
    """The command-line options of a scenario run."""

    reports: Path
    recorder: str | None = None
    jive5ab_bin: str | None = None
    jive5ab_image: str | None = None
    lab: str | None = None
    duration_scale: float = 1.0
    abort_on_breach: bool = False
    acceptance: bool = False
    keep_lab: bool = False


@dataclass
class Check:
    """One preflight check, as results.json shows it."""

    name: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Preflight:
    checks: list[Check] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    nodes: Nodes | None = None
    recorder: Any = None
    recorder_config: dict[str, Any] = field(default_factory=dict)
    backend: str = ""
    version: str = ""
    lab_brought_up: bool = False
    loopback: LoopbackNodes | None = None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failures(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.passed)

    def recorder_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "version": self.version, "config": self.recorder_config}


def lab_choice(scenario: Scenario, options: RunOptions) -> str:
    return options.lab or scenario.lab.inventory


def mode_string(scenario: Scenario) -> str | None:
    stream = scenario.stream
    if stream.source == "external" and not stream.mode and not stream.fps:
        return None
    if stream.mode:
        return stream.mode
    return ObservingMode.from_frame_rate(stream.frames_per_second, payload_bytes=stream.payload_bytes,
                                         nchan=stream.channels, bits=stream.bits, complex=stream.complex,
                                         legacy=stream.edv == "legacy").mode_string


NODE_FAULTS: tuple[type[Exception], ...] = (*SYSTEM_FAULTS, ValueError)


def bring_up(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> Preflight:
    """Lab up and verified, recorder started and configured. Failures become failed checks."""
    try:
        preflight.nodes = _nodes(scenario, options, run_dir, preflight)
    except NODE_FAULTS as exc:  # also ValueError: mount points the scenario names that do not fit
        preflight.checks.append(Check("lab", False, one_line(exc)))
        return preflight
    try:
        _start_recorder(scenario, options, run_dir, preflight)
    except SYSTEM_FAULTS as exc:
        preflight.checks.append(Check("recorder", False, one_line(exc)))
        return preflight
    try:
        _verify(scenario, options, run_dir, preflight)
    except SYSTEM_FAULTS as exc:  # a probe that could not run (ip, sysctl, statvfs): the preflight failed
        preflight.checks.append(Check("lab verification", False, one_line(exc)))
    return preflight


def _nodes(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> Nodes:
    choice = lab_choice(scenario, options)
    mounts = scenario.recorder.mount_points
    if choice == "none":
        if mounts:
            nodes = LoopbackNodes(mount_points=mounts)
        else:
            root = Path(tempfile.mkdtemp(prefix=f"vlbi-{scenario.name}-", dir=os.environ.get("VLBI_DISKS_DIR")))
            nodes = LoopbackNodes.in_directory(root, scenario.lab.disks)
            nodes.made.append(str(root))
        preflight.loopback = nodes
        return nodes
    from harness.lab import lab_status, lab_up

    inventory = "ansible/inventory/local.yml" if choice == "local" else choice
    was_up = lab_status().up
    info = lab_up(inventory=inventory, log=run_dir.log("lab"), disks=scenario.lab.disks,
                  disk_size=f"{max(1, scenario.lab.disk_size // (1 << 20))}M")
    preflight.lab_brought_up = not was_up
    if mounts:
        info.mount_points = mounts
        info.disk_glob = mount_glob(mounts)
    return info


def _start_recorder(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> None:
    from harness.recorder import RecorderConfig, open_recorder

    spec = scenario.recorder
    nodes = preflight.nodes
    if nodes is None:
        return
    backend = options.recorder or spec.backend
    image = options.jive5ab_image or spec.image
    binary = options.jive5ab_bin or spec.binary or (None if image else os.environ.get("JIVE5AB_BIN"))
    stream = scenario.stream
    # the data socket binds to the group, or to the recorder's lab (or loopback) address: never to every interface
    data_address = stream.multicast or nodes.recorder_ip
    config = RecorderConfig(
        mode=mode_string(scenario), protocol=spec.protocol or ("udps" if stream.udps else "pudp"),
        socket_buffer=spec.socket_buffer, workbuf=spec.workbuf, nbuf=spec.nbuf, mtu=spec.mtu,
        data_port=stream.port, data_address=data_address, disks=list(nodes.mount_points), writers=spec.writers,
        frame_bytes=stream.frame_bytes, net2file=spec.recording == "net2file",
    )
    recorder = open_recorder(backend, log_dir=run_dir.path, control=spec.control, binary=binary, image=image,
                             block_size=spec.block_size, mounts=list(nodes.mount_points))
    recorder.__enter__()
    preflight.recorder = recorder
    preflight.backend = backend
    preflight.version = recorder.version()
    recorder.configure(config)
    preflight.recorder_config = {k: v for k, v in vars(config).items() if not k.startswith("_")} \
        if hasattr(config, "__dict__") else {}


def _verify(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> None:
    nodes = preflight.nodes
    if nodes is None:
        return
    stream = scenario.stream
    scan_bytes = stream.nominal_gbps * 1e9 / 8 * scenario.schedule.scan_length * options.duration_scale \
        if stream.source == "harness" else 0
    scans = 1 if scenario.schedule.rolling else scenario.schedule.scan_count
    needed = int(scan_bytes * min(scans, 2 if scenario.schedule.rolling else scans) * 1.1)
    if preflight.loopback is not None:
        preflight.checks.append(Check("recorder answers version?", bool(preflight.version), preflight.version))
        free = min(os.statvfs(m).f_bavail * os.statvfs(m).f_frsize for m in nodes.mount_points)
        detail = f"{free / 1e9:.1f} GB free on the fullest mount point, {needed / 1e9:.2f} GB needed"
        preflight.checks.append(Check("free space for the schedule", free >= needed, detail))
        preflight.environment = local_environment(nodes, preflight.version)
        return
    from harness.lab import LabInfo
    from harness.lab import preflight as lab_preflight

    if not isinstance(nodes, LabInfo):
        raise TypeError(f"lab preflight needs a LabInfo, not {type(nodes).__name__}")
    checks, environment = lab_preflight(nodes, recorder_version=preflight.recorder.version, free_bytes_needed=needed)
    # advisory checks (e.g. a clock offset that is only reported) never fail the preflight
    preflight.checks.extend(Check(c.name, c.passed or c.advisory, c.detail) for c in checks)
    preflight.checks.append(_control_port_exposure(nodes, preflight))
    preflight.environment = environment


_CONNECT = "import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()\n" \
           "except OSError:\n    sys.exit(1)\n"


def _control_port_exposure(nodes: LabInfo, preflight: Preflight) -> Check:
    """Advisory: whether the recorder's control port answers from the sender node over the data network
    (jive5ab binds it to every interface; anyone there could stop a recording)."""
    name = "recorder control port not on the data network"
    client = getattr(preflight.recorder, "client", None)
    if client is None or nodes.sender_netns is None:
        return Check(name, True, "not checked: no control port or no sender node")
    port = int(client.address.rsplit(":", 1)[1])
    probe = nodes.sender_command(["python3", "-c", _CONNECT, nodes.recorder_ip, str(port)], via="netns")
    try:
        answered = subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return Check(name, True, f"not checked: the probe from the sender node to {nodes.recorder_ip}:{port} "
                                 "did not end in 30 s")
    if answered:
        return Check(name, True, f"WARNING (advisory): {nodes.recorder_ip}:{port} answers from the sender node; "
                                 "firewall the control port on the data network")
    return Check(name, True, f"{nodes.recorder_ip}:{port} does not answer from the sender node")


def tear_down(preflight: Preflight, options: RunOptions, run_dir: RunDirectory, keep_data: bool,
              verdict: str | None = None) -> None:
    """Stop the recorder we started (logs kept) and take down a lab this run brought up.

    Scratch directories made for a loopback run are removed only when every scan passed; otherwise
    the recordings stay for inspection and the lab log says where.
    """
    try:
        if preflight.recorder is not None:
            try:
                preflight.recorder.close()
            except SYSTEM_FAULTS as exc:
                with run_dir.log("recorder").open("a") as fh:
                    fh.write(f"closing the recorder failed: {one_line(exc)}\n")
    finally:  # a harness bug while closing the recorder still takes the lab down, then shows its traceback
        _remove_lab(preflight, options, run_dir, keep_data, verdict)


def _remove_lab(preflight: Preflight, options: RunOptions, run_dir: RunDirectory, keep_data: bool,
                verdict: str | None) -> None:
    if preflight.loopback is not None and preflight.loopback.made:
        if keep_data:
            with run_dir.log("lab").open("a") as fh:
                fh.write(f"recordings kept for inspection in {', '.join(preflight.loopback.made)}\n")
        else:
            preflight.loopback.remove()
    if preflight.lab_brought_up and not options.keep_lab:
        if keep_data and verdict == "fail":  # taking the lab down would delete the failed scans' recordings
            with run_dir.log("lab").open("a") as fh:
                fh.write("the run failed: the lab stays up so its recordings can be inspected "
                         "(python -m harness.lab down removes it)\n")
            return
        from harness.lab import lab_down

        try:
            lab_down(log=run_dir.log("lab"))
        except SYSTEM_FAULTS as exc:
            with run_dir.log("lab").open("a") as fh:
                fh.write(f"lab down failed: {one_line(exc)}\n")


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
