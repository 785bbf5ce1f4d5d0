"""The ``katcp`` recorder backend: every scan a capture block, driven as katsdpcontroller drives katsdpvlbi.

``?capture-init <cbid>`` (30 s) opens a scan, ``?capture-done`` (240 s) closes it; the product is validated where
the contract puts it, ``<root>/<cbid>/<cbid>_vdif/``. Every reply and every sensor is judged against the truth:
the product's files, the recorder's own ``record?`` over VSI-S where it can be reached, and later the frames the
checker found. What disagrees is a finding on the scan (``ScanResult.findings``), never a reason to stop.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

from harness.katcp import sensors as names
from harness.katcp.contract import (
    CAPTURE_DONE_TIMEOUT,
    CAPTURE_INIT_TIMEOUT,
    ProductLayout,
    capture_block_id,
    product_problems,
)
from harness.katcp.judge import CountClaims, Sensors, config_mismatches, judge_done, judge_free, judge_init, sensor_int
from harness.katcp.link import BACKEND, KatcpLink, RequestFailed, RequestTimedOut
from harness.recorder.client import VsisClient
from harness.recorder.driver import Owner
from harness.recorder.errors import ConfigurationRefused, RecorderDied, RecorderError
from harness.recorder.model import RecorderConfig, RecorderStatus, ScanResult
from harness.recorder.replies import ReplyFieldError, parse_record_query
from harness.recorder.vsis import ReplyShapeError

SENSOR_TIMEOUT = 5.0
TRACEBACK = "Traceback (most recent call last)"
"""How aiokatcp's fail reply to a request whose handler raised begins."""


class ProxyBug(RuntimeError):
    """The harness's own proxy raised while handling a request: a bug of the harness (a traceback on the scan)."""


class KatcpRecorder:
    """A recorder behind a KATCP proxy; ``close`` stops what the harness started (proxy, recorder)."""

    backend = BACKEND

    def __init__(self, link: KatcpLink, log_dir: Path, *, product_root: str, truth: VsisClient | None = None,
                 proxy: Owner | None = None, behind: Any = None, mounts: list[str] | None = None,
                 local_product: bool = True, init_timeout: float = CAPTURE_INIT_TIMEOUT,
                 done_timeout: float = CAPTURE_DONE_TIMEOUT) -> None:
        self.link = link
        self.log_dir = log_dir
        self.product_root = product_root
        self.truth = truth
        """The recorder's VSI-S port behind the proxy (None: not reachable; only disk and checker judge)."""
        self.proxy = proxy
        self.behind = behind
        """The VsisRecorder the harness started behind its own proxy (configured through VSI-S), else None."""
        self.init_timeout, self.done_timeout = init_timeout, done_timeout
        self.local_product = local_product
        """Whether the product root is this machine's (else on the recorder node: the checker judges it there)."""
        self.mounts = mounts or [product_root]
        """Mount points whose ``disk-free.<name>`` sensor is judged against statvfs."""
        self.config: RecorderConfig | None = None
        self.capture_block: str | None = None
        self.scan: str | None = None
        self.findings: list[str] = []
        self.replies: dict[str, str] = {}
        self._before: Sensors = {}
        self._last_cbid: str | None = None
        self._readings: Sensors = {}
        self._closed = False

    # -- what the engine asks of any recorder -----------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.behind.pid if self.behind is not None else None

    @property
    def control_address(self) -> str:
        return self.link.address

    def version(self) -> str:
        _, informs = self._request("version-list", timeout=SENSOR_TIMEOUT)
        device = next((" ".join(args[1:2]) for args in informs if args and args[0] == "katcp-device"), "unknown")
        behind = ""
        if self.truth is not None:
            with contextlib.suppress(RecorderError, ReplyShapeError):
                fields = [f for f in self.truth.ask("version?").fields if f]
                behind = " in front of " + " ".join(fields[:2])
        return f"{device}{behind}"

    def configure(self, cfg: RecorderConfig) -> None:
        """The harness's own recorder is configured through VSI-S; an attached one is compared with the stream."""
        if self.behind is not None:
            self.behind.configure(cfg)
        elif self.truth is not None:
            expected = {"mode": cfg.mode or "", "net_protocol": cfg.protocol, "mtu": str(cfg.mtu),
                        "net_port": cfg.net_port if cfg.data_address and _multicast(cfg.data_address)
                        else str(cfg.data_port)}
            if not cfg.mode:
                del expected["mode"]
            running = {setting: self._running(setting) for setting in expected}
            mismatches = config_mismatches(expected, running)
            if mismatches:
                raise ConfigurationRefused("the attached recorder does not run the scenario's stream: "
                                           + "; ".join(mismatches), backend=self.backend,
                                           command=" ".join(f"{s}?" for s in expected))
        self.config = cfg

    def _running(self, setting: str) -> str | None:
        if self.truth is None:
            return None
        try:
            reply = self.truth.ask(f"{setting}?")
        except (RecorderError, ReplyShapeError):
            return None
        fields = reply.fields
        return fields[0] if reply.code == 0 and fields else None

    def record_on(self, scan: str) -> str:
        """``?capture-init <cbid>``; the cbid comes from the start time (``capture_block``)."""
        cbid = capture_block_id(time.time(), self._last_cbid)
        self._last_cbid = self.capture_block = cbid
        self.findings, self.replies = [], {}
        self._before = self._sensors_or_empty()
        layout = ProductLayout(self.product_root, cbid)
        try:
            reply, _ = self._request("capture-init", cbid, timeout=self.init_timeout)
        except RequestTimedOut:  # it may have opened the capture block late: closed again, best effort
            with contextlib.suppress(RecorderError):
                self.link.request("capture-done", timeout=self.done_timeout)
            raise  # a refusal or a timeout: the engine's finding for this scan
        self.replies["?capture-init"] = " ".join(["!capture-init ok", *reply])
        self.scan = scan
        sensors = self._sensors_or_none()  # a sensor request that failed is its own finding, judged no further
        recording, record_reply = self._recording()
        local = self.local_product and os.path.isdir(self.product_root)
        self.findings += judge_init(cbid, sensors, recording=recording, record_reply=record_reply,
                                    writing_dir=layout.writing_dir,
                                    writing_exists=os.path.isdir(layout.writing_dir) if local else None)
        if local and sensors is not None:
            self.findings += judge_free(sensors, _free_space(self._mounts()))
        return scan

    def wait_for_packets(self, timeout: float = 5.0) -> int:
        base = sensor_int(self._before, names.PACKETS_TOTAL) or 0
        deadline = time.monotonic() + timeout
        while True:
            now = sensor_int(self._sensors_or_empty(), names.PACKETS_TOTAL)
            if now is not None and now > base:
                return now - base
            if time.monotonic() > deadline:
                raise RecorderDied(f"sensor {names.PACKETS_TOTAL} did not rise within {timeout:g} s "
                                   f"(it says {now})", backend=self.backend, command="?sensor-value")
            time.sleep(0.2)

    def status(self, timeout: float | None = None) -> RecorderStatus:  # the sensors within SENSOR_TIMEOUT
        sensors = self._sensors()
        base = {name: sensor_int(self._before, name) or 0 for name in names.COUNTERS}
        rise = {name: (sensor_int(sensors, name) or 0) - base[name] for name in names.COUNTERS}
        return RecorderStatus(recording=sensors.get(names.CAPTURE_STATE, ("", ""))[1] == "capturing",
                              scan=self.scan, bytes=rise[names.BYTES_TOTAL], packets=rise[names.PACKETS_TOTAL],
                              lost=rise[names.LOST_TOTAL], out_of_order=0, extent=None)

    def sensor_readings(self) -> dict[str, Any] | None:
        """The last sensor values read (for metrics.jsonl): name -> value, numbers as numbers."""
        return {name: _number(value) for name, (_status, value) in sorted(self._readings.items())} or None

    def record_off(self) -> ScanResult:
        """``?capture-done``, then the product and the sensors judged; nothing raised for what the proxy did."""
        cbid, scan = self.capture_block, self.scan
        if cbid is None or scan is None:
            raise RuntimeError("record_off() without a record_on()")
        layout = ProductLayout(self.product_root, cbid)
        recording_before, _ = self._recording()
        stopped_early = recording_before is False
        if stopped_early:
            self.findings.append(f"the recorder had stopped recording capture block {cbid} before ?capture-done")
        done_ok = True
        try:
            reply, _ = self._request("capture-done", timeout=self.done_timeout)
            self.replies["?capture-done"] = " ".join(["!capture-done ok", *reply])
        except (RequestFailed, RequestTimedOut) as exc:
            done_ok = False
            self.findings.append(f"{exc.message}" + (f" (reply: {exc.reply})" if exc.reply else ""))
        self.scan = None
        read = self._sensors_or_none()
        sensors = read or {}
        recording, record_reply = self._recording()
        local = self.local_product and os.path.isdir(self.product_root)
        files = _shards(layout.final_dir) if local else []
        product = (layout.scan, layout.block_dir)
        if local and not os.path.isdir(layout.final_dir) and os.path.isdir(os.path.join(layout.writing_dir,
                                                                                           layout.scan)):
            product = (layout.scan, layout.writing_dir)  # left as jive5ab wrote it: still validated, nothing lost
            files = _shards(os.path.join(layout.writing_dir, layout.scan))
        on_disk = sum(os.path.getsize(f) for f in files) if local else None
        if done_ok:
            problems = product_problems(layout, _listing(layout.block_dir) or [], _listing(layout.final_dir)) \
                if local else []
            self.findings += judge_done(cbid, read, bytes_before=sensor_int(self._before, names.BYTES_TOTAL),
                                        bytes_on_disk=on_disk, recording=recording, record_reply=record_reply,
                                        layout_problems=problems)
        rise = {name: _rise(self._before, sensors, name) for name in names.COUNTERS}
        return ScanResult(scan=scan, stopped_early=stopped_early, packets=rise[names.PACKETS_TOTAL] or 0,
                          lost=rise[names.LOST_TOTAL] or 0, out_of_order=0,
                          bytes=on_disk if on_disk is not None else rise[names.BYTES_TOTAL] or 0, files=files,
                          replies=dict(self.replies), findings=list(self.findings), capture_block=cbid,
                          product=product,
                          claims=asdict(CountClaims(cbid, rise[names.PACKETS_TOTAL], rise[names.LOST_TOTAL])))

    def net2file_open(self, path: str | Path) -> None:
        raise RecorderError("the KATCP recorder contract has capture blocks only (recorder.recording: vbs)",
                            backend=self.backend)

    def net2file_stop(self) -> ScanResult:
        raise RecorderError("the KATCP recorder contract has capture blocks only", backend=self.backend)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.scan is not None:  # best effort: no capture block stays open behind the harness
                with contextlib.suppress(RecorderError):
                    self.link.request("capture-done", timeout=self.done_timeout)
        finally:
            try:
                self.link.close()
                if self.truth is not None and self.behind is None:
                    self.truth.close()
            finally:
                try:
                    if self.proxy is not None:
                        self.proxy.stop()
                finally:
                    if self.behind is not None:
                        self.behind.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading the proxy and the truth ----------------------------------------------------------
    def _request(self, name: str, *args: object, timeout: float) -> tuple[list[str], list[list[str]]]:
        """A request; an uncaught exception in the harness's own proxy is the harness's bug, not a finding."""
        try:
            return self.link.request(name, *args, timeout=timeout)
        except RequestFailed as exc:
            if self.proxy is not None and TRACEBACK in (exc.reply or ""):
                raise ProxyBug(f"vdif-katcp-proxy failed ?{name} with an exception of its own:\n{exc.reply}") from None
            raise

    def _sensors(self) -> Sensors:
        """Every sensor now; a request that fails or times out is a finding on the scan, then raised."""
        try:
            self._readings = self.link.sensor_values(timeout=SENSOR_TIMEOUT)
        except (RequestFailed, RequestTimedOut) as exc:
            finding = exc.message + (f" (reply: {exc.reply})" if exc.reply else "")
            if self.scan is not None and finding not in self.findings:
                self.findings.append(finding)
            raise
        return self._readings

    def _sensors_or_empty(self) -> Sensors:
        return self._sensors_or_none() or {}

    def _sensors_or_none(self) -> Sensors | None:
        try:
            return self._sensors()
        except (RequestFailed, RequestTimedOut):
            return None

    def _recording(self) -> tuple[bool | None, str | None]:
        """Whether the recorder behind the proxy records, by its own ``record?`` (None: not reachable)."""
        if self.truth is None:
            return None, None
        try:
            reply = self.truth.ask("record?")
            return parse_record_query(reply).on, reply.raw
        except (RecorderError, ReplyFieldError, ReplyShapeError):
            return None, None

    def _mounts(self) -> list[str]:
        return [m for m in self.mounts if os.path.isdir(m)]


def _multicast(address: str) -> bool:
    return ipaddress.ip_address(address).is_multicast


def _number(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _rise(before: Sensors, after: Sensors, name: str) -> int | None:
    start, end = sensor_int(before, name), sensor_int(after, name)
    return None if start is None or end is None else end - start


def _free_space(mounts: list[str]) -> dict[str, int]:
    found = {}
    for mount in mounts:
        with contextlib.suppress(OSError):
            stat = os.statvfs(mount)
            found[mount] = stat.f_bavail * stat.f_frsize
    return found


def _listing(directory: str) -> list[str] | None:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return None


def _shards(directory: str) -> list[str]:
    return [os.path.join(directory, name) for name in _listing(directory) or []
            if os.path.isfile(os.path.join(directory, name))]

