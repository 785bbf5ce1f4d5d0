"""The namespace lab's teardown refuses, before it does anything, a state naming what that lab never makes
(as the local lab's does): a state file is data another run (or user) could have written."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.lab.errors import LabError
from harness.lab.netns import check_netns_state, netns_teardown

WORK = Path("/var/lib/vlbi-lab-multinode")


def state(**changes: object) -> dict:
    node = {"name": "rec1", "netns": "vlbi-mn-rec1", "pidfile": str(WORK / "ssh/rec1.pid"),
            "disks": [{"mount": "/srv/vlbi-lab-multinode/rec1/disk0", "device": str(WORK / "images/rec1-disk0.img")}]}
    found = {"mount_root": "/srv/vlbi-lab-multinode", "switch": "vlbi-mn-switch", "controller_link": "vlbi-mn-mgmt",
             "nodes": [node], "ssh": {"dir": str(WORK / "ssh")}, "sysctl_before": str(WORK / "sysctl-before.json")}
    for key, value in changes.items():
        if key in node:
            node[key] = value
        else:
            found[key] = value
    return found


def test_a_state_the_lab_made_passes():
    check_netns_state(state(), WORK)


@pytest.mark.parametrize(("change", "named"), [
    ({"netns": "evil"}, "evil (not vlbi-*)"),
    ({"switch": "docker0"}, "docker0 (not vlbi-*)"),
    ({"pidfile": "/run/sshd.pid"}, "pidfile /run/sshd.pid (outside"),
    ({"disks": [{"mount": "/home", "device": str(WORK / "images/x.img")}]}, "mount /home (outside"),
    ({"disks": [{"mount": "/srv/vlbi-lab-multinode/rec1/disk0", "device": "/dev/sda"}]}, "image /dev/sda (outside"),
    ({"ssh": {"dir": "/root/.ssh"}}, "/root/.ssh (outside"),
    ({"sysctl_before": "/etc/sysctl.conf"}, "/etc/sysctl.conf (outside"),
    ({"mount_root": "/"}, "mount root /"),
    ({"ssh": {"dir": str(WORK / "ssh"), "identity": "/root/.ssh/id_ed25519"}}, "ssh identity /root/.ssh/id_ed"),
    ({"ssh": {"dir": str(WORK / "ssh"), "known_hosts": "/etc/ssh/ssh_known_hosts"}}, "ssh known_hosts /etc/ssh/ssh_kn"),
    ({"pidfile": str(WORK / "ssh/../../../../run/sshd.pid")}, "/run/sshd.pid (has '..' in it)"),
    ({"sysctl_file": "/etc/sysctl.d/60-vlbi-flexbuff.conf"}, "sysctl_file /etc/sysctl.d/60-vlbi-flexbuff.conf (not"),
    ({"work_dir": "/var/lib/vlbi-lab"}, "work_dir /var/lib/vlbi-lab (read from /var/lib/vlbi-lab-multinode)"),
])
def test_a_state_naming_what_the_lab_never_makes_is_refused_before_anything_is_done(change, named):
    with pytest.raises(LabError, match="names what the lab never makes") as refused:
        netns_teardown(state(**change), WORK)  # refused first: no process stopped, nothing unmounted
    assert named in str(refused.value) and str(refused.value).endswith("nothing done")
