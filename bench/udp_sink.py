"""A plain UDP receiver for benchmarks: counts datagrams and bytes until the line goes idle."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--idle", type=float, default=1.0, help="stop after this long without data")
    parser.add_argument("--rcvbuf", type=int, default=128 << 20)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    sock.bind((args.bind, args.port))
    print("ready", file=sys.stderr, flush=True)
    buffer = bytearray(65536)
    count = total = 0
    first = last = 0.0
    sock.settimeout(30.0)
    try:
        sock.recv_into(buffer)
        first = last = time.time()
        count, total = 1, 0
        sock.settimeout(args.idle)
        recv_into = sock.recv_into
        while True:
            total += recv_into(buffer)
            count += 1
    except TimeoutError:
        last = time.time() - args.idle
    print(json.dumps({"datagrams": count, "bytes": total, "seconds": max(last - first, 1e-9)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
