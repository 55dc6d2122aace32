"""Device simulators that speak the real wire formats (pty serial, BLE GATT on a virtual link)."""
