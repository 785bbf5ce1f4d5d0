"""``vdif-katcp-proxy``: the recorder contract over KATCP, in front of any VSI-S recorder.

It implements what katsdpvlbi's README promises (section 2 of reference/katsdpvlbi.md), including the rename of
the product directory at ``?capture-done``, over one persistent VSI-S connection; one capture block at a time;
and sensors that say what is true: the bytes are those of the shards on disk, the packets those the recorder
counted, ``device-status`` fails when the recorder does not answer and is degraded when it does not record
while a capture block is open.
"""

# no "from __future__ import annotations": aiokatcp decodes request arguments from the real annotations
import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiokatcp

from harness import __version__
from harness.katcp import sensors as names
from harness.katcp.contract import CAPTURE_DONE_TIMEOUT, ProductLayout, capture_block_problem
from harness.katcp.sensors import CaptureState, DeviceStatus, free_sensor
from harness.recorder.client import VsisClient
from harness.recorder.errors import RecorderError
from harness.recorder.replies import ReplyFieldError, parse_evlbi, parse_record_query
from harness.recorder.vsis import Reply

log = logging.getLogger("vdif-katcp-proxy")

RECORD_SETTLE = 0.2
"""jive5ab binds its data socket after replying to record=on; a bind failure ends the recording within this."""
MAX_MESSAGE = 64 << 10
"""Longest KATCP line taken (aiokatcp's default is 16 MiB): the contract's requests are a few dozen bytes, and a
longer line is discarded as it arrives, so memory per connection stays bounded."""
MAX_PENDING = 32
"""Requests in flight over all clients before reading pauses."""
OFF_TIMEOUT = CAPTURE_DONE_TIMEOUT - 30.0
"""record=off returns once every chunk is written; what is left of katsdpcontroller's 240 s goes to the rename."""


@dataclass
class Capture:
    """The capture block in progress."""

    layout: ProductLayout
    started: float
    packets: int = 0
    lost: int = 0


@dataclass
class Totals:
    """Counters since the proxy started, over the capture blocks that ended."""

    bytes: int = 0
    packets: int = 0
    lost: int = 0
    last: tuple[float, int, int] | None = field(default=None)
    """(time, bytes, packets) of the previous poll, for the rates."""


def shard_bytes(directory: str) -> int:
    """Bytes of the files in a product directory and one level below (jive5ab's nested ``<scan>/``)."""
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
            elif entry.is_dir(follow_symlinks=False):
                total += shard_bytes(entry.path)
    return total


def flatten(layout: ProductLayout) -> None:
    """Move jive5ab's nested ``<writing>/<scan>/<scan>.NNNNNNNN`` up into ``<writing>/``, then rename
    ``<writing>`` to the final product directory."""
    writing = Path(layout.writing_dir)
    nested = writing / layout.scan
    if nested.is_dir():
        for shard in sorted(nested.iterdir()):
            target = writing / shard.name
            if target.exists():
                raise FileExistsError(f"cannot move {shard} up: {target} exists")
            shard.rename(target)
        nested.rmdir()
    final = Path(layout.final_dir)
    if final.exists():
        raise FileExistsError(f"cannot rename {writing}: {final} exists")
    writing.rename(final)


class RecorderProxy(aiokatcp.DeviceServer):
    """A KATCP device server speaking the recorder contract to a VSI-S recorder."""

    VERSION = "vdif-katcp-proxy-1.0"
    BUILD_STATE = f"vlbi-harness-{__version__}"

    def __init__(self, host: str, port: int, *, recorder: VsisClient, product_root: str,
                 mounts: list[str] | None = None, min_free: int = 1 << 30, poll_period: float = 1.0) -> None:
        super().__init__(host, port, limit=MAX_MESSAGE, max_pending=MAX_PENDING)
        self.recorder = recorder
        self.product_root = product_root
        self.mounts = mounts or [product_root]
        self.min_free = min_free
        self.poll_period = poll_period
        self.capture: Capture | None = None
        self.totals = Totals()
        self._vsis = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self.sensors.add(aiokatcp.Sensor(CaptureState, names.CAPTURE_STATE, "whether a capture block is open",
                                         default=CaptureState.IDLE, initial_status=aiokatcp.Sensor.Status.NOMINAL))
        self.sensors.add(aiokatcp.Sensor(str, names.CAPTURE_BLOCK, "the open (or last) capture block id",
                                         initial_status=aiokatcp.Sensor.Status.NOMINAL))
        for name, text, units in ((names.BYTES_TOTAL, "bytes of shards on disk, all capture blocks", "B"),
                                  (names.PACKETS_TOTAL, "packets the recorder received", ""),
                                  (names.LOST_TOTAL, "packets the recorder counted as lost", "")):
            self.sensors.add(aiokatcp.Sensor(int, name, text, units, initial_status=aiokatcp.Sensor.Status.NOMINAL))
        self.sensors.add(aiokatcp.Sensor(float, names.PACKETS_RATE, "packets received per second", "1/s"))
        self.sensors.add(aiokatcp.Sensor(float, names.BYTES_RATE, "bytes written per second", "B/s"))
        self.sensors.add(aiokatcp.Sensor(str, names.RECORDER_STATE, "the recorder's own record? reply"))
        for mount in self.mounts:
            self.sensors.add(aiokatcp.Sensor(int, free_sensor(mount), f"free bytes on {mount}", "B"))
        self.sensors.add(aiokatcp.Sensor(DeviceStatus, names.DEVICE_STATUS, "ok / degraded / fail",
                                         default=DeviceStatus.OK))

    # -- the recorder -----------------------------------------------------------------------------
    async def _ask(self, line: str, timeout: float = 10.0) -> Reply:
        async with self._vsis:
            replies = await asyncio.to_thread(self.recorder.exchange, line, timeout)
        if len(replies) != 1:
            raise RecorderError(f"{len(replies)} replies to {line!r}", backend="vsis", command=line)
        return replies[0]

    async def _require(self, line: str, ok: tuple[int, ...] = (0,), timeout: float = 10.0) -> Reply:
        try:
            reply = await self._ask(line, timeout)
        except RecorderError as exc:
            raise aiokatcp.FailReply(f"recorder: {line!r}: {exc.message}") from None
        if reply.code not in ok:
            raise aiokatcp.FailReply(f"recorder refused {line!r}: {reply.raw}")
        return reply

    # -- requests ---------------------------------------------------------------------------------
    async def request_capture_init(self, ctx: aiokatcp.RequestContext, capture_block_id: str) -> str:
        """Open a capture block: record into <root>/<cbid>/<cbid>_vdif.writing/ (?capture-init <cbid>)."""
        problem = capture_block_problem(capture_block_id)
        if problem:
            raise aiokatcp.FailReply(f"refused: {problem}")
        if self.capture is not None:
            raise aiokatcp.FailReply(f"refused: capture block {self.capture.layout.cbid} is in progress "
                                     "(one at a time; ?capture-done first)")
        free = self._free(self.product_root)
        if free is None or free < self.min_free:
            raise aiokatcp.FailReply(f"refused: {self.product_root} has {free} bytes free, below {self.min_free}")
        layout = ProductLayout(self.product_root, capture_block_id)
        if os.path.exists(layout.block_dir):
            raise aiokatcp.FailReply(f"refused: {layout.block_dir} exists (capture block recorded before)")
        os.makedirs(layout.writing_dir)
        try:
            await self._require(f"set_disks = {layout.writing_dir} ;")
            await self._require(f"record = on : {layout.scan} ;")
            await asyncio.sleep(RECORD_SETTLE)
            state = parse_record_query(await self._require("record? ;"))
            if not state.on:
                raise aiokatcp.FailReply(f"the recorder stopped right after record=on (record? says {state})")
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(layout.writing_dir)
                os.rmdir(layout.block_dir)
            raise
        self.capture = Capture(layout, time.time())
        self._set(names.CAPTURE_STATE, CaptureState.CAPTURING)
        self._set(names.CAPTURE_BLOCK, capture_block_id)
        log.info("capture block %s: recording into %s", capture_block_id, layout.writing_dir)
        return layout.writing_dir

    async def request_capture_done(self, ctx: aiokatcp.RequestContext) -> str:
        """Close the capture block: record=off, then the product becomes <root>/<cbid>/<cbid>_vdif/."""
        capture = self.capture
        if capture is None:
            raise aiokatcp.FailReply("refused: no capture block in progress")
        note = ""
        try:
            state = parse_record_query(await self._require("record? ;"))
            if state.on:
                await self._require("record = off ;", ok=(0, 1, 6), timeout=OFF_TIMEOUT)  # jive5ab 3.1.0: 1 = stopped
            else:
                note = " (the recorder had stopped by itself)"
            with contextlib.suppress(aiokatcp.FailReply, ReplyFieldError):
                counts = parse_evlbi(await self._require("evlbi? ;"))
                capture.packets, capture.lost = counts.total, counts.lost
            self.finish_product(capture.layout)
        except OSError as exc:
            raise aiokatcp.FailReply(f"product of {capture.layout.cbid} not finished: {exc}") from None
        finally:
            self.capture = None
            self.totals.packets += capture.packets
            self.totals.lost += capture.lost
            self.totals.bytes += shard_bytes(capture.layout.final_dir) or shard_bytes(capture.layout.writing_dir)
            self._set(names.CAPTURE_STATE, CaptureState.IDLE)
            self._publish_counters(0, 0, 0)
        log.info("capture block %s done%s", capture.layout.cbid, note)
        return capture.layout.final_dir + note

    def finish_product(self, layout: ProductLayout) -> None:
        """The product directory as the contract wants it, once the recorder has stopped."""
        flatten(layout)

    async def request_capture_status(self, ctx: aiokatcp.RequestContext) -> str:
        """The open capture block and where it records, or idle."""
        capture = self.capture
        return "idle" if capture is None else f"capturing {capture.layout.cbid} into {capture.layout.writing_dir}"

    # -- sensors ----------------------------------------------------------------------------------
    def _set(self, name: str, value: object, status: aiokatcp.Sensor.Status = aiokatcp.Sensor.Status.NOMINAL) -> None:
        self.sensors[name].set_value(value, status=status)

    @staticmethod
    def _free(path: str) -> int | None:
        try:
            stat = os.statvfs(path)
        except OSError:
            return None
        return stat.f_bavail * stat.f_frsize

    def _publish_counters(self, bytes_now: int, packets_now: int, lost_now: int) -> None:
        self._set(names.BYTES_TOTAL, self.totals.bytes + bytes_now)
        self._set(names.PACKETS_TOTAL, self.totals.packets + packets_now)
        self._set(names.LOST_TOTAL, self.totals.lost + lost_now)

    async def poll(self) -> None:
        """Refresh every sensor from the recorder and the disks."""
        now = time.time()
        capture = self.capture
        status = DeviceStatus.OK
        recording = False
        try:
            reply = await self._ask("record? ;")
            self._set(names.RECORDER_STATE, reply.text)
            recording = parse_record_query(reply).on
            packets = lost = 0
            if capture is not None:
                counts = parse_evlbi(await self._ask("evlbi? ;"))
                packets, lost = counts.total, counts.lost
        except (RecorderError, ReplyFieldError) as exc:
            self._set(names.RECORDER_STATE, f"no answer: {exc}", aiokatcp.Sensor.Status.FAILURE)
            self._set(names.DEVICE_STATUS, DeviceStatus.FAIL, aiokatcp.Sensor.Status.ERROR)
            return
        if self.capture is not capture:  # capture-done ran meanwhile: its totals are published
            return
        written = shard_bytes(capture.layout.writing_dir) if capture is not None else 0
        self._publish_counters(written, packets, lost)
        total_bytes, total_packets = self.totals.bytes + written, self.totals.packets + packets
        if self.totals.last is not None and now > self.totals.last[0]:
            span = now - self.totals.last[0]
            self._set(names.BYTES_RATE, max(0.0, (total_bytes - self.totals.last[1]) / span))
            self._set(names.PACKETS_RATE, max(0.0, (total_packets - self.totals.last[2]) / span))
        self.totals.last = (now, total_bytes, total_packets)
        for mount in self.mounts:
            free = self._free(mount)
            if free is None:
                self._set(free_sensor(mount), 0, aiokatcp.Sensor.Status.FAILURE)
                status = DeviceStatus.DEGRADED
                continue
            low = free < self.min_free
            self._set(free_sensor(mount), free, aiokatcp.Sensor.Status.WARN if low else aiokatcp.Sensor.Status.NOMINAL)
            status = DeviceStatus.DEGRADED if low else status
        if capture is not None and not recording:
            status = DeviceStatus.DEGRADED
        self._set(names.DEVICE_STATUS, status,
                  aiokatcp.Sensor.Status.NOMINAL if status is DeviceStatus.OK else aiokatcp.Sensor.Status.WARN)

    async def _poll_forever(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.poll_period)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._poller = loop.create_task(self._poll_forever())
        self.add_service_task(self._poller)

    async def on_stop(self) -> None:
        if self.capture is not None:  # a proxy that stops leaves no recording running behind it
            with contextlib.suppress(Exception):
                await self._ask("record = off ;", timeout=OFF_TIMEOUT)
        await asyncio.to_thread(self.recorder.close)
