"""``vdif-record``: the reference recorder, jive5ab's VSI-S subset on a TCP port (default 127.0.0.1:2620).

    vdif-record --port 2620 --disks '/tmp/lab/disk*' [--block-size 1M] [--bind 0.0.0.0] [--data-interface eth2]

Then configure and record as with jive5ab (``mode=...; net_protocol=udps:32M; mtu=9000;
net_port=52030; record=on:scan001`` ... ``record=off``). SIGTERM or SIGINT writes out the
current scan and exits 0. ``--port 0`` takes any free port; the line ``listening on HOST:PORT``
on stderr says which.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import signal
import sys
from types import FrameType

from harness.arguments import OneLineParser
from harness.recorder.model import parse_size
from harness.recorder.reference import multicast
from harness.recorder.reference.commands import VERSION, ReferenceRecorder
from harness.recorder.reference.server import VsisServer
from harness.recorder.reference.transfer import MIN_VBS_BLOCK
from harness.signals import off_the_signal

EXIT_REFUSED = 2


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="vdif-record", description=(__doc__ or "").split("\n")[0])
    p.add_argument("-p", "--port", type=port_number, default=2620,
                   help="VSI-S control port (default 2620; 0 = any free)")
    p.add_argument("--bind", "--host", default="127.0.0.1", dest="bind",
                   help="address of the control port (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--disks", action="append", default=[], metavar="GLOB",
                   help="mount points selected at start (absolute paths or globs; repeatable), as set_disks=")
    p.add_argument("--allow", action="append", default=None, metavar="GLOB",
                   help="directories (absolute globs; repeatable) that set_disks may select and net2file write "
                        "under; without it, any (it runs as root: give it on shared machines)")
    p.add_argument("--data-interface", metavar="NAME|ADDRESS",
                   help="the interface a multicast group (net_port = group@port) is joined on, by name or by its "
                        "address (default: the interface the group routes via, as jive5ab)")
    p.add_argument("-B", "--block-size", default=None, metavar="N[k|M]",
                   help=f"minimum block (= chunk) size, as jive5ab's -B (default {MIN_VBS_BLOCK >> 20}M)")
    p.add_argument("--no-direct-io", action="store_true",
                   help="write chunks through the page cache (default: O_DIRECT where the filesystem allows it)")
    p.add_argument("-m", "--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--version", action="version", version=f"vdif-record {VERSION}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s.%(msecs)03d %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    try:
        min_block = MIN_VBS_BLOCK if args.block_size is None else parse_size(args.block_size)
        if min_block <= 0:
            raise ValueError("--block-size must be positive")
        for pattern in args.disks:
            if not [p for p in glob.glob(pattern) if os.path.isdir(p)]:
                raise ValueError(f"--disks {pattern}: no such directory")
        if args.allow and not all(os.path.isabs(a) for a in args.allow):
            raise ValueError("--allow takes absolute directory globs")
        if args.data_interface is not None and multicast.interface_address(args.data_interface) is None:
            multicast.interface_index(args.data_interface)  # a name: it must exist here
        recorder = ReferenceRecorder(min_block=min_block, disks=args.disks, direct_io=not args.no_direct_io,
                                     allow=args.allow, data_interface=args.data_interface)
        server = VsisServer(recorder, args.bind, args.port)
    except (ValueError, OSError) as exc:
        print(f"vdif-record: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    host, port = server.address

    def stopping(signum: int) -> None:
        logging.getLogger("vdif-record").info("signal %d: stopping", signum)
        server.stop.set()

    def stop(signum: int, _frame: FrameType | None) -> None:
        off_the_signal(lambda: stopping(signum))  # a log line or the event's lock may be the main thread's now

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if recorder.settings.disks:
        logging.getLogger("vdif-record").info("mount points: %s", " ".join(recorder.settings.disks))
    print(f"vdif-record {VERSION}: listening on {host}:{port}", file=sys.stderr, flush=True)
    server.serve()
    print("vdif-record: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
