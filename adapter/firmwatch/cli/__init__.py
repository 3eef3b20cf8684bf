"""The ``firmwatch`` command line."""
