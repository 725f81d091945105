"""Hatch integration for gantry: the `image` build target and the `gantry` build hook."""

__version__ = "0.1.0"
