"""Before the scans and after them: the lab, the recorder, the preflight checks, and teardown."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.formats.vdif.rates import ObservingMode
from harness.lab.errors import LabError
from harness.lab.inventory import Inventory, read_inventory
from harness.recorder.errors import RecorderError
from harness.recorder.model import Recorder
from harness.recorder.reference.transfer import MIN_VBS_BLOCK
from harness.scenario import run_lock, stand_in
from harness.scenario.errors import SYSTEM_FAULTS
from harness.scenario.nodes import LoopbackNodes, NodePair, Nodes, local_environment, mount_glob
from harness.scenario.run_dir import RunDirectory
from harness.scenario.run_lock import NodeLocks, NodesBusy
from harness.scenario.schema import NOT_DRIVEN, Scenario
from harness.scenario.stream_format import recorder_frame, whole_frame_workbuf

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
    provision: bool = False
    """Inventory labs: run ansible/site.yml (and install the harness on the nodes) before the preflight. The local
    lab: converge it with Ansible even when every part of it is up (otherwise a lab that is up is used as it is,
    and the preflight checks it: its sysctls, MTU, jumbo path and disks)."""
    lab_check: bool = True
    """Inventory labs without provision: site.yml --check first (what drifted is said, nothing changed)."""
    recorder_control: str | None = None
    """host:port of a running recorder or KATCP proxy to attach to, overriding recorder.control."""
    stand_in_sender: bool = False
    """External streams: the harness's vdif-send sends the declared stream, standing in for the CBF."""
    stand_in_skip_threads: tuple[int, ...] = ()
    """Threads the stand-in never sends (a thread that never comes: the run must fail naming it)."""


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
    pairs: list[Nodes] = field(default_factory=list)
    """One per recorder node (with the sender node that feeds it), in the scenario's order."""
    recorders: dict[str, Recorder] = field(default_factory=dict)
    """Recorder node name -> its recorder, started and configured."""
    recorder_config: dict[str, Any] = field(default_factory=dict)
    recorder_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Recorder node name -> the configuration sent to its recorder (several recorder nodes)."""
    backend: str = ""
    version: str = ""
    lab_brought_up: bool = False
    inherited_lab: bool = False
    """A killed run had brought the local lab up and left it: this run takes it down at its end."""
    loopback: LoopbackNodes | None = None
    lab_kind: str = "none"
    inventory: Inventory | None = None
    announce: Callable[[str], None] = field(default=lambda line: None, repr=False)
    """Says a wait for a node to the terminal and the lab log."""
    before_lab_up: Callable[[], None] = field(default=lambda: None, repr=False)
    """Called just before this run brings the local lab up (the run lock notes it)."""
    node_locks: NodeLocks | None = None

    @property
    def nodes(self) -> Nodes | None:
        """The first (for one recorder: the) recorder node and its sender."""
        return self.pairs[0] if self.pairs else None

    @property
    def recorder(self) -> Recorder | None:
        return next(iter(self.recorders.values()), None)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failures(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.passed)

    def recorder_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"backend": self.backend, "version": self.version, "config": self.recorder_config}
        if len(self.recorder_configs) > 1:
            found["nodes"] = {name: {"config": config} for name, config in self.recorder_configs.items()}
        return found


def lab_choice(scenario: Scenario, options: RunOptions) -> str:
    return options.lab or scenario.lab.inventory


def lab_kind(choice: str) -> str:
    """The lab by name: none (loopback and plain directories), local (this machine), else an inventory file."""
    return choice if choice in ("none", "local") else "inventory"


def mode_string(scenario: Scenario) -> str | None:
    stream = scenario.stream
    if stream.mode:
        return stream.mode
    return ObservingMode.from_frame_rate(stream.frames_per_second, payload_bytes=stream.payload_bytes,
                                         nchan=stream.channels, bits=stream.bits, complex=stream.complex,
                                         legacy=stream.edv == "legacy").mode_string


NODE_FAULTS: tuple[type[Exception], ...] = (*SYSTEM_FAULTS, ValueError)


def bring_up(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight,
             announce: Callable[[str], None] = lambda line: None) -> Preflight:
    """Lab up and verified, recorders started and configured. Failures become failed checks."""
    preflight.announce = announce
    try:
        preflight.pairs = LABS[lab_kind(lab_choice(scenario, options))](scenario, options, run_dir, preflight)
        if preflight.node_locks is None:
            preflight.node_locks = run_lock.lock_nodes(_lock_keys(preflight), scenario.name, announce=announce)
    except NodesBusy as exc:  # another run holds a node: one line naming it
        preflight.checks.append(Check("lab nodes free", False, str(exc)))
        return preflight
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


def _lock_keys(preflight: Preflight) -> dict[str, str]:
    """Node name -> what identifies it across runs (loopback runs share nothing)."""
    if preflight.lab_kind == "none":
        return {}
    if preflight.lab_kind == "local":
        return {"local lab": "local-lab"}
    keys = {}
    for pair in preflight.pairs:
        if isinstance(pair, NodePair):
            keys[pair.sender.name] = pair.sender.lock_key
            keys[pair.recorder.name] = pair.recorder.lock_key
    return keys


def _loopback_lab(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> list[Nodes]:
    mounts = scenario.recorder.mount_points
    if mounts:
        nodes = LoopbackNodes(mount_points=mounts)
    else:
        root = Path(tempfile.mkdtemp(prefix=f"vlbi-{scenario.name}-", dir=os.environ.get("VLBI_DISKS_DIR")))
        nodes = LoopbackNodes.in_directory(root, scenario.lab.disks)
        nodes.made.append(str(root))
    preflight.loopback = nodes
    preflight.lab_kind = "none"
    return [nodes]


def _local_lab(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> list[Nodes]:
    from harness.lab import lab_status, lab_up

    mounts = scenario.recorder.mount_points
    was_up = lab_status().up
    if not was_up:
        preflight.before_lab_up()
    info = lab_up(inventory="ansible/inventory/local.yml", log=run_dir.log("lab"), disks=scenario.lab.disks,
                  disk_size=f"{max(1, scenario.lab.disk_size // (1 << 20))}M", converge=options.provision)
    preflight.lab_brought_up = not was_up
    preflight.lab_kind = "local"
    if info.degraded:  # without root the local lab is loopback and plain directories: the one loopback lab
        nodes = LoopbackNodes(mount_points=mounts or info.mount_points)
        return [nodes]
    if mounts:
        info.mount_points = mounts
        info.disk_glob = mount_glob(mounts)
    return [info]


def _inventory_lab(scenario: Scenario, options: RunOptions, run_dir: RunDirectory,
                   preflight: Preflight) -> list[Nodes]:
    announce = preflight.announce
    """Nodes and roles from the inventory alone: the scenario names at most which sender and which recorders."""
    from harness.lab.local import resolve_inventory

    path = resolve_inventory(lab_choice(scenario, options))
    if path is None:
        raise LabError("no inventory")
    preflight.lab_kind = "inventory"
    from harness.lab.netns import provision_lab

    inventory = read_inventory(path)
    preflight.inventory = inventory
    pairs = _inventory_pairs(scenario, inventory, path)
    preflight.pairs = pairs  # held before Ansible touches a node: another run's nodes are not provisioned under it
    preflight.node_locks = run_lock.lock_nodes(_lock_keys(preflight), scenario.name, announce=announce)
    if options.provision:
        provision_lab(path, run_dir.log("lab"))
    elif options.lab_check:  # only checked: a lab that drifted from its roles is said, not changed
        name = "lab as provisioned (site.yml --check)"
        try:
            checked = provision_lab(path, run_dir.log("lab"), check_mode=True)
        except LabError as exc:  # a lab never provisioned fails in check mode: said; the preflight checks judge
            preflight.checks.append(Check(name, True, f"WARNING (advisory): {one_line(exc)}"))
        else:
            detail = "no change" if not checked.changed else (
                f"WARNING (advisory): {len(checked.changed)} tasks would change ({'; '.join(checked.changed[:5])}"
                f"{'; ...' if len(checked.changed) > 5 else ''}): provision with --provision")
            preflight.checks.append(Check(name, True, detail))
    return pairs


def _inventory_pairs(scenario: Scenario, inventory: Inventory, path: Path) -> list[Nodes]:
    senders = inventory.role("sender")
    lab = scenario.lab
    if lab.sender in inventory.nodes:
        sender = inventory.node(lab.sender, "sender")
    elif senders:
        sender = senders[0]
    else:
        raise LabError(f"{path}: no sender node (group senders)")
    if lab.recorders:
        recorders = [inventory.node(name, "recorder") for name in lab.recorders]
    elif lab.recorder in inventory.nodes:
        recorders = [inventory.node(lab.recorder, "recorder")]
    else:
        recorders = inventory.role("recorder")
    if not recorders:
        raise LabError(f"{path}: no recorder node (group recorders)")
    if scenario.recorder.mount_points:
        raise ValueError("recorder.mount_points: on an inventory lab the disks are the inventory's (xfs_disks_list)")
    if len(recorders) > 1 and (scenario.stream.multicast or scenario.stream.destination):
        raise ValueError(f"stream.{'multicast' if scenario.stream.multicast else 'destination'}: with "
                         f"{len(recorders)} recorder nodes each gets its own stream to its data address; "
                         "name one recorder (lab.recorders) for a fixed destination or a multicast group")
    return [NodePair(sender=sender, recorder=recorder, lab=str(path)) for recorder in recorders]


LABS: dict[str, Callable[[Scenario, RunOptions, RunDirectory, Preflight], list[Nodes]]] = {
    "none": _loopback_lab,
    "local": _local_lab,
    "inventory": _inventory_lab,
}
"""The labs by name (a scenario's lab.inventory or --lab): what each gives the engine is a list of Nodes."""


def _start_recorder(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> None:
    for nodes in preflight.pairs:
        _start_one(scenario, options, run_dir, preflight, nodes)


def _start_one(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight,
               nodes: Nodes) -> None:
    from harness.recorder import RecorderConfig, open_recorder

    spec = scenario.recorder
    backend = options.recorder or spec.backend
    image = options.jive5ab_image or spec.image
    binary = options.jive5ab_bin or spec.binary or (None if image else os.environ.get("JIVE5AB_BIN"))
    stream = scenario.stream
    # the data socket binds to the group, or to the recorder's lab (or loopback) address: never to every interface
    data_address = stream.multicast or nodes.recorder_ip
    format_spec = stream.format_spec
    if format_spec is None:
        mode, frame_bytes, workbuf = mode_string(scenario), stream.frame_bytes, spec.workbuf
    else:  # Mark5B, LWA RBeam: recorded as raw datagrams by the reference recorder only
        if backend != "reference":
            raise RecorderError(f"the {backend} backend records VDIF streams only here, not {stream.format} "
                                f"({NOT_DRIVEN}): use --recorder reference", backend=backend)
        frame = recorder_frame(format_spec)
        mode, frame_bytes = frame.mode, frame.datagram_payload
        workbuf = whole_frame_workbuf(frame, spec.workbuf, spec.block_size or MIN_VBS_BLOCK)
    config = RecorderConfig(
        mode=mode, protocol=spec.protocol or ("udps" if stream.udps else "pudp"),
        socket_buffer=spec.socket_buffer, workbuf=workbuf, nbuf=spec.nbuf, mtu=spec.mtu,
        data_port=stream.port, data_address=data_address, disks=list(nodes.mount_points), writers=spec.writers,
        frame_bytes=frame_bytes, net2file=spec.recording == "net2file",
    )
    remote = nodes.recorder_ssh is not None
    log_dir = run_dir.path / "nodes" / nodes.recorder_node if remote else run_dir.path
    control = options.recorder_control or spec.control
    extra: dict[str, Any] = {}
    if backend == "katcp":
        extra = {"product_root": spec.product_root, "behind": spec.behind, "vsis": spec.vsis,
                 "init_timeout": spec.capture_init_timeout, "done_timeout": spec.capture_done_timeout,
                 "local_product": nodes.recorder_ssh is None}  # else the product is the node's, judged there
    if stream.multicast:  # a reference recorder (or katcp's, behind it) joins the group there; jive5ab where it routes
        extra["data_interface"] = nodes.recorder_ip
    if isinstance(nodes, NodePair) and backend == "jive5ab" and not control and nodes.recorder.jive5ab_image:
        if binary:  # the role's container holds the control port there: a second jive5ab would drive nothing
            raise RecorderError(f"node {nodes.recorder_node} runs jive5ab in a container (jive5ab_image "
                                f"{nodes.recorder.jive5ab_image}, port {nodes.recorder.jive5ab_control_port}): "
                                "give no recorder.binary (the container is attached to)", backend=backend)
        control = f"{nodes.recorder.ssh.host}:{nodes.recorder.jive5ab_control_port}"  # the jive5ab role's container
    try:
        recorder = open_recorder(backend, log_dir=log_dir, control=control, binary=binary, image=image,
                                 block_size=spec.block_size, mounts=list(nodes.mount_points), bind=nodes.control_bind,
                                 launch=nodes.recorder_command if remote else None, **extra)
    except RecorderError as exc:
        if not remote:
            raise
        raise RecorderError(f"on node {nodes.recorder_node}: {exc.message}", backend=backend,
                            log_tail=exc.log_tail) from None
    recorder.__enter__()
    preflight.recorders[nodes.recorder_node] = recorder
    preflight.backend = backend
    preflight.version = recorder.version()
    recorder.configure(config)
    shown = {k: v for k, v in vars(config).items() if not k.startswith("_")}
    preflight.recorder_configs[nodes.recorder_node] = shown
    preflight.recorder_config = preflight.recorder_config or shown


def _verify(scenario: Scenario, options: RunOptions, run_dir: RunDirectory, preflight: Preflight) -> None:
    nodes = preflight.nodes
    if nodes is None:
        return
    stream = scenario.stream  # an external stream is declared too: its rate fills the disks alike
    scan_bytes = stream.nominal_gbps * 1e9 / 8 * scenario.schedule.scan_length * options.duration_scale
    line = stand_in.preflight_line(scenario, options, nodes)
    if line is not None:
        preflight.checks.append(Check("stand-in sender", True, line))
    scans = 1 if scenario.schedule.rolling else scenario.schedule.scan_count
    needed = int(scan_bytes * min(scans, 2 if scenario.schedule.rolling else scans) * 1.1)
    if preflight.loopback is not None:
        preflight.checks.append(Check("recorder answers version?", bool(preflight.version), preflight.version))
        free = min(os.statvfs(m).f_bavail * os.statvfs(m).f_frsize for m in nodes.mount_points)
        detail = f"{free / 1e9:.1f} GB free on the fullest mount point, {needed / 1e9:.2f} GB needed"
        preflight.checks.append(Check("free space for the schedule", free >= needed, detail))
        preflight.environment = local_environment(nodes, preflight.version)
        return
    if preflight.lab_kind == "inventory":
        _verify_inventory(scenario, preflight, needed, run_dir)
        return
    from harness.lab import LabInfo
    from harness.lab import preflight as lab_preflight

    if not isinstance(nodes, LabInfo):
        raise TypeError(f"lab preflight needs a LabInfo, not {type(nodes).__name__}")
    recorder = preflight.recorder
    checks, environment = lab_preflight(nodes, recorder_version=recorder.version if recorder else None,
                                        free_bytes_needed=needed, multicast=scenario.stream.multicast)
    # advisory checks (e.g. a clock offset that is only reported) never fail the preflight
    preflight.checks.extend(Check(c.name, c.passed or c.advisory, c.detail) for c in checks)
    preflight.checks.append(_control_port_exposure(nodes, preflight))
    preflight.environment = environment


def _verify_inventory(scenario: Scenario, preflight: Preflight, needed: int, run_dir: RunDirectory) -> None:
    from harness.lab.commands import lab_log
    from harness.lab.node_checks import inventory_preflight

    pairs = [p for p in preflight.pairs if isinstance(p, NodePair)]
    with lab_log(run_dir.log("lab")):
        checks, environment = inventory_preflight(pairs[0].sender, [p.recorder for p in pairs],
                                                  mtu=scenario.recorder.mtu or 9000, free_bytes_needed=needed,
                                                  multicast=scenario.stream.multicast)
    preflight.checks.extend(Check(c.name, c.passed or c.advisory, c.detail) for c in checks)
    for name, recorder in preflight.recorders.items():
        version = recorder.version()
        preflight.checks.append(Check(f"{name} recorder answers version?", bool(version), version))
        environment["nodes"].setdefault(name, {})["recorder_version"] = version
    environment["lab"] = str(preflight.inventory.path if preflight.inventory else "")
    preflight.environment = environment


_CONNECT = "import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()\n" \
           "except OSError:\n    sys.exit(1)\n"


def _control_port_exposure(nodes: LabInfo, preflight: Preflight) -> Check:
    """Advisory: whether the recorder's control port answers from the sender node over the data network
    (jive5ab binds it to every interface; anyone there could stop a recording)."""
    name = "recorder control port not on the data network"
    recorder = preflight.recorder
    if recorder is None or nodes.sender_netns is None:
        return Check(name, True, "not checked: no recorder or no sender node")
    port = int(recorder.control_address.rsplit(":", 1)[1])
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
        for name, recorder in preflight.recorders.items():
            try:
                recorder.close()
            except SYSTEM_FAULTS as exc:
                with run_dir.log("recorder").open("a") as fh:
                    fh.write(f"closing the recorder on {name} failed: {one_line(exc)}\n")
    finally:  # a harness bug while closing the recorder still takes the lab down, then shows its traceback
        try:
            _remove_lab(preflight, options, run_dir, keep_data, verdict)
        finally:
            if preflight.node_locks is not None:
                preflight.node_locks.release()


def _remove_lab(preflight: Preflight, options: RunOptions, run_dir: RunDirectory, keep_data: bool,
                verdict: str | None) -> None:
    if preflight.loopback is not None and preflight.loopback.made:
        if keep_data:
            with run_dir.log("lab").open("a") as fh:
                fh.write(f"recordings kept for inspection in {', '.join(preflight.loopback.made)}\n")
        else:
            preflight.loopback.remove()
    if preflight.inherited_lab and not preflight.lab_brought_up and not options.keep_lab:
        _take_down_inherited_lab(preflight, run_dir)
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


def _take_down_inherited_lab(preflight: Preflight, run_dir: RunDirectory) -> None:
    """The local lab a killed run left up: down, unless a live run holds it now (this one did on the local lab)."""
    from harness.lab import lab_down

    log = run_dir.log("lab")
    if preflight.lab_kind == "local":
        preflight.lab_brought_up = True  # this run held it: the usual teardown below takes it down
        return
    try:
        held = run_lock.lock_nodes({"local lab": "local-lab"}, "teardown", wait_s=0)
    except NodesBusy as exc:  # another run uses it now: it is that run's lab
        with log.open("a") as fh:
            fh.write(f"the local lab a killed run left up is in use by another run, so it stays: {exc}\n")
        return
    try:
        lab_down(log=log)
    except SYSTEM_FAULTS as exc:
        with log.open("a") as fh:
            fh.write(f"lab down (of the lab a killed run left up) failed: {one_line(exc)}\n")
    finally:
        held.release()


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
