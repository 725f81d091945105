"""Poetry integration for gantry: the `build-image` command."""

__version__ = "0.1.0"
