"""poskit host library: the installer's side of the terminal (CPython)."""

__version__ = "0.1.0"
