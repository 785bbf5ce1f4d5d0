"""Figures of the per-second loss profile: one per scan with loss (frames present against those due,
the recorder's own packets and lost beside them), and an overview of every scan's shortfall by where
in the scan it sits (first second, between, last second)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure

from harness.report.loss_profile import ScanProfile
from harness.report.plots import RC, ROLE_COLOURS, WIDTH_IN, inline_svg, plot_label

MAX_SCAN_LABELS = 30
"""More scans than this on the overview are numbered, not named."""


def _times(t: np.ndarray) -> np.ndarray:
    return (np.asarray(t, dtype=float) * 1e6).astype("datetime64[us]")


def scan_profile_svg(profile: ScanProfile, key: str) -> Markup:
    """Frames per second present and due (all threads), the recorder's packets/s; below, frames short per
    second and the recorder's lost/s."""
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(WIDTH_IN, 4.4), layout="constrained")
        rates, short = figure.subplots(2, 1, sharex=True)
        edges = _times(np.r_[profile.t, profile.t[-1] + 1.0])
        rates.stairs(profile.due, edges, baseline=None, color="#555555", linestyle="--", linewidth=1.0,
                     label="due (checker)")
        rates.stairs(profile.present, edges, baseline=None, color=ROLE_COLOURS["recorder"], linewidth=1.4,
                     label="present on disk (checker)")
        short.stairs(profile.short, edges, color=ROLE_COLOURS["error"], fill=True, alpha=0.6,
                     label="short on disk (checker)")
        recorder = profile.recorder
        if recorder is not None:
            t = _times(recorder.t)
            rates.plot(t, recorder.packets, color=ROLE_COLOURS["sender"], marker="o", markersize=2.5, linewidth=0.9,
                       label="recorder's packets/s")
            if np.isfinite(recorder.lost).any():
                short.plot(t, recorder.lost, color=ROLE_COLOURS["warning"], marker="o", markersize=2.5,
                           linewidth=0.9, label="recorder's lost/s")
        rates.set_ylabel("frames/s")
        rates.set_ylim(bottom=0)
        short.set_ylabel("frames short/s")
        short.set_ylim(bottom=0)
        head, tail, between = profile.where
        rates.set_title(plot_label(f"{profile.scan}: {profile.short_frames:,} frames short in {profile.short_seconds} "
                                   f"s (first second {head:,}, last {tail:,}, between {between:,})"),
                        fontsize=9, loc="left")
        for ax in (rates, short):
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        locator = mdates.AutoDateLocator()
        short.xaxis.set_major_locator(locator)
        short.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        short.set_xlabel("time (UTC), whole seconds of the frames' headers")
        return inline_svg(figure, key, f"Loss profile of scan {profile.scan}")


def profile_overview_svg(profiles: Sequence[ScanProfile]) -> Markup | None:
    """Frames short per scan, stacked by where: the first second due, the seconds between, the last."""
    if not profiles:
        return None
    parts = np.array([p.where for p in profiles], dtype=float)
    x = np.arange(len(profiles))
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(WIDTH_IN, 2.6), layout="constrained")
        ax = figure.subplots()
        bottom = np.zeros(len(profiles))
        for column, label, colour in ((0, "first second", ROLE_COLOURS["error"]),
                                      (2, "between", ROLE_COLOURS["warning"]),
                                      (1, "last second", "#7d3c98")):
            ax.bar(x, parts[:, column], bottom=bottom, color=colour, label=label, width=0.8)
            bottom += parts[:, column]
        if len(profiles) <= MAX_SCAN_LABELS:
            ax.set_xticks(x, [plot_label(p.scan) for p in profiles], rotation=30, ha="right")
        else:
            ax.set_xlabel("scan (in run order)")
        ax.set_ylabel("frames short")
        ax.set_ylim(0, max(1.0, float(bottom.max()) * 1.1))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return inline_svg(figure, "loss-profile-overview", "Frames short per scan, by where in the scan")
