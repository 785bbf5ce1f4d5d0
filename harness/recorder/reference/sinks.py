"""Where full blocks go: vbs chunk files spread over mount points, or one flat net2file file.

vbs as jive5ab writes it (shared reference, section 5): chunk ``n`` of scan ``s`` is
``<mount>/<s>/<s>.<n:08d>``, created with O_EXCL and mode 0644 in a 0755 directory, written
whole; mount points are taken from the head of a FIFO and put back at its tail (shuffled once
per scan). A mount point whose mkdir, open or write fails (ENOSPC, EIO, ...) is dropped for the
rest of the scan and the chunk is rewritten on the next one, as jive5ab does; unlike jive5ab
the drop is kept for the replies (``error?``) and not only logged. A mount point whose filesystem
is no longer the one it had when the scan began (unmounted under the recorder: its directory is
now on the filesystem below, usually the root) is dropped the same way, before anything is
written there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import queue
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from harness.recorder.reference.blocks import Block, BlockPool

log = logging.getLogger("vdif-record")


DIRECT_ALIGN = 4096


def write_all(fd: int, data: memoryview) -> None:
    """os.write until every byte is out (the kernel may write less than asked)."""
    done = 0
    while done < len(data):
        done += os.write(fd, data[done:])


def open_chunk(path: str, direct: bool) -> tuple[int, bool]:
    """Create a chunk file (O_EXCL, 0644); with O_DIRECT where the filesystem allows it (not tmpfs)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    if direct:
        try:
            return os.open(path, flags | os.O_DIRECT, 0o644), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, flags, 0o644), False


def write_chunk_data(fd: int, data: memoryview, direct: bool) -> None:
    """Write a block: its 4 KiB-aligned bulk with O_DIRECT, the rest through the page cache.

    O_DIRECT skips the filesystem's page cache: one copy less per byte, which on a loop-mounted
    XFS disk (the local lab) is the difference between keeping up at 4 Gbit/s and not. The
    block memory is page-aligned (blocks.page_aligned), so only the length needs rounding.
    """
    bulk = len(data) - len(data) % DIRECT_ALIGN if direct else 0
    if bulk:
        try:
            write_all(fd, data[:bulk])
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            bulk = 0  # the device wants another alignment: everything through the page cache
    if bulk < len(data):
        if direct:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
            os.lseek(fd, bulk, os.SEEK_SET)
        write_all(fd, data[bulk:])


def mount_of(path: str) -> str:
    """The mount point a path lives on (longest matching prefix in /proc/self/mounts)."""
    real = os.path.realpath(path)
    best = "/"
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                target = line.split()[1].replace("\\040", " ")
                if (real == target or real.startswith(target.rstrip("/") + "/")) and len(target) > len(best):
                    best = target
    except OSError:
        return best
    return best


@dataclass
class DiskProblem:
    """A mount point dropped during a scan, and why."""

    mount: str
    chunk: int
    reason: str
    when: float = field(default_factory=time.time)

    def text(self) -> str:
        return f"{self.mount} dropped at chunk {self.chunk}: {self.reason}"


class BlockSink:
    """Writer threads draining a queue of full blocks; blocks go back to the pool once written."""

    def __init__(self, pool: BlockPool, writers: int, name: str) -> None:
        self.pool = pool
        self.bytes_written = 0
        self.blocks_written = 0
        self.blocks_lost = 0
        self.problems: list[DiskProblem] = []
        self._queue: queue.Queue[Block | None] = queue.Queue()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-writer-{i}", daemon=True)
                         for i in range(writers)]
        for thread in self._threads:
            thread.start()

    def submit(self, block: Block) -> None:
        self._queue.put(block)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            block = self._queue.get()
            if block is None:
                return
            try:
                self.write(block)
            except Exception:  # a writer must never die silently: the block is counted as lost
                log.exception("writer failed on block %d", block.chunk)
                with self._lock:
                    self.blocks_lost += 1
            finally:
                self.pool.put(block)

    def write(self, block: Block) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Write everything queued, then stop the writers."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()


class VbsSink(BlockSink):
    """Chunk files of one scan over several mount points, with failover."""

    def __init__(self, pool: BlockPool, writers: int, scan: str, mounts: list[str], direct: bool = True) -> None:
        self.scan = scan
        self.direct = direct
        order = list(mounts)
        random.shuffle(order)  # as jive5ab: spread short scans over all disks
        self._mounts: deque[str] = deque(order)
        self.files: list[str] = []
        self._made: set[str] = set()
        self._in_use = 0
        self._devices = {m: device_of(m) for m in mounts}
        """Each mount point's filesystem when the scan began (None: it could not be read then)."""
        super().__init__(pool, writers, "vbs")
        self._free = threading.Condition(self._lock)

    def _take_mount(self) -> str | None:
        """A mount point no other writer is writing to; with more writers than mount points, the wait for one.
        None only when every mount point has failed."""
        with self._free:
            while not self._mounts and self._in_use:
                self._free.wait()
            if not self._mounts:
                return None
            self._in_use += 1
            return self._mounts.popleft()

    def _give_back(self, mount: str | None) -> None:
        """A writer is done with ``mount``; None: it failed and is not given back."""
        with self._free:
            self._in_use -= 1
            if mount is not None:
                self._mounts.append(mount)
            self._free.notify_all()

    def write(self, block: Block) -> None:
        data = block.payload()
        while True:
            mount = self._take_mount()
            if mount is None:
                log.error("did not write chunk %d of %s: no usable mount point left", block.chunk, self.scan)
                with self._lock:
                    self.blocks_lost += 1
                return
            path = os.path.join(mount, self.scan, f"{self.scan}.{block.chunk:08d}")
            began = time.monotonic()
            try:
                self._write_chunk(mount, path, data)
            except OSError as exc:
                reason = f"{errno.errorcode.get(exc.errno or 0, 'error')}: {exc.strerror or exc}"
                log.error("mount point %s POSSIBLY BAD (%s), removing it from the list for scan %s; "
                          "chunk %d goes to the next one", mount, reason, self.scan, block.chunk)
                with self._lock:
                    self.problems.append(DiskProblem(mount, block.chunk, reason))
                self._give_back(None)  # this mount point is not given back
                continue
            self._give_back(mount)
            log.debug("chunk %d: %d bytes to %s in %.3f s", block.chunk, len(data), mount, time.monotonic() - began)
            with self._lock:
                self.files.append(path)
                self.bytes_written += len(data)
                self.blocks_written += 1
            return

    def _write_chunk(self, mount: str, path: str, data: memoryview) -> None:
        self._check_mounted(mount)
        directory = os.path.dirname(path)
        if directory not in self._made:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            self._made.add(directory)
        fd, direct = open_chunk(path, self.direct)
        if os.fstat(fd).st_dev != self._devices.get(mount, os.fstat(fd).st_dev):  # unmounted since the check
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            self._check_mounted(mount)
        try:
            write_chunk_data(fd, data, direct)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)  # a partial chunk must not look like data
            raise
        os.close(fd)


    def _check_mounted(self, mount: str) -> None:
        """Raise ENODEV when ``mount`` is no longer on the filesystem it had when the scan began."""
        then, now = self._devices.get(mount), device_of(mount)
        if then is not None and now != then:
            raise OSError(errno.ENODEV, f"no longer mounted (its directory is now on {mount_of(mount)}): "
                                        "nothing is written outside the mount points")


def device_of(path: str) -> int | None:
    """The filesystem (st_dev) ``path`` is on, or None when it cannot be read."""
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


class FileSink(BlockSink):
    """net2file: blocks appended in order to one already-open file (one writer keeps the order)."""

    def __init__(self, pool: BlockPool, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path
        self.error: str | None = None
        super().__init__(pool, 1, "net2file")

    def write(self, block: Block) -> None:
        if self.error is not None:
            with self._lock:
                self.blocks_lost += 1
            return
        try:
            write_all(self.fd, block.payload())
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror or exc}"
            log.error("net2file write failed, later data is dropped: %s", self.error)
            with self._lock:
                self.blocks_lost += 1
            return
        with self._lock:
            self.bytes_written += block.length
            self.blocks_written += 1

    def finish(self) -> None:
        super().finish()
        os.close(self.fd)


class NullSink(BlockSink):
    """``set_disks = null``: receive and count, write nothing (for network-only tests)."""

    def __init__(self, pool: BlockPool) -> None:
        self.files: list[str] = []
        super().__init__(pool, 1, "null")

    def write(self, block: Block) -> None:
        with self._lock:
            self.blocks_written += 1
