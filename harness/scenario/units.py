"""Durations ("10m", "4h", "1h30m", "2.5s", 90) and sizes ("64M", "12G", 1048576) as scenario files write them."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKMGT]i?B?|B)?\s*$")
_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string of number+unit groups (ms, s, m, h, d)."""
    if isinstance(value, bool):
        raise ValueError("a duration, e.g. 30s, 10m, 4h or 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration that is not negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if text and re.fullmatch(rf"(?:{_DURATION.pattern})+", text):
            return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION.findall(text))
    raise ValueError(f"a duration such as 30s, 10m, 4h or 1h30m, not {value!r}")


def parse_size(value: object) -> int:
    """Bytes from a number or a string with a binary suffix (k, M, G, T; 'MiB', 'MB' mean the same here)."""
    if isinstance(value, bool):
        raise ValueError("a size, e.g. 64M or 12G")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = (match[2] or "").rstrip("B").rstrip("i").upper()
            return int(float(match[1]) * _SIZE_UNITS[unit])
    raise ValueError(f"a size such as 64M or 12G, not {value!r}")


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
