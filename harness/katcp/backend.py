"""Opening the ``katcp`` backend: attach to a running proxy, or start the harness's own in front of a recorder.

- ``control`` given: attach to that proxy (a deployed katsdpvlbi container, say); ``vsis`` (host:port of the
  jive5ab behind it) lets the harness read the recorder's own state and configuration as evidence.
- no ``control``: start the ``behind`` recorder (reference or jive5ab, as those backends do), then
  ``vdif-katcp-proxy`` in front of it on a free port of the control address, with the product root.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.katcp.contract import CAPTURE_DONE_TIMEOUT, CAPTURE_INIT_TIMEOUT
from harness.katcp.link import BACKEND, KatcpLink
from harness.katcp.recorder import KatcpRecorder
from harness.recorder.backends import CONTROL_LOG, Launcher, open_recorder, parse_control
from harness.recorder.client import VsisClient
from harness.recorder.driver import VsisRecorder
from harness.recorder.errors import RecorderError
from harness.recorder.processes import RecorderProcess

PROXY_LOG = "katcp-proxy.log"
KATCP_LOG = "katcp-control.log"
"""Every KATCP request and reply, time-stamped."""


def open_katcp(
    *, log_dir: Path, control: str | None = None, product_root: str | None = None, behind: str = "reference",
    vsis: str | None = None, mounts: Sequence[str] | None = None, bind: str = "127.0.0.1",
    launch: Launcher | None = None, local_product: bool = True, init_timeout: float = CAPTURE_INIT_TIMEOUT,
    done_timeout: float = CAPTURE_DONE_TIMEOUT, **recorder_options: Any,
) -> KatcpRecorder:
    root = product_root or (mounts[0] if mounts else None)
    if root is None:
        raise RecorderError("give recorder.product_root (where capture blocks go)", backend=BACKEND)
    if control:
        host, port = parse_control(control)
        link = KatcpLink(host, port, transcript=log_dir / KATCP_LOG)
        truth = None
        try:
            if vsis:
                vhost, vport = parse_control(vsis)
                truth = VsisClient(vhost, vport, backend="vsis", transcript=log_dir / CONTROL_LOG)
        except BaseException:
            link.close()
            raise
        return KatcpRecorder(link, log_dir, product_root=root, truth=truth, mounts=list(mounts or [root]),
                             local_product=local_product, init_timeout=init_timeout, done_timeout=done_timeout)
    if behind == BACKEND:
        raise RecorderError("recorder.behind names the recorder behind the proxy: reference or jive5ab",
                            backend=BACKEND)
    recorder = open_recorder(behind, log_dir=log_dir, bind=bind, mounts=mounts, launch=launch, **recorder_options)
    if not isinstance(recorder, VsisRecorder):
        recorder.close()
        raise RecorderError(f"recorder.behind {behind!r} is not a VSI-S recorder", backend=BACKEND)
    try:
        argv = [sys.executable, "-m", "harness.katcp", "--recorder", recorder.control_address, "--product-root", root,
                "--bind", bind, "--port", "0", "--min-free", "64M"]
        for mount in mounts or ():
            argv += ["--mount", mount]
        proxy = RecorderProcess((launch or (lambda a: a))(argv), log_dir / PROXY_LOG, backend=BACKEND)
        try:
            match = proxy.wait_for_line(r"listening on ([\d.]+):(\d+)")
            link = KatcpLink(match[1], int(match[2]), transcript=log_dir / KATCP_LOG)
        except BaseException:
            proxy.stop()
            raise
    except BaseException:
        recorder.close()
        raise
    return KatcpRecorder(link, log_dir, product_root=root, truth=recorder.client, proxy=proxy, behind=recorder,
                         mounts=list(mounts or [root]), local_product=launch is None and local_product,
                         init_timeout=init_timeout, done_timeout=done_timeout)
