"""firmwatch: live-watch debugger for embedded firmware."""

__version__ = "0.1.0"
