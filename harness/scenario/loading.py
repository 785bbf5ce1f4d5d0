"""Load a scenario file: YAML with line numbers, validated, every error one line naming file, line and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.faults.kinds import unavailable
from harness.scenario.schema import Scenario, feasibility_errors
from harness.scenario.stream_format import FieldRefused


class ScenarioError(ValueError):
    """A scenario file that cannot be run; ``str()`` is one line: ``file:line: key: expected ...``."""

    def __init__(self, path: Path | str, line: int | None, key: str, expected: str) -> None:
        self.path, self.line, self.key, self.expected = str(path), line, key, expected
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {key}: {expected}" if key else f"{where}: {expected}")


def _line_map(node: yaml.Node, path: tuple[str, ...] = (), lines: dict[tuple[str, ...], int] | None = None,
              ) -> dict[tuple[str, ...], int]:
    """Key path -> 1-based line of that key (or list item) in the YAML source."""
    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _line_map(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            lines[child] = item.start_mark.line + 1
            _line_map(item, child, lines)
    return lines


def _nearest_line(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _expected(error: dict[str, Any]) -> str:
    kind, message = error["type"], error["msg"]
    given = error.get("input")
    if kind == "extra_forbidden":
        return "unknown key (not in the scenario schema; see README 'Scenario files')"
    if kind == "missing":
        return "missing (required)"
    message = message.removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if isinstance(given, str | int | float | bool) and not kind.startswith("value_error"):
        return f"{message} (got {given!r})"
    return message


def load_scenario(path: Path | str, text: str | None = None) -> Scenario:
    """Parse and validate a scenario file; raises ScenarioError with a one-line message."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ScenarioError(path, None, "", f"cannot read: {exc.strerror}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ScenarioError(path, line, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses: named, on one line
        said = str(exc).strip().splitlines()
        raise ScenarioError(path, None, "", f"not valid YAML: {said[0] if said else type(exc).__name__}") from None
    if not isinstance(document, dict) or root is None:
        raise ScenarioError(path, 1, "", "a mapping with name, stream and schedule at the top")
    lines = _line_map(root)
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(str(part) for part in first["loc"])
        refused = first.get("ctx", {}).get("error")
        if isinstance(refused, FieldRefused):  # a model check about one field: its key and line
            loc = (*loc, refused.field)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ScenarioError(path, _nearest_line(lines, loc), ".".join(loc), _expected(dict(first)) + more) from None
    problems = feasibility_errors(scenario)
    if problems:
        loc, expected = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ScenarioError(path, _nearest_line(lines, loc), ".".join(loc), f"expected {expected}{more}")
    for n, fault in enumerate(scenario.faults):  # a kind no mechanism here can inject: refused now, not mid-run
        why = unavailable(fault.kind)
        if why is not None and fault.required:
            loc = ("faults", str(n), "kind")
            raise ScenarioError(path, _nearest_line(lines, loc), ".".join(loc), f"cannot be injected here: {why}")
    return scenario
