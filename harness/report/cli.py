"""``python -m harness.report``: render a run's report (and acceptance report), or rebuild the index.

    python -m harness.report render reports/smoke-20261121T120000Z [--acceptance [--signer NAME]] [--index]
    python -m harness.report index reports/

A path that is not a folder is refused with one line on stderr and exit code 2; a run whose
files are missing or partial still gets its report, which says what is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.arguments import OneLineParser
from harness.report.acceptance import render_acceptance
from harness.report.index import render_index
from harness.report.results import summarize
from harness.report.run_folder import RunFolderError, read_results
from harness.report.run_report import render_run

EXIT_REFUSED = 2


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m harness.report", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write RUN_DIR/report.html")
    render.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    render.add_argument("--acceptance", action="store_true", help="also write RUN_DIR/acceptance.html")
    render.add_argument("--signer", help="name printed in the acceptance report's sign-off block")
    render.add_argument("--index", action="store_true", help="also rebuild the index of the folder holding RUN_DIR")
    index = commands.add_parser("index", help="write REPORTS_DIR/index.html")
    index.add_argument("reports_dir", type=Path, metavar="REPORTS_DIR")
    return parser


def verdict_line(run_dir: Path) -> str:
    summary = summarize(read_results(run_dir, []))
    breached = f" ({', '.join(summary.breached)})" if summary.breached else ""
    return f"{summary.verdict.upper()}{breached}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "index":
            print(render_index(args.reports_dir))
            return 0
        written = []
        if args.acceptance:  # first, so report.html can link to it
            written.append(render_acceptance(args.run_dir, signer=args.signer))
        written.insert(0, render_run(args.run_dir))
        if args.index:
            written.append(render_index(args.run_dir.resolve().parent))
    except RunFolderError as exc:
        print(f"harness.report: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for path in written:
        print(path)
    print(f"verdict: {verdict_line(args.run_dir)}")
    return 0
