"""The environment of a run as tables: nodes (kernel, CPU, interfaces and MTU, disks, sysctls),
the recorder and sender with their configuration, and every version involved.

Pure; fields the report does not know are not dropped but shown as key/value rows, so a new field
the engine writes is visible before the report learns about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.report.formatting import value_text
from harness.report.results import as_list, as_mapping, as_number, as_text

KeyValues = list[tuple[str, str]]


@dataclass(frozen=True)
class Disk:
    mount: str
    fstype: str
    options: str
    size_bytes: float | None
    free_bytes: float | None


@dataclass
class Node:
    name: str
    kernel: str
    cpu: str
    interfaces: KeyValues  # name, MTU
    disks: list[Disk]
    sysctls: KeyValues
    other: KeyValues = field(default_factory=list)
    role: str = ""  # sender | recorder, where the lab's inventory gives roles


@dataclass
class Environment:
    nodes: list[Node]
    run: KeyValues  # lab, clock offset, and the rest of 'environment'
    recorder: KeyValues  # backend, version and configuration, flattened
    sender: KeyValues
    versions: KeyValues

    @property
    def empty(self) -> bool:
        return not (self.nodes or self.run or self.recorder or self.sender)


def flatten(value: Any, prefix: str = "") -> KeyValues:
    """Nested mappings as dotted keys with one-line values, in key order."""
    if not isinstance(value, Mapping):
        return [(prefix or "value", value_text(value))]
    rows: KeyValues = []
    for key in sorted(value, key=str):
        name = f"{prefix}.{key}" if prefix else str(key)
        item = value[key]
        if isinstance(item, Mapping) and item:
            rows.extend(flatten(item, name))
        else:
            rows.append((name, value_text(item)))
    return rows


def _node(name: str, raw: Mapping[str, Any]) -> Node:
    known = {"kernel", "cpu", "interfaces", "disks", "sysctls", "role"}
    interfaces = [(str(k), value_text(v)) for k, v in sorted(as_mapping(raw.get("interfaces")).items())]
    disks = []
    for item in as_list(raw.get("disks")):
        d = as_mapping(item)
        mount = as_text(d.get("mount"))
        if mount is None:
            continue
        disks.append(Disk(mount, as_text(d.get("fstype")) or "", as_text(d.get("options")) or "",
                          as_number(d.get("size_bytes")), as_number(d.get("free_bytes"))))
    sysctls = [(str(k), value_text(v)) for k, v in sorted(as_mapping(raw.get("sysctls")).items())]
    other = flatten({k: v for k, v in raw.items() if k not in known}) if set(raw) - known else []
    return Node(name, as_text(raw.get("kernel")) or "", as_text(raw.get("cpu")) or "", interfaces, disks, sysctls,
                other, as_text(raw.get("role")) or "")


def versions_of(results: Mapping[str, Any]) -> KeyValues:
    """Every version results.json names: harness, recorder, sender, Python, kernels, tools."""
    rows: KeyValues = []
    for key in ("harness_version", "python_version"):
        if as_text(results.get(key)):
            rows.append((key.replace("_version", "").replace("_", " "), str(results[key])))
    recorder = as_mapping(results.get("recorder"))
    if as_text(recorder.get("version")):
        backend = as_text(recorder.get("backend")) or "recorder"
        rows.append((f"recorder ({backend})", str(recorder["version"])))
    sender = as_mapping(results.get("sender"))
    if as_text(sender.get("version")):
        rows.append(("sender", str(sender["version"])))
    for name, value in sorted(as_mapping(results.get("versions")).items()):
        rows.append((str(name), value_text(value)))
    nodes = as_mapping(as_mapping(results.get("environment")).get("nodes"))
    for name, node in sorted(nodes.items()):
        for key, what in (("kernel", "kernel"), ("harness_version", "harness"), ("recorder_version", "recorder")):
            value = as_text(as_mapping(node).get(key))
            if value:
                rows.append((f"{what} on {name}", value))
    return rows


def node_order(nodes: Mapping[str, Any]) -> list[str]:
    """Nodes with roles (an inventory lab) in the order results.json gives them; others by name."""
    if any("role" in as_mapping(raw) for raw in nodes.values()):
        return [str(name) for name in nodes]
    return sorted(str(name) for name in nodes)


def environment_of(results: Mapping[str, Any] | None) -> Environment:
    r = as_mapping(results)
    env = as_mapping(r.get("environment"))
    raw_nodes = {str(name): raw for name, raw in as_mapping(env.get("nodes")).items()}
    nodes = [_node(name, as_mapping(raw_nodes[name])) for name in node_order(raw_nodes)]
    run = flatten({k: v for k, v in env.items() if k != "nodes"}) if set(env) - {"nodes"} else []
    for key in ("duration_scale", "run_by"):
        if key in r:
            run.append((key.replace("_", " "), value_text(r[key])))
    recorder = flatten(r["recorder"]) if isinstance(r.get("recorder"), Mapping) else []
    sender = flatten(r["sender"]) if isinstance(r.get("sender"), Mapping) else []
    return Environment(nodes, run, recorder, sender, versions_of(r))
