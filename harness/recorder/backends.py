"""Backends by name: how a recorder is reached or started; the driver after that is shared.

- ``reference``: our ``vdif-record``, started as a subprocess on a free port, or attached to.
- ``jive5ab``: attached to (``control="host:port"``), started from a local binary
  (``binary`` or ``$JIVE5AB_BIN``) on a free port with ``-m 2`` so commands and replies are in
  its log, or started in a container from an image the user names (host network, the mount
  points as volumes). The harness never builds jive5ab or its image.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.recorder.client import VsisClient
from harness.recorder.driver import Owner, VsisRecorder
from harness.recorder.errors import RecorderError
from harness.recorder.model import Recorder, size_argument
from harness.recorder.processes import (
    START_TIMEOUT,
    RecorderContainer,
    RecorderProcess,
    free_tcp_port,
    wait_for_port,
)

PROCESS_LOG = "recorder.log"
"""The recorder's own output (its command line first), in the run's log directory."""
CONTROL_LOG = "recorder-control.log"
"""Every VSI-S command and reply, time-stamped."""
JIVE5AB_ENV = "JIVE5AB_BIN"
JIVE5AB_IN_IMAGE = os.environ.get("JIVE5AB_IMAGE_BIN", "jive5ab")
"""The jive5ab executable inside a user's image (on its PATH unless told otherwise)."""


def parse_control(control: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) -> (host, port)."""
    host, sep, port = control.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"control {control!r} is not host:port")
    return host.strip("[]") or "127.0.0.1", int(port)


def _connect(backend: str, host: str, port: int, log_dir: Path, owner: Owner | None) -> VsisRecorder:
    try:
        client = VsisClient(host, port, backend=backend, transcript=log_dir / CONTROL_LOG)
    except BaseException:
        if owner is not None:
            owner.stop()
        raise
    return VsisRecorder(backend, client, log_dir, owner)


def _attach(backend: str, control: str, log_dir: Path) -> VsisRecorder:
    host, port = parse_control(control)
    with (log_dir / PROCESS_LOG).open("a") as log:
        log.write(f"# attached to a running {backend} at {host}:{port}; its own log is where it was started\n")
    return _connect(backend, host, port, log_dir, None)


Launcher = Callable[[list[str]], list[str]]
"""Turns a recorder's command line into the one that runs it on its node (over SSH); identity for this machine."""


def _here(argv: list[str]) -> list[str]:
    return argv


def _launcher(launch: Launcher | None) -> Launcher:
    return _here if launch is None else launch


def open_reference(
    *, log_dir: Path, control: str | None = None, block_size: int | str | None = None, bind: str = "127.0.0.1",
    mounts: Sequence[str] | None = None, launch: Launcher | None = None, data_interface: str | None = None,
    **_: object,
) -> VsisRecorder:
    """Attach to a ``vdif-record`` (control) or start one on a free port, allowed to write only under
    ``mounts`` (directory globs) when given, joining a group on ``data_interface`` (a name or its address);
    on another node through ``launch``."""
    if control:
        return _attach("reference", control, log_dir)
    argv = [sys.executable, "-m", "harness.recorder", "--port", "0", "--bind", bind]
    if data_interface:
        argv += ["--data-interface", data_interface]
    for mount in mounts or ():
        argv += ["--allow", mount]
    if block_size is not None:
        argv += ["--block-size", size_argument(block_size)]
    process = RecorderProcess(_launcher(launch)(argv), log_dir / PROCESS_LOG, backend="reference")
    try:
        match = process.wait_for_line(r"listening on ([\d.]+):(\d+)")
    except BaseException:
        process.stop()
        raise
    host = match[1] if match[1] != "0.0.0.0" else bind
    recorder = _connect("reference", host, int(match[2]), log_dir, process)
    recorder.files_here = launch is None
    return recorder


def open_jive5ab(
    *, log_dir: Path, control: str | None = None, binary: str | None = None, image: str | None = None,
    block_size: int | str | None = None, bind: str = "127.0.0.1", mounts: Sequence[str] | None = None,
    launch: Launcher | None = None, **_: object,
) -> VsisRecorder:
    """Attach to jive5ab, or start it from a binary (on another node through ``launch``) or an image.

    Preference: ``control``, then ``binary``, then ``image``, then ``$JIVE5AB_BIN``.
    """
    if control:
        return _attach("jive5ab", control, log_dir)
    binary = binary or (None if image else os.environ.get(JIVE5AB_ENV)) or None  # a named image beats the env
    if not binary and not image:
        raise RecorderError(f"give a control host:port, a binary (--jive5ab-bin or ${JIVE5AB_ENV}) or an image",
                            backend="jive5ab")
    remote = launch is not None
    if remote and not binary:
        raise RecorderError("on another node jive5ab starts from a binary there (recorder.binary) or is attached to "
                            "(recorder.control); its container is the jive5ab role's", backend="jive5ab")
    port = free_tcp_port() if not remote else 2620
    options = ["-m", "2", "-p", str(port)]
    if block_size is not None:
        options += ["-B", size_argument(block_size)]
    owner: RecorderProcess | RecorderContainer
    if binary:
        if not remote and not os.access(binary, os.X_OK):
            raise RecorderError(f"{binary} is not an executable file", backend="jive5ab")
        owner = RecorderProcess(_launcher(launch)([binary, *options]), log_dir / PROCESS_LOG, backend="jive5ab")
    else:
        volumes = sorted(mounts) if mounts is not None else sorted(glob.glob("/mnt/disk[0-9]*"))
        owner = RecorderContainer(str(image), [JIVE5AB_IN_IMAGE, *options], log_dir / PROCESS_LOG, mounts=volumes)
    host = bind if remote else "127.0.0.1"
    try:
        wait_for_port(host, port, START_TIMEOUT, owner.alive)
        if remote:
            time.sleep(0.5)  # a jive5ab that could not bind exits at once
        if remote and not owner.alive():  # the port answered, but not ours: someone else's
            raise RecorderError(f"the jive5ab started on the node ended, yet {host}:{port} answers: another "
                                "recorder holds that port there")
    except RecorderError as exc:
        owner.stop()
        raise RecorderError(exc.message, backend="jive5ab", log_tail=owner.log_tail()) from None
    recorder = _connect("jive5ab", host, port, log_dir, owner)
    recorder.files_here = not remote
    return recorder


def open_katcp(**options: Any) -> Recorder:
    """The ``katcp`` backend (harness/katcp): a KATCP proxy attached to, or ours started in front of a recorder."""
    from harness.katcp.backend import open_katcp as opener

    return opener(**options)


BACKENDS: dict[str, Callable[..., Recorder]] = {
    "reference": open_reference,
    "jive5ab": open_jive5ab,
    "katcp": open_katcp,
}


def open_recorder(
    backend: str, *, log_dir: Path | str, control: str | None = None, binary: str | None = None,
    image: str | None = None, block_size: int | str | None = None, bind: str = "127.0.0.1",
    mounts: Sequence[str] | None = None, launch: Launcher | None = None, **backend_options: Any,
) -> Recorder:
    """A recorder by backend name, attached or started; use it as a context manager.

    ``mounts`` are the mount points a container gets as volumes (default ``/mnt/disk*``); ``backend_options``
    go to the backend (katcp: product_root, behind, vsis, init_timeout, done_timeout; reference, and katcp's
    reference behind it: data_interface, where a multicast group is joined).
    """
    try:
        opener = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"recorder backend {backend!r} is not one of {', '.join(BACKENDS)}") from None
    directory = Path(log_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return opener(log_dir=directory, control=control, binary=binary, image=image, block_size=block_size, bind=bind,
                  mounts=mounts, launch=launch, **backend_options)
