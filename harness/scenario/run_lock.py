"""A run's lock: what a harness killed with SIGKILL leaves behind is found and stopped by the next run.

Every run writes a lock naming itself (pid and start time) and marks its environment with a run id, which
every process it starts inherits (recorder, sender's ssh, checker workers); a container it starts carries the
id as a label. The next run reads the locks: one whose harness is gone is an orphan's, and the processes that
carry its id and its containers are stopped, and said so. The locks live where only this user can write
(harness/lab/trust.py): /run/vlbi-harness for root (gone at reboot, like the pids in it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.lab.trust import private_dir, read_private
from harness.recorder.processes import RUN_LABEL as CONTAINER_LABEL
from harness.recorder.processes import RUN_MARK


def lock_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/run/vlbi-harness")
    return Path(tempfile.gettempdir()) / f"vlbi-harness-{os.getuid()}"


@dataclass
class RunLock:
    path: Path
    run_id: str

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def _started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def acquire(scenario: str, directory: Path | None = None) -> tuple[RunLock, list[str]]:
    """Stop what killed runs left, then take a lock for this run. Returns the lock and what was stopped."""
    where = directory or lock_dir()
    private_dir(where, create=True)
    stopped = reap_orphans(where)
    pid = os.getpid()
    run_id = f"{pid}-{time.time_ns()}"
    os.environ[RUN_MARK] = run_id
    path = where / f"{run_id}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"run_id": run_id, "pid": pid, "started": _started(pid), "scenario": scenario}, handle)
    return RunLock(path, run_id), stopped


def reap_orphans(directory: Path) -> list[str]:
    """Stop the processes and containers of every run whose harness is no longer alive; what was stopped."""
    stopped: list[str] = []
    for path in sorted(directory.glob("*.json")):
        text = read_private(path)
        if text is None:
            continue
        try:
            lock = json.loads(text)
            run_id, pid, started = str(lock["run_id"]), int(lock["pid"]), lock.get("started")
        except (ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # not a lock of ours: nothing can be known from it
            continue
        now = _started(pid)
        if now is not None and started is not None and abs(now - float(started)) < 1.0:
            continue  # that run is alive (another scenario running now)
        found = _marked_processes(run_id)
        for process in found:
            stopped.append(f"process {process.pid} ({' '.join(process.cmdline()[:3])}) of killed run "
                           f"{lock.get('scenario')} (pid {pid})")
        _stop(found)
        stopped += _remove_containers(run_id, str(lock.get("scenario")), pid)
        path.unlink(missing_ok=True)
    return stopped


def _marked_processes(run_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.pid != os.getpid() and process.environ().get(RUN_MARK) == run_id and \
                    process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
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


def _remove_containers(run_id: str, scenario: str, pid: int) -> list[str]:
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
        for container in client.containers.list(all=True, filters={"label": f"{CONTAINER_LABEL}={run_id}"}):
            container.remove(force=True)
            removed.append(f"container {container.short_id} of killed run {scenario} (pid {pid})")
        return removed
    except DockerException:
        return []
