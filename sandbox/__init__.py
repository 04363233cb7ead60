"""Fakes of the outside world on 127.0.0.1: Kubernetes API, Rok Registry, Slack Web API and Socket Mode.

They speak the real protocols, so the official clients talk to them unmodified. The tests and
`rok-token-bot demo` share this one copy.
"""
