"""Recorders the harness starts itself: a local process (jive5ab or vdif-record) or a Docker container.

Every start goes through here, with its command line written at the top of its log, its
output captured in that log, and timeouts on start and stop. What was started is stopped
(SIGTERM, then SIGKILL; a container is stopped and removed) and its log is kept.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.recorder.errors import RecorderDied, RecorderError
from harness.run_mark import RUN_LABEL, RUN_MARK

START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
"""SIGTERM makes both recorders write out the scan in progress: give that time."""




def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (for recorders that cannot be told to pick one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, alive: Any = None) -> None:
    """Until a TCP connect to ``host:port`` succeeds; ``alive()`` False aborts the wait early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if alive is not None and not alive():
                raise RecorderDied(f"exited before its control port {host}:{port} opened") from None
            time.sleep(0.1)
    raise RecorderError(f"control port {host}:{port} did not open within {timeout:g} s")


class RecorderProcess:
    """A local recorder process whose output goes to ``log_path``."""

    def __init__(self, argv: list[str], log_path: Path, *, backend: str) -> None:
        self.argv = argv
        self.backend = backend
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._log.write(f"# {started} started: {shlex.join(argv)}\n".encode())
        self._log.flush()
        try:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        except OSError as exc:
            self._log.close()
            raise RecorderError(f"cannot start {shlex.join(argv)}: {exc.strerror or exc}", backend=backend) from None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def died(self, what: str) -> RecorderDied:
        return RecorderDied(f"{what}: the process exited with code {self.popen.returncode}", backend=self.backend,
                            log_tail=self.log_tail())

    def wait_for_line(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        """The first log line matching ``pattern`` (the reference prints its port when listening)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = regex.search(self.log_path.read_text(errors="replace"))
            if match:
                return match
            if not self.alive():
                raise self.died("it ended during start-up")
            time.sleep(0.05)
        raise RecorderError(f"no line matching {pattern!r} in its log within {timeout:g} s", backend=self.backend,
                            log_tail=self.log_tail())

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (the scan in progress is written out), then SIGKILL after ``timeout``."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            self.popen.send_signal(signal.SIGCONT)  # a stopped (SIGSTOP) recorder handles its SIGTERM only now
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        code = self.popen.returncode
        if not self._log.closed:
            self._log.write(f"# stopped, exit code {code}\n".encode())
            self._log.close()
        return code


class RecorderContainer:
    """jive5ab in a container from an image the user names: host network, mount points as volumes."""

    def __init__(
        self, image: str, argv: list[str], log_path: Path, *, mounts: list[str], backend: str = "jive5ab",
    ) -> None:
        try:
            import docker
            from docker.errors import DockerException, ImageNotFound
        except ImportError:  # pragma: no cover - docker is a declared dependency
            raise RecorderError("the docker Python package is missing", backend=backend) from None
        self.backend = backend
        self.log_path = log_path
        self.image = image
        log_path.parent.mkdir(parents=True, exist_ok=True)
        volumes = {m: {"bind": m, "mode": "rw"} for m in mounts}
        try:
            self.client = docker.from_env(timeout=30)
            self.client.images.get(image)
        except ImageNotFound:
            raise RecorderError(f"image {image!r} is not on this Docker engine (the harness never builds it: "
                                f"load or build it first)", backend=backend) from None
        except DockerException as exc:
            raise RecorderError(f"no Docker engine: {exc}", backend=backend) from None
        with log_path.open("a") as log:
            log.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} docker run --network host "
                      f"{' '.join(f'-v {m}:{m}' for m in mounts)} --entrypoint {argv[0]} {image} "
                      f"{shlex.join(argv[1:])}\n")
        try:
            self.container = self.client.containers.run(
                image, command=argv[1:], entrypoint=[argv[0]], network_mode="host", volumes=volumes, detach=True,
                labels={"vlbi-harness": "recorder",
                        **({RUN_LABEL: run} if (run := os.environ.get(RUN_MARK)) else {})},
            )
        except DockerException as exc:
            raise RecorderError(f"cannot start a container from {image!r}: {exc}", backend=backend) from None

    @property
    def pid(self) -> int | None:
        """Inside a container: not a process the harness can sample."""
        return None

    def alive(self) -> bool:
        try:
            self.container.reload()
        except Exception:
            return False
        return bool(self.container.status in ("created", "running"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return bytes(self.container.logs(tail=lines)).decode(errors="replace")
        except Exception:
            return ""

    def died(self, what: str) -> RecorderDied:
        return RecorderDied(f"{what}: the container is {self.container.status}", backend=self.backend,
                            log_tail=self.log_tail())

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Stop (SIGTERM, then SIGKILL), keep the whole log, remove the container."""
        code = None
        try:
            self.container.stop(timeout=int(timeout))
            code = self.container.wait(timeout=timeout).get("StatusCode")
        finally:
            try:
                with self.log_path.open("ab") as log:
                    log.write(bytes(self.container.logs()))
                    log.write(f"# container stopped, exit code {code}\n".encode())
            finally:
                self.container.remove(force=True)
        return code
