"""veille: self-hosted news monitoring for the AI industry."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("veille")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
