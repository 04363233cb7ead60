"""The Slack front end: a Bolt app over Socket Mode or HTTP, on the same engine as the CLI."""
