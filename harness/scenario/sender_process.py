"""vdif-send as a child process on the sender node, its progress read live, its log kept."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.scenario.schema import Stream
from harness.scenario.stream_format import sender_options


def sender_argv(stream: Stream, *, destination: str, seconds: float, first_sequence: int, progress: float,
                bind: str | None = None, skip_threads: tuple[int, ...] = (),
                wire_faults: tuple[str, ...] = ()) -> list[str]:
    """The vdif-send command line for one scan of this stream (``skip_threads`` never sent)."""
    spec = stream.format_spec
    if spec is not None:  # Mark5B, LWA RBeam: the format's own options (a stand-in and wire faults are VDIF's)
        argv = [sys.executable, "-m", "harness.sender", "--dest", destination, "--port", str(stream.port),
                *sender_options(spec), "--duration", f"{seconds:.6f}", "--json", "--progress", f"{progress:g}"]
        if stream.udps:
            argv += ["--udps", "--seq-start", str(first_sequence)]
        return argv + (["--bind", bind] if bind else [])
    argv = [sys.executable, "-m", "harness.sender", "--dest", destination, "--port", str(stream.port),
            "--threads", str(stream.threads), "--bits", str(stream.bits), "--channels", str(stream.channels),
            "--station", str(stream.station), "--edv", str(stream.edv), "--payload", stream.payload,
            "--duration", f"{seconds:.6f}", "--json", "--progress", f"{progress:g}"]
    if stream.mode:
        argv += ["--mode", stream.mode]
    else:
        argv += ["--fps", str(stream.fps), "--payload-bytes", str(stream.payload_bytes)]
    if stream.complex:
        argv.append("--complex")
    if stream.udps:
        argv += ["--udps", "--seq-start", str(first_sequence)]
    if stream.tone is not None:
        argv += ["--tone-freq", repr(stream.tone.frequency_hz), "--tone-channel", str(stream.tone.channel),
                 "--tone-amplitude", repr(stream.tone.amplitude)]
    if bind:
        argv += ["--bind", bind]
    for thread in skip_threads:
        argv += ["--skip-thread", str(thread)]
    for fault in wire_faults:
        argv += ["--wire-fault", fault]
    return argv


class SenderProcess:
    """One vdif-send run: started, followed (progress lines), stopped, its final statistics parsed."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log_path = log
        self.latest: dict[str, Any] = {}
        self.first_frame: float | None = None
        self.node_pid: int | None = None
        """vdif-send's process id on its node (this wrapper may be ssh)."""
        self.begun = threading.Event()
        """Set once the sender said when its first frame goes (a fault timeline counts from then)."""
        self._log = log.open("a")
        self._log.write(f"$ {' '.join(argv)}\n")
        self._log.flush()
        # its own session: a Ctrl-C on the terminal reaches the harness, which stops the sender itself
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        self._stdout: list[str] = []
        self._readers = [threading.Thread(target=self._read_progress, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for reader in self._readers:
            reader.start()
        self.started = time.time()
        self._stopping = False

    def _read_progress(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._log.write(line)
            self._log.flush()
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    found = json.loads(line)
                    if "start" in found:  # the first frame's time, said before any frame goes
                        self.first_frame = float(found["start"])
                        self.node_pid = int(found.get("pid") or 0) or None
                        self.begun.set()
                    else:
                        self.latest = found

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        self._stdout.extend(self.process.stdout)

    def progress(self) -> dict[str, Any] | None:
        """The latest progress line, for metrics: frames, bytes, CPU seconds, RSS."""
        return dict(self.latest) if self.latest else None

    def stop(self) -> None:
        """Ask it to stop after its current batch (it then prints its statistics)."""
        if self.process.poll() is None and not self._stopping:
            self._stopping = True
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the end; its final statistics (raises SenderFailed if it failed or printed none)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            code = self.process.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        self._log.write("".join(self._stdout))
        self._log.write(f"[exit {code}]\n")
        self._log.close()
        text = "".join(self._stdout)
        stopped = self._stopping and code in (-signal.SIGTERM, -signal.SIGINT)
        if (code != 0 and not stopped) or not text.strip():
            how = "was killed (SIGKILL)" if code in (-signal.SIGKILL, 128 + signal.SIGKILL) else f"exited with {code}"
            raise SenderFailed(f"vdif-send {how}: {self._last_error()} (see {self.log_path.name})")
        return dict(json.loads(text))

    def _last_error(self) -> str:
        lines = [ln for ln in self.log_path.read_text().splitlines() if ln and not ln.startswith(("{", "$"))]
        return lines[-1] if lines else "no output"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


class SenderFailed(RuntimeError):
    """The sender did not run as asked (refused its arguments, died, printed no statistics)."""
