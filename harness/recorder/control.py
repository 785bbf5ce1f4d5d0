"""Send VSI-S commands by hand: ``python -m harness.recorder.control 127.0.0.1:2620 'record=on:scan001' 'evlbi?'``.

Works against jive5ab and vdif-record alike: one line per argument, each reply printed as received.
Exit code 0 when every reply has code 0 or 1, 1 otherwise, 2 when the port does not answer.
"""

from __future__ import annotations

import sys

from harness.arguments import OneLineParser
from harness.recorder.backends import parse_control
from harness.recorder.client import VsisClient
from harness.recorder.errors import RecorderError


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m harness.recorder.control", description=__doc__.split("\n")[0])
    parser.add_argument("control", help="host:port of the VSI-S port (jive5ab or vdif-record)")
    parser.add_argument("lines", nargs="+", help="command lines, e.g. 'mode=VDIF_8000-64-1-2' 'record?'")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each reply (default 60)")
    args = parser.parse_args(argv)
    worst = 0
    try:
        host, port = parse_control(args.control)
        with VsisClient(host, port, timeout=args.timeout) as client:
            for line in args.lines:
                text = line if line.rstrip().endswith(";") else line + " ;"
                replies = client.exchange(text)
                print("".join(r.raw for r in replies))
                if any(not r.ok for r in replies):
                    worst = 1
    except (ValueError, RecorderError) as exc:
        print(f"control: {exc}", file=sys.stderr)
        return 2
    return worst


if __name__ == "__main__":
    sys.exit(main())
