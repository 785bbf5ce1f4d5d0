"""Recording blocks and the fixed pool they come from.

A block is one future chunk file: ``frames`` frame slots of ``frame_bytes`` each, received
into directly. The pool hands out at most ``limit`` blocks, allocated on first need and reused
most-recently-freed first (warm in cache; blocks never needed are never allocated), so memory
stays bounded whatever the disks do: when the writers fall behind, the receiver waits for a
block and the kernel's socket buffer takes the strain (and overflows, visibly, as loss).
"""

from __future__ import annotations

import mmap
import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass
class Block:
    """Frame slots plus which of them hold a received frame (for udps re-ordering)."""

    data: npt.NDArray[np.uint8]
    frame_bytes: int
    filled: npt.NDArray[np.bool_] = field(init=False)
    length: int = 0
    """Bytes to write (whole frames); set when the block leaves the receiver."""
    chunk: int = -1
    """Chunk number in the scan (vbs), or the order of the block in the file (net2file)."""

    def __post_init__(self) -> None:
        self.filled = np.zeros(self.frames, dtype=bool)

    @property
    def frames(self) -> int:
        return self.data.nbytes // self.frame_bytes

    @property
    def slots(self) -> npt.NDArray[np.uint8]:
        """A ``(frames, frame_bytes)`` view of the block."""
        return self.data.reshape(self.frames, self.frame_bytes)

    def reset(self) -> None:
        self.filled[:] = False
        self.length = 0
        self.chunk = -1

    def payload(self) -> memoryview:
        return memoryview(self.data.data)[: self.length]


def page_aligned(size: int, populate: bool = False) -> npt.NDArray[np.uint8]:
    """Zero-filled memory on a page boundary (anonymous mmap), as O_DIRECT writes need.

    With ``populate`` the kernel maps every page now (MAP_POPULATE, about twice as fast as
    touching them), so no page fault lands on the receive path later.
    """
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | (mmap.MAP_POPULATE if populate else 0)
    return np.frombuffer(mmap.mmap(-1, size, flags=flags), dtype=np.uint8)


class PoolClosed(RuntimeError):
    """The pool was closed while a block was awaited (the recording is stopping)."""


class BlockPool:
    """At most ``limit`` blocks of ``frames`` slots; `get` waits when all are in use."""

    def __init__(self, frames: int, frame_bytes: int, limit: int) -> None:
        if frames < 1 or limit < 1:
            raise ValueError(f"a pool of {limit} blocks of {frames} frames is empty")
        self.frames = frames
        self.frame_bytes = frame_bytes
        self.limit = limit
        self.allocated = 0
        self.waits = 0
        """How often the receiver had to wait for a free block (writers behind)."""
        self._free: list[Block] = []
        self._cond = threading.Condition()
        self._closed = False

    def preallocate(self) -> None:
        """Allocate every block now and touch its pages, so that no page fault lands on the receive path.

        (jive5ab also allocates its reader blocks at ``record=on``.)
        """
        with self._cond:
            while self.allocated < self.limit:
                self._free.append(Block(page_aligned(self.block_bytes, populate=True), self.frame_bytes))
                self.allocated += 1

    def fits(self, frames: int, frame_bytes: int, limit: int) -> bool:
        """Whether this pool can serve a transfer of that shape (pools are kept between scans)."""
        return (self.frames, self.frame_bytes, self.limit) == (frames, frame_bytes, limit) and not self._closed

    @property
    def idle(self) -> bool:
        """Every block is back."""
        with self._cond:
            return len(self._free) == self.allocated

    @property
    def block_bytes(self) -> int:
        return self.frames * self.frame_bytes

    @property
    def bytes_allocated(self) -> int:
        return self.allocated * self.block_bytes

    def get(self, timeout: float | None = None) -> Block:
        """A free block (reset); waits while all ``limit`` are in use. Raises PoolClosed after `close`."""
        with self._cond:
            waited = False
            while True:
                if self._closed:
                    raise PoolClosed("block pool closed")
                if self._free:
                    block = self._free.pop()
                    block.reset()
                    return block
                if self.allocated < self.limit:
                    self.allocated += 1
                    return Block(page_aligned(self.block_bytes), self.frame_bytes)
                if not waited:
                    self.waits += 1
                    waited = True
                if not self._cond.wait(timeout) and timeout is not None:
                    raise TimeoutError("no free block")

    def put(self, block: Block) -> None:
        with self._cond:
            self._free.append(block)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._free.clear()
            self._cond.notify_all()
