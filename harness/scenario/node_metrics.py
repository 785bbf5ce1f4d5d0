"""The controller's end of each node's probe (harness.scenario.node_probe, run there over SSH): the latest sample."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from harness.lab.inventory import InventoryNode
from harness.scenario.nodes import remote_argv


class NodeProbe:
    """One node's probe: started over SSH (harness.lab.remote), followed line by line, stopped by closing its
    stdin (the node half then stops the probe)."""

    def __init__(self, node: InventoryNode, period: float, log: Path) -> None:
        self.node = node
        argv = [sys.executable, "-m", "harness.scenario.node_probe", "--node", node.name, "--role", node.role,
                "--period", f"{period:g}", "--interface", node.data_interface]
        for mount in node.mount_points:
            argv += ["--mount", mount]
        self._log = log.open("a")
        self._log.write(f"$ {' '.join(remote_argv(node, argv))}\n")
        self._log.flush()
        self.process = subprocess.Popen(remote_argv(node, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._log, text=True, start_new_session=True)
        self.first: dict[str, Any] | None = None
        self.latest: dict[str, Any] | None = None
        self._reader = threading.Thread(target=self._read, name=f"probe-{node.name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                sample = json.loads(line)
                self.first = self.first or sample
                self.latest = sample

    def sample(self) -> dict[str, Any] | None:
        """The node's latest figures (None once its probe has ended: the node or its SSH is gone)."""
        if self.process.poll() is not None:
            return {"error": f"node {self.node.name}: its probe ended (exit {self.process.returncode})"}
        return dict(self.latest) if self.latest else None

    def udp_errors_since_start(self) -> dict[str, int]:
        latest = self.latest or {}
        return {k: int(v) for k, v in (latest.get("udp_since_start") or {}).items()}

    def lowest_free(self) -> int | None:
        disks = (self.latest or {}).get("disks") or {}
        free = [int(d["free_bytes"]) for d in disks.values() if d.get("free_bytes") is not None]
        return min(free) if free else None

    def stop(self) -> None:
        """Ask the probe to end (harness.lab.remote passes SIGTERM on to it on the node)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        self.stop()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._reader.join(timeout=5)
        self._log.close()
