"""The paced VDIF sender (``vdif-send``)."""

from harness.sender.run import Sender, SenderStats
from harness.sender.transport import SendRefused, UdpTransport

__all__ = ["SendRefused", "Sender", "SenderStats", "UdpTransport"]
