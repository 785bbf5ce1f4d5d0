"""What the suite may leave on the machine, taken before and after: mounts, loop devices, namespaces, links,
qdiscs, nftables tables, containers, lab state and processes. `tests/conftest.py` fails the session on any difference.

Each kind is read from the kernel's own tools (findmnt, losetup, ip, tc, docker), never from the lab's state
file, so a leak that the lab does not know about is still seen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.lab.state import DEFAULT_WORK_DIR

# A process still alive at the end of the session is a leak when it carries the session's mark in its
# environment (every process the suite starts inherits it, a daemon reparented to init too) or descends from
# the session. Other processes on the machine, another session's among them, are not this session's business.
SESSION_MARK = "VLBI_TEST_SESSION"


def _lines(*argv: str) -> set[str]:
    if not shutil.which(argv[0]):
        return set()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return {f"({' '.join(argv)} did not answer in 30 s)"}
    return {line.strip() for line in done.stdout.splitlines() if line.strip()}


def _qdiscs() -> set[str]:
    # the default qdiscs a new link gets are not the suite's doing; the links themselves are compared apart
    return {line for line in _lines("tc", "qdisc", "show")
            if not line.startswith(("qdisc noqueue 0:", "qdisc pfifo_fast 0:", "qdisc mq 0:", "qdisc fq_codel 0:"))}


def _links() -> set[str]:
    return {line.split(":")[1].strip().split("@")[0] for line in _lines("ip", "-o", "link", "show") if ":" in line}


def _containers() -> set[str]:
    if not os.path.exists("/var/run/docker.sock"):
        return set()
    return _lines("docker", "ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Names}} {{.Status}}")


def _marked(proc: psutil.Process, mark: str) -> bool:
    try:
        return proc.environ().get(SESSION_MARK) == mark
    except (psutil.Error, OSError):
        return False


def _suite_processes(existing: frozenset[int], mark: str) -> dict[int, str]:
    me = psutil.Process()
    family = {p.pid for p in me.children(recursive=True)}
    found: dict[int, str] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        info = proc.info
        if info["pid"] == me.pid or info["pid"] in existing:
            continue
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        command = " ".join(info["cmdline"] or [])
        if "exec(eval(sys.stdin.readline()))" in command:  # an xdist worker: pytest-xdist ends it itself
            continue
        if info["pid"] in family or _marked(proc, mark):
            found[info["pid"]] = command
    return found


def _namespace_processes() -> set[str]:
    """What runs in the lab's namespaces (a sender started over ssh there carries no mark): sshd aside."""
    found = set()
    for name in Path("/run/netns").glob("vlbi-*") if Path("/run/netns").is_dir() else []:
        for pid in _lines("ip", "netns", "pids", name.name):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if not command.startswith(("sshd", "/usr/sbin/sshd")):
                found.add(f"{name.name}: {pid} {command.strip()}")
    return found


@dataclass
class Snapshot:
    """The machine's state of each kind, as text lines that are compared as sets."""

    mark: str
    pids: frozenset[int]
    kinds: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def take(cls, mark: str, since: Snapshot | None = None) -> Snapshot:
        """The state now; with ``since``, also the suite's processes started since that snapshot."""
        snap = cls(mark, frozenset(psutil.pids()))
        # namespace and container mounts are counted as namespaces and containers
        snap.kinds["mount"] = {line for line in _lines("findmnt", "-rn", "-o", "TARGET,FSTYPE,SOURCE")
                               if not line.startswith(("/run/netns", "/run/docker", "/var/lib/docker"))}
        snap.kinds["loop device"] = _lines("losetup", "-a")
        snap.kinds["network namespace"] = {line.split()[0] for line in _lines("ip", "netns", "list")}
        snap.kinds["link"] = _links()
        snap.kinds["qdisc"] = _qdiscs()
        snap.kinds["nftables table"] = _lines("nft", "list", "tables") if os.geteuid() == 0 else set()
        snap.kinds["container"] = _containers()
        state = str(DEFAULT_WORK_DIR / "state.json")
        snap.kinds["lab state"] = {state} if os.path.exists(state) else set()  # False, not an error, without root
        snap.kinds["process in a lab namespace"] = _namespace_processes()
        if since is not None:
            snap.kinds["process"] = {f"{pid} {cmd}" for pid, cmd in _suite_processes(since.pids, mark).items()}
        return snap

    def left_over(self, after: Snapshot) -> list[str]:
        """Every line of ``after`` that was not there in ``self``, named by its kind."""
        return [f"{kind}: {line}" for kind, lines in after.kinds.items()
                for line in sorted(lines - self.kinds.get(kind, set()))]


def settled_left_over(before: Snapshot, *, wait: float = 10.0) -> list[str]:
    """What is left after ``wait`` seconds at most: processes that are still exiting get the time to go."""
    deadline = time.monotonic() + wait
    while True:
        left = before.left_over(Snapshot.take(before.mark, since=before))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def stop_processes(left: list[str]) -> list[str]:
    """Kill the suite's own leftover processes (they carry its mark or descend from it), so that a failed
    session does not leave them running. Mounts, devices, namespaces and containers are only named: the same
    machine may be running another session's lab or containers, which are not this session's to remove."""
    stopped = []
    for entry in left:
        kind, _, line = entry.partition(": ")
        if kind == "process":
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(int(line.split()[0]))
                process.kill()
                with contextlib.suppress(psutil.TimeoutExpired):
                    process.wait(5)  # reaped, if it is our child
                stopped.append(line)
    return stopped
