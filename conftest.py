"""Repository-wide pytest setup: keep astropy (via baseband) offline."""

from __future__ import annotations

import os

os.environ.setdefault("ASTROPY_SKIP_CONFIG_UPDATE", "1")

try:  # baseband converts times with astropy; never let it try to download IERS tables
    from astropy.utils import iers

    iers.conf.auto_download = False
except ImportError:  # pragma: no cover - astropy comes with baseband
    pass
