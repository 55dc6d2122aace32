"""Device transports and protocol decoders. Start at `drivers/registry.py`."""
