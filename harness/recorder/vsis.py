"""VSI-S as jive5ab speaks it: pure values, no sockets.

Client side: build command lines, split a reply line into replies and parse each one
whitespace-tolerantly (``!record?  0 : on : 5 : scan : 24087968 ;``). Server side (the
reference recorder): split a received line into commands exactly as jive5ab does (every
space, CR and LF removed, keyword lower-cased, ``;`` between commands), and render replies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class ReturnCode(IntEnum):
    """VSI-S return codes as jive5ab uses them (its documentation numbers them from 1; the wire from 0)."""

    DONE = 0
    INITIATED = 1
    NOT_APPLICABLE = 2
    SYNTAX = 3
    ERROR = 4
    BUSY = 5
    CONFLICT = 6
    NO_SUCH_KEYWORD = 7
    PARAMETER = 8
    INDETERMINATE = 9


MAX_LINE = 4000
"""jive5ab reads each line with one read() of 4096 bytes (and writes one byte past it): stay below."""

_REPLY = re.compile(r"^!\s*([A-Za-z_][\w]*)\s*([?=])\s*(\d+)\s*(?::(.*?))?\s*;\s*$", re.DOTALL)
_KEYWORD = re.compile(r"[a-z_][a-z0-9_]*")
_SPLIT = re.compile(r"(?<=;)\s*(?=!)")


@dataclass(frozen=True)
class Reply:
    """One reply: ``!<keyword><?|=> <code> [: <field>]* ;``.

    ``text`` is everything after the code and its colon, unsplit: error messages and
    ``version?`` contain colons of their own. ``fields`` is that text split at every colon.
    """

    keyword: str
    query: bool
    code: int
    text: str
    raw: str

    @property
    def fields(self) -> tuple[str, ...]:
        if not self.text.strip():
            return ()
        return tuple(part.strip() for part in self.text.split(":"))

    @property
    def return_code(self) -> ReturnCode | None:
        try:
            return ReturnCode(self.code)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        """Done or initiated (jive5ab answers ``record=off`` with 1 after it has finished)."""
        return self.code in (ReturnCode.DONE, ReturnCode.INITIATED)


class ReplyShapeError(ValueError):
    """Text that is not a VSI-S reply."""


def parse_reply(text: str) -> Reply:
    """Parse one reply; raises ReplyShapeError with the text when it is not one."""
    stripped = text.strip()
    match = _REPLY.match(stripped)
    if not match:
        raise ReplyShapeError(f"not a VSI-S reply: {text!r}")
    keyword, kind, code, rest = match.groups()
    return Reply(keyword=keyword.lower(), query=kind == "?", code=int(code), text=(rest or "").strip(), raw=stripped)


def parse_replies(line: str) -> list[Reply]:
    """Split one reply line (several commands on one line get one joined line) and parse each."""
    stripped = line.strip()
    if not stripped:
        raise ReplyShapeError("empty reply line")
    return [parse_reply(part) for part in _SPLIT.split(stripped)]


def command_line(keyword: str, *args: object, query: bool = False) -> str:
    """``keyword = a : b ;`` or ``keyword? a : b ;`` (one command, no newline).

    Refuses text jive5ab would mangle: ``;``, ``:`` or a newline inside an argument, or spaces
    (jive5ab deletes every space, even inside words, so a path with a space changes meaning).
    """
    if not re.fullmatch(r"[A-Za-z_][\w]*", keyword):
        raise ValueError(f"VSI-S keyword {keyword!r} is not a word")
    parts = ["" if a is None else str(a) for a in args]
    for part in parts:
        bad = next((c for c in part if c in ";:\r\n "), None)
        if bad is not None:
            raise ValueError(f"VSI-S argument {part!r} contains {bad!r}, which jive5ab cannot carry")
    sep = "?" if query else "="
    if not parts:
        return f"{keyword}{sep} ;" if query else f"{keyword}= ;"
    return f"{keyword}{sep} {' : '.join(parts)} ;"


def join_commands(commands: list[str]) -> str:
    """Several commands on one line; jive5ab answers them with one joined line."""
    line = " ".join(c.strip() for c in commands)
    if len(line) > MAX_LINE:
        raise ValueError(f"a {len(line)}-byte command line exceeds jive5ab's {MAX_LINE}-byte read")
    return line


# --------------------------------------------------------------------------------------------
# Server side


@dataclass(frozen=True)
class Command:
    """One received command: keyword (lower case), query or command, and its arguments."""

    keyword: str
    query: bool
    args: tuple[str, ...]

    @property
    def sep(self) -> str:
        return "?" if self.query else "="

    def reply(self, code: int, *fields: object) -> str:
        """This command's reply in jive5ab's most common spacing: ``!kw? 0 : a : b ;``."""
        text = "".join(f" : {f}" for f in fields)
        return f"!{self.keyword}{self.sep} {code}{text} ;"


@dataclass(frozen=True)
class NotACommand:
    """A piece of a line with neither ``?`` nor ``=``: jive5ab answers ``!syntax = 7 : ...``."""

    text: str

    def reply(self) -> str:
        return "!syntax = 7 : Not a command or query;"


def parse_command_line(line: str) -> list[Command | NotACommand]:
    """Split a received line as jive5ab does: spaces, CR and LF removed everywhere, ``;`` separates.

    Empty pieces (an empty line, ``;;``) give nothing, and a line of nothing gets no reply.
    """
    squeezed = line.replace(" ", "").replace("\r", "").replace("\n", "")
    out: list[Command | NotACommand] = []
    for piece in squeezed.split(";"):
        if not piece:
            continue
        positions = [i for i in (piece.find("?"), piece.find("=")) if i >= 0]
        if not positions:
            out.append(NotACommand(piece))
            continue
        cut = min(positions)
        keyword = piece[:cut].lower()
        if not _KEYWORD.fullmatch(keyword):  # "?" alone, or a keyword no reply could carry
            out.append(NotACommand(piece))
            continue
        rest = piece[cut + 1 :]
        args = tuple(rest.split(":")) if rest else ()
        out.append(Command(keyword=keyword, query=piece[cut] == "?", args=args))
    return out
