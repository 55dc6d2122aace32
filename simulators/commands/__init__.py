"""`monitord` commands that run simulators (listed by name in monitord/cli.py)."""
