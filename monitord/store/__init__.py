"""The store, one module per job; monitord/outbox.py joins them as `Outbox`."""
