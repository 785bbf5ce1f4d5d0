#!/usr/bin/python
"""Ansible module: lab nodes as network namespaces of this machine, joined by a switch.

The switch is a namespace of its own holding two bridges: ``br-mgmt`` (SSH and control, the controller's
address on it) and ``br-data`` (the VDIF stream, jumbo frames). Each node namespace gets ``mgmt0`` and
``data0``, veths whose other ends are ports of those bridges. The bridges live outside this host's own
namespace, so this host's firewall (Docker's FORWARD policy, br_netfilter) never sees the data traffic.
Every step looks before it acts: a second run changes nothing.
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: vlbi_netns_lab
short_description: Lab nodes as network namespaces joined by a bridge "switch"
description: Makes (state=present) the switch namespace, its bridges, the controller's link and one namespace
  per node with its management and data links, addressed and up. Idempotent.
options:
  switch: {description: name of the switch namespace, type: str, required: true}
  controller_link: {description: this host's end of the management link, type: str, required: true}
  controller_address: {description: this host's management address with prefix (a.b.c.d/nn), type: str,
                       required: true}
  mtu: {description: MTU of the data links, type: int, default: 9000}
  multicast_prefix: {description: the lab's multicast range, routed via each node's data0 (none when empty),
                     type: str, default: ""}
  nodes:
    description: the nodes, each {name, netns, mgmt_address, data_address} (addresses with prefix)
    type: list
    elements: dict
    required: true
author: vlbi-harness
"""

MGMT_BRIDGE, DATA_BRIDGE = "br-mgmt", "br-data"
IFNAMSIZ = 15


class Plumbing:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.changes: list[str] = []

    def ip(self, *args: str, netns: str | None = None, check: bool = True) -> tuple[int, str, str]:
        argv = ["ip", *(["-n", netns] if netns else []), *args]
        rc, out, err = self.module.run_command(argv)
        if check and rc != 0:
            self.module.fail_json(msg=f"{' '.join(argv)} failed: {err.strip() or out.strip()}", changes=self.changes)
        return rc, out, err

    def change(self, what: str, *args: str, netns: str | None = None) -> None:
        self.changes.append(what)
        if not self.module.check_mode:
            self.ip(*args, netns=netns)

    def link(self, name: str, netns: str | None) -> dict[str, object] | None:
        if netns and not os.path.exists(f"/run/netns/{netns}"):
            return None
        rc, out, _ = self.ip("-j", "addr", "show", "dev", name, netns=netns, check=False)
        if rc != 0 or not out.strip():
            return None
        found = json.loads(out)
        return found[0] if found else None

    def namespace(self, name: str) -> None:
        if not os.path.exists(f"/run/netns/{name}"):
            self.change(f"netns {name}", "netns", "add", name)

    def settle(self, name: str, netns: str | None, *, mtu: int, address: str | None = None,
               master: str | None = None) -> None:
        """MTU, address, bridge and up state of one link that exists."""
        link = self.link(name, netns) or {}
        where = f"{name}{' in ' + netns if netns else ''}"
        if link.get("mtu") != mtu:
            self.change(f"mtu {mtu} on {where}", "link", "set", "dev", name, "mtu", str(mtu), netns=netns)
        if master and link.get("master") != master:
            self.change(f"{where} into {master}", "link", "set", "dev", name, "master", master, netns=netns)
        if address:
            have = {f"{a.get('local')}/{a.get('prefixlen')}" for a in link.get("addr_info", [])}  # type: ignore[attr-defined]
            if address not in have:
                self.change(f"address {address} on {where}", "addr", "add", address, "dev", name, netns=netns)
        if "UP" not in link.get("flags", []):  # type: ignore[operator]
            self.change(f"{where} up", "link", "set", "dev", name, "up", netns=netns)

    def bridge(self, switch: str, name: str, mtu: int) -> None:
        if self.link(name, switch) is None:
            self.change(f"bridge {name} in {switch}", "link", "add", name, "type", "bridge", netns=switch)
        self.settle(name, switch, mtu=mtu)

    def cable(self, switch: str, port: str, bridge: str, netns: str | None, end: str, mtu: int,
              address: str | None) -> None:
        """A veth from a port of ``bridge`` in the switch to ``end`` in ``netns`` (None: this host)."""
        if self.link(port, switch) is None and not self.module.check_mode:
            if self.link(end, netns) is not None:  # a half of an earlier cable: remove it first
                self.ip("link", "del", end, netns=netns)
            peer = ["peer", "name", end, "netns", netns or str(os.getpid())]  # a pid: this host's own namespace
            self.change(f"link {port} ({switch}) to {end}{' in ' + netns if netns else ''}",
                        "link", "add", port, "type", "veth", *peer, netns=switch)
        elif self.link(port, switch) is None:
            self.changes.append(f"link {port} ({switch}) to {end}")
            return
        self.settle(port, switch, mtu=mtu, master=bridge)
        self.settle(end, netns, mtu=mtu, address=address)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "switch": {"type": "str", "required": True},
            "controller_link": {"type": "str", "required": True},
            "controller_address": {"type": "str", "required": True},
            "mtu": {"type": "int", "default": 9000},
            "multicast_prefix": {"type": "str", "default": ""},
            "nodes": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    switch, mtu = params["switch"], params["mtu"]
    for node in params["nodes"]:
        missing = [k for k in ("name", "netns", "mgmt_address", "data_address") if not node.get(k)]
        if missing:
            module.fail_json(msg=f"node {node.get('name', node)}: missing {', '.join(missing)}")
        if len(f"m-{node['name']}") > IFNAMSIZ:
            module.fail_json(msg=f"node name {node['name']!r} is too long for a link name (at most 13 characters)")
    plumbing = Plumbing(module)
    plumbing.namespace(switch)
    if not module.check_mode or os.path.exists(f"/run/netns/{switch}"):
        plumbing.bridge(switch, MGMT_BRIDGE, 1500)
        plumbing.bridge(switch, DATA_BRIDGE, mtu)
        plumbing.cable(switch, "m-controller", MGMT_BRIDGE, None, params["controller_link"], 1500,
                       params["controller_address"])
    for node in params["nodes"]:
        netns = node["netns"]
        plumbing.namespace(netns)
        if module.check_mode and not os.path.exists(f"/run/netns/{netns}"):
            continue
        _, out, _ = plumbing.ip("-j", "link", "show", "dev", "lo", netns=netns)
        if "UP" not in json.loads(out)[0].get("flags", []):
            plumbing.change(f"lo up in {netns}", "link", "set", "dev", "lo", "up", netns=netns)
        plumbing.cable(switch, f"m-{node['name']}", MGMT_BRIDGE, netns, "mgmt0", 1500, node["mgmt_address"])
        plumbing.cable(switch, f"d-{node['name']}", DATA_BRIDGE, netns, "data0", mtu, node["data_address"])
        prefix = params["multicast_prefix"]
        if prefix:  # the lab's groups go over the data network, as a FlexBuff's CBF groups go via its data interface
            _, routes, _ = plumbing.ip("route", "show", prefix, netns=netns)
            if "dev data0" not in routes:
                plumbing.change(f"route {prefix} via data0 in {netns}", "route", "replace", prefix, "dev", "data0",
                                netns=netns)
    module.exit_json(changed=bool(plumbing.changes), changes=plumbing.changes)


if __name__ == "__main__":
    main()
