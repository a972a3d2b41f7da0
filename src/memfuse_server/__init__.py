"""memfuse-server: a long-term memory server for LLM agents that speaks the MemFuse API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("memfuse-server")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.3.0"

__all__ = ["__version__"]
