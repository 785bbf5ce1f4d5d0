"""A run's lock: what a harness killed with SIGKILL leaves behind is found and stopped by the next run.

Every run holds an flock on a lock file of its own for as long as it lives, and marks its environment with a
run id that every process it starts inherits (recorder, the sender's ssh, checker workers); a container it
starts carries the id as a label (harness/run_mark.py). The kernel drops the flock when the harness dies,
however it dies, so the next run knows a killed run's lock by being able to take it: the processes that carry
that id and its containers are then stopped, and said so. The locks live where only this user can write
(harness/lab/trust.py): /run/vlbi-harness for root (gone at reboot, like the pids in it), or $VLBI_RUN_LOCKS.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from harness.lab.errors import LabError
from harness.lab.trust import check_owned, private_dir
from harness.run_mark import RUN_LABEL, RUN_MARK

LOCKS_ENV = "VLBI_RUN_LOCKS"
"""Another folder for the locks (tests give each their own)."""


def lock_dir() -> Path:
    if os.environ.get(LOCKS_ENV):
        return Path(os.environ[LOCKS_ENV])
    if os.geteuid() == 0:
        return Path("/run/vlbi-harness")
    return Path(tempfile.gettempdir()) / f"vlbi-harness-{os.getuid()}"


FAULTS_NOTE = "faults_in_force"
"""Fault key -> the command that removes it, for each fault a run has in force."""
LAB_NOTE = "brings_up_local_lab"
"""Written into a run's lock before it brings the local lab up: a next run that finds the run killed takes the
lab over (and down at its end), or it would stay up for good."""


@dataclass
class RunLock:
    path: Path
    run_id: str
    handle: IO[str]
    inherited_lab: str | None = None
    """Which killed run left the local lab up (it had brought it up), for this run to take down; else None."""

    def note(self, **fields: object) -> None:
        """Add to what the lock says about this run (read by the run that reaps it, should this one be killed)."""
        self.handle.seek(0)
        record = json.loads(self.handle.read() or "{}")
        record.update(fields)
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(json.dumps(record))
        self.handle.flush()

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        self.handle.close()  # and with it the flock


def _open_lock(path: Path, flags: int) -> IO[str]:
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    handle = os.fdopen(fd, "r+")
    try:
        check_owned(path, os.fstat(fd))
    except BaseException:
        handle.close()
        raise
    return handle


def acquire(scenario: str, directory: Path | None = None) -> tuple[RunLock, list[str]]:
    """Stop what killed runs left, then take a lock for this run. Returns the lock and what was stopped."""
    where = directory or lock_dir()
    private_dir(where, create=True)
    stopped, inherited = reap_orphans(where)
    run_id = f"{os.getpid()}-{time.time_ns()}"
    path, making = where / f"{run_id}.lock", where / f"{run_id}.new"
    handle = _open_lock(making, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    fcntl.flock(handle, fcntl.LOCK_EX)  # held (not inherited: close-on-exec) until release or death
    handle.write(json.dumps({"run_id": run_id, "pid": os.getpid(), "scenario": scenario}))
    handle.flush()
    making.rename(path)  # only now does a reaper see it: locked and complete
    os.environ[RUN_MARK] = run_id
    return RunLock(path, run_id, handle, inherited), stopped


def reap_orphans(directory: Path) -> tuple[list[str], str | None]:
    """Stop the processes and containers of every run whose harness no longer holds its lock; also which killed
    run had brought the local lab up, if one had."""
    stopped: list[str] = []
    inherited: str | None = None
    for path in sorted(directory.glob("*.lock")):
        try:
            handle = _open_lock(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # released meanwhile
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # that run is alive (another scenario running now)
            try:
                lock = json.loads(handle.read() or "{}")
            except ValueError:
                lock = {}
            run_id = str(lock.get("run_id") or path.stem)
            killed = f"killed run {lock.get('scenario', '?')} (pid {lock.get('pid', '?')})"
            found = _marked_processes(run_id)
            stopped += [f"process {pid} ({command}) of {killed}" for pid, command in found.values()]
            _stop(list(found))
            stopped += _remove_containers(run_id, killed)
            stopped += _undo_faults(lock.get(FAULTS_NOTE), killed)
            if lock.get(LAB_NOTE):
                inherited = killed
            path.unlink(missing_ok=True)
    return stopped, inherited


def _undo_faults(undo: object, killed: str) -> list[str]:
    """Remove the faults a killed run left in force, by the commands it noted for each (after its processes are
    stopped: a recorder it had stopped with SIGSTOP is then gone already)."""
    done = []
    for key, argv in (undo or {}).items() if isinstance(undo, dict) else ():
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            continue
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            how = "" if result.returncode == 0 else f" (it answered: {(result.stderr or result.stdout).strip()[:120]})"
        except (OSError, subprocess.TimeoutExpired) as exc:
            how = f" (it failed: {exc})"
        done.append(f"fault {key} of {killed}: {' '.join(argv)}{how}")
    return done


def _marked_processes(run_id: str) -> dict[psutil.Process, tuple[int, str]]:
    found = {}
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.pid != os.getpid() and process.environ().get(RUN_MARK) == run_id and \
                    process.status() != psutil.STATUS_ZOMBIE:
                found[process] = (process.pid, " ".join(process.cmdline()[:3]))
    return found


def _stop(processes: list[psutil.Process]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)
                alive.append(process)
        _, processes = psutil.wait_procs(alive, timeout=10)
        if not processes:
            return


def _remove_containers(run_id: str, killed: str) -> list[str]:
    if not os.path.exists("/var/run/docker.sock"):
        return []
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - docker is a declared dependency
        return []
    try:
        client = docker.from_env(timeout=30)
        removed = []
        for container in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
            container.remove(force=True)
            removed.append(f"container {container.short_id} of {killed}")
        return removed
    except DockerException:
        return []


NODE_WAIT_ENV = "VLBI_NODE_WAIT"
"""Seconds a run waits for a lab node another run holds (default NODE_WAIT_S)."""
NODE_WAIT_S = 300.0


class NodesBusy(LabError):
    """A lab node another run holds, after waiting for it."""


@dataclass
class NodeLocks:
    """The lab nodes a run holds (flocks: the kernel drops them however the run ends)."""

    handles: list[IO[str]]

    def release(self) -> None:
        for handle in self.handles:
            handle.close()
        self.handles = []


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    try:
        held = json.loads(handle.read() or "{}")
    except ValueError:
        held = {}
    if not held:
        return "another run"  # that has not yet written its name
    return f"scenario {held.get('scenario', '?')} (pid {held.get('pid', '?')})"


def lock_nodes(nodes: dict[str, str], scenario: str, *, wait_s: float | None = None,
               announce: Callable[[str], None] = lambda line: None) -> NodeLocks:
    """Hold every node (name -> lock key, e.g. its SSH address) for this run; a node another run holds is waited
    for (saying so once) and, after ``wait_s``, refused with a LabError naming the node and who holds it."""
    wait = float(os.environ.get(NODE_WAIT_ENV, NODE_WAIT_S)) if wait_s is None else wait_s
    where = lock_dir() / "nodes"
    private_dir(lock_dir(), create=True)
    private_dir(where, create=True)
    held = NodeLocks([])
    deadline = time.monotonic() + wait
    names: dict[str, list[str]] = {}
    for node, node_key in nodes.items():  # one lock per machine, whatever roles it has in the inventory
        names.setdefault(node_key, []).append(node)
    try:
        for key in sorted(names):  # one order: two runs cannot deadlock
            _lock_one(held, where, "+".join(names[key]), key, scenario, deadline, wait, announce)
    except BaseException:
        held.release()
        raise
    return held


def _lock_one(held: NodeLocks, where: Path, name: str, key: str, scenario: str, deadline: float, wait: float,
              announce: Callable[[str], None]) -> None:
    """Wait for one node's lock (until ``deadline``) and add it to ``held``."""
    handle = _open_lock(where / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.lock", os.O_RDWR | os.O_CREAT)
    said = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(handle)
                handle.close()
                raise NodesBusy(f"node {name} ({key}) is in use by {holder}: waited {wait:g} s") from None
            if not said:
                announce(f"{scenario}: waiting up to {wait:g} s for node {name} ({key}), in use by "
                         f"{_holder(handle)}")
                said = True
            time.sleep(0.5)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"scenario": scenario, "pid": os.getpid(), "node": name}))
    handle.flush()
    held.handles.append(handle)
