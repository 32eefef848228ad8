"""The ``patron`` command line."""
