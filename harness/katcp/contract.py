"""The recorder contract of katsdpvlbi as plain values: capture block ids and the product layout.

katsdpcontroller sends ``?capture-init <cbid>`` (a 10-digit, zero-padded decimal, about the Unix time of
the capture's start) and ``?capture-done``. While capturing, jive5ab writes into
``<root>/<cbid>/<cbid>_vdif.writing/``; after capture-done the product is ``<root>/<cbid>/<cbid>_vdif/`` with
shards ``<cbid>_vdif.00000000``, ``.00000001``, ... The ``.writing`` suffix marks the directory, never a shard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

CAPTURE_INIT_TIMEOUT = 30.0
"""katsdpcontroller's timeout for ?capture-init (generator.py)."""
CAPTURE_DONE_TIMEOUT = 240.0
"""katsdpcontroller's timeout for ?capture-done."""
WRITING_SUFFIX = ".writing"
PRODUCT_SUFFIX = "_vdif"
SHARD = re.compile(r"(?P<scan>.+)\.(?P<index>\d{8})$")
_CBID = re.compile(r"\d{10}")
_SAFE = re.compile(r"[A-Za-z0-9_.+-]+")


def capture_block_problem(cbid: str) -> str | None:
    """Why ``cbid`` must not be used as a capture block id, or None (what a proxy must refuse)."""
    if not cbid:
        return "an empty capture block id"
    if "/" in cbid or "\\" in cbid or ".." in cbid:
        return f"capture block id {cbid!r} contains a path separator or '..'"
    if not _SAFE.fullmatch(cbid):
        return f"capture block id {cbid!r} has characters outside A-Z a-z 0-9 _ . + -"
    if len(cbid) > 64:
        return f"a capture block id of {len(cbid)} characters"
    return None


def is_controller_id(cbid: str) -> bool:
    """The shape katsdpcontroller gives its ids: exactly 10 decimal digits."""
    return bool(_CBID.fullmatch(cbid))


def capture_block_id(start_unix: float, previous: str | None = None) -> str:
    """The 10-digit id for a capture starting at ``start_unix``; one more than ``previous`` if that is not
    earlier (two captures within one second still get distinct ids)."""
    value = int(start_unix)
    if previous is not None and is_controller_id(previous):
        value = max(value, int(previous) + 1)
    if not 0 <= value < 10**10:
        raise ValueError(f"{start_unix} does not give a 10-digit capture block id")
    return f"{value:010d}"


@dataclass(frozen=True)
class ProductLayout:
    """Where one capture block's product lies under a product root."""

    root: str
    cbid: str

    @property
    def scan(self) -> str:
        """The recorder's scan name: ``<cbid>_vdif``."""
        return f"{self.cbid}{PRODUCT_SUFFIX}"

    @property
    def block_dir(self) -> str:
        return str(PurePosixPath(self.root) / self.cbid)

    @property
    def writing_dir(self) -> str:
        return str(PurePosixPath(self.block_dir) / f"{self.scan}{WRITING_SUFFIX}")

    @property
    def final_dir(self) -> str:
        return str(PurePosixPath(self.block_dir) / self.scan)

    def shard_name(self, index: int) -> str:
        return f"{self.scan}.{index:08d}"


def product_problems(layout: ProductLayout, block_entries: list[str], product_entries: list[str] | None) -> list[str]:
    """What is wrong with a finished product, from the names in ``<root>/<cbid>/`` and in the product directory
    (None: it does not exist). Pure: the caller lists the directories."""
    problems = []
    writing = PurePosixPath(layout.writing_dir).name
    if product_entries is None:
        if writing in block_entries:
            return [f"product left unfinished: {layout.writing_dir} still exists and {layout.final_dir} does not"]
        return [f"no product directory {layout.final_dir}"]
    if writing in block_entries:
        problems.append(f"product left unfinished: {layout.writing_dir} still exists beside {layout.final_dir}")
    strays = sorted(set(block_entries) - {writing, layout.scan})
    if strays:
        problems.append(f"{layout.block_dir} holds {', '.join(strays[:5])} beside the product")
    indices, wrong = [], []
    for name in sorted(product_entries):
        match = SHARD.fullmatch(name)
        if match and match["scan"] == layout.scan:
            indices.append(int(match["index"]))
        else:
            wrong.append(name)
    if wrong:
        problems.append(f"{layout.final_dir} holds {len(wrong)} entries that are not shards {layout.scan}.NNNNNNNN "
                        f"(first: {', '.join(wrong[:3])})")
    if not indices:
        problems.append(f"{layout.final_dir} holds no shard")
    elif indices != list(range(len(indices))):
        missing = sorted(set(range(max(indices) + 1)) - set(indices))
        problems.append(f"{layout.final_dir}: shards {', '.join(layout.shard_name(i) for i in missing[:5])} missing "
                        f"(shards are numbered from 0 without gaps)")
    return problems
