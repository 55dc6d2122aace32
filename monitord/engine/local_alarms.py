"""The daemon's own technical alarms about the delivery of alerts (extracted from
monitord/engine/rules.py): not engine rules, listed here so docs/alerts.md documents them
beside the rule table (monitord/engine/ruledoc.py, "Local technical alarms"). A task that
keeps crashing (`task.crashing/<task>`, monitord/taskalarm.py) is one: a chair's alarms
are silent while its task is down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LocalAlarm:
    """A technical alarm of the daemon itself about the delivery of alerts: raised and
    cleared by the delivery side (monitord/delivery.py) or the supervisor's reports
    (monitord/taskalarm.py) on the daemon's clock, never by
    the engine, never sent as a clinical alert; shown by the annunciator, the journal
    (CRITICAL), the console and `monitord status` (docs/delivery.md)."""

    key: str
    condition: str
    clear: str
    annunciator: str


LOCAL_ALARMS: tuple[LocalAlarm, ...] = (
    LocalAlarm(
        "delivery",
        "nothing delivered to the MQTT broker for `mqtt.delivery_alarm_after_s` (30 s) "
        "while an alert is active: unreachable, or a broker that drops the connection at a "
        "publish (reconnecting is not delivering)",
        "the broker takes alerts again",
        "technical; high while a high-priority alert is active",
    ),
    LocalAlarm(
        "delivery.refused",
        "the broker refused a publish (MQTT v5 reason code >= 0x80, e.g. 0x87 not "
        "authorized): at once; the event stays queued",
        "a publish accepted on every topic that was refused",
        "technical; high while a high-priority alert is active",
    ),
    LocalAlarm(
        "delivery.unheard",
        "alarm not received by any station: a high/medium `raised` or `escalated` event "
        "accepted by the broker without a station receipt (`alerts/receipts`) within "
        "`mqtt.receipt_timeout_s` (15 s)",
        "the next station receipt",
        "technical; high while a high-priority alert is active",
    ),
    LocalAlarm(
        "task.crashing/<task>",
        "a supervised task (`chair:<id>`: that chair's alert engine; `device:...`, "
        "`sink:mqtt`, ...) crashed 3 times in a row, no run in between lasting 60 s, or 3 "
        "times within an hour each after a run of 60 s or more (a slow loop): for a chair, "
        "its alarms are neither evaluated nor shown while it is down",
        "the task has run 60 s since its last restart without crashing (a slow loop: fewer "
        "than 3 such crashes left in the last hour)",
        "technical; high while a high-priority alert is active",
    ),
)
