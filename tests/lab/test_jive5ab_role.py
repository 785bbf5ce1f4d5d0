"""The jive5ab role against a real Docker engine, with a stand-in image made on the spot (never pulled).

The stand-in image is a root filesystem of symlinks into /usr, which the container gets read-only from
the host, and its "jive5ab" is a few lines of the host's Python answering `version?`: enough to prove that
the role runs a container from a user-named image with host networking, the FlexBuff volumes, bounded
logs and a restart policy, idempotently, and replaces it when a setting changes.
"""

from __future__ import annotations

import json
import shutil
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra

from harness.lab import PlaybookFailed, PreflightCheck, commands, run_playbook
from harness.lab.nodes import Node
from harness.lab.preflight import _container_check
from harness.lab.probes import query_version

PLAYBOOK = Path(__file__).parent / "playbooks" / "jive5ab.yml"
IMAGE = "vlbi-lab-test/fake-jive5ab:1"
CONTAINER = "vlbi-lab-test-jive5ab"
FAKE_JIVE5AB = (
    "import socket, sys\n"
    "server = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
    "while True:\n"
    "    conn, _ = server.accept()\n"
    "    with conn:\n"
    "        for line in iter(lambda: conn.recv(4096), b''):\n"
    "            conn.sendall(b'!version? 0 : fake-jive5ab : 3.1.0 ;\\n')\n"
)


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return commands.run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=10, check=False).ok
    except commands.CommandFailed:
        return False


pytestmark = [
    pytest.mark.docker,
    pytest.mark.serial,  # a container of a fixed name
    pytest.mark.slow,
    pytest.mark.skipif(not _docker_answers(), reason="needs a running Docker engine (DOCKER_HOST or default socket)"),
]


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    rootfs = tmp_path_factory.mktemp("image") / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        for name in ("usr", "tmp", "etc", "proc", "sys", "dev", "srv"):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(entry)
        for name in ("bin", "lib", "lib64", "sbin"):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, f"usr/{name}"
            tar.addfile(link)
    commands.run(["docker", "import", str(rootfs), IMAGE], timeout=120)
    yield IMAGE
    commands.run(["docker", "rm", "-f", CONTAINER], timeout=60, check=False)
    commands.run(["docker", "rmi", "-f", IMAGE], timeout=60, check=False)


def _inventory(tmp_path: Path, **overrides: Any) -> Path:
    port = overrides.pop("port")
    disk = tmp_path / "disk0"
    disk.mkdir(exist_ok=True)
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "jive5ab_image": IMAGE, "jive5ab_container_name": CONTAINER, "jive5ab_control_port": port,
            "jive5ab_command": ["/usr/bin/python3", "-c", FAKE_JIVE5AB, str(port)],
            "jive5ab_extra_volumes": ["/usr:/usr:ro"], "jive5ab_mount_points": [str(disk)],
            "jive5ab_install_engine": False, "jive5ab_manage_service": False, **overrides}
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps({"all": {"hosts": {"flexbuff": host}}}))
    return path


def test_the_role_runs_jive5ab_from_the_named_image_idempotently(image: str, tmp_path: Path) -> None:
    port = _free_tcp_port()
    first = run_playbook(PLAYBOOK, _inventory(tmp_path, port=port))
    first.raise_for_failure()
    assert "flexbuff: jive5ab : Run jive5ab" in first.changed
    assert query_version(f"127.0.0.1:{port}") == "fake-jive5ab : 3.1.0"
    found = json.loads(commands.run(["docker", "container", "inspect", CONTAINER], timeout=30).stdout)[0]
    config = found["HostConfig"]
    assert found["State"]["Running"] and config["NetworkMode"] == "host"
    assert config["RestartPolicy"]["Name"] == "unless-stopped"
    assert config["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "5", "max-size": "50m"}}
    assert f"{tmp_path / 'disk0'}:{tmp_path / 'disk0'}:rw" in config["Binds"]
    assert {"SYS_NICE", "CAP_SYS_NICE"} & set(config["CapAdd"])

    second = run_playbook(PLAYBOOK, _inventory(tmp_path, port=port))
    assert second.ok and second.changed == []
    checks: list[PreflightCheck] = []
    _container_check(Node("recorder", testinfra.get_host("local://"), "lo"), CONTAINER, checks)
    assert checks[0].passed and checks[0].detail == f"running {IMAGE}"

    third = run_playbook(PLAYBOOK, _inventory(tmp_path, port=port, jive5ab_log_max_files=3))
    assert third.ok and third.changed == ["flexbuff: jive5ab : Run jive5ab"]  # recreated with the new settings
    assert json.loads(commands.run(["docker", "container", "inspect", CONTAINER], timeout=30).stdout)[0][
        "HostConfig"]["LogConfig"]["Config"]["max-file"] == "3"
    assert query_version(f"127.0.0.1:{port}") == "fake-jive5ab : 3.1.0"


def test_the_role_never_builds_or_pulls_a_missing_image(tmp_path: Path) -> None:
    run = run_playbook(PLAYBOOK, _inventory(tmp_path, port=_free_tcp_port(), jive5ab_image="vlbi-lab-test/absent:0",
                                            jive5ab_container_name="vlbi-lab-test-absent"))
    with pytest.raises(PlaybookFailed) as caught:
        run.raise_for_failure()
    assert caught.value.task == "jive5ab : Refuse to go on without the image"
    assert "vlbi-lab-test/absent:0 is not on flexbuff" in caught.value.message
    assert "never builds it" in caught.value.message
