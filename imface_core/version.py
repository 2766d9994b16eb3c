"""The package version (its own module, so that modules the package's ``__init__`` loads can read it)."""

__version__ = "0.1.0"
