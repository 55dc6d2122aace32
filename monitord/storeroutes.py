"""At start, which of the store's delivery queues this config still drains.

A queue nobody drains holds its rows as undelivered for ever (`monitord status` shows a
backlog that only grows, the disk budget counts them as unsent). Two ways a config leaves
one behind: a sink disabled (its whole queue), and a chair id the config no longer has
(the Pi moved to another chair, a typo in `chairs.id` fixed, two Pis' chairs renumbered):
the MQTT sink drains per configured chair, with that chair's login and topics, so the old
chair's undelivered alert events would wait for a connection that never comes. Both are
released and said once, here; the records stay in the store as local history (reports)
and, for InfluxDB, in its own queue (it drains every chair's rows, with the chair each was
recorded under). docs/operations.md, "A Pi moved to another chair".
"""

from __future__ import annotations

import logging

from monitord.config import Config
from monitord.outbox import SINKS, Outbox, Sink

log = logging.getLogger("monitord")


def route_queues(outbox: Outbox, cfg: Config) -> None:
    """Release the queues this config does not drain, saying what was released."""
    off: list[Sink] = [s for s in SINKS if not getattr(cfg, s).enabled]
    if released := outbox.route_to(s for s in SINKS if s not in off):
        log.info(
            "store: released %d queued deliveries for disabled sink(s) %s; the records "
            "stay as local history until retention",
            released,
            ", ".join(off),
        )
    if "mqtt" in off:
        return
    for chair, n in sorted(outbox.release_chairs("mqtt", (c.id for c in cfg.chairs)).items()):
        # WARNING: alert events the station never got; the admin should know (the old
        # chair's tile may still show its last retained status and alerts).
        log.warning(
            "store: %d alert event(s) of chair %r, which this config no longer has (chair "
            "id changed or removed), were never delivered over MQTT and will not be (this "
            "chair's login may not publish under %r): released from the MQTT queue; they "
            "stay in the store for reports%s. The station may still show %r with its last "
            'retained status and alerts: docs/operations.md, "A Pi moved to another chair"',
            n,
            chair,
            chair,
            ", and go to InfluxDB under that id" if cfg.influx.enabled else "",
            chair,
        )
