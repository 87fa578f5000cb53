"""The ``parley`` command line: a thin adapter over the core."""
