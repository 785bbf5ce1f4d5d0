"""Argument types for the benchmarks: a bad number or a missing folder is one argparse line (exit 2)."""

from __future__ import annotations

import argparse
import os


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{text} must be {'positive' if least else 'zero or more'}")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1)


def count(text: str) -> int:
    """A whole number, 0 allowed."""
    return _whole(text, 0)


def writable_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    if not os.access(text, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: not writable")
    return text
