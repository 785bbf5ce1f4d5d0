"""One running transfer (a vbs recording or a net2file): its socket, block pool, capture thread and sink."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.recorder.reference import multicast
from harness.recorder.reference.blocks import BlockPool
from harness.recorder.reference.capture import Capture
from harness.recorder.reference.recvmmsg import set_receive_timeout
from harness.recorder.reference.sinks import BlockSink, DiskProblem, FileSink, VbsSink

log = logging.getLogger("vdif-record")

MIN_VBS_BLOCK = 128 << 20
"""jive5ab's minimum vbs block (chunk) size; ``--block-size`` overrides it, as jive5ab's ``-B``."""
MIN_NET2FILE_BLOCK = 4 << 20
"""net2file keeps every frame whatever the block, so the block is only sized for throughput."""
LARGE_BLOCK = 32 << 20
"""From this block size on, the udps re-order window is 2 blocks (as jive5ab's readahead)."""


class TransferRefused(Exception):
    """A transfer that cannot start (bind failure, file exists): the text goes into the reply."""


@dataclass(frozen=True)
class StreamSettings:
    """What a transfer needs from the runtime's configuration."""

    protocol: str
    frame_bytes: int
    socket_buffer: int
    workbuf: int
    nbuf: int
    address: str | None
    port: int
    writers: int
    interface: str | None = None
    """The data interface a group is joined on (a name or its address); None: where the group routes."""


def block_frames(workbuf: int, minimum: int, frame_bytes: int) -> int:
    """Frames per block: ``max(workbuf, minimum)`` rounded down to whole frames (at least one)."""
    return max(1, max(workbuf, minimum) // frame_bytes)


def open_data_socket(settings: StreamSettings) -> tuple[socket.socket, int]:
    """The bound UDP socket and its effective receive buffer (the kernel caps it at rmem_max).

    A group's socket binds to the group and joins it on the data interface; every socket takes only the groups
    it joined (``IP_MULTICAST_ALL`` 0): see `harness.recorder.reference.multicast` for the pitfall this avoids.
    A unicast one binds to its address, or, as jive5ab does when net_port names none, to every interface.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    where = f"{settings.address or '*'}@{settings.port}"
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, settings.socket_buffer)
        multicast.prepare(sock, settings.address)
        sock.bind((multicast.bind_address(settings.address), settings.port))
        if settings.address and multicast.is_group(settings.address):
            on = settings.interface or "the interface it routes via"
            where = f"{where} (joining it on {on})"
            multicast.join(sock, settings.address, settings.interface)
            log.info("joined %s on %s; port %d", settings.address, on, settings.port)
        set_receive_timeout(sock, 0.1)
    except (OSError, multicast.InterfaceError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise TransferRefused(f"cannot receive on {where}: {reason}") from None
    effective = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux reports twice the size
    if effective < settings.socket_buffer:
        log.warning("socket buffer %d asked, %d granted (net.core.rmem_max caps it)", settings.socket_buffer,
                    effective)
    return sock, effective


class Transfer:
    """A running ``vbsrecord`` or ``net2file``: started by the constructor, ended by `stop`."""

    def __init__(
        self, kind: str, name: str, settings: StreamSettings, frames: int,
        make_sink: Callable[[BlockPool], BlockSink], pool: BlockPool | None = None,
    ) -> None:
        self.kind, self.name, self.settings = kind, name, settings
        window = 1
        if settings.protocol == "udps":
            window = 2 if frames * settings.frame_bytes >= LARGE_BLOCK else max(2, settings.nbuf)
        limit = max(settings.nbuf, window + settings.writers + 1)
        if pool is None or not pool.fits(frames, settings.frame_bytes, limit) or not pool.idle:
            if pool is not None:
                pool.close()
            pool = BlockPool(frames, settings.frame_bytes, limit=limit)
        self.pool = pool
        self.sock, self.socket_buffer = open_data_socket(settings)
        try:
            self.pool.preallocate()
            self.sink = make_sink(self.pool)
        except BaseException:
            self.sock.close()
            raise
        self.capture = Capture(self.sock, protocol=settings.protocol, frame_bytes=settings.frame_bytes,
                               pool=self.pool, sink=self.sink, window=window)
        self.started = time.time()
        self.capture.start()
        log.info("%s %s started: %s, %d-byte frames, %d frames per block, window %d, pool of %d, "
                 "socket buffer %d", kind, name, settings.protocol, settings.frame_bytes, frames, window,
                 self.pool.limit, self.socket_buffer)

    @classmethod
    def recording(
        cls, scan: str, settings: StreamSettings, mounts: list[str], min_block: int, direct: bool = True,
        pool: BlockPool | None = None,
    ) -> Transfer:
        frames = block_frames(settings.workbuf, min_block, settings.frame_bytes)
        return cls("vbsrecord", scan, settings, frames,
                   lambda pool: VbsSink(pool, settings.writers, scan, mounts, direct), pool)

    @classmethod
    def net2file(cls, path: str, fd: int, settings: StreamSettings, pool: BlockPool | None = None) -> Transfer:
        frames = block_frames(settings.workbuf, MIN_NET2FILE_BLOCK, settings.frame_bytes)
        return cls("net2file", path, settings, frames, lambda pool: FileSink(pool, fd, path), pool)

    @property
    def alive(self) -> bool:
        return self.capture.is_alive()

    @property
    def bytes_written(self) -> int:
        return self.sink.bytes_written

    @property
    def problems(self) -> list[DiskProblem]:
        return list(self.sink.problems)

    def stop(self) -> None:
        """Stop receiving, hand every held block (partial ones too) to the sink, wait for the writers."""
        self.capture.stop()
        self.sock.close()
        self.sink.finish()  # every block is back in the pool, which the next transfer may reuse
        log.info("%s %s stopped: %d packets, %d bytes written in %d blocks, %d blocks lost, %d wrong-size "
                 "datagrams dropped, receiver waited for a free block %d times", self.kind, self.name,
                 self.capture.evlbi().pkt_in, self.sink.bytes_written, self.sink.blocks_written,
                 self.sink.blocks_lost, self.capture.wrong_size, self.pool.waits)
