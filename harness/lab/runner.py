"""Ansible playbooks driven through ansible-runner: task results streamed into the run log, failures made plain.

A failed task becomes one PlaybookFailed naming the host, the task and Ansible's message. The tasks that
reported `changed` are collected, so that a second run proves idempotence (or names what broke it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.lab.errors import LabError, PlaybookFailed
from harness.run_mark import RUN_MARK

log = logging.getLogger("harness.lab")

ANSIBLE_DIR = Path(__file__).resolve().parents[2] / "ansible"
SITE_PLAYBOOK = ANSIBLE_DIR / "site.yml"
LOCAL_INVENTORY = ANSIBLE_DIR / "inventory" / "local.yml"
DEFAULT_TIMEOUT = 900.0

_RESULT_EVENTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
                  "runner_on_skipped": "skipping"}


@dataclass(frozen=True)
class TaskFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    playbook: str
    inventory: str
    status: str = "unstarted"          # successful | failed | timeout | canceled
    rc: int | None = None
    seconds: float = 0.0
    changed: list[str] = field(default_factory=list)      # "host: role : task"
    failures: list[TaskFailure] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    log_path: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "successful" and not self.failures

    def raise_for_failure(self) -> None:
        """One clear error: the first failed task (host, task, message), or why Ansible itself stopped."""
        name = Path(self.playbook).name
        if self.failures:
            first = self.failures[0]
            more = f" (and {len(self.failures) - 1} more failures)" if len(self.failures) > 1 else ""
            raise PlaybookFailed(first.host, first.task, first.message + more, playbook=name, log=self.log_path)
        if self.status == "timeout":
            raise LabError(f"{name}: ansible-playbook timed out after {self.seconds:.0f} s (run log: {self.log_path})")
        if self.status != "successful":
            raise LabError(f"{name}: ansible-playbook ended {self.status} with exit code {self.rc} before any task "
                           f"failed: a syntax or inventory error (run log: {self.log_path})")

    def summary(self) -> str:
        if not self.ok:
            return f"{Path(self.playbook).name}: {self.status}"
        if not self.changed:
            return "no change"
        return f"{len(self.changed)} changed: " + "; ".join(self.changed)


def _task_name(data: Mapping[str, Any]) -> str:
    task = str(data.get("task") or data.get("task_action") or "?")
    role = data.get("role")
    return f"{role} : {task}" if role and not task.startswith(f"{role} :") else task


def _failure_message(res: Mapping[str, Any]) -> str:
    """Ansible's own words for a failure; for a loop, those of the first failed item."""
    for item in res.get("results") or []:
        if isinstance(item, Mapping) and (item.get("failed") or item.get("unreachable")):
            label = item.get("_ansible_item_label", item.get("item"))
            return f"[item {label}] {_failure_message(item)}"
    parts = [str(res.get("msg") or "").strip()]
    for key in ("stderr", "stdout", "module_stderr"):
        lines = [line.strip() for line in str(res.get(key) or "").splitlines() if line.strip()]
        if lines and lines[0] not in parts[0]:
            parts.append(" / ".join(lines[:3]))  # the cause comes first; usage hints follow it
            break
    if res.get("cmd") and parts[0] in ("non-zero return code", ""):
        cmd = res["cmd"]
        parts.append("command: " + (" ".join(map(str, cmd)) if isinstance(cmd, list) else str(cmd)))
    return " | ".join(p for p in parts if p) or "no message"


class _EventLog:
    """ansible-runner's event handler: one log line per task result, failures and changes collected."""

    def __init__(self, run: PlaybookRun) -> None:
        self.run = run

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = str(event.get("event", ""))
        data: Mapping[str, Any] = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            log.info("PLAY %s", data.get("play") or data.get("name") or "")
        elif kind in _RESULT_EVENTS:
            self._result(kind, data)
        elif kind == "runner_item_on_failed":
            res = data.get("res") or {}
            log.info("  item %s failed: %s", res.get("_ansible_item_label", res.get("item")), _failure_message(res))
        elif kind == "warning":
            log.info("  warning: %s", str(data.get("warning") or event.get("stdout") or "").strip())
        elif kind == "error":
            log.info("  error: %s", str(event.get("stdout") or "").strip())
        return False  # the run's artifacts are not kept: no need to store the event

    def _result(self, kind: str, data: Mapping[str, Any]) -> None:
        host = str(data.get("host", "?"))
        task = _task_name(data)
        res: Mapping[str, Any] = data.get("res") or {}
        self.run.hosts.add(host)
        status = _RESULT_EVENTS[kind]
        if kind == "runner_on_ok" and res.get("changed"):
            status = "changed"
            self.run.changed.append(f"{host}: {task}")
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            message = _failure_message(res)
            if data.get("ignore_errors"):
                log.info("%-11s %-10s %s (ignored): %s", status, host, task, message)
                return
            self.run.failures.append(TaskFailure(host, task, message, kind == "runner_on_unreachable"))
            log.info("%-11s %-10s %s: %s", status.upper(), host, task, message)
            return
        log.info("%-11s %-10s %s", status, host, task)


def _search_path() -> str:
    """PATH with this interpreter's bin directory first: the ansible-playbook installed beside it runs."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])


@contextlib.contextmanager
def _unmarked() -> Iterator[None]:
    """Without the scenario run's mark: what Ansible starts (the lab's sshd) belongs to the lab, not to a run."""
    mark = os.environ.pop(RUN_MARK, None)
    try:
        yield
    finally:
        if mark is not None:
            os.environ[RUN_MARK] = mark


def run_playbook(playbook: Path | str, inventory: Path | str, *, extravars: Mapping[str, Any] | None = None,
                 limit: str | None = None, timeout: float = DEFAULT_TIMEOUT, log_path: Path | None = None,
                 check_mode: bool = False) -> PlaybookRun:
    """Run one playbook to the end; the caller decides with run.ok / run.raise_for_failure()."""
    import ansible_runner  # slow import; only when a playbook really runs

    playbook, inventory = Path(playbook).resolve(), Path(inventory).resolve()
    for path, what in ((playbook, "playbook"), (inventory, "inventory")):
        if not path.exists():
            raise LabError(f"no such {what}: {path}")
    run = PlaybookRun(str(playbook), str(inventory), log_path=str(log_path) if log_path else None)
    cmdline = ["--check", "--diff"] if check_mode else []
    envvars = {"ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0", "PATH": _search_path()}
    log.info("$ ansible-playbook -i %s %s%s%s%s", inventory, playbook,
             "".join(f" -e {k}={v}" for k, v in (extravars or {}).items()),
             f" --limit {limit}" if limit else "", " " + " ".join(cmdline) if cmdline else "")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vlbi-ansible-") as private, _unmarked():
        result = ansible_runner.run(
            private_data_dir=private, playbook=str(playbook), inventory=str(inventory),
            extravars=dict(extravars or {}), envvars=envvars, limit=limit, cmdline=" ".join(cmdline) or None,
            event_handler=_EventLog(run), quiet=True, timeout=int(timeout),
            suppress_env_files=True, json_mode=False)
        log.info("  (ran %s)", " ".join(map(str, result.config.command or [])))
        run.status = str(result.status)
        run.rc = result.rc
        if run.status != "successful" and not run.failures:
            _log_tail(result)
    run.seconds = time.monotonic() - started
    log.info("ansible-playbook %s: %s in %.1f s, %s", playbook.name, run.status, run.seconds,
             "no change" if not run.changed else f"{len(run.changed)} changed")
    return run


def _log_tail(result: Any) -> None:
    """Ansible's last words (syntax and inventory errors come before any event)."""
    path = Path(result.config.artifact_dir) / "stdout"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    for line in text.strip().splitlines()[-15:]:
        log.info("  | %s", line)
