"""The reference recorder's configuration commands: mode, net_protocol, mtu, net_port, set_disks.

Each handler takes a parsed `Command` and returns jive5ab's reply text for it, with jive5ab's
codes and spacing (recorded from jive5ab 3.1.0), e.g. ``!mtu= 0 ;`` and
``!set_disks=  8 : 0 : no mountpoints matched your selection criteria ;``.
"""

from __future__ import annotations

import fnmatch
import glob
import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.formats.vdif.rates import ObservingMode, RateError, parse_mode
from harness.recorder.model import PROTOCOLS, SEQUENCE_PREFIX, parse_size
from harness.recorder.reference.sinks import mount_of
from harness.recorder.vsis import Command

log = logging.getLogger("vdif-record")

JIVE5AB_PROTOCOLS = ("udp", "pudp", "udps", "udpsnor", "udt", "vtp", "tcp", "rtcp", "itcp", "unix")
IP_UDP_OVERHEAD = 28
MAX_WORKBUF = 1 << 30


@dataclass
class Settings:
    """One runtime's configuration; jive5ab's defaults except the protocol (UDP only here)."""

    mode: ObservingMode | None = None
    mode_text: str = ""
    protocol: str = "udps"
    socket_buffer: int = 4 << 20
    workbuf: int = 131072
    nbuf: int = 8
    mtu: int = 1500
    address: str | None = None
    port: int = 2630
    disks: list[str] = field(default_factory=list)
    allow: list[str] | None = None
    """Directory globs set_disks may select and net2file may write under (vdif-record --allow); None: any."""
    readers: int = 1
    writers: int = 1
    data_interface: str | None = None
    """Where a group is joined (vdif-record --data-interface: a name or its address); None: where it routes."""

    @property
    def net_port(self) -> str:
        return f"{self.address}@{self.port}" if self.address else str(self.port)

    def read_size(self) -> int | None:
        """jive5ab's datagram size (constraints.cc): frame/i for the smallest divisor i fitting the MTU (strict <)."""
        overhead = IP_UDP_OVERHEAD + SEQUENCE_PREFIX.get(self.protocol, 0)
        if self.mode is None:
            return (self.mtu - overhead) & ~7
        frame = self.mode.frame_bytes
        for i in range(1, frame + 1):
            if frame % i == 0 and frame // i + overhead < self.mtu:
                return frame // i
        return None

    def constraints(self, block_bytes: int | None) -> str:
        """The ``[<framesize:..> ... <n_mtu:1>]`` part of ``constraints?``."""
        if self.mode is None:
            return "[]"
        read = self.read_size() or 0
        frame = self.mode.frame_bytes
        block = block_bytes if block_bytes is not None else frame
        return (f"[<framesize:{frame}> <blocksize:{block}> <MTU:{self.mtu}> <compress_offset:0> "
                f"<application_overhead:{SEQUENCE_PREFIX.get(self.protocol, 0)}> "
                f"<protocol_overhead:{IP_UDP_OVERHEAD}> <read_size:{read}> <write_size:{read}> <n_mtu:1>]")

    def mode_fields(self) -> tuple[str, ...]:
        mode = self.mode
        if mode is None:
            return ("", "<unknown>", "0", "0.000")
        ntrack = mode.bits_per_sample_set
        return (self.mode_text, "VDIF", str(ntrack), f"{float(mode.bits_per_second) / ntrack:.3f}",
                str(mode.payload_bytes))


def busy(command: Command, transfer: str) -> str:
    return f"!{command.keyword}{command.sep} 6 : not whilst {transfer} is in progress ;"


def handle_mode(settings: Settings, command: Command) -> str:
    if command.query:
        return command.reply(0, *settings.mode_fields())
    text = command.args[0] if command.args else ""
    if text.lower() == "none":
        settings.mode, settings.mode_text = None, ""
        return f"!{command.keyword}= 0 ;"
    try:
        mode = parse_mode(text)
    except RateError as exc:
        return f"!{command.keyword} = 4 : Mode '{text}' is not a valid mode: {exc};"
    settings.mode, settings.mode_text = mode, text
    return f"!{command.keyword}= 0 ;"


def handle_net_protocol(settings: Settings, command: Command) -> str:
    if command.query:
        return command.reply(0, settings.protocol, settings.socket_buffer, settings.workbuf, settings.nbuf)
    args = list(command.args) + [""] * 4
    proto, socbuf, workbuf, nbuf = args[:4]
    if proto:
        if proto not in JIVE5AB_PROTOCOLS:
            return (f"!{command.keyword} = 6 : the protocol {proto} is not recognized as a valid protocol;")
        if proto not in PROTOCOLS:
            return f"!{command.keyword} = 2 : the reference recorder records {', '.join(PROTOCOLS)}, not {proto} ;"
    try:
        sizes = [parse_size(v) if v else None for v in (socbuf, workbuf)]
        count = int(nbuf) if nbuf else None
    except ValueError as exc:
        return f"!{command.keyword} = 8 : {exc} ;"
    if sizes[0] is not None and not 0 < sizes[0] <= 0x7FFFFFFF:
        return f"!{command.keyword} = 8 : <socbuf size> out of range <0 or > INT_MAX ; "
    if sizes[1] is not None and not 0 < sizes[1] <= MAX_WORKBUF:
        return f"!{command.keyword} = 8 : <workbufsize> too large, max: {MAX_WORKBUF} ;"
    if count is not None and not 0 < count <= 1024:
        return f"!{command.keyword} = 8 : <nbuf> out of range - 0 or too large ;"
    if proto:
        settings.protocol = proto
    if sizes[0] is not None:
        settings.socket_buffer = sizes[0]
    if sizes[1] is not None:
        settings.workbuf = sizes[1]
    if count is not None:
        settings.nbuf = count
    return f"!{command.keyword} = 0 ;"


def handle_mtu(settings: Settings, command: Command) -> str:
    if command.query:
        return command.reply(0, settings.mtu)
    text = command.args[0] if command.args else ""
    if not text.isdigit() or not 64 <= int(text) <= 9000:
        return f"!{command.keyword} = 6 : invalid value for the MTU given (64..9000);"
    settings.mtu = int(text)
    return f"!{command.keyword}= 0 ;"


def handle_net_port(settings: Settings, command: Command) -> str:
    if command.query:
        return command.reply(0, settings.net_port)
    text = command.args[0] if command.args else ""
    address, _, port_text = text.rpartition("@")
    if not port_text.isdigit() or int(port_text) > 65535:
        return f"!{command.keyword} = 8 : port '{port_text}' not a number/out of range (range: 0-65535);"
    if address:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            return f"!{command.keyword} = 8 : '{address}' is not an IPv4 address;"
    settings.address, settings.port = address or None, int(port_text)
    return f"!{command.keyword}= 0 ;"


def expand_disks(patterns: list[str]) -> list[str]:
    """Directories matching absolute paths, globs or ``^regex$`` patterns; sorted, no duplicates."""
    found: set[str] = set()
    for pattern in patterns:
        if pattern.startswith("^") and pattern.endswith("$"):
            regex = re.compile(pattern)
            parent = os.path.dirname(pattern[1:-1].split("[")[0].split("(")[0]) or "/"
            for root, dirs, _files in os.walk(parent):
                found.update(p for d in dirs if regex.match(p := os.path.join(root, d)))
                if root.count("/") > 4:
                    dirs.clear()
        elif os.path.isabs(pattern):
            found.update(p.rstrip("/") or "/" for p in glob.glob(pattern) if os.path.isdir(p))
    return sorted(found)


def allowed(path: str, patterns: list[str] | None) -> bool:
    """Whether ``path`` (resolved) is, or lies under, a directory matching one of ``patterns`` (None: any)."""
    if patterns is None:
        return True
    real = Path(os.path.realpath(path))
    return any(fnmatch.fnmatchcase(str(candidate), pattern) for candidate in (real, *real.parents)
               for pattern in patterns)


def handle_set_disks(settings: Settings, command: Command) -> str:
    if command.query:
        shown = settings.disks if settings.disks != ["null"] else ["null"]
        return f"!{command.keyword}?  0 : {len(shown)}" + "".join(f" : {d}" for d in shown) + " ;"
    patterns = [a for a in command.args if a]
    if patterns == ["null"]:
        settings.disks = ["null"]
        return f"!{command.keyword}=  0 : 1 ;"
    if patterns in (["flexbuff"], ["flexbuf"]):
        patterns = ["^/mnt/disk[0-9]+$"]
    disks = expand_disks(patterns)
    outside = [d for d in disks if not allowed(d, settings.allow)]
    if outside:
        return f"!{command.keyword}=  8 : {', '.join(outside)} outside what vdif-record may write (--allow) ;"
    settings.disks = disks
    if not disks:
        return f"!{command.keyword}=  8 : 0 : no mountpoints matched your selection criteria ;"
    for disk in disks:
        if mount_of(disk) == "/":
            log.warning("mount point %s is on the root filesystem (jive5ab would not use it)", disk)
    return f"!{command.keyword}=  0 : {len(disks)} ;"


def statvfs_totals(disks: list[str]) -> tuple[int, int]:
    """(used, total) bytes over the selected disks, as jive5ab's dir_info? computes them."""
    used = total = 0
    for disk in disks:
        try:
            st = os.statvfs(disk)
        except OSError:
            continue
        total += st.f_blocks * st.f_frsize
        used += (st.f_blocks - st.f_bavail) * st.f_frsize
    return used, total
