"""The reference recorder's VSI-S command set: one runtime, jive5ab's replies, never a crash.

Implements mode, net_protocol, mtu, net_port, set_disks (settings.py), record
(nthread/on/off/?), evlbi, net2file (open/stop/close/?), dir_info?, constraints?, version?,
tstat= and error?. Anything else gets ``7 : ENOSYS - not implemented`` as from jive5ab. A
handler that raises is logged and answered with code 4; the recorder keeps running.
Differences from jive5ab that a harness may rely on: unsafe scan names are refused (code 8);
the data socket is bound before ``record=on`` replies, so a bind failure is code 4, not a log
line; a transfer that ends by itself leaves its reason in ``error?``; dropped disks too.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import socket
import stat
import string
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.recorder.model import scan_name_problem
from harness.recorder.reference import settings as cfg
from harness.recorder.reference.blocks import BlockPool
from harness.recorder.reference.sinks import NullSink
from harness.recorder.reference.transfer import MIN_VBS_BLOCK, StreamSettings, Transfer, TransferRefused
from harness.recorder.replies import EVLBI_DEFAULT_FORMAT, EvlbiStats, format_evlbi
from harness.recorder.vsis import Command, parse_command_line

log = logging.getLogger("vdif-record")

VERSION = "0.1.0"
SUFFIXES = string.ascii_lowercase + string.ascii_uppercase
STEP_NAMES = {"udps": "UdpsReadBH", "pudp": "UdpRead", "udpsnor": "UdpsNorRead"}


@dataclass
class ErrorEntry:
    number: int
    message: str
    first: float
    last: float
    occurrences: int = 1


class ReferenceRecorder:
    """State and commands of one ``vdif-record`` process; `execute` answers one received line."""

    def __init__(
        self, *, min_block: int = MIN_VBS_BLOCK, disks: list[str] | None = None, direct_io: bool = True,
        allow: list[str] | None = None, data_interface: str | None = None,
    ) -> None:
        self.settings = cfg.Settings()
        self.settings.allow = allow
        self.settings.data_interface = data_interface
        self.direct_io = direct_io
        if disks:
            self.settings.disks = cfg.expand_disks(disks)
        self.min_block = min_block
        self.transfer: Transfer | None = None
        self.recordings = 0
        self.last_stats = EvlbiStats()
        self.last_block_bytes: int | None = None
        self.errors: deque[ErrorEntry] = deque(maxlen=64)
        self.pool: BlockPool | None = None
        """Kept between transfers of the same shape: allocating and mapping a GiB costs a second."""
        self._problems_seen = 0
        self.handlers: dict[str, Callable[[Command], str]] = {
            "mode": self._configure(cfg.handle_mode),
            "net_protocol": self._configure(cfg.handle_net_protocol),
            "mtu": self._configure(cfg.handle_mtu),
            "net_port": self._configure(cfg.handle_net_port),
            "set_disks": self._configure(cfg.handle_set_disks),
            "record": self._record,
            "evlbi": self._evlbi,
            "net2file": self._net2file,
            "dir_info": self._dir_info,
            "constraints": self._constraints,
            "version": self._version,
            "tstat": self._tstat,
            "error": self._error,
        }

    # -- dispatch -----------------------------------------------------------------------

    def execute(self, line: str) -> str | None:
        """The reply line for a received line, or None for a line with no command (as jive5ab)."""
        self.poll()
        replies = []
        for command in parse_command_line(line):
            if isinstance(command, Command):
                replies.append(self.handle(command))
            else:
                replies.append(command.reply())
        return "".join(replies) if replies else None

    def handle(self, command: Command) -> str:
        handler = self.handlers.get(command.keyword)
        if handler is None:
            return command.reply(7, "ENOSYS - not implemented")
        try:
            return handler(command)
        except Exception as exc:  # a malformed command must never take the recorder down
            log.exception("command %s%s%s failed", command.keyword, command.sep, ":".join(command.args))
            text = str(exc).replace(";", ",").replace("\n", " ")
            return command.reply(4, f"internal error: {type(exc).__name__}: {text}")

    def poll(self) -> None:
        """Notice a transfer that ended by itself, and newly dropped disks."""
        transfer = self.transfer
        if transfer is None:
            return
        problems = transfer.problems
        for problem in problems[self._problems_seen :]:
            self.note_error(problem.text())
        self._problems_seen = len(problems)
        if not transfer.alive:
            reason = transfer.capture.error
            self.note_error(f"{transfer.kind} {transfer.name} ended by itself: {reason or 'receiver stopped'}")
            self._end_transfer()

    def note_error(self, message: str) -> None:
        message = message.replace(";", ",").replace("\n", " ")
        now = time.time()
        for entry in self.errors:
            if entry.message == message:
                entry.last, entry.occurrences = now, entry.occurrences + 1
                return
        self.errors.append(ErrorEntry(len(self.errors) + 1, message, now, now))

    def shutdown(self) -> None:
        """Stop any transfer, writing out everything received (SIGTERM, end of the server)."""
        if self.transfer is not None:
            log.info("shutting down: closing %s %s", self.transfer.kind, self.transfer.name)
            self._end_transfer()
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def _end_transfer(self) -> None:
        transfer = self.transfer
        if transfer is None:
            return
        transfer.stop()
        for problem in transfer.problems[self._problems_seen :]:
            self.note_error(problem.text())
        self._problems_seen = 0
        self.last_stats = transfer.capture.evlbi()
        if transfer.sink.blocks_lost:
            self.note_error(f"{transfer.kind} {transfer.name}: {transfer.sink.blocks_lost} blocks not written")
        if transfer.capture.wrong_size:
            self.note_error(f"{transfer.kind} {transfer.name}: {transfer.capture.wrong_size} datagrams of the "
                            f"wrong size dropped")
        self.transfer = None

    def _configure(self, handler: Callable[[cfg.Settings, Command], str]) -> Callable[[Command], str]:
        def configure(command: Command) -> str:
            if not command.query and self.transfer is not None:
                return cfg.busy(command, self.transfer.kind)
            return handler(self.settings, command)

        return configure

    def _stream(self) -> StreamSettings:
        s = self.settings
        if s.mode is None:
            raise ValueError("no mode")
        return StreamSettings(s.protocol, s.mode.frame_bytes, s.socket_buffer, s.workbuf, s.nbuf, s.address, s.port,
                              s.writers, s.data_interface)

    def _datagram_problem(self) -> str | None:
        s = self.settings
        if s.mode is None:
            return None
        read = s.read_size()
        if read != s.mode.frame_bytes:
            return (f"datagrams of {read} bytes (MTU {s.mtu}) cannot carry whole {s.mode.frame_bytes}-byte frames; "
                    f"the reference recorder needs one frame per datagram: raise mtu")
        return None

    # -- record -------------------------------------------------------------------------

    def _record(self, command: Command) -> str:
        t = self.transfer
        if command.query:
            if command.args and command.args[0] == "nthread":
                return f"!record?  0 : {self.settings.readers} : {self.settings.writers} ;"
            if t is not None and t.kind == "vbsrecord":
                return f"!record?  0 : on : {self.recordings} : {t.name} : {t.capture.bytes_received} ;"
            return "!record?  0 : off ;"
        sub = command.args[0] if command.args else ""
        if sub == "on":
            return self._record_on(command)
        if sub == "off":
            if t is None or t.kind != "vbsrecord":
                return "!record=  6 : Not doing record ;"
            self._end_transfer()
            return "!record=  1 ;"
        if sub == "nthread":
            return self._nthread(command)
        return f"!record=  2 : {sub} does not apply to record ;"

    def _nthread(self, command: Command) -> str:
        args = [*command.args[1:], "", ""]
        values = []
        for name, text, current in (("nReader", args[0], self.settings.readers),
                                    ("nParallelSender", args[1], self.settings.writers)):
            if not text:
                values.append(current)
                continue
            if not text.isdigit() or not 0 < int(text) <= 64:
                return f"!record = 6 : {name} '{text}' out of range (1..64);"
            values.append(int(text))
        self.settings.readers, self.settings.writers = values
        return "!record=  0 ;"

    def _record_on(self, command: Command) -> str:
        if self.transfer is not None:
            return f"!record=  6 : Already doing {self.transfer.kind} ;"
        scan = command.args[1] if len(command.args) > 1 else ""
        if not scan:
            return "!record = 6 : must provide a scan name;"
        problem = scan_name_problem(scan)
        if problem is not None:
            return f"!record = 8 : refused: {problem} ;"
        if self.settings.mode is None:
            return "!record = 6 : vbsrecord can only record a known data format;"
        disks = self.settings.disks
        if not disks:
            return "!record = 4 : No mountpoints selected to record on?!;"
        problem = self._datagram_problem()
        if problem is not None:
            return f"!record = 6 : {problem} ;"
        name = scan if disks == ["null"] else unique_scan_name(scan, disks)
        if name is None:
            return f"!record = 4 : scan {scan} and all 52 suffixed names exist already ;"
        try:
            if disks == ["null"]:
                self.transfer = Transfer("vbsrecord", name, self._stream(), 1024, NullSink, self.pool)
            else:
                self.transfer = Transfer.recording(name, self._stream(), disks, self.min_block, self.direct_io,
                                                   self.pool)
        except TransferRefused as exc:
            return f"!record = 4 : {exc} ;"
        self.recordings += 1
        self.pool = self.transfer.pool
        self.last_block_bytes = self.transfer.pool.block_bytes
        return "!record=  0  ;" if name == scan else f"!record=  0  : {name} ;"

    # -- net2file -----------------------------------------------------------------------

    def _net2file(self, command: Command) -> str:
        t = self.transfer
        if command.query:
            if t is not None and t.kind == "net2file":
                return f"!net2file?  0 : active : {t.bytes_written} ;"
            return "!net2file?  0 : inactive : 0 ;"
        sub = command.args[0] if command.args else ""
        if sub in ("stop", "close"):
            if t is None or t.kind != "net2file":
                return "!net2file=  6 : Not doing net2file yet ;"
            written = t.bytes_written
            path = t.name
            self._end_transfer()
            if written == 0 and os.path.exists(path) and os.path.getsize(path) == 0:
                os.unlink(path)  # as jive5ab 3.1.0: an empty output file is removed; unlike it, said
                self.note_error(f"net2file {path}: nothing written ({self.last_stats.pkt_in} datagrams received, "
                                f"{self.last_stats.pkt_lost} lost): the empty file was removed")
            return "!net2file=  0 ;"
        if sub != "open":
            return f"!net2file=  2 : {sub} does not apply to net2file ;"
        if t is not None:
            return f"!net2file=  6 : {'Already doing net2file' if t.kind == 'net2file' else 'not whilst vbsrecord is in progress'} ;"  # noqa: E501
        target = command.args[1] if len(command.args) > 1 else ""
        path, comma, flag = target.rpartition(",")
        if not comma or flag not in ("n", "w", "a") or not path:
            return "!net2file = 4 : add ',<mode>' to the filename (n,w,a) ;"
        outside = self._outside_mount_points(path)
        if outside:
            return f"!net2file = 4 : {outside} ;"
        if self.settings.mode is None:
            return "!net2file = 6 : the reference recorder needs a mode (the frame size) for net2file ;"
        problem = self._datagram_problem()
        if problem is not None:
            return f"!net2file = 6 : {problem} ;"
        try:
            fd = open_beneath(path, self._selected_disk(path), flag)
        except OSError as exc:
            return f"!net2file = 4 : cannot open {path}: {exc.strerror} ;"
        size = os.fstat(fd).st_size
        try:
            self.transfer = Transfer.net2file(path, fd, self._stream(), self.pool)
        except TransferRefused as exc:
            os.close(fd)
            return f"!net2file = 4 : {exc} ;"
        self.pool = self.transfer.pool
        self.last_block_bytes = self.transfer.pool.block_bytes
        return f"!net2file=  0 : {size} ;"

    def _outside_mount_points(self, path: str) -> str | None:
        """Why ``path`` may not be written (it runs as root: only inside a selected mount point that --allow
        permits, named without '..'), or None."""
        disks = [d for d in self.settings.disks if d != "null"]
        if not disks:
            return "net2file writes only inside the selected mount points, and set_disks= selected none"
        if not os.path.isabs(path) or ".." in Path(path).parts:
            return f"{path}: give an absolute path without '..'"
        if self._selected_disk(path) is None:
            return f"{path} is outside the selected mount points ({', '.join(disks)})"
        if not cfg.allowed(path, self.settings.allow):
            return f"{path} is outside what vdif-record may write (--allow)"
        return None

    def _selected_disk(self, path: str) -> str | None:
        """The selected mount point that ``path`` lies under, by name (links are refused when it is opened)."""
        for disk in self.settings.disks:
            if disk != "null" and Path(path).parent.is_relative_to(disk) and Path(path) != Path(disk):
                return disk
        return None

    # -- status -------------------------------------------------------------------------

    def _stats(self) -> EvlbiStats:
        return self.transfer.capture.evlbi() if self.transfer is not None else self.last_stats

    def _evlbi(self, command: Command) -> str:
        if command.query:
            return f"!evlbi? 0 : {format_evlbi(self._stats(), EVLBI_DEFAULT_FORMAT)} ;"
        return f"!evlbi= 0 : {format_evlbi(self._stats(), ' : '.join(command.args))} ;"

    def _dir_info(self, command: Command) -> str:
        if not command.query:
            return "!dir_info= 2 : only available as query ;"
        used, total = cfg.statvfs_totals([d for d in self.settings.disks if d != "null"])
        return f"!dir_info? 0 : ? : {used} : {total} ;"

    def _constraints(self, command: Command) -> str:
        if not command.query:
            return "!constraints=  2 : only available as query ;"
        mode = self.settings.mode
        if mode is None:
            return "!constraints?  0 : 0tr : <unknown> : 0bps/tr : [] ;"
        ntrack = mode.bits_per_sample_set
        block = self.last_block_bytes
        if block is None:
            frames = max(1, max(self.settings.workbuf, self.min_block) // mode.frame_bytes)
            block = frames * mode.frame_bytes
        rate = int(mode.bits_per_second / ntrack)
        return f"!constraints?  0 : {ntrack}tr : VDIF : {rate}bps/tr : {self.settings.constraints(block)} ;"

    def _version(self, command: Command) -> str:
        if not command.query:
            return "!version=  2 : query only ;"
        return (f"!version?  0 : vdif-record : {VERSION} : 64bit : python{platform.python_version()} : "
                f"{socket.gethostname()} ;")

    def _tstat(self, command: Command) -> str:
        t = self.transfer
        if t is None:
            return f"!tstat{command.sep} 0 : 0.0 : no_transfer ;"
        steps = f"{STEP_NAMES[t.settings.protocol]} : {t.capture.bytes_received}"
        if t.kind == "net2file":
            steps += f" : FdWrite : {t.bytes_written}"
        return f"!tstat{command.sep}  0 : {time.time():.3f} : {t.kind} : {steps} : FIFOLength : {t.sink.pending};"

    def _error(self, command: Command) -> str:
        if not command.query:
            return "!error= 2 : only available as query ;"
        if not self.errors:
            return "!error? 0 :  :  :  :  :  ;"
        entry = self.errors.popleft()
        return (f"!error? 0 : {entry.number} : {entry.message} : {iso(entry.first)} : {iso(entry.last)} : "
                f"{entry.occurrences} ;")


def iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f"{when % 1:.3f}"[1:] + "Z"


def open_beneath(path: str, disk: str | None, flag: str) -> int:
    """Open ``path`` for writing, walking down from ``disk`` one directory at a time without following any
    symbolic link, and refusing a file with other hard links (root must not write through someone's link)."""
    if disk is None:
        raise OSError(errno.EACCES, "outside the selected mount points")
    parts = Path(path).relative_to(disk).parts
    fd = os.open(disk, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = below
        create = {"n": os.O_CREAT | os.O_EXCL, "w": os.O_CREAT, "a": os.O_CREAT | os.O_APPEND}[flag]
        out = os.open(parts[-1], os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | create, 0o644, dir_fd=fd)
    finally:
        os.close(fd)
    info = os.fstat(out)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(out)
        raise OSError(errno.EPERM, "not a regular file of its own (another hard link to it exists)")
    if flag == "w":
        os.ftruncate(out, 0)
    return out


def unique_scan_name(scan: str, disks: list[str]) -> str | None:
    """The scan name, or with the first free suffix a-z A-Z when it (or a suffixed one) exists (as jive5ab)."""

    def exists(name: str) -> bool:
        return any(os.path.lexists(os.path.join(d, name)) for d in disks)

    if not exists(scan) and not any(exists(scan + s) for s in SUFFIXES):
        return scan
    for suffix in SUFFIXES:
        if not exists(scan + suffix):
            return scan + suffix
    return None
