"""The Recorder interface over VSI-S: one code path for jive5ab and the reference recorder.

It also guards against jive5ab's silent failures (shared reference, sections 2, 7 and 10):
``constraints?`` must show a read size equal to the frame size, or every datagram is cut or
split, so the transfer is stopped again and refused; after ``record=on`` the recording must
still be on (the data socket is bound after the reply, and a bind error only reaches the
log); before ``record=off``, ``record?`` must still say on, because a short datagram ends a
jive5ab recording without a word: that is reported as ``stopped_early``, a finding.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from harness.recorder.client import VsisClient
from harness.recorder.errors import ConfigurationRefused, ConnectionLost, ProtocolError, RecorderDied, ReplyError
from harness.recorder.model import RecorderConfig, RecorderStatus, ScanResult, check_scan_name
from harness.recorder.notes import RecorderNote, classify, error_entry_text
from harness.recorder.placement import log_lines_since, log_size, misplaced_chunks, mount_devices
from harness.recorder.replies import (
    ReplyFieldError,
    parse_constraints,
    parse_evlbi,
    parse_net2file_query,
    parse_record_query,
    parse_set_disks,
)
from harness.recorder.vsis import Reply, ReplyShapeError, command_line, parse_replies

OFF_TIMEOUT = 180.0
"""record=off returns only once every chunk is written: at 128 MiB per chunk and slow disks, minutes."""
BIND_SETTLE = 0.2
"""jive5ab binds the data socket after replying to record=on; a bind failure ends it within this time."""
DRAIN_TIMEOUT = 30.0
EXIT_GRACE = 3.0
QUERY_TIMEOUT = 2.0
"""A query polled while a scan runs (evlbi?) answers within milliseconds; longer is a hung recorder."""
HUNG_STOP = 5.0
"""How long a recorder that stopped answering gets to exit on SIGTERM before SIGKILL (else 60 s)."""
CHUNK = re.compile(r"\.(\d{8})$")
T = TypeVar("T")


class Owner(Protocol):
    """What the harness started (a process or a container), if anything."""

    @property
    def pid(self) -> int | None: ...

    def alive(self) -> bool: ...

    def log_tail(self, lines: int = 30) -> str: ...

    def died(self, what: str) -> RecorderDied: ...

    def stop(self, timeout: float = ...) -> int | None: ...


class VsisRecorder:
    """A recorder driven through its VSI-S port; `close` stops whatever `open_recorder` started."""

    def __init__(self, backend: str, client: VsisClient, log_dir: Path, owner: Owner | None = None) -> None:
        self.backend = backend
        self.client = client
        self.log_dir = log_dir
        self.owner = owner
        self.config: RecorderConfig | None = None
        self.scan: str | None = None
        self.net2file_path: str | None = None
        self.capture_block: str | None = None
        self._closed = False
        self.files_here = True
        """Its mount points are this machine's: its files can be set against its counters here (a recorder
        started on another node is judged there, by the checker on that node)."""
        self._devices: dict[str, int] = {}
        """Each mount point's filesystem when configured: a chunk found elsewhere landed outside it."""
        self._log_mark = 0

    @property
    def pid(self) -> int | None:
        return None if self.owner is None else self.owner.pid

    @property
    def control_address(self) -> str:
        return str(self.client.address)

    # -- plumbing -----------------------------------------------------------------------

    def _exchange(self, line: str, timeout: float | None = None) -> list[Reply]:
        try:
            return self.client.exchange(line, timeout)
        except ConnectionLost as exc:
            if self.owner is not None:
                deadline = time.monotonic() + EXIT_GRACE  # a dying process closes its sockets before it is gone
                while time.monotonic() < deadline:
                    if not self.owner.alive():
                        raise self.owner.died(f"lost while sending {line!r}") from None
                    time.sleep(0.05)
            raise exc from None

    def _ask(self, keyword: str, *args: object, query: bool = False, ok: tuple[int, ...] = (0,),
             timeout: float | None = None) -> Reply:
        """One command; a reply with another code than ``ok`` raises ReplyError naming both."""
        line = command_line(keyword, *args, query=query)
        replies = self._exchange(line, timeout)
        if len(replies) != 1 or replies[0].keyword != keyword:
            raise ProtocolError(f"expected one {keyword} reply", backend=self.backend, command=line,
                                reply=" ".join(r.raw for r in replies))
        reply = replies[0]
        if reply.code not in ok:
            raise ReplyError(f"{keyword} refused with code {reply.code}: {reply.text}", code=reply.code,
                             backend=self.backend, command=line, reply=reply.raw)
        return reply

    def _collect(self, keyword: str, *args: object, query: bool = True, timeout: float | None = None) -> str:
        """A reply kept for the report, whatever its code; a broken connection still raises."""
        try:
            return self._ask(keyword, *args, query=query, ok=tuple(range(10)), timeout=timeout).raw
        except ProtocolError as exc:
            return exc.reply or str(exc)

    def _read(self, parse: Callable[[Reply], T], reply: Reply) -> T:
        """A reply's meaning; a reply that does not say what its keyword promises is a ProtocolError."""
        try:
            return parse(reply)
        except ReplyFieldError as exc:
            raise ProtocolError(str(exc), backend=self.backend, command=f"{reply.keyword}{'?' if reply.query else '='}",
                                reply=reply.raw) from None

    def _require_config(self) -> RecorderConfig:
        if self.config is None:
            raise RuntimeError("configure() the recorder before recording")
        return self.config

    # -- the interface --------------------------------------------------------------------

    def sensor_readings(self) -> dict[str, Any] | None:
        """VSI-S has no sensors."""
        return None

    def version(self) -> str:
        """``jive5ab 3.1.0`` / ``vdif-record 0.1.0`` from ``version?``."""
        fields = [f for f in self._ask("version", query=True).fields if f]
        return " ".join(fields[:2]) if fields else "unknown"

    def configure(self, cfg: RecorderConfig) -> None:
        """Send the configuration in jive5ab's order; check the disks it then selected."""
        for keyword, args in cfg.commands():
            self._ask(keyword, *args)
        if cfg.disk_list:
            reply = self._ask("set_disks", query=True)
            self._check_disks(cfg, self._read(parse_set_disks, reply), reply)
        self.config = cfg
        self._devices = mount_devices(self._mount_points())

    def _check_disks(self, cfg: RecorderConfig, selected: list[str], reply: Reply) -> None:
        wanted = cfg.disk_list
        if wanted == ["null"]:
            return
        patterns = [w.rstrip("/") for w in wanted]
        strays = [s for s in selected if not any(fnmatch.fnmatch(s, p) for p in patterns)]
        missing = [w for w in patterns if not glob.has_magic(w) and w not in selected]
        if strays or missing or not selected:
            detail = (f"asked for {', '.join(wanted)}; selected {', '.join(selected) or 'none'}"
                      + (" (jive5ab drops directories on the root filesystem: mount the disks)" if missing else ""))
            raise ConfigurationRefused(f"set_disks selected the wrong mount points: {detail}", backend=self.backend,
                                       command="set_disks?", reply=reply.raw)

    def _check_constraints(self, cfg: RecorderConfig) -> None:
        reply = self._ask("constraints", query=True)
        try:
            sizes = parse_constraints(reply)
        except ReplyFieldError as exc:
            raise ProtocolError(str(exc), backend=self.backend, command="constraints?", reply=reply.raw) from None
        read, frame = sizes["read_size"], sizes.get("framesize", cfg.frame_bytes)
        if read != cfg.frame_bytes or frame != cfg.frame_bytes:
            raise ConfigurationRefused(
                f"constraints? says frames of {frame} bytes read as {read}-byte datagrams, but the stream sends "
                f"{cfg.frame_bytes}-byte frames in {cfg.datagram_bytes}-byte datagrams: every datagram would be "
                f"cut or split (check mode and mtu {cfg.mtu})", backend=self.backend, command="constraints?",
                reply=reply.raw)

    def record_on(self, scan: str) -> str:
        """Start a vbs recording; returns the name actually used (jive5ab appends a letter to a used one)."""
        cfg = self._require_config()
        check_scan_name(scan, self.backend)
        self._log_mark = log_size(self.log_dir)
        reply = self._ask("record", "on", scan)
        name = reply.fields[0] if reply.fields and reply.fields[0] else scan
        self.scan = name
        time.sleep(BIND_SETTLE)  # also: record=off at once after record=on can deadlock jive5ab 3.1.0
        try:
            self._check_constraints(cfg)
            state = self._read(parse_record_query, self._ask("record", query=True))
        except ConfigurationRefused:
            with contextlib.suppress(ReplyError):
                self._ask("record", "off", ok=(0, 1, 6), timeout=OFF_TIMEOUT)
            self.scan = None
            raise
        if not state.on:
            self.scan = None
            raise RecorderDied(f"recording {name} ended right after record=on (data port {cfg.net_port} in use?)",
                               backend=self.backend, command=f"record=on:{scan}", reply=reply.raw,
                               log_tail=self.owner.log_tail() if self.owner else None)
        return name

    def wait_for_packets(self, timeout: float = 5.0) -> int:
        """Until ``evlbi?`` counts packets (the guard after record=on, once the sender runs)."""
        deadline = time.monotonic() + timeout
        while True:
            total = self._read(parse_evlbi, self._ask("evlbi", query=True, timeout=QUERY_TIMEOUT)).total
            if total > 0:
                return total
            if time.monotonic() > deadline:
                cfg = self._require_config()
                raise RecorderDied(f"no packet counted on {cfg.net_port} within {timeout:g} s", backend=self.backend,
                                   command="evlbi?")
            time.sleep(0.1)

    def status(self, timeout: float | None = None) -> RecorderStatus:
        """``record?`` (or ``net2file?``) and ``evlbi?`` in one round trip (within ``timeout`` s if given)."""
        first = "net2file?" if self.net2file_path else "record?"
        line = f"{first} ; evlbi? ;"
        replies = self._exchange(line, timeout)
        try:
            state_reply, evlbi_reply = replies
            counts = parse_evlbi(evlbi_reply)
            if self.net2file_path:
                active, written = parse_net2file_query(state_reply)
                return RecorderStatus(active, self.net2file_path if active else None, written, counts.total,
                                      counts.lost, counts.out_of_order, counts.extent)
            state = parse_record_query(state_reply)
        except (ValueError, ReplyFieldError, ReplyShapeError) as exc:
            raise ProtocolError(f"status replies not understood: {exc}", backend=self.backend, command=line,
                                reply=" ".join(r.raw for r in replies)) from None
        return RecorderStatus(state.on, state.scan, state.bytes or 0, counts.total, counts.lost, counts.out_of_order,
                              counts.extent)

    def record_off(self) -> ScanResult:
        """Stop the scan (if it had not stopped by itself) and collect what it left."""
        self._require_config()
        if self.scan is None:
            raise RuntimeError("record_off() without a record_on()")
        scan, replies, said = self.scan, {}, []
        before = self._ask("record", query=True)
        replies["record? before off"] = before.raw
        state = self._read(parse_record_query, before)
        stopped_early = not state.on or (state.scan is not None and state.scan != scan)
        if stopped_early:
            said.append(classify(f"{scan} had already stopped before record=off (record? said {before.text!r}); "
                                 "jive5ab ends a recording silently on a short datagram or a reader error", "record?"))
        else:
            replies["tstat="] = self._collect("tstat", query=False)
            replies["record=off"] = self._ask("record", "off", ok=(0, 1), timeout=OFF_TIMEOUT).raw
        self.scan = None
        files = self._chunk_files(scan) if self.files_here else []
        said.extend(classify(text, "files") for text in misplaced_chunks(files, self._devices))
        result = self._finish(scan, replies, said, stopped_early, files)
        if not result.files and self.files_here:
            result.bytes = state.bytes or 0
            if result.packets:  # what the recorder said it received, where it left nothing to check
                self._say(result, classify(f"no chunk file of {scan} on any mount point, yet the recorder counted "
                                           f"{result.packets} datagrams ({result.lost} lost, evlbi?) and record? said "
                                           f"{state.bytes or 0} bytes: it never wrote or removed them", "files"))
        return result

    @staticmethod
    def _say(result: ScanResult, note: RecorderNote) -> None:
        result.said.append(note)
        result.notes.append(note.text)

    def _log_notes(self) -> list[RecorderNote]:
        """jive5ab logs some losses and nothing else (a dropped mount point, a chunk not written, a reader that
        died): its log lines of the scan that say so. The reference says all of them in error? instead."""
        if self.backend != "jive5ab":
            return []
        notes = [classify(line, "log") for line in log_lines_since(self.log_dir, self._log_mark)]
        return [n for n in notes if n.kind != "other"]

    def _finish(self, name: str, replies: dict[str, str], said: list[RecorderNote], stopped_early: bool,
                files: list[str]) -> ScanResult:
        for keyword, query in (("evlbi", True), ("record", True), ("dir_info", True), ("scan_check", True)):
            replies[f"{keyword}{'?' if query else '='}"] = self._collect(keyword, query=query, timeout=60.0)
        errors = []
        for _ in range(16):  # error? pops one entry per call
            raw = self._collect("error")
            if not re.search(r"\?\s*0\s*:\s*:", raw):
                errors.append(raw)
                continue
            break
        said = [*said, *self._log_notes()]
        notes = [n.text for n in said]
        if errors:
            replies["error?"] = "\n".join(errors)
            notes.extend(f"recorder error: {e}" for e in errors)
            said.extend(classify(error_entry_text(e), "error?") for e in errors)
        try:
            counts = parse_evlbi(parse_replies(replies["evlbi?"])[0])
        except (ReplyFieldError, ReplyShapeError) as exc:
            raise ProtocolError(str(exc), backend=self.backend, command="evlbi?", reply=replies["evlbi?"]) from None
        size = 0
        for path in files:
            with contextlib.suppress(OSError):
                size += os.path.getsize(path)
        return ScanResult(scan=name, stopped_early=stopped_early, packets=counts.total, lost=counts.lost,
                          out_of_order=counts.out_of_order, bytes=size, files=files, replies=replies,
                          extent=counts.extent, notes=notes, said=said)

    def _mount_points(self) -> list[str]:
        cfg = self._require_config()
        mounts: list[str] = []
        for entry in cfg.disk_list:
            if entry != "null":
                mounts.extend(glob.glob(entry) if glob.has_magic(entry) else [entry])
        return sorted(set(mounts))

    def _chunk_files(self, scan: str) -> list[str]:
        """``<mount>/<scan>/<scan>.NNNNNNNN`` over the configured mount points, in chunk order."""
        found = []
        for mount in self._mount_points():
            for path in glob.glob(os.path.join(glob.escape(mount), scan, f"{scan}.*")):
                match = CHUNK.search(path)
                if match:
                    found.append((int(match[1]), path))
        return [path for _, path in sorted(found)]

    def net2file_open(self, path: str | Path) -> None:
        """Start a flat-file capture into ``path`` (truncated if it exists)."""
        cfg = self._require_config()
        target = str(path)
        self._log_mark = log_size(self.log_dir)
        self._ask("net2file", "open", f"{target},w")
        self.net2file_path = target
        try:
            self._check_constraints(cfg)
        except ConfigurationRefused:
            with contextlib.suppress(ReplyError):
                self._ask("net2file", "close", ok=(0, 6))
            self.net2file_path = None
            raise

    def net2file_stop(self) -> ScanResult:
        """Stop the capture, wait until it has drained, collect the counters."""
        path = self.net2file_path
        if path is None:
            raise RuntimeError("net2file_stop() without a net2file_open()")
        replies: dict[str, str] = {}
        said: list[RecorderNote] = []
        before = self._ask("net2file", query=True)
        replies["net2file? before stop"] = before.raw
        active, _ = self._read(parse_net2file_query, before)
        if active:
            replies["tstat="] = self._collect("tstat", query=False)
            replies["net2file=stop"] = self._ask("net2file", "stop", timeout=OFF_TIMEOUT).raw
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while self._read(parse_net2file_query, self._ask("net2file", query=True))[0]:
                if time.monotonic() > deadline:
                    said.append(classify(f"net2file still active {DRAIN_TIMEOUT:g} s after stop: closed hard",
                                         "net2file?"))
                    replies["net2file=close"] = self._ask("net2file", "close", ok=(0, 6)).raw
                    break
                time.sleep(0.1)
        else:
            said.append(classify(f"net2file into {path} had already ended before stop (net2file? said "
                                 f"{before.text!r})", "net2file?"))
        self.net2file_path = None
        present = os.path.exists(path)
        result = self._finish(path, replies, said, not active, [path] if present else [])
        cfg = self._require_config()
        counted = result.packets * cfg.frame_bytes
        if not self.files_here:  # on another node: the checker there reads it
            return result
        if not present:  # jive5ab 3.1.0 deletes a net2file output it wrote nothing to: say what it had received
            self._say(result, classify(f"{path} does not exist after net2file=stop: the recorder removed it or never "
                                       f"wrote it; it counted {result.packets} datagrams ({result.lost} lost, evlbi?), "
                                       f"net2file? said {before.text!r} before the stop", "files"))
        elif result.bytes < counted:
            self._say(result, classify(f"{result.packets} datagrams counted ({counted} bytes of frames) but "
                                       f"{result.bytes} bytes in {path}: jive5ab writes only whole blocks, the tail "
                                       "is lost at stop", "files"))
        return result

    def close(self) -> None:
        """End a scan still open (best effort), close the connection, stop what the harness started."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.owner is None or self.owner.alive():
                with contextlib.suppress(Exception):
                    if self.scan is not None:
                        self._ask("record", "off", ok=(0, 1, 6), timeout=OFF_TIMEOUT)
                    if self.net2file_path is not None:
                        self._ask("net2file", "stop", ok=(0, 6))
        finally:
            hung = self.client.unanswered is not None
            self.client.close()
            if self.owner is not None:
                if hung:
                    self.owner.stop(timeout=HUNG_STOP)
                else:
                    self.owner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
