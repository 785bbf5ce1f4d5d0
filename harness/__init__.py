"""Test and validation harness for VLBI data recording (VDIF over UDP to FlexBuff/jive5ab)."""

__version__ = "0.1.0"
