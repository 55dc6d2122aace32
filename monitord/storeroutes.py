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


def route_queues(outbox: Outbox, cfg: Config) -> frozenset[str]:
    """Release the queues this config does not drain, saying what was released; say
    which chairs of the last run this config no longer has (before this run writes its
    own `daemon` row over the last run's). Returns the chairs the broker may hold
    retained state of from earlier runs under this MQTT base (`reached_before`)."""
    say_departed(outbox, cfg)
    reached = reached_before(outbox, cfg)
    off: list[Sink] = [s for s in SINKS if not getattr(cfg, s).enabled]
    if released := outbox.route_to(s for s in SINKS if s not in off):
        log.info(
            "store: released %d queued deliveries for disabled sink(s) %s; the records "
            "stay as local history until retention",
            released,
            ", ".join(off),
        )
    if "mqtt" in off:
        return reached
    for chair, n in sorted(outbox.release_chairs("mqtt", (c.id for c in cfg.chairs)).items()):
        # WARNING: alert events the station never got; the admin should know (the old
        # chair's tile may still show its last retained status and alerts). Said as
        # final: a chair commented out for one start (its monitor away for repair) and
        # put back at the next does not get them back, and "will not be" alone read as
        # "not while it is out".
        log.warning(
            "store: %d alert event(s) of chair %r, which this config no longer has (chair "
            "id changed or removed), were never delivered over MQTT and never will be, even "
            "if %r is put back in this config: released from the MQTT queue; they stay in "
            "the store for reports%s. The station may still show %r with its last retained "
            'status and alerts: docs/operations.md, "A Pi moved to another chair"',
            n,
            chair,
            chair,
            ", and go to InfluxDB under that id" if cfg.influx.enabled else "",
            chair,
        )
    return reached


def reached_before(outbox: Outbox, cfg: Config) -> frozenset[str]:
    """The chairs the broker may hold retained state of from an earlier run under this
    config's MQTT base (a publish of theirs accepted, or a connection accepted with its
    retained will and no publish on the will's topic refused: sinks/mqtt.py `reached`):
    the daemon row's `reached_broker`, carried from run to run so that a chair that
    reached it once and then not in its last run (the broker down, its login refused)
    is still said to have left retained state when it departs. Those not
    in this config are carried too: a chair that left, came back and ran a run without
    the broker, then left again, had its retained state from the first time on the
    broker still, and was said to have left nothing (only this config's were kept).
    Without that key (a daemon older than it, or MQTT disabled then), every chair that
    ran is taken as having reached it: a warning too many, never one too few; and a row
    without `chairs` either (a daemon older than both) as this config's: before, none,
    so after an upgrade whose first run had no broker a chair that reached it under the
    old version was said, when it departed, to have left nothing there."""
    last = None if outbox.memory else outbox.get_state("daemon")
    if not isinstance(last, dict):
        return frozenset()
    if f"{last.get('prefix', cfg.mqtt.prefix)}/{last.get('site')}" != (
        f"{cfg.mqtt.prefix}/{cfg.site.id}"
    ):
        return frozenset()  # what it holds is under the old base (say_departed says it)
    was = last.get("reached_broker", last.get("chairs", [c.id for c in cfg.chairs]))
    if not isinstance(was, list):
        return frozenset()
    return frozenset(str(c) for c in was)


def say_departed(outbox: Outbox, cfg: Config) -> None:
    """The last run's chairs this config no longer has: once, at the first start after
    the edit (the `daemon` row names the chairs of the run that wrote it). The broker
    keeps such a chair's retained `status` and `alerts/active`, which no daemon will
    replace: every station shows it OFFLINE with the alarms it stopped with until an
    admin clears them, and nothing else on the Pi would tell the admin so."""
    if not cfg.chairs or outbox.memory:
        return
    last = outbox.get_state("daemon")
    if not isinstance(last, dict) or not published(last):
        # The last run had MQTT disabled (InfluxDB and reports only): it left nothing on
        # a broker, and "the broker keeps ..." sent the admin to clear what is not there.
        return
    if cfg.mqtt.enabled and isinstance(last.get("site"), str):
        # Every topic's base changed: the old base's retained messages stay, each chair's.
        was = f"{last.get('prefix', cfg.mqtt.prefix)}/{last['site']}"
        if was != (now := f"{cfg.mqtt.prefix}/{cfg.site.id}"):
            log.warning(
                "the MQTT base changed from %r to %r since the last run (site or prefix "
                "edited): the broker keeps this Pi's chairs' retained status (offline) and "
                "active sets under %r, which every station of it shows until they are "
                "cleared with each chair's own login: docs/operations.md, \"A Pi moved to "
                'another chair"',
                was,
                now,
                was + "/",
            )
    ran = last.get("chairs")
    if not isinstance(ran, list):
        return  # a daemon older than that key, or none yet
    # The chairs whose publishes the broker refused when the last run wrote its row (a
    # chair id typed wrong for one start, its login not allowed under it by the ACL):
    # that run left nothing of them on the broker to clear.
    refused = last.get("publish_refused")
    refused = refused if isinstance(refused, dict) else {}
    # The chairs the broker took a publish or a connection (its will) of, in the last
    # run or one before it under this base (absent: a daemon older than the key, each
    # taken as having reached it).
    reached = last.get("reached_broker")
    for chair in sorted({str(c) for c in ran} - {c.id for c in cfg.chairs}):
        # Refused in the last run but taken in one before (its login or the ACL changed
        # since): the broker keeps that earlier run's, said below at WARNING. Before, the
        # refusal was said alone at INFO, and the state to clear was not.
        if chair in refused and not (isinstance(reached, list) and chair in reached):
            log.info(
                "chair %r ran on this Pi until the last stop and is not in this config; the "
                "broker refused its publishes then (%s): it keeps nothing of that run's",
                chair,
                refused[chair],
            )
            continue
        if isinstance(reached, list) and chair not in reached:
            # Its connection never got through (the broker down, its login refused):
            # the broker holds nothing of it, and no login of it may exist to clear it.
            # A connection accepted once counts as reached (sinks/mqtt.py `reached`): the
            # broker holds its retained will from the CONNACK and publishes it when that
            # connection drops, also before any publish of it was accepted.
            log.info(
                "chair %r ran on this Pi until the last stop and is not in this config; its "
                "connection never got through to the broker from this Pi (never connected, "
                "or refused): it keeps nothing of it",
                chair,
            )
            continue
        row = outbox.get_state(f"chair/{chair}")
        active = row.get("active_alerts") if isinstance(row, dict) else None
        rules = [str(a.get("rule")) for a in active or [] if isinstance(a, dict)]
        alarms = f"{len(rules)} active alert(s): {', '.join(rules)}" if rules else "no alert"
        log.warning(
            "chair %r ran on this Pi until the last stop and is not in this config (chair id "
            "changed or removed): the broker keeps its retained status (offline) and its "
            "active set (%s), which every station shows until they are cleared with that "
            'chair\'s own login: docs/operations.md, "A Pi moved to another chair"',
            chair,
            alarms,
        )


def published(last: dict[str, object]) -> bool:
    """Whether the run that wrote the `daemon` row `last` had MQTT enabled (its
    `connections` say `disabled` otherwise; a row without them: assumed enabled)."""
    conns = last.get("connections")
    mqtt = conns.get("mqtt") if isinstance(conns, dict) else None
    return not (isinstance(mqtt, dict) and mqtt.get("state") == "disabled")
