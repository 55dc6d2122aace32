"""Home Assistant MQTT discovery (issue 19): with `[mqtt] ha_discovery = true` each chair
appears in Home Assistant as a device with its vitals, its link and its active-alert
count, without hand-written YAML.

Discovery documents are retained on `{ha_prefix}/{component}/{node}/{object}/config`
(node `monitord_{site}_{chair}`), published by the chair's own connection when it comes
up; the entities read the topics of docs/mqtt.md. A message marked `"doctor": true` (a
`monitord doctor` test) leaves every entity as it was.
"""

from __future__ import annotations

from typing import Any

from monitord import __version__

# (object id, name, topic under the chair's base, value in the payload, unit, device class)
SENSORS: tuple[tuple[str, str, str, str, str | None, str | None], ...] = (
    ("sys", "Systolic BP", "vitals/bp", "value_json.sys_mmHg", "mmHg", "pressure"),
    ("dia", "Diastolic BP", "vitals/bp", "value_json.dia_mmHg", "mmHg", "pressure"),
    ("map", "Mean arterial pressure", "vitals/bp", "value_json.map_mmHg", "mmHg", "pressure"),
    ("hr", "Heart rate", "vitals/hr", "value_json.hr_bpm", "bpm", None),
    ("spo2", "SpO2", "vitals/spo2", "value_json.spo2_pct", "%", None),
    ("active_alerts", "Active alerts", "alerts/active", "value_json.alerts | length", None, None),
)


def _keep_on_doctor(expr: str) -> str:
    """A value template that ignores `monitord doctor`'s test messages."""
    return (
        "{% if value_json.doctor is defined and value_json.doctor %}{{ this.state }}"
        "{% else %}{{ " + expr + " }}{% endif %}"
    )


def discovery(ha_prefix: str, base: str, site: str, chair: str) -> list[tuple[str, dict[str, Any]]]:
    """(topic, document) of every entity of one chair."""
    node = f"monitord_{site}_{chair}"
    device = {
        "identifiers": [node],
        "name": f"monitord {site} {chair}",
        "manufacturer": "monitord",
        "model": "chair",
        "sw_version": __version__,
    }
    availability = {
        "topic": f"{base}/status",
        "value_template": _keep_on_doctor("value_json.state"),
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    out: list[tuple[str, dict[str, Any]]] = []
    for obj, name, topic, expr, unit, dclass in SENSORS:
        doc: dict[str, Any] = {
            "name": name,
            "unique_id": f"{node}_{obj}",
            "object_id": f"{node}_{obj}",
            "state_topic": f"{base}/{topic}",
            "value_template": _keep_on_doctor(expr),
            "state_class": "measurement",
            "availability": [availability],
            "device": device,
        }
        if unit:
            doc["unit_of_measurement"] = unit
        if dclass:
            doc["device_class"] = dclass
        out.append((f"{ha_prefix}/sensor/{node}/{obj}/config", doc))
    # The chair's link: its daemon's connection (status, with the broker's Last Will).
    link = {
        "name": "Link",
        "unique_id": f"{node}_link",
        "object_id": f"{node}_link",
        "state_topic": f"{base}/status",
        "value_template": (
            "{% if value_json.doctor is defined and value_json.doctor %}"
            "{{ 'online' if this.state == 'on' else 'offline' }}"
            "{% else %}{{ value_json.state }}{% endif %}"
        ),
        "payload_on": "online",
        "payload_off": "offline",
        "device_class": "connectivity",
        "device": device,
    }
    out.append((f"{ha_prefix}/binary_sensor/{node}/link/config", link))
    return out
