"""``python -m harness.faults.stray``: datagrams of the wrong size to a recorder's data port, from the sender
node (a short or long datagram in the stream, a port scanner's probes). Prints what it sent as JSON."""

from __future__ import annotations

import json
import socket
import sys

from harness.arguments import OneLineParser

PROBE_SIZES = (0, 1, 8, 40, 64, 512, 1400)
"""What a UDP port scan sends: empty probes and a few protocol-shaped sizes."""


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m harness.faults.stray", description=__doc__)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, action="append", default=[], help="bytes of each datagram (cycled)")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--avoid", type=int, default=None, help="a size never sent (the stream's own)")
    args = parser.parse_args(argv)
    sizes = [s for s in (args.size or PROBE_SIZES) if s != args.avoid]
    if not sizes or args.count < 1 or any(not 0 <= s <= 65507 for s in sizes):
        parser.error("--size must be 0..65507 bytes (and not only the stream's own), --count at least 1")
    sent = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n in range(args.count):
            size = sizes[n % len(sizes)]
            try:
                sock.sendto(bytes(size), (args.dest, args.port))
            except OSError as exc:
                print(f"stray: {args.dest}:{args.port}: {exc.strerror}", file=sys.stderr)
                return 1
            sent.append(size)
    print(json.dumps({"sent": len(sent), "sizes": sorted(set(sent)), "bytes": sum(sent)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
