"""Subcommands of the ``imface`` command line, one module each."""
