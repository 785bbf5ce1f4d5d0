"""The receiving thread: datagrams into blocks, full blocks to a sink, counters as evlbi? reads them.

pudp and udpsnor keep arrival order (udpsnor strips the sequence number and counts loss per
sender). udps places each frame by sequence number in a re-order window of blocks and, when a
block leaves the window, writes jive5ab's fill frame into every slot no datagram reached. The
common case (datagrams in order, right size) lands in place with no copy at all; anything else
(loss, re-ordering, a datagram of the wrong size) takes a vectorised slow path for that batch.
A datagram of the wrong size is dropped and counted (jive5ab cuts long ones silently and stops
recording on a short one).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

import numpy as np
import numpy.typing as npt

from harness.recorder.reference.blocks import Block, BlockPool, PoolClosed
from harness.recorder.reference.recvmmsg import MessageBatch
from harness.recorder.reference.sequence import PerSenderAccounting, SequenceAccounting, fill_frame
from harness.recorder.reference.sinks import BlockSink
from harness.recorder.replies import EvlbiStats

log = logging.getLogger("vdif-record")

BATCH = 64
"""Datagrams per recvmmsg call at most."""


class Capture(threading.Thread):
    """Receives one stream until `stop`; on the way out every held block goes to the sink, partial or not."""

    def __init__(
        self, sock: socket.socket, *, protocol: str, frame_bytes: int, pool: BlockPool, sink: BlockSink,
        window: int = 1,
    ) -> None:
        super().__init__(name=f"capture-{protocol}", daemon=True)
        self.sock = sock
        self.protocol = protocol
        self.frame_bytes = frame_bytes
        self.pool = pool
        self.sink = sink
        self.frames = pool.frames
        self.window = window if protocol == "udps" else 1
        prefix = 0 if protocol == "pudp" else 8
        self.batch = MessageBatch(BATCH, frame_bytes, prefix, senders=protocol == "udpsnor")
        self.datagram_bytes = frame_bytes + prefix
        self.stopping = threading.Event()
        self.bytes_received = 0
        """Bytes of accepted datagrams, sequence numbers included (jive5ab's record? count)."""
        self.packets = 0
        self.wrong_size = 0
        self.error: BaseException | None = None
        self.sequence = SequenceAccounting()
        self.per_sender = PerSenderAccounting()
        self._next_chunk = 0
        # arrival-order state
        self._current: Block | None = None
        self._fill = 0
        # udps re-order window: blocks[i] holds sequence numbers base + i*frames ...
        self._blocks: list[Block | None] = [None] * self.window
        self._base: int | None = None

    # -- counters -------------------------------------------------------------------------

    def evlbi(self) -> EvlbiStats:
        if self.protocol == "udps":
            return self.sequence.stats
        if self.protocol == "udpsnor":
            return self.per_sender.stats
        return EvlbiStats(pkt_in=self.packets)

    # -- thread ---------------------------------------------------------------------------

    def run(self) -> None:
        fd = self.sock.fileno()
        try:
            step = self._step_sequenced if self.protocol == "udps" else self._step_arrival
            while not self.stopping.is_set():
                step(fd)
        except PoolClosed:
            pass
        except BaseException as exc:  # kept for the control thread: the recording ends with a reason
            self.error = exc
            log.exception("capture stopped")
        finally:
            with contextlib.suppress(PoolClosed):
                self._flush()

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def _block(self) -> Block:
        while True:
            try:
                return self.pool.get(timeout=0.2)
            except TimeoutError:
                if self.stopping.is_set():
                    raise PoolClosed("stopping while waiting for a block") from None

    def _emit(self, block: Block, frames: int) -> None:
        block.length = frames * self.frame_bytes
        block.chunk = self._next_chunk
        self._next_chunk += 1
        self.sink.submit(block)

    # -- pudp, udpsnor: arrival order --------------------------------------------------------

    def _step_arrival(self, fd: int) -> None:
        if self._current is None:
            self._current, self._fill = self._block(), 0
        block = self._current
        count = min(BATCH, self.frames - self._fill)
        n = self.batch.receive(fd, block.data, self._fill, count)
        if n == 0:
            return
        good = self.batch.good(n)
        kept = n
        if not good.all():
            kept = int(good.sum())
            self._note_wrong_size(n, n - kept)
            slots = block.slots
            slots[self._fill : self._fill + kept] = slots[self._fill : self._fill + n][good]
        if self.protocol == "udpsnor":
            keys = self.batch.sender_keys(n)
            self.per_sender.add(self.batch.prefixes[:n][good], None if keys is None else keys[good])
        self.packets += kept
        self.bytes_received += kept * self.datagram_bytes
        self._fill += kept
        if self._fill == self.frames:
            self._emit(block, self.frames)
            self._current = None

    # -- udps: by sequence number ------------------------------------------------------------

    def _step_sequenced(self, fd: int) -> None:
        frames = self.frames
        if self._base is None:
            offset = 0
        else:
            offset = self.sequence.expect - self._base
            while offset >= self.window * frames:
                self._shift()
                offset = self.sequence.expect - self._base
        index, slot = divmod(offset, frames)
        block = self._open(index)
        n = self.batch.receive(fd, block.data, slot, min(BATCH, frames - slot))
        if n == 0:
            return
        seqs = self.batch.prefixes[:n]
        good = self.batch.good(n)
        expect = self.sequence.expect
        if (
            self._base is not None and good.all() and int(seqs[0]) == expect and int(seqs[-1]) == expect + n - 1
            and (n < 3 or bool((np.diff(seqs) == 1).all()))
        ):
            block.filled[slot : slot + n] = True
            self.sequence.add_in_order(expect, n)
            self.bytes_received += n * self.datagram_bytes
            return
        kept = int(good.sum())
        if kept < n:
            self._note_wrong_size(n, n - kept)
        received = block.slots[slot : slot + n][good].copy()
        numbers = seqs[good].copy()
        self.bytes_received += kept * self.datagram_bytes
        if kept:
            if self._base is None:
                self._base = int(numbers[0])
                self.sequence.restart(self._base)
            self._place(received, numbers)

    def _open(self, index: int) -> Block:
        block = self._blocks[index]
        if block is None:
            block = self._blocks[index] = self._block()
        return block

    def _place(self, received: npt.NDArray[np.uint8], seqs: npt.NDArray[np.uint64]) -> None:
        """Put each frame at its sequence number's slot, moving the window forward where needed."""
        frames, span = self.frames, self.window * self.frames
        i = 0
        while i < len(seqs):
            base = self._base if self._base is not None else int(seqs[i])
            offsets = seqs[i:].astype(np.int64) - np.int64(base)
            inside = (offsets >= 0) & (offsets < span)
            run = len(offsets) if inside.all() else int(np.argmin(inside))
            if run:
                self.sequence.add(seqs[i : i + run])
                self._scatter(received[i : i + run], offsets[:run])
                i += run
                continue
            first = int(offsets[0])
            if first < 0 and -first <= frames:
                self.sequence.add(seqs[i : i + 1])  # counted in, but too late for the window
                self.sequence.discard()
                i += 1
            elif first < 0:
                log.warning("sequence number fell from %d to %d: the sender restarted; new segment",
                            base, int(seqs[i]))
                self._flush_window()
                self._base = int(seqs[i])
                self.sequence.restart(self._base)
            else:
                shifts = 0
                while int(seqs[i]) - (self._base or 0) >= span:
                    self._shift()
                    shifts += 1
                    if shifts == self.window:  # a jump larger than the window: that gap is not filled
                        self._base = int(seqs[i])
                        break

    def _scatter(self, received: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> None:
        index, slots = np.divmod(offsets, self.frames)
        for b in np.unique(index).tolist():
            pick = index == b
            block = self._open(b)
            where = slots[pick]
            duplicates = int(block.filled[where].sum())
            if duplicates:
                self.sequence.duplicates += duplicates
            block.slots[where] = received[pick]
            block.filled[where] = True

    def _shift(self) -> None:
        """The oldest block leaves the window, its holes filled (jive5ab pushes it out whole)."""
        oldest = self._blocks.pop(0)
        self._blocks.append(None)
        self._base = (self._base or 0) + self.frames
        if oldest is None:
            return
        if not oldest.filled.any():
            self.pool.put(oldest)
            return
        self._fill_holes(oldest, self.frames)
        self._emit(oldest, self.frames)

    def _fill_holes(self, block: Block, frames: int) -> None:
        holes = np.flatnonzero(~block.filled[:frames])
        if len(holes):
            block.slots[holes] = fill_frame(self.frame_bytes)

    def _flush_window(self) -> None:
        """Every block with data leaves: full ones whole, the last cut after its last frame."""
        used = [i for i, b in enumerate(self._blocks) if b is not None and b.filled.any()]
        last = used[-1] if used else -1
        for i, block in enumerate(self._blocks):
            if block is None:
                continue
            if i > last or not block.filled.any():
                self.pool.put(block)
            else:
                frames = self.frames if i < last else int(np.flatnonzero(block.filled)[-1]) + 1
                self._fill_holes(block, frames)
                self._emit(block, frames)
        self._blocks = [None] * self.window

    def _flush(self) -> None:
        if self.protocol == "udps":
            self._flush_window()
        elif self._current is not None:
            if self._fill:
                self._emit(self._current, self._fill)
            else:
                self.pool.put(self._current)
            self._current = None

    def _note_wrong_size(self, received: int, count: int) -> None:
        if not self.wrong_size:
            sizes = sorted(set(self.batch.lengths(received).tolist()) - {self.datagram_bytes})
            log.warning("dropping datagrams of the wrong size (expected %d bytes, seen %s)",
                        self.datagram_bytes, sizes[:5])
        self.wrong_size += count
