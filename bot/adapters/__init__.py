"""Adapters: the Kubernetes exec, the Rok Registry HTTP client."""
