"""The ``ctx`` command line."""
