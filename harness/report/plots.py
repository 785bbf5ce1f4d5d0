"""Figures as inline SVG, drawn with matplotlib (no hand-written SVG).

Text stays text (``svg.fonttype: none``), coordinates are rounded to 0.1 pt, ids nothing refers
to are dropped and the XML prologue and namespace URLs are removed (the HTML parser supplies the
SVG namespace), so a figure is a few tens of kilobytes and the page names no http(s) address.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from markupsafe import Markup, escape
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from harness.report.statistics import ScanStatistics
from harness.report.timeline import FaultBand, Line, Panel, TimeFigure
from harness.report.trend import TrendSeries

MAX_SPECTRUM_POINTS = 512
MAX_SPECTRUM_THREADS = 16
WIDTH_IN = 9.5
ROLE_COLOURS = {"sender": "#1f5fa8", "recorder": "#2e8b3a", "error": "#c0392b", "warning": "#d98c00"}
VERDICT_COLOURS = {"pass": "#2e8b3a", "fail": "#c0392b", "interrupted": "#d98c00", "unknown": "#7f7f7f"}
RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
    "path.simplify": True,
}


def plot_label(text: str) -> str:
    """Text from a run (scan, mount point, scenario) made safe for matplotlib: no mathtext, no hidden labels."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


_NUMBER = re.compile(r"(-?\d+\.\d)\d+")
_ID = re.compile(r'\sid="([^"]*)"')


def _round_numbers(match: re.Match[str]) -> str:
    return _NUMBER.sub(r"\1", match.group(0))


def _compact_path(match: re.Match[str]) -> str:
    """Path data on one line, without the 'L' of a lineto that follows another lineto or a moveto."""
    out: list[str] = []
    previous = ""
    for token in match.group(1).split():
        if token.isalpha():
            if token == "L" and previous in ("L", "M"):
                continue
            previous = token
        out.append(token)
    return f' d="{" ".join(out)}"'


def inline_svg(figure: Figure, key: str, title: str) -> Markup:
    """The figure as an ``<svg>`` element to place in HTML; ``key`` keeps its internal ids unique on the page."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    for namespace in (' xmlns:xlink="http://www.w3.org/1999/xlink"', ' xmlns="http://www.w3.org/2000/svg"'):
        svg = svg.replace(namespace, "")
    referenced = set(re.findall(r"#([A-Za-z_][\w.-]*)", svg))
    svg = _ID.sub(lambda m: m.group(0) if m.group(1) in referenced else "", svg)
    svg = re.sub(r' (?:d|x|y|width|height)="[^"]*"', _round_numbers, svg)
    svg = re.sub(r' d="([^"]*)"', _compact_path, svg)
    svg = svg.replace("<svg ", f'<svg class="plot" role="img" aria-label="{escape(title)}" ', 1)
    return Markup(svg.strip())


def _new_figure(rows: int, height_per_row: float, cols: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(WIDTH_IN, 0.5 + height_per_row * rows), layout="constrained")
    axes = figure.subplots(rows, cols, sharex=True, squeeze=False)
    return figure, [ax for row in axes for ax in row]


def _times(t: np.ndarray) -> np.ndarray:
    return (np.asarray(t, dtype=float) * 1e6).astype("datetime64[us]")


def _draw_line(ax: Axes, line: Line, colour: str | None) -> None:
    r = line.series
    t = _times(r.t)
    label = plot_label(line.label)
    if line.style == "step":
        ax.step(t, r.mean, where="mid", label=label, color=colour, linewidth=1.0)
        return
    if line.style == "line":
        ax.plot(t, r.mean, label=label, color=colour, linewidth=1.0)
        return
    width = 2.4 if line.role == "sender" else 1.1  # sent under recorded: both stay visible when equal
    drawn = ax.plot(t, r.mean, label=label, color=colour, linewidth=width, alpha=0.55 if width > 2 else 1.0)
    if r.bucket_s is not None and line.style == "envelope":
        ax.fill_between(t, r.lo, r.hi, color=drawn[0].get_color(), alpha=0.22, linewidth=0)


def _draw_panel(ax: Axes, panel: Panel) -> None:
    for line in panel.lines:
        _draw_line(ax, line, ROLE_COLOURS.get(line.role))
    if panel.reference is not None and math.isfinite(panel.reference):
        ax.axhline(panel.reference, color="#555555", linestyle="--", linewidth=0.9,
                   label=plot_label(panel.reference_label or "reference"))
    ax.set_ylabel(plot_label(panel.ylabel))
    ymin, ymax = ax.get_ylim()
    if all(line.style == "step" for line in panel.lines):
        ax.set_ylim(0, max(ymax, 1.0))
    elif ymin >= 0:
        ax.set_ylim(0, ymax if ymax > 0 else 1.0)
    if panel.note:
        ax.text(0.01, 0.97, plot_label(panel.note), transform=ax.transAxes, va="top", ha="left", fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


FAULT_COLOUR = "#8e44ad"


def _draw_bands(axes: Sequence[Axes], bands: Sequence[FaultBand]) -> None:
    """Each injected fault as a shaded band (an instant one as a line) on every panel, named on the first."""
    for band in bands:
        start, end = _times(np.array([band.start, max(band.end, band.start)]))
        for n, ax in enumerate(axes):
            if end > start:
                ax.axvspan(start, end, color=FAULT_COLOUR, alpha=0.16, linewidth=0)
            else:
                ax.axvline(start, color=FAULT_COLOUR, alpha=0.7, linewidth=1.2, linestyle=":")
            if n == 0:
                ax.text(start, 1.0, plot_label(band.label), transform=ax.get_xaxis_transform(), va="bottom",
                        ha="left", fontsize=7, color=FAULT_COLOUR)


def time_figure_svg(spec: TimeFigure, bands: Sequence[FaultBand] = ()) -> Markup:
    with matplotlib.rc_context(RC):
        figure, axes = _new_figure(len(spec.panels), 2.1)
        for ax, panel in zip(axes, spec.panels, strict=True):
            _draw_panel(ax, panel)
        _draw_bands(axes, bands)
        locator = mdates.AutoDateLocator()
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes[-1].set_xlabel("time (UTC)")
        return inline_svg(figure, spec.key, spec.full_title)


def _display_spectrum(freq: np.ndarray, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power in dB above the median, averaged down to at most MAX_SPECTRUM_POINTS channels."""
    positive = power[np.isfinite(power) & (power > 0)]
    median = float(np.median(positive)) if len(positive) else 1.0
    if len(freq) > MAX_SPECTRUM_POINTS:
        size = math.ceil(len(freq) / MAX_SPECTRUM_POINTS)
        usable = len(freq) // size * size
        freq = freq[:usable].reshape(-1, size).mean(axis=1)
        power = power[:usable].reshape(-1, size).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return freq, 10 * np.log10(power / median)


def spectrum_svg(stats: ScanStatistics) -> Markup | None:
    threads = [t for t in stats.threads if t.spectrum is not None][:MAX_SPECTRUM_THREADS]
    if not threads:
        return None
    cols = 2 if len(threads) > 1 else 1
    rows = math.ceil(len(threads) / cols)
    with matplotlib.rc_context(RC):
        figure, axes = _new_figure(rows, 1.9, cols)
        for ax, thread in zip(axes, threads, strict=False):
            spectrum = thread.spectrum
            if spectrum is None:  # filtered above; keeps mypy informed
                continue
            for channel, power in enumerate(spectrum.power):
                freq, db = _display_spectrum(spectrum.frequency_hz, power)
                ax.plot(freq / 1e6, db, linewidth=0.9, label=f"channel {channel}")
            ax.set_title(plot_label(f"thread {thread.thread}"), fontsize=9, loc="left")
            ax.set_ylabel("dB above median")
            if len(spectrum.power) > 1:
                ax.legend(loc="upper right")
        for ax in axes[len(threads):]:
            ax.set_visible(False)
        for ax in axes[-cols:]:
            ax.set_xlabel("frequency in the channel (MHz)")
            ax.tick_params(labelbottom=True)
        return inline_svg(figure, "spectrum", f"Averaged spectrum per thread, scan {stats.scan}")


def category_strip(ax: Axes, times: Sequence[np.datetime64], rows: Sequence[str], verdicts: Sequence[str]) -> None:
    """One marker per run on a row per series, coloured by verdict."""
    names = sorted(set(rows))
    position = {name: i for i, name in enumerate(names)}
    for verdict, colour in VERDICT_COLOURS.items():
        chosen = [i for i, v in enumerate(verdicts) if v == verdict]
        if chosen:
            ax.scatter([times[i] for i in chosen], [position[rows[i]] for i in chosen], color=colour, s=28,
                       label=verdict, zorder=3)
    ax.set_yticks(range(len(names)), [plot_label(n) for n in names])
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _values(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def trend_svg(series: Sequence[TrendSeries]) -> Markup | None:
    """Loss, achieved rate, duration and verdict of each run, one line per series (scenario, backend, nodes)."""
    if not series:
        return None
    with matplotlib.rc_context(RC):
        figure, (lost, rate, duration, verdicts) = _new_figure(4, 1.55)
        longest = max((h for s in series for h in s.duration_h if h is not None), default=0.0)
        per_hour, unit = (1.0, "h") if longest >= 2 else (60.0, "min")
        strip_t: list[np.datetime64] = []
        strip_rows: list[str] = []
        strip_verdicts: list[str] = []
        for s in series:
            t = np.array([np.datetime64(d.replace(tzinfo=None), "us") for d in s.started])
            label = plot_label(s.label)
            drawn = lost.plot(t, _values(s.lost), marker="o", markersize=3.5, linewidth=1, label=label)
            colour = drawn[0].get_color()
            rate.plot(t, _values(s.achieved_gbps), marker="o", markersize=3.5, linewidth=1, color=colour)
            duration.plot(t, _values(s.duration_h) * per_hour, marker="o", markersize=3.5, linewidth=1, color=colour)
            strip_t.extend(t)
            strip_rows.extend([s.label] * len(t))
            strip_verdicts.extend(s.verdicts)
        lost.set_yscale("symlog", linthresh=1.0)
        lost.set_ylim(bottom=0)
        lost.set_ylabel("lost frames")
        lost.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        rate.set_ylabel("achieved Gbit/s")
        duration.set_ylabel(f"duration {unit}")
        duration.set_ylim(bottom=0)
        category_strip(verdicts, strip_t, strip_rows, strip_verdicts)
        verdicts.set_ylabel("verdict")
        locator = mdates.AutoDateLocator()
        verdicts.xaxis.set_major_locator(locator)
        verdicts.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        verdicts.set_xlabel("run start (UTC)")
        return inline_svg(figure, "trend", "Trend across runs: loss, achieved rate, duration and verdict")
