"""Pure code: no I/O, no Slack, Kubernetes or HTTP imports."""
