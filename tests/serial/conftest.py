from serial_testkit import ctx  # noqa: F401  (fixture)
