"""rok-token-bot: short-lived Rok Registry tokens from Slack, through the Kubernetes API."""

from importlib.metadata import PackageNotFoundError, version

try:
    # pyproject.toml's `version` is the only place the version is written; the installed metadata carries it.
    __version__ = version("rok-token-bot")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
