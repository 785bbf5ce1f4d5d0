"""python -m harness.lab up|down|status|check|provision: the local lab by hand, a real lab's provisioning.

    python -m harness.lab up                 # this machine as a lab (root), else loopback + directories
    python -m harness.lab up --inventory ansible/inventory/multinode.yml   # three nodes as namespaces
    python -m harness.lab check --recorder 127.0.0.1:2620 --free 10G
    python -m harness.lab status [--json]
    python -m harness.lab down
    python -m harness.lab provision --inventory ansible/inventory/lab.yml [--check]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from harness.arguments import OneLineParser
from harness.lab.errors import LabError
from harness.lab.local import lab_down, lab_status, lab_up, resolve_inventory
from harness.lab.netns import is_netns_inventory, provision_lab
from harness.lab.preflight import blocking_failures, preflight
from harness.lab.state import MULTINODE_WORK_DIR

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _bytes(text: str) -> int:
    """``20G``, ``512M``, ``1.5T`` -> bytes; an argparse type, so a bad size is one line."""
    given = text
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1] if text and text[-1] in UNITS else ""
    try:
        value = float(text[: len(text) - len(unit)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{given!r} is not a size (e.g. 20G)") from None
    if not 0 <= value < 1e18:
        raise argparse.ArgumentTypeError(f"{given!r} is not a size (e.g. 20G)")
    return int(value * UNITS[unit])


def _default_log() -> Path:
    return Path("reports") / "lab" / f"lab-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"


def _parser() -> argparse.ArgumentParser:
    common = OneLineParser(add_help=False)
    common.add_argument("--log", type=Path, help="run log (default reports/lab/lab-<UTC>.log)")
    common.add_argument("--work-dir", type=Path, help="state, images and keys (default /var/lib/vlbi-lab)")
    parser = OneLineParser(prog="python -m harness.lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="bring the local lab up (idempotent)")
    up.add_argument("--inventory", default="local")
    up.add_argument("--disks", type=int)
    up.add_argument("--disk-size", help="sparse size of each disk image, e.g. 12G")
    up.add_argument("--mount-root", help="where the disks are mounted (default /srv/vlbi-lab)")
    up.add_argument("--idempotence", action="store_true", help="run a second time and fail if anything changes")
    sub.add_parser("down", parents=[common], help="take this machine's labs down, leaving nothing behind")
    status = sub.add_parser("status", parents=[common], help="is the lab up, down or partly up")
    status.add_argument("--json", action="store_true")
    check = sub.add_parser("check", parents=[common], help="the preflight checks on the lab that is up")
    check.add_argument("--recorder", help="recorder control address host:port, asked version?")
    check.add_argument("--free", type=_bytes, default=0, help="free space the schedule needs over all disks, e.g. 20G")
    check.add_argument("--clock-limit", type=float, default=0.01, help="sender clock offset limit in seconds")
    check.add_argument("--json", action="store_true", help="print the checks and the environment as JSON")
    prov = sub.add_parser("provision", parents=[common], help="run ansible/site.yml against an inventory (a real lab)")
    prov.add_argument("--inventory", required=True)
    prov.add_argument("--limit")
    prov.add_argument("--check", action="store_true", help="Ansible check mode: report, change nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)  # the details go to the run log; warnings (degraded lab) to the terminal
    console.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(console)
    log_path = opts.log or _default_log()
    try:
        inventory = resolve_inventory(getattr(opts, "inventory", None) or "none") or Path()
        if opts.command == "up" and is_netns_inventory(inventory):
            lab = provision_lab(inventory, log_path)
            print(f"namespace lab up in {lab.seconds:.1f} s: nodes {', '.join(lab.nodes)} (state {lab.work_dir})")
            print("no change" if not lab.changed else f"changed ({len(lab.changed)}): " + "; ".join(lab.changed))
            if opts.idempotence:
                lab = provision_lab(inventory, log_path)
                print("second run: " + ("no change" if not lab.changed else "CHANGED: " + "; ".join(lab.changed)))
                return 1 if lab.changed else 0
            print(f"run log: {log_path}")
        elif opts.command == "up":
            started = time.monotonic()
            info = lab_up(opts.inventory, log_path, opts.disks, opts.disk_size, opts.mount_root, work_dir=opts.work_dir)
            seconds = time.monotonic() - started
            if info.degraded:
                print(f"degraded lab (no root): loopback, plain directories {', '.join(info.mount_points)}")
                return 0
            print(f"lab up in {seconds:.1f} s: {len(info.mount_points)} XFS disks ({info.disk_glob}), sender node "
                  f"{info.sender_netns} at {info.sender_ip} over ssh, recorder {info.recorder_ip}, MTU {info.mtu}")
            print("no change" if not info.changed else f"changed ({len(info.changed)}): " + "; ".join(info.changed))
            if opts.idempotence:
                again = lab_up(opts.inventory, log_path, work_dir=opts.work_dir)
                print("second run: " + ("no change" if not again.changed else "CHANGED: " + "; ".join(again.changed)))
                return 1 if again.changed else 0
            print(f"run log: {log_path}")
        elif opts.command == "down":
            removed = lab_down(log_path, work_dir=opts.work_dir, every_lab=True)
            print("lab down: " + ("; ".join(removed) if removed else "nothing was up"))
        elif opts.command == "status":
            statuses = [lab_status(work_dir=opts.work_dir)]
            if opts.work_dir is None and (MULTINODE_WORK_DIR / "state.json").exists():
                statuses.append(lab_status(work_dir=MULTINODE_WORK_DIR))
            for status in statuses:
                print(json.dumps(status.to_json(), indent=2) if opts.json else status.summary())
            return 0 if all(s.state in ("up", "degraded", "down") for s in statuses) else 3
        elif opts.command == "check":
            status = lab_status(work_dir=opts.work_dir)
            if status.info is None:
                raise LabError(status.summary() + " (python -m harness.lab up first)")
            checks, environment = preflight(status.info, recorder_version=opts.recorder,
                                            free_bytes_needed=opts.free, clock_limit_s=opts.clock_limit,
                                            log_path=log_path)
            if opts.json:
                print(json.dumps({"checks": [c.to_json() for c in checks], "environment": environment}, indent=2))
            else:
                for check in checks:
                    mark = "FAIL" if not check.passed else ("warn" if check.detail.startswith("warning:") else "ok  ")
                    print(f"{mark} {check.name}: {check.detail}")
            return 1 if blocking_failures(checks) else 0
        elif opts.command == "provision":
            done = provision_lab(inventory, log_path, limit=opts.limit, check_mode=opts.check)
            print(f"{done.summary} ({done.seconds:.1f} s; run log {log_path})")
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
