"""Small measurements for the preflight: the recorder's `version?`, the sender clock offset, FlexBuff values."""

from __future__ import annotations

import re
import select
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from harness.lab import commands
from harness.lab.errors import LabError
from harness.lab.info import SshTarget
from harness.lab.runner import ANSIBLE_DIR

_REPLY = re.compile(r"^!\s*(\w+)\s*([?=])\s*(\d+)\s*(?::\s*(.*?))?\s*;\s*$", re.S)


def query_version(address: str, *, timeout: float = 5.0) -> str:
    """Ask a VSI-S recorder (jive5ab or the reference recorder) at host:port for `version?`; its fields."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise LabError(f"recorder control address must be host:port, not {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.sendall(b"version?;\n")  # one line per send: jive5ab parses each read() as one line
            reply = b""
            deadline = time.monotonic() + timeout
            while not reply.endswith(b"\n") and time.monotonic() < deadline:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        raise LabError(f"recorder at {address} does not answer: {exc}") from exc
    text = reply.decode(errors="replace").strip()
    match = _REPLY.match(text)
    if not match or match.group(1) != "version":
        raise LabError(f"recorder at {address} answered version? with {text!r}")
    if match.group(3) != "0":
        raise LabError(f"recorder at {address}: version? returned code {match.group(3)}: {match.group(4) or ''}")
    return (match.group(4) or "").strip()


@dataclass(frozen=True)
class ClockOffset:
    """The sender node's clock minus this machine's, from the best of a few request/answer exchanges."""

    offset_s: float
    uncertainty_s: float      # half the round trip of the exchange used
    method: str

    def to_json(self) -> dict[str, Any]:
        return {"offset_s": self.offset_s, "uncertainty_s": self.uncertainty_s, "method": self.method}


_CLOCK_SERVER = "import sys, time\nfor _ in sys.stdin:\n    print(repr(time.time()), flush=True)\n"


def clock_offset(target: SshTarget, *, python: str = "python3", rounds: int = 8, timeout: float = 30.0) -> ClockOffset:
    """NTP-style: send a line, the node answers its time; offset = answer - midpoint, over the fastest round."""
    argv = [*target.ssh_argv(), f"{python} -c {_shell_quote(_CLOCK_SERVER)}"]
    process = commands.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    best: tuple[float, float] | None = None
    try:
        if process.stdin is None or process.stdout is None:
            raise LabError("clock exchange: no pipes")
        deadline = time.monotonic() + timeout
        for _ in range(rounds):
            sent = time.time()
            process.stdin.write("\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise LabError(f"clock exchange with {target.host}: no answer within {timeout:g} s")
            line = process.stdout.readline()
            received = time.time()
            if not line:
                why = process.stderr.read() if process.stderr else ""
                raise LabError(f"clock exchange with {target.host} ended: {why.strip()}")
            half_trip = (received - sent) / 2
            offset = float(line) - (sent + received) / 2
            if best is None or half_trip < best[1]:
                best = (offset, half_trip)
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for pipe in (process.stdout, process.stderr):
            if pipe:
                pipe.close()
    if best is None:
        raise LabError(f"clock exchange with {target.host}: no rounds")
    return ClockOffset(best[0], best[1], f"ssh exchange with {target.host}, best of {rounds}")


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@cache
def flexbuff_sysctls(profile: str = "flexbuff") -> tuple[dict[str, str], frozenset[str]]:
    """The udp_tuning role's wanted values for a profile, and the keys that are minima (read from its defaults)."""
    defaults = yaml.safe_load((ANSIBLE_DIR / "roles" / "udp_tuning" / "defaults" / "main.yml").read_text())
    profiles: dict[str, dict[str, Any]] = defaults["udp_tuning_profiles"]
    if profile not in profiles:
        raise LabError(f"unknown udp_tuning profile {profile!r}; known: {', '.join(profiles)}")
    wanted = {**profiles["flexbuff"], **profiles[profile]}
    at_least = frozenset(defaults.get("udp_tuning_at_least", []))
    return {k: " ".join(str(v).split()) for k, v in wanted.items()}, at_least


def sysctl_satisfies(value: str, wanted: str, *, at_least: bool) -> bool:
    """Whether a running value meets a FlexBuff value (element by element for vectors such as udp_mem)."""
    have, want = value.split(), wanted.split()
    if not at_least:
        return have == want
    try:
        return len(have) == len(want) and all(int(a) >= int(b) for a, b in zip(have, want, strict=True))
    except ValueError:
        return False
