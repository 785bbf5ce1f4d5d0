"""How figures read in the reports: counts with thousands separators, rates, sizes, times, durations.

Every formatter takes whatever results.json held (possibly None or the wrong type) and returns text;
a value that is absent reads as an em dash rather than 'None'.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

ABSENT = "—"


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time from results.json ('...Z' or with an offset), or POSIX seconds, as aware UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def time_text(value: Any) -> str:
    when = value if isinstance(value, datetime) else parse_time(value)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else ABSENT


def count_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ABSENT
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.3g}"


def number_text(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ABSENT
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{digits}g}" if abs(value) >= 1e6 or abs(value) < 1e-3 else f"{value:.{digits}f}".rstrip("0")


def gbps_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ABSENT
    return f"{value:.3f} Gbit/s"


def bytes_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return ABSENT
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ABSENT  # pragma: no cover - the loop always returns


def duration_text(seconds: Any) -> str:
    """12 h 03 min, 4 min 05 s, 5.0 s."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return ABSENT
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def percent_text(fraction: Any, digits: int = 1) -> str:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not math.isfinite(fraction):
        return ABSENT
    return f"{100 * fraction:.{digits}f} %"


def value_text(value: Any) -> str:
    """Any JSON value from results.json as one line of text (nested values as compact JSON)."""
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)  # configuration values (ports, MTU) read better without separators
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, sort_keys=True, default=str)


def clock_text(value: Any) -> str:
    """Time of day, for table cells whose full date and time is in a tooltip."""
    when = value if isinstance(value, datetime) else parse_time(value)
    return when.strftime("%H:%M:%S") if when else ABSENT


def instant_text(value: Any) -> str:
    """Time of day to the millisecond (a finding's time); other values as they are."""
    when = parse_time(value) if isinstance(value, str) else None
    if when is None:
        return value_text(value)
    return when.strftime("%H:%M:%S.%f")[:-3]


COMPARISONS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "=", "!=": "≠"}


def comparison_text(op: str) -> str:
    return COMPARISONS.get(op.strip(), op)


def html_id(text: Any) -> str:
    """A name from a run (a node) as a fragment of an HTML id: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "node"
