"""The one place the lab starts external programs: each command line logged, output captured, time bounded."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.lab.errors import CommandFailed

log = logging.getLogger("harness.lab")

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = True, input_text: str | None = None,
        env: Mapping[str, str] | None = None, quiet: bool = False, cwd: str | Path | None = None) -> CommandResult:
    """Run a program to completion. check=True raises CommandFailed on a non-zero exit; a timeout always raises."""
    args = [str(a) for a in argv]
    log.info("$ %s", " ".join(args))
    started = time.monotonic()
    try:
        done = subprocess.run(args, input=input_text, capture_output=True, text=True, timeout=timeout,
                              env=None if env is None else {**os.environ, **env}, check=False, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        log.info("  timed out after %g s", timeout)
        raise CommandFailed(args, None, out, timeout=timeout) from exc
    except OSError as exc:
        log.info("  could not start: %s", exc)
        raise CommandFailed(args, None, str(exc)) from exc
    result = CommandResult(args, done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    if not quiet or done.returncode != 0:
        for line in (done.stdout + done.stderr).strip().splitlines()[:40]:
            log.info("  %s", line)
    if done.returncode != 0:
        log.info("  exit %d", done.returncode)
        if check:
            raise CommandFailed(args, done.returncode, done.stderr or done.stdout)
    return result


def spawn(argv: Sequence[str], **popen_args: object) -> subprocess.Popen[str]:
    """Start a program that the caller talks to (a clock exchange over ssh); the caller bounds its life."""
    args = [str(a) for a in argv]
    log.info("$ %s &", " ".join(args))
    try:
        return subprocess.Popen(args, text=True, **popen_args)  # type: ignore[call-overload]
    except OSError as exc:
        raise CommandFailed(args, None, str(exc)) from exc


@contextmanager
def lab_log(path: Path | None) -> Iterator[None]:
    """Send the lab's log lines (commands, Ansible task results, checks) to a file for the duration."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.setLevel(logging.DEBUG)
    previous = log.level
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
        handler.close()
