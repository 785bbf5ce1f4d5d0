"""Run a command on a node over SSH as if it ran here: signals go there, output and exit code come back.

A plain `ssh host cmd` loses both directions: SIGTERM to ssh kills the connection but leaves the remote
command running (sshd sends no signal to a command without a tty), and the command's final output is
lost with the connection. So two halves:

  controller:  python -m harness.lab.remote --host H ... -- argv
               runs ssh; SIGTERM/SIGINT/SIGHUP it receives are sent as "signal N" lines on ssh's stdin.
  node:        python -m harness.lab.remote --node -- argv
               runs argv, passes those signals to it, and stops it (SIGTERM, then SIGKILL) when its stdin
               ends (the controller died); exits with argv's exit code.

The controller's stdout and stderr are the remote command's, so a caller reads it like a local process.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
from types import FrameType

from harness.lab.info import SshTarget

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_SECONDS = 10.0


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def node_main(argv: list[str]) -> int:
    """The node half: the command as a child, steered by lines on stdin."""
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"harness.lab.remote: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return 127

    def relay(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, relay)

    def follow_controller() -> None:
        for line in sys.stdin:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "signal" and parts[1].isdigit() and child.poll() is None:
                child.send_signal(int(parts[1]))
        # stdin ended: the controller (or its ssh) is gone; nobody would read the output
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()

    threading.Thread(target=follow_controller, daemon=True).start()
    return _exit_code(child.wait())


def controller_main(target: SshTarget, cwd: str, python: str, argv: list[str]) -> int:
    """The controller half: ssh to the node's half, with our signals forwarded as lines."""
    remote = f"cd {shlex.quote(cwd)} && exec {shlex.quote(python)} -m harness.lab.remote --node -- {shlex.join(argv)}"
    ssh = subprocess.Popen([*target.ssh_argv(), remote], stdin=subprocess.PIPE, text=True)
    stdin = ssh.stdin

    def forward(signum: int, _frame: FrameType | None) -> None:
        try:
            if stdin is not None:
                stdin.write(f"signal {signum}\n")
                stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    code = ssh.wait()
    return _exit_code(code)


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.lab.remote", description=__doc__.splitlines()[0])
    parser.add_argument("--node", action="store_true", help="the node half (run by the controller half over ssh)")
    parser.add_argument("--host")
    parser.add_argument("--user", default="root")
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--identity")
    parser.add_argument("--known-hosts")
    parser.add_argument("--cwd", default=os.getcwd())
    parser.add_argument("--python", default=sys.executable, help="the Python on the node that has the harness")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    opts = parser.parse_args(args)
    argv = opts.argv[1:] if opts.argv[:1] == ["--"] else opts.argv
    if not argv:
        parser.error("no command given after --")
    if opts.node:
        return node_main(argv)
    if not (opts.host and opts.known_hosts):
        parser.error("--host and --known-hosts are needed")
    target = SshTarget(host=opts.host, user=opts.user, identity=opts.identity or "", known_hosts=opts.known_hosts,
                       port=opts.port)
    return controller_main(target, opts.cwd, opts.python, argv)


if __name__ == "__main__":
    sys.exit(main())
