"""``vdif-katcp-proxy``: the recorder contract over KATCP in front of a VSI-S recorder (jive5ab or vdif-record).

    vdif-katcp-proxy --recorder 127.0.0.1:2620 --product-root /var/kat/data [--port 7147] [--bind 127.0.0.1]

Then ``katcpcmd 127.0.0.1:7147 capture-init 1764590400`` ... ``katcpcmd 127.0.0.1:7147 capture-done``.
``--port 0`` takes any free port; the line ``listening on HOST:PORT`` on stderr says which. SIGTERM or SIGINT
stops a recording still open and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from harness.arguments import OneLineParser
from harness.katcp.proxy import RecorderProxy
from harness.recorder.backends import parse_control
from harness.recorder.cli import port_number
from harness.recorder.client import VsisClient
from harness.recorder.errors import RecorderError
from harness.scenario.units import parse_size


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="vdif-katcp-proxy", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--recorder", required=True, metavar="HOST:PORT", help="the recorder's VSI-S port")
    p.add_argument("--product-root", required=True, help="where capture blocks go (katsdpvlbi: the first DISK_PATHS)")
    p.add_argument("--mount", action="append", default=None, metavar="DIR",
                   help="mount points whose free space is a sensor (repeatable; default the product root)")
    p.add_argument("--bind", default="127.0.0.1", help="address of the KATCP port (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=port_number, default=7147, help="KATCP port (default 7147; 0 = any free)")
    p.add_argument("--min-free", default="1G", metavar="N[k|M|G]",
                   help="capture-init is refused below this much free space (default 1G)")
    p.add_argument("--poll", type=seconds, default=1.0, metavar="S", help="sensor refresh period (default 1 s)")
    p.add_argument("-m", "--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{value:g} s is outside 0.05..3600")
    return value


async def serve(args: argparse.Namespace) -> None:
    host, port = parse_control(args.recorder)
    recorder = VsisClient(host, port, backend="vsis", timeout=10.0)
    proxy = PROXY_CLASS(args.bind, args.port, recorder=recorder, product_root=os.path.realpath(args.product_root),
                          mounts=args.mount, min_free=args.min_free_bytes, poll_period=args.poll)
    await proxy.start()
    bound = proxy.sockets[0].getsockname()
    print(f"listening on {bound[0]}:{bound[1]}", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, proxy.halt)
    await proxy.join()


PROXY_CLASS = RecorderProxy
"""The device server to run (a test double may put its own here)."""


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not os.path.isdir(args.product_root):
        print(f"vdif-katcp-proxy: product root {args.product_root} is not a directory", file=sys.stderr)
        return 2
    try:
        args.min_free_bytes = parse_size(args.min_free)
    except ValueError as exc:
        print(f"vdif-katcp-proxy: --min-free: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args))
    except (RecorderError, ValueError) as exc:
        print(f"vdif-katcp-proxy: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vdif-katcp-proxy: cannot listen on {args.bind}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
