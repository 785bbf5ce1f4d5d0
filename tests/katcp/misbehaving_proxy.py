"""A KATCP proxy that misbehaves on purpose: ``vdif-katcp-proxy`` with defects switched on, one per finding kind.

    python -m tests.katcp.misbehaving_proxy --recorder HOST:PORT --product-root DIR --defects lie-bytes,keep-writing

Defects:
- ``lie-bytes``: ``disk-bytes-total`` reports half of what is on disk (a sensor that disagrees);
- ``keep-writing``: ``?capture-done`` replies ok but leaves the product as jive5ab wrote it, in
  ``<cbid>_vdif.writing/`` (a product left unfinished);
- ``refuse-second``: the second ``?capture-init`` is refused with a FailReply (a refused request);
- ``hang-sensor``: the first ``?sensor-value`` after each ``?capture-init`` answers only after 8 s (a timeout);
- ``fake-init`` (not by default): ``?capture-init`` replies ok and says capturing, but never starts the recorder;
- ``crash-init`` (not by default): ``?capture-init`` raises (aiokatcp's fail reply then carries the traceback).
"""

# no "from __future__ import annotations": aiokatcp decodes request arguments from the real annotations
import argparse
import asyncio
import os
import sys
import time
from typing import Optional

import aiokatcp

from harness.katcp import proxy_cli
from harness.katcp.contract import ProductLayout
from harness.katcp.proxy import Capture, RecorderProxy
from harness.katcp.sensors import CaptureState

DEFECTS = ("lie-bytes", "keep-writing", "refuse-second", "hang-sensor", "fake-init", "crash-init")
DEFAULT = ("lie-bytes", "keep-writing", "refuse-second", "hang-sensor")
"""One finding each, none hiding another (fake-init would leave no bytes for lie-bytes to lie about)."""
HANG_S = 8.0


class MisbehavingProxy(RecorderProxy):
    VERSION = "misbehaving-proxy-1.0"

    def __init__(self, *args: object, defects: set[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.defects = defects
        self.inits = 0
        self.hang_next = False

    async def request_capture_init(self, ctx: aiokatcp.RequestContext, capture_block_id: str) -> str:
        """Open a capture block (with this proxy's defects)."""
        self.inits += 1
        if "crash-init" in self.defects:
            raise ZeroDivisionError("a bug in the proxy")
        if "refuse-second" in self.defects and self.inits == 2:
            raise aiokatcp.FailReply("refused on purpose by the misbehaving proxy")
        self.hang_next = "hang-sensor" in self.defects
        if "fake-init" in self.defects:
            layout = ProductLayout(self.product_root, capture_block_id)
            os.makedirs(layout.writing_dir)
            self.capture = Capture(layout, time.time())
            self._set("capture-block-state", CaptureState.CAPTURING)
            self._set("capture-block-id", capture_block_id)
            return layout.writing_dir
        return await super().request_capture_init(ctx, capture_block_id)

    async def request_sensor_value(self, ctx: aiokatcp.RequestContext, name: Optional[str] = None) -> None:  # noqa: UP045 (aiokatcp decodes Optional)
        """Sensor values (the first after a capture-init late, with hang-sensor)."""
        if self.hang_next:
            self.hang_next = False
            await asyncio.sleep(HANG_S)
        await super().request_sensor_value(ctx, name)

    def finish_product(self, layout: ProductLayout) -> None:
        if "keep-writing" not in self.defects:
            super().finish_product(layout)

    def _publish_counters(self, bytes_now: int, packets_now: int, lost_now: int) -> None:
        super()._publish_counters(bytes_now, packets_now, lost_now)
        if "lie-bytes" in self.defects:
            value = self.sensors["disk-bytes-total"].value
            self._set("disk-bytes-total", value // 2)


def main(argv: list[str] | None = None) -> int:
    parser = proxy_cli.build_parser()
    parser.add_argument("--defects", default=",".join(DEFAULT),
                        help=f"comma-separated, of {', '.join(DEFECTS)} (default {','.join(DEFAULT)})")
    args = parser.parse_args(argv)
    defects = {d for d in args.defects.split(",") if d}
    unknown = defects - set(DEFECTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown defects {', '.join(sorted(unknown))}")
    proxy_cli.PROXY_CLASS = lambda *a, **k: MisbehavingProxy(*a, defects=defects, **k)  # type: ignore[assignment]
    return proxy_cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
