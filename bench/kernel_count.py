"""One receiver for every sender a benchmark compares: the kernel, counting at its input hook.

An nftables rule in the ``inet`` input hook counts and drops the data datagrams to one loopback port before any
socket sees them, so what is measured is the sender alone, received the same way whoever sent (a user-space
receiver would cap both at its own speed, and differently). Datagrams of 1024 bytes or less pass: iperf3's
handshake on the data port. A GSO super-packet is one packet at the hook: datagrams are counted from its bytes.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from types import TracebackType

from harness.faults.network import datagrams_in

SMALLEST_COUNTED = 1024
"""Bytes at the IP layer: shorter datagrams (control, handshakes) pass to their socket uncounted."""


class KernelCount:
    """``with KernelCount(port, datagram_bytes) as count: ...; count.datagrams()``."""

    def __init__(self, port: int, datagram_bytes: int) -> None:
        self.port = port
        self.datagram_bytes = datagram_bytes
        self.table = f"vlbi_bench_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> KernelCount:
        rules = (f"table inet {self.table} {{\n chain input {{\n  type filter hook input priority 0;\n"
                 f"  iif lo udp dport {self.port} meta length > {SMALLEST_COUNTED} counter drop\n }}\n}}\n")
        done = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"bench: cannot add the counting nftables rule (root? nft?): {done.stderr.strip()}")
        return self

    def counter(self) -> tuple[int, int]:
        """(packets, bytes) the rule has counted."""
        out = subprocess.run(["nft", "-j", "list", "table", "inet", self.table], capture_output=True, text=True,
                             check=True).stdout
        for item in json.loads(out)["nftables"]:
            for expr in (item.get("rule") or {}).get("expr", []):
                if "counter" in expr:
                    return int(expr["counter"]["packets"]), int(expr["counter"]["bytes"])
        raise SystemExit(f"bench: the nftables table {self.table} has no counter")

    def datagrams(self) -> int:
        packets, nbytes = self.counter()
        return datagrams_in(packets, nbytes, self.datagram_bytes)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True, check=False)
