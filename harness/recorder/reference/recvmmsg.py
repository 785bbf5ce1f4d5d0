"""Batched UDP receive with Linux ``recvmmsg(2)``, straight into the recording blocks.

One call takes up to 64 datagrams. With a sequence prefix each datagram is scattered over
two buffers: its 8-byte sequence number into a small array, its frame directly into the
block at the slot it should have; so the prefix is stripped without a copy. The message
headers are numpy arrays, so pointing a batch at a new block is one vector assignment and
reading the lengths is one view, never a Python loop per datagram. ctypes releases the GIL
during the call, so the writer threads run meanwhile.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys

import numpy as np
import numpy.typing as npt

MSG_TRUNC = 0x20
MSG_WAITFORONE = 0x10000
MMSGHDR_BYTES = 64
"""struct mmsghdr on 64-bit Linux: msghdr (56 bytes) + msg_len + padding."""

_MSG_FLAGS_WORD32 = 12  # msghdr.msg_flags at byte 48
_MSG_LEN_WORD32 = 14  # mmsghdr.msg_len at byte 56


class ReceiveUnsupported(RuntimeError):
    """recvmmsg is Linux-only and this layout is the 64-bit one."""


def _bind_recvmmsg() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        raise ReceiveUnsupported("the reference recorder needs 64-bit Linux (recvmmsg)")
    libc = ctypes.CDLL(None, use_errno=True)
    function = libc.recvmmsg
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


_recvmmsg = _bind_recvmmsg()


def set_receive_timeout(sock: socket.socket, seconds: float) -> None:
    """A blocking socket whose receive gives up after ``seconds`` (so a stop request is seen)."""
    sock.setblocking(True)
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, int((seconds - whole) * 1e6)))


class MessageBatch:
    """Preallocated ``mmsghdr``/``iovec`` arrays for ``capacity`` datagrams of one size.

    Each datagram is ``prefix_bytes`` (0 or 8) of sequence number, then ``frame_bytes``
    that go to consecutive frame slots of a block. A datagram of another size shows in
    `lengths`; one too long is also flagged in `truncated`.
    """

    def __init__(self, capacity: int, frame_bytes: int, prefix_bytes: int, *, senders: bool = False) -> None:
        self.capacity = capacity
        self.frame_bytes = frame_bytes
        self.prefix_bytes = prefix_bytes
        self.datagram_bytes = frame_bytes + prefix_bytes
        self.headers = np.zeros((capacity, MMSGHDR_BYTES // 8), dtype=np.uint64)
        niov = 2 if prefix_bytes else 1
        self._iov = np.zeros((capacity, niov, 2), dtype=np.uint64)
        self.prefixes = np.zeros(capacity, dtype=np.uint64)
        self.sender_names = np.zeros((capacity, 2), dtype=np.uint64) if senders else None
        index = np.arange(capacity, dtype=np.uint64)
        self.headers[:, 2] = np.uint64(self._iov.ctypes.data) + index * np.uint64(niov * 16)
        self.headers[:, 3] = niov
        if self.sender_names is not None:
            self.headers[:, 0] = np.uint64(self.sender_names.ctypes.data) + index * np.uint64(16)
        if prefix_bytes:
            self._iov[:, 0, 0] = np.uint64(self.prefixes.ctypes.data) + index * np.uint64(8)
            self._iov[:, 0, 1] = prefix_bytes
        self._iov[:, -1, 1] = frame_bytes
        self._slot_offsets = index * np.uint64(frame_bytes)
        self._words = self.headers.view(np.uint32)
        self._address = self.headers.ctypes.data

    def receive(self, fd: int, block: npt.NDArray[np.uint8], first_slot: int, count: int) -> int:
        """Receive up to ``count`` datagrams into frame slots ``first_slot..`` of ``block``.

        Blocks until one datagram is there (or the socket's receive timeout passes: 0), then
        takes whatever else is queued without waiting.
        """
        if count > self.capacity or (first_slot + count) * self.frame_bytes > block.nbytes:
            raise ValueError(f"{count} datagrams from slot {first_slot} do not fit the block")
        base = np.uint64(block.ctypes.data + first_slot * self.frame_bytes)
        self._iov[:count, -1, 0] = base + self._slot_offsets[:count]
        if self.sender_names is not None:
            self.headers[:count, 1] = 16
        received = _recvmmsg(fd, self._address, count, MSG_WAITFORONE, None)
        if received < 0:
            code = ctypes.get_errno()
            if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return 0
            raise OSError(code, os.strerror(code))
        return received

    def lengths(self, count: int) -> npt.NDArray[np.uint32]:
        return self._words[:count, _MSG_LEN_WORD32]

    def truncated(self, count: int) -> npt.NDArray[np.bool_]:
        return (self._words[:count, _MSG_FLAGS_WORD32] & MSG_TRUNC) != 0

    def good(self, count: int) -> npt.NDArray[np.bool_]:
        """Datagrams of exactly the expected size."""
        return (self.lengths(count) == self.datagram_bytes) & ~self.truncated(count)

    def sender_keys(self, count: int) -> npt.NDArray[np.uint64] | None:
        """One number per datagram for its sender's (address, port): sockaddr_in bytes 2..7."""
        if self.sender_names is None:
            return None
        return self.sender_names[:count, 0] >> np.uint64(16)
