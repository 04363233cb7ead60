"""Process machinery with no business rule: the clock, the job pools, caches, logs, metrics, the upkeep loops.

It imports only the domain (tests/meta/test_layers.py): the use cases, the adapters and the Slack front end use
it; it uses none of them.
"""
