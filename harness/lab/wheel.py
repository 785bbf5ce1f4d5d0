"""The harness as a wheel, built from this checkout for the lab nodes (the harness_node role installs it).

Built from a copy of the package in a scratch folder (the checkout stays clean) with a fixed timestamp, so
that the same sources give the same bytes and a second provisioning copies nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.lab.errors import LabError

SOURCE = Path(__file__).resolve().parents[2]
FIXED_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold
BUILD_TIMEOUT_S = 300


def source_digest(root: Path | None = None) -> str:
    """sha256 over the harness package's files (names and bytes): the same version built from other sources
    differs here. The installed package on a node gives the same digest as the checkout it was built from."""
    package = root or Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and p.suffix in (".py", ".j2", ".typed")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_wheel(dest: Path) -> Path:
    """Build the wheel into ``dest`` (replacing an older one there); its path."""
    if not (SOURCE / "pyproject.toml").is_file():
        raise LabError(f"{SOURCE}: not a harness checkout (no pyproject.toml): cannot build the wheel for the nodes")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vlbi-wheel-") as scratch:
        tree = Path(scratch) / "src"
        tree.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(SOURCE / name, tree / name)
        shutil.copytree(SOURCE / "harness", tree / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = Path(scratch) / "dist"
        env = {**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        try:
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(out), str(tree)], env=env, cwd=scratch, check=True, capture_output=True,
                           text=True, timeout=BUILD_TIMEOUT_S)
        except subprocess.CalledProcessError as exc:
            raise LabError(f"building the harness wheel failed: {(exc.stderr or exc.stdout).strip()[-400:]}") from None
        except subprocess.TimeoutExpired:
            raise LabError(f"building the harness wheel took over {BUILD_TIMEOUT_S} s") from None
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1:
            raise LabError(f"building the harness wheel gave {len(wheels)} wheels, not one")
        for old in dest.glob("*.whl"):
            old.unlink()
        target = dest / wheels[0].name
        shutil.copy2(wheels[0], target)
        return target
