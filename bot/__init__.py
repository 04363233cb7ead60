"""rok-token-bot: short-lived Rok Registry tokens from Slack, through the Kubernetes API."""

__version__ = "0.1.0"
