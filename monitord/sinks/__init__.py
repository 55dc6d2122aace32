"""Sinks drain the outbox to the outside world: InfluxDB (`influx`) and MQTT (`mqtt`).

Reconnects use `monitord.backoff.Backoff`; repeated failures are logged through
`monitord.log.FailureLog` (WARNING once, then DEBUG, then INFO on recovery).
"""
